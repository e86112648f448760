"""Schema check: custom resources validated against their CRD's `openAPIV3Schema`.

The API server prunes fields a structural schema does not declare, so a misspelt field
(`storageUrl` for `storageUri`) is silently dropped and the model never loads. Here an unknown
field is a `fail` row with its path and the closest declared name.

The OpenAPI v3 subset of CRDs is turned into JSON Schema for `jsonschema`: objects with
`properties` and no `x-kubernetes-preserve-unknown-fields` refuse other keys,
`nullable: true` admits null, `x-kubernetes-int-or-string` admits both, and
`x-kubernetes-embedded-resource` admits apiVersion, kind and metadata.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import jsonschema

from .kyverno import Row

#: API groups served by Kubernetes itself: no CRD describes them, and no row is written.
BUILT_IN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "apiextensions.k8s.io",
        "admissionregistration.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "scheduling.k8s.io",
        "certificates.k8s.io",
        "node.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "kustomize.config.k8s.io",
        "backstage.io",
    }
)
RULE = "openAPIV3Schema"
_ROOT_FIELDS = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object"},
}


def is_crd(document) -> bool:
    return (
        isinstance(document, dict)
        and document.get("kind") == "CustomResourceDefinition"
        and str(document.get("apiVersion", "")).startswith("apiextensions.k8s.io/")
    )


def to_json_schema(schema, *, root: bool = False):
    """A CRD structural schema as a JSON Schema that refuses fields the API server would prune."""
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_json_schema(value) if isinstance(value, dict | list) else value
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_json_schema(sub) for sub in value]
        elif key.startswith("x-kubernetes-") or key in (
            "nullable",
            "format",
            "example",
            "externalDocs",
        ):
            continue
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        if not any("type" in branch for branch in out.get("anyOf", [])):
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("x-kubernetes-embedded-resource"):
        out.setdefault("properties", {}).update(
            {k: v for k, v in _ROOT_FIELDS.items() if k not in out["properties"]}
        )
    if root:
        properties = out.setdefault("properties", {})
        for name, sub in _ROOT_FIELDS.items():
            properties.setdefault(name, sub)
        properties["metadata"] = {
            "type": "object"
        }  # ObjectMeta is checked by the API server, not the CRD
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if schema.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


@dataclass
class CRDVersion:
    group: str
    kind: str
    version: str
    served: bool
    schema: dict | None  # the raw openAPIV3Schema
    source: str
    _validator: jsonschema.protocols.Validator | None = None

    @property
    def validator(self):
        if self._validator is None:
            converted = to_json_schema(self.schema or {}, root=True)
            self._validator = jsonschema.Draft7Validator(converted)
        return self._validator


class CRDIndex:
    """CRDs by (group, kind), each with its versions; later sources do not replace earlier ones."""

    def __init__(self, documents: Iterable[tuple[str, dict]] = ()):
        self.kinds: dict[tuple[str, str], dict[str, CRDVersion]] = {}
        for source, document in documents:
            self.add(document, source)

    def add(self, document: dict, source: str = "") -> None:
        if not is_crd(document):
            return
        spec = document.get("spec") or {}
        group = str(spec.get("group", ""))
        kind = str((spec.get("names") or {}).get("kind", ""))
        versions = self.kinds.setdefault((group, kind), {})
        shared = (spec.get("validation") or {}).get("openAPIV3Schema")
        for version in spec.get("versions") or []:
            name = str(version.get("name", ""))
            if name in versions:
                continue
            schema = (version.get("schema") or {}).get("openAPIV3Schema") or shared
            versions[name] = CRDVersion(
                group, kind, name, bool(version.get("served", True)), schema, source
            )

    def __len__(self) -> int:
        return len(self.kinds)

    def lookup(self, group: str, kind: str) -> dict[str, CRDVersion] | None:
        return self.kinds.get((group, kind))


def _dotted(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _unknown_fields(error, kind: str) -> list[tuple[str, str]]:
    """(path, message) for each field an `additionalProperties: false` error refuses."""
    declared = list((error.schema.get("properties") or {}).keys())
    instance = error.instance if isinstance(error.instance, dict) else {}
    patterns = error.schema.get("patternProperties") or {}
    found = []
    base = list(error.absolute_path)
    for key in instance:
        if key in declared or any(re.search(p, key) for p in patterns):
            continue
        path = _dotted([*base, key])
        hint = difflib.get_close_matches(str(key), declared, n=1, cutoff=0.6)
        suffix = f" (did you mean {hint[0]}?)" if hint else ""
        found.append((path, f"{path} is not a field of {kind}{suffix}"))
    return found


def validate(document: dict, index: CRDIndex, file: str = "") -> list[Row]:
    """Schema rows for one manifest: none for built-in kinds, else pass, fail or skip."""
    api_version = str(document.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    kind = str(document.get("kind") or "")
    if group in BUILT_IN_GROUPS:
        return []
    metadata = document.get("metadata") or {}
    namespace = (
        "" if document.get("kind") == "Namespace" else str(metadata.get("namespace") or "default")
    )

    def row(result: str, message: str, path: str = "") -> Row:
        return Row(
            f"schema/{group}/{kind}",
            RULE,
            kind,
            namespace,
            str(metadata.get("name") or ""),
            result,
            message,
            file=file,
            path=path,
        )

    versions = index.lookup(group, kind)
    if versions is None:
        return [
            row(
                "skip",
                f"no CustomResourceDefinition for {kind}.{group} in the repository or "
                f"PORTAL_CRD_PATHS: the schema was not checked",
            )
        ]
    crd = versions.get(version)
    if crd is None or not crd.served:
        served = ", ".join(sorted(v for v, c in versions.items() if c.served)) or "none"
        return [
            row(
                "fail",
                f"{api_version} is not served by the {kind} CRD (served versions: {served})",
                "apiVersion",
            )
        ]
    if crd.schema is None:
        return [
            row(
                "skip",
                f"the {kind} CRD gives no openAPIV3Schema for {version}: the schema was not checked",
            )
        ]
    problems: list[tuple[str, str]] = []
    for error in crd.validator.iter_errors(document):
        problems.extend(_describe(error, kind))
    if not problems:
        return [row("pass", f"{kind} {version} conforms to the CRD's openAPIV3Schema")]
    problems.sort()
    return [row("fail", "; ".join(message for _path, message in problems), problems[0][0])]


def _describe(error, kind: str) -> list[tuple[str, str]]:
    if error.validator == "additionalProperties" and error.validator_value is False:
        return _unknown_fields(error, kind)
    if error.validator in ("anyOf", "oneOf") and error.context:
        # The closest branch explains best (the one whose errors go deepest).
        best = jsonschema.exceptions.best_match(error.context)
        if best is not None and best.validator == "additionalProperties":
            return _describe(best, kind)
    path = _dotted(error.absolute_path) or "(the document)"
    return [(path, f"{path}: {error.message}")]

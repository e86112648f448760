"""Entity validation as Backstage does it: envelope, metadata formats and each kind's spec.

The rules follow Backstage's catalog model (KubernetesValidatorFunctions, FieldFormatEntityPolicy
and the kinds' JSON schemas), so a file Backstage accepts is accepted here and the other way
round. Every issue names the field path and the rule in words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

BACKSTAGE_API_VERSIONS = ("backstage.io/v1alpha1", "backstage.io/v1beta1")
TEMPLATE_API_VERSION = "scaffolder.backstage.io/v1beta3"

#: The apiVersions each kind may use.
KIND_API_VERSIONS: dict[str, tuple[str, ...]] = {
    "component": BACKSTAGE_API_VERSIONS,
    "api": BACKSTAGE_API_VERSIONS,
    "resource": BACKSTAGE_API_VERSIONS,
    "system": BACKSTAGE_API_VERSIONS,
    "domain": BACKSTAGE_API_VERSIONS,
    "group": BACKSTAGE_API_VERSIONS,
    "user": BACKSTAGE_API_VERSIONS,
    "location": BACKSTAGE_API_VERSIONS,
    "template": (TEMPLATE_API_VERSION,),
}
KIND_NAMES = {
    "component": "Component", "api": "API", "resource": "Resource", "system": "System",
    "domain": "Domain", "group": "Group", "user": "User", "location": "Location", "template": "Template",
}

_OBJECT_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_LABEL = re.compile(r"^[a-z0-9]+(?:-+[a-z0-9]+)*$")
_KIND = re.compile(r"^[a-zA-Z][a-z0-9A-Z]*$")
_VERSION = re.compile(r"^[a-z0-9A-Z]+$")
_TAG = re.compile(r"^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$")

NAME_RULE = "1 to 63 characters: letters, digits and - _ . between them, starting and ending with a letter or digit"
NAMESPACE_RULE = "a DNS label: 1 to 63 lower-case letters, digits and - (not at either end)"
KEY_RULE = "an optional DNS-subdomain prefix and /, then a name of 1 to 63 letters, digits and - _ . (e.g. example.com/my-key)"
LABEL_VALUE_RULE = "empty, or 1 to 63 letters, digits and - _ . starting and ending with a letter or digit"
TAG_RULE = "1 to 63 lower-case letters, digits and : + #, in words joined by single dashes"


@dataclass(frozen=True)
class ValidationIssue:
    """One reason an entity is refused: the field path, what is wrong, and the rule it breaks."""

    field: str
    message: str
    rule: str

    def as_dict(self) -> dict:
        return {"field": self.field, "message": self.message, "rule": self.rule}


def is_valid_object_name(value) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 63 and bool(_OBJECT_NAME.match(value))


def is_valid_dns_label(value) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 63 and bool(_DNS_LABEL.match(value))


def is_valid_dns_subdomain(value) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 253 and all(is_valid_dns_label(p) for p in value.split("."))


def _prefixed(value, prefix_ok, suffix_ok) -> bool:
    if not isinstance(value, str):
        return False
    parts = value.split("/")
    if len(parts) == 1:
        return suffix_ok(parts[0])
    if len(parts) == 2:
        return prefix_ok(parts[0]) and suffix_ok(parts[1])
    return False


def is_valid_api_version(value) -> bool:
    return _prefixed(value, is_valid_dns_subdomain, lambda v: 1 <= len(v) <= 63 and bool(_VERSION.match(v)))


def is_valid_key(value) -> bool:
    """Label and annotation keys: `[prefix/]name`, as in Kubernetes."""
    return _prefixed(value, is_valid_dns_subdomain, is_valid_object_name)


def is_valid_label_value(value) -> bool:
    return value == "" or is_valid_object_name(value)


def is_valid_tag(value) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 63 and bool(_TAG.match(value))


def validate_entity(document) -> list[ValidationIssue]:
    """Every reason the document is not a valid catalog entity; an empty list means valid."""
    if not isinstance(document, dict):
        return [ValidationIssue("", f"The document is a {type(document).__name__}, not a mapping.", "an entity is a YAML mapping with apiVersion, kind, metadata and spec")]
    issues: list[ValidationIssue] = []
    kind = _envelope(document, issues)
    _metadata(document.get("metadata"), issues)
    if kind is not None:
        spec = document.get("spec")
        if spec is None and kind in {"component", "api", "resource", "system", "domain", "group", "location", "template"}:
            issues.append(ValidationIssue("spec", "spec is missing.", f"a {KIND_NAMES[kind]} needs a spec mapping"))
        elif spec is not None and not isinstance(spec, dict):
            issues.append(ValidationIssue("spec", f"spec is a {type(spec).__name__}.", "spec must be a mapping"))
        else:
            SPEC_VALIDATORS[kind](spec or {}, issues)
    return issues


def _envelope(document: dict, issues: list[ValidationIssue]) -> str | None:
    """apiVersion and kind; returns the lower-cased kind when it is one the catalog knows."""
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if api_version in (None, ""):
        issues.append(ValidationIssue("apiVersion", "apiVersion is missing.", "e.g. backstage.io/v1alpha1"))
    elif not is_valid_api_version(api_version):
        issues.append(ValidationIssue("apiVersion", f"apiVersion {api_version!r} is malformed.", "group/version, e.g. backstage.io/v1alpha1"))
    if kind in (None, ""):
        issues.append(ValidationIssue("kind", "kind is missing.", f"one of {', '.join(KIND_NAMES.values())}"))
        return None
    if not isinstance(kind, str) or not _KIND.match(kind) or len(kind) > 63:
        issues.append(ValidationIssue("kind", f"kind {kind!r} is malformed.", "letters and digits, starting with a letter"))
        return None
    key = kind.lower()
    if key not in KIND_API_VERSIONS:
        issues.append(ValidationIssue("kind", f"Unknown kind {kind!r}.", f"one of {', '.join(KIND_NAMES.values())}"))
        return None
    allowed = KIND_API_VERSIONS[key]
    if isinstance(api_version, str) and api_version and api_version not in allowed:
        issues.append(ValidationIssue(
            "apiVersion", f"apiVersion {api_version!r} is not one the {KIND_NAMES[key]} kind uses.", f"one of {', '.join(allowed)}"
        ))
    return key


def _metadata(metadata, issues: list[ValidationIssue]) -> None:
    if metadata is None:
        issues.append(ValidationIssue("metadata", "metadata is missing.", "metadata is a mapping with at least a name"))
        return
    if not isinstance(metadata, dict):
        issues.append(ValidationIssue("metadata", f"metadata is a {type(metadata).__name__}.", "metadata must be a mapping"))
        return
    name = metadata.get("name")
    if name in (None, ""):
        issues.append(ValidationIssue("metadata.name", "metadata.name is missing.", NAME_RULE))
    elif not is_valid_object_name(name):
        issues.append(ValidationIssue("metadata.name", f"{name!r} is not a valid name.", NAME_RULE))
    namespace = metadata.get("namespace")
    if namespace is not None and not is_valid_dns_label(namespace):
        issues.append(ValidationIssue("metadata.namespace", f"{namespace!r} is not a valid namespace.", NAMESPACE_RULE))
    for field in ("title", "description"):
        if metadata.get(field) is not None and not isinstance(metadata[field], str):
            issues.append(ValidationIssue(f"metadata.{field}", f"metadata.{field} is not a string.", f"metadata.{field} must be text"))
    _key_values(metadata, "labels", issues)
    _key_values(metadata, "annotations", issues)
    _tags(metadata.get("tags"), issues)
    _links(metadata.get("links"), issues)


def _key_values(metadata: dict, field: str, issues: list[ValidationIssue]) -> None:
    values = metadata.get(field)
    if values is None:
        return
    if not isinstance(values, dict):
        issues.append(ValidationIssue(f"metadata.{field}", f"metadata.{field} is a {type(values).__name__}.", f"metadata.{field} must be a mapping of key: value"))
        return
    for key, value in values.items():
        path = f"metadata.{field}.{key}"
        if not is_valid_key(key):
            issues.append(ValidationIssue(path, f"{key!r} is not a valid {field[:-1]} key.", KEY_RULE))
        if field == "labels" and not is_valid_label_value(value):
            issues.append(ValidationIssue(path, f"{value!r} is not a valid label value.", LABEL_VALUE_RULE))
        if field == "annotations" and not isinstance(value, str):
            issues.append(ValidationIssue(path, f"The annotation value is a {type(value).__name__}.", "annotation values are strings (quote them)"))


def _tags(tags, issues: list[ValidationIssue]) -> None:
    if tags is None:
        return
    if not isinstance(tags, list):
        issues.append(ValidationIssue("metadata.tags", "metadata.tags is not a list.", "a list of tags"))
        return
    for index, tag in enumerate(tags):
        if not is_valid_tag(tag):
            issues.append(ValidationIssue(f"metadata.tags[{index}]", f"{tag!r} is not a valid tag.", TAG_RULE))


def _links(links, issues: list[ValidationIssue]) -> None:
    if links is None:
        return
    if not isinstance(links, list):
        issues.append(ValidationIssue("metadata.links", "metadata.links is not a list.", "a list of {url, title, icon, type}"))
        return
    for index, link in enumerate(links):
        path = f"metadata.links[{index}]"
        if not isinstance(link, dict):
            issues.append(ValidationIssue(path, "A link is not a mapping.", "each link is {url, title, icon, type}"))
            continue
        url = link.get("url")
        if not isinstance(url, str) or not url:
            issues.append(ValidationIssue(f"{path}.url", "The link has no url.", "each link needs a url"))
        elif not _is_url(url):
            issues.append(ValidationIssue(f"{path}.url", f"{url!r} is not an absolute URL.", "a URL with a scheme, e.g. https://example.com"))
        for field in ("title", "icon", "type"):
            if link.get(field) is not None and not isinstance(link[field], str):
                issues.append(ValidationIssue(f"{path}.{field}", f"The link's {field} is not a string.", f"a link's {field} is text"))


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return bool(parts.scheme) and bool(parts.netloc or parts.path)


# --- spec rules per kind ----------------------------------------------------------------


def _string(spec: dict, field: str, issues: list[ValidationIssue], *, required: bool, kind: str, example: str = "") -> None:
    value = spec.get(field)
    if value is None or (required and value == ""):
        if required:
            hint = f", e.g. {example}" if example else ""
            issues.append(ValidationIssue(f"spec.{field}", f"spec.{field} is missing.", f"a {kind} needs spec.{field}{hint}"))
        return
    if not isinstance(value, str) or not value:
        issues.append(ValidationIssue(f"spec.{field}", f"spec.{field} is not a non-empty string.", f"spec.{field} is text"))


def _string_list(spec: dict, field: str, issues: list[ValidationIssue], *, required: bool, kind: str) -> None:
    value = spec.get(field)
    if value is None:
        if required:
            issues.append(ValidationIssue(f"spec.{field}", f"spec.{field} is missing.", f"a {kind} needs spec.{field} (a list, possibly empty)"))
        return
    if not isinstance(value, list):
        issues.append(ValidationIssue(f"spec.{field}", f"spec.{field} is a {type(value).__name__}, not a list.", f"spec.{field} is a list of entity refs"))
        return
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            issues.append(ValidationIssue(f"spec.{field}[{index}]", "The item is not a non-empty string.", f"spec.{field} holds entity refs as text"))


def _component(spec: dict, issues: list[ValidationIssue]) -> None:
    _string(spec, "type", issues, required=True, kind="Component", example="service or model-endpoint")
    _string(spec, "lifecycle", issues, required=True, kind="Component", example="production or experimental")
    _string(spec, "owner", issues, required=True, kind="Component", example="group:default/platform-team")
    _string(spec, "system", issues, required=False, kind="Component")
    _string(spec, "subcomponentOf", issues, required=False, kind="Component")
    for field in ("providesApis", "consumesApis", "dependsOn", "dependencyOf"):
        _string_list(spec, field, issues, required=False, kind="Component")


def _api(spec: dict, issues: list[ValidationIssue]) -> None:
    _string(spec, "type", issues, required=True, kind="API", example="openapi")
    _string(spec, "lifecycle", issues, required=True, kind="API", example="production")
    _string(spec, "owner", issues, required=True, kind="API", example="group:default/platform-team")
    _string(spec, "definition", issues, required=True, kind="API", example="a $text placeholder to the definition file")
    _string(spec, "system", issues, required=False, kind="API")


def _resource(spec: dict, issues: list[ValidationIssue]) -> None:
    _string(spec, "type", issues, required=True, kind="Resource", example="database")
    _string(spec, "owner", issues, required=True, kind="Resource", example="group:default/platform-team")
    _string(spec, "system", issues, required=False, kind="Resource")
    for field in ("dependsOn", "dependencyOf"):
        _string_list(spec, field, issues, required=False, kind="Resource")


def _system(spec: dict, issues: list[ValidationIssue]) -> None:
    _string(spec, "owner", issues, required=True, kind="System", example="group:default/platform-team")
    _string(spec, "domain", issues, required=False, kind="System")
    _string(spec, "type", issues, required=False, kind="System")


def _domain(spec: dict, issues: list[ValidationIssue]) -> None:
    _string(spec, "owner", issues, required=True, kind="Domain", example="group:default/platform-team")
    _string(spec, "subdomainOf", issues, required=False, kind="Domain")
    _string(spec, "type", issues, required=False, kind="Domain")


def _group(spec: dict, issues: list[ValidationIssue]) -> None:
    _string(spec, "type", issues, required=True, kind="Group", example="team")
    _string_list(spec, "children", issues, required=True, kind="Group")
    _string_list(spec, "members", issues, required=False, kind="Group")
    _string(spec, "parent", issues, required=False, kind="Group")
    _profile(spec, issues)


def _user(spec: dict, issues: list[ValidationIssue]) -> None:
    _string_list(spec, "memberOf", issues, required=False, kind="User")
    _profile(spec, issues)


def _profile(spec: dict, issues: list[ValidationIssue]) -> None:
    profile = spec.get("profile")
    if profile is None:
        return
    if not isinstance(profile, dict):
        issues.append(ValidationIssue("spec.profile", "spec.profile is not a mapping.", "spec.profile is {displayName, email, picture}"))
        return
    for field in ("displayName", "email", "picture"):
        if profile.get(field) is not None and not isinstance(profile[field], str):
            issues.append(ValidationIssue(f"spec.profile.{field}", f"spec.profile.{field} is not a string.", f"spec.profile.{field} is text"))


def _location(spec: dict, issues: list[ValidationIssue]) -> None:
    _string(spec, "type", issues, required=False, kind="Location")
    _string(spec, "target", issues, required=False, kind="Location")
    _string_list(spec, "targets", issues, required=False, kind="Location")
    if not spec.get("target") and not spec.get("targets"):
        issues.append(ValidationIssue("spec.target", "The Location has neither spec.target nor spec.targets.", "a Location needs spec.target or spec.targets, e.g. ./apps/*/catalog-info.yaml"))
    presence = spec.get("presence")
    if presence is not None and presence not in ("required", "optional"):
        issues.append(ValidationIssue("spec.presence", f"{presence!r} is not a presence.", "required or optional"))


def _template(spec: dict, issues: list[ValidationIssue]) -> None:
    _string(spec, "type", issues, required=True, kind="Template", example="service")
    _string(spec, "owner", issues, required=False, kind="Template")
    steps = spec.get("steps")
    if steps is None:
        issues.append(ValidationIssue("spec.steps", "spec.steps is missing.", "a Template needs spec.steps (a list of {id, name, action, input})"))
    elif not isinstance(steps, list):
        issues.append(ValidationIssue("spec.steps", "spec.steps is not a list.", "spec.steps is a list of {id, name, action, input}"))
    else:
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                issues.append(ValidationIssue(f"spec.steps[{index}]", "A step is not a mapping.", "each step is {id, name, action, input}"))
            elif not isinstance(step.get("action"), str) or not step["action"]:
                issues.append(ValidationIssue(f"spec.steps[{index}].action", "The step has no action.", "each step names its action, e.g. fetch:template"))
    parameters = spec.get("parameters")
    if parameters is not None:
        pages = parameters if isinstance(parameters, list) else [parameters]
        if not isinstance(parameters, dict | list) or not all(isinstance(page, dict) for page in pages):
            issues.append(ValidationIssue("spec.parameters", "spec.parameters is neither a JSON-Schema object nor a list of them.", "one JSON-Schema object or a list of pages"))
    output = spec.get("output")
    if output is not None and not isinstance(output, dict):
        issues.append(ValidationIssue("spec.output", "spec.output is not a mapping.", "spec.output is {links, text}"))


SPEC_VALIDATORS = {
    "component": _component,
    "api": _api,
    "resource": _resource,
    "system": _system,
    "domain": _domain,
    "group": _group,
    "user": _user,
    "location": _location,
    "template": _template,
}

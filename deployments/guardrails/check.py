"""`guardrails check`: read policy and resource files, evaluate, report.

Files may hold several YAML documents; a directory stands for every `.yaml` / `.yml` / `.json`
file below it. Documents in policy paths that are not Kyverno policies (a kustomization, say)
are ignored; a `List` in resource paths contributes its items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from portal.yamlsafe import YAMLError, load_all

from .kyverno import Policy, Resource, Row, evaluate, is_policy

RESULTS = ("pass", "fail", "skip", "error", "warn")
SCHEMA_PATH = Path(__file__).with_name("result.schema.json")
_SUFFIXES = (".yaml", ".yml", ".json")


class InputError(Exception):
    """Input the check cannot use: a missing file, or text that is not YAML."""


@dataclass
class Report:
    rows: list[Row]

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(RESULTS, 0)
        for row in self.rows:
            counts[row.result] += 1
        return counts

    @property
    def failed(self) -> bool:
        return any(row.result in ("fail", "error") for row in self.rows)

    def as_dict(self) -> dict:
        return {"results": [row.as_dict() for row in self.rows], "summary": self.summary}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        header = ("RESULT", "POLICY", "RULE", "RESOURCE", "MESSAGE")
        lines = [
            (
                row.result.upper(),
                row.policy,
                row.rule,
                "/".join(p for p in (row.kind, row.namespace, row.name) if p),
                " ".join(row.message.split()),
            )
            for row in self.rows
        ]
        widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(4)]
        out = []
        for line in [header, *lines]:
            cells = [str(c).ljust(widths[i]) for i, c in enumerate(line[:4])]
            out.append("  ".join([*cells, line[4]]).rstrip())
        summary = self.summary
        out.append("")
        out.append(", ".join(f"{summary[k]} {k}" for k in RESULTS))
        return "\n".join(out) + "\n"


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _SUFFIXES)
    if path.is_file():
        return [path]
    raise InputError(f"{path}: no such file or directory")


def read_documents(
    paths: list[str | Path], max_bytes: int | None = None
) -> list[tuple[Path, dict]]:
    """Every mapping document in the files and directories given, with the file it came from."""
    documents = []
    for given in paths:
        for file in _files(Path(given)):
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise InputError(f"{file}: cannot read: {exc.strerror}") from exc
            try:
                docs = load_all(data, max_bytes=max_bytes, source=str(file))
            except YAMLError as exc:
                raise InputError(str(exc)) from exc
            for index, doc in enumerate(docs):
                if not isinstance(doc, dict):
                    raise InputError(
                        f"{file}: document {index + 1} is a {type(doc).__name__}, not a mapping"
                    )
                documents.append((file, doc))
    return documents


def load_policies(paths: list[str | Path], max_bytes: int | None = None) -> list[Policy]:
    return [Policy(doc) for _file, doc in read_documents(paths, max_bytes) if is_policy(doc)]


def load_resources(paths: list[str | Path], max_bytes: int | None = None) -> list[Resource]:
    documents: list[dict] = []
    for file, doc in read_documents(paths, max_bytes):
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            documents.extend(item for item in doc["items"] if isinstance(item, dict))
        elif not doc.get("kind"):
            raise InputError(f"{file}: a document has no kind")
        else:
            documents.append(doc)
    namespace_labels = {
        str((d.get("metadata") or {}).get("name", "")): (d.get("metadata") or {}).get("labels")
        or {}
        for d in documents
        if d.get("kind") == "Namespace" and d.get("apiVersion") == "v1"
    }
    resources = []
    for doc in documents:
        namespace = str((doc.get("metadata") or {}).get("namespace") or "default")
        resources.append(Resource(doc, namespace_labels.get(namespace)))
    return resources


def check(
    policy_paths: list[str | Path], resource_paths: list[str | Path], max_bytes: int | None = None
) -> Report:
    """Evaluate the policies in `policy_paths` against the resources in `resource_paths`."""
    policies = load_policies(policy_paths, max_bytes)
    resources = load_resources(resource_paths, max_bytes)
    return Report(evaluate(policies, resources))

"""The preview's Guardrails section: each rule's verdict on the files the form would commit,
shown beside the form field that caused it where one did.

A verdict is placed on a field in one of three ways, most precise first:

1. The template maps manifest paths to its parameters, in `spec.x-neuroscale-field-map`:

       x-neuroscale-field-map:
         spec.predictor.model.resources.requests.cpu: cpuRequest
         metadata.labels.cost-center: costCenter

   A verdict about that path, something inside it, or a path that contains it, belongs to the
   field. Quota and LimitRange verdicts without a path match the mapped path ending in their
   resource (`requests.cpu`).
2. The value at the verdict's path in the rendered manifest equals exactly one parameter's
   value: that parameter.
3. Otherwise the verdict is listed for the whole change only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from deployments.guardrails.verdicts import Verdict, check_change, summary, summary_in_words
from portal.yamlsafe import load_all
from scaffolder.preview import PreviewContext, PreviewSection, contributor

logger = logging.getLogger(__name__)

FIELD_MAP_KEY = "x-neuroscale-field-map"
_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class FieldVerdicts:
    """The verdicts that belong to one form field, with what the user typed there."""

    name: str
    label: str
    page: int
    page_title: str
    value: str
    #: Where the field sits in the form: fields are listed in form order.
    position: int = 0
    verdicts: list[Verdict] = field(default_factory=list)
    #: The manifest paths the verdicts are about, with the rendered value: [(path, value)].
    rendered: list[tuple[str, str]] = field(default_factory=list)

    @property
    def worst(self) -> Verdict:
        return self.verdicts[0]


@dataclass
class ShownVerdict:
    """A verdict in the table, with the labels of the fields it was placed on."""

    verdict: Verdict
    fields: list[str]


def field_map(template_document: dict) -> dict[str, list[str]]:
    """The template's manifest path → parameter names mapping (empty when it declares none)."""
    spec = template_document.get("spec") or {}
    declared = spec.get(FIELD_MAP_KEY) or (template_document.get("metadata") or {}).get(FIELD_MAP_KEY) or {}
    mapping: dict[str, list[str]] = {}
    if isinstance(declared, dict):
        for path, names in declared.items():
            names = [names] if isinstance(names, str) else names
            if isinstance(names, list):
                mapping[str(path).strip(".")] = [str(name) for name in names if isinstance(name, str)]
    return mapping


def parameter_fields(template_document: dict) -> dict[str, tuple[str, int, str]]:
    """Every parameter, in form order: name → (label, page index, page title)."""
    from scaffolder import parameters

    found: dict[str, tuple[str, int, str]] = {}
    for index, page in enumerate(parameters.parameter_pages(template_document)):
        page_title = str(page.get("title") or f"Step {index + 1}")
        for name, schema in (page.get("properties") or {}).items():
            label = str((schema or {}).get("title") or name) if isinstance(schema, dict) else name
            found.setdefault(str(name), (label, index, page_title))
        for branch in page.get("dependencies", {}).values() if isinstance(page.get("dependencies"), dict) else []:
            for option in (branch or {}).get("oneOf", []) if isinstance(branch, dict) else []:
                for name, schema in ((option or {}).get("properties") or {}).items():
                    if isinstance(schema, dict) and schema.get("title"):
                        found.setdefault(str(name), (str(schema["title"]), index, page_title))
    return found


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


def mapped_fields(verdict: Verdict, mapping: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(manifest path, parameter) pairs the template's map gives for this verdict."""
    found: list[tuple[str, str]] = []
    if verdict.path:
        for key, names in mapping.items():
            if _under(verdict.path, key) or _under(key, verdict.path):
                found += [(key, name) for name in names]
    elif verdict.policy.startswith(("ResourceQuota/", "LimitRange/")) and verdict.rule:
        resource = verdict.rule.split()[-1]
        for key, names in mapping.items():
            if key.endswith("." + resource):
                found += [(key, name) for name in names]
    return found


def value_at(document, path: str):
    """The value at a dotted path (list items by index), or None."""
    current = document
    for part in path.split(".") if path else []:
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def _manifests(files: dict[str, bytes]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path, data in files.items():
        if not path.endswith(_MANIFEST_SUFFIXES):
            continue
        try:
            found[path] = [doc for doc in load_all(data, source=path) if isinstance(doc, dict)]
        except Exception:  # noqa: BLE001 - the checks report unreadable files themselves
            logger.debug("guardrails.preview_unreadable", extra={"path": path})
    return found


def _document_for(verdict: Verdict, manifests: dict[str, list[dict]]) -> dict | None:
    candidates = manifests.get(verdict.file) if verdict.file else [doc for docs in manifests.values() for doc in docs]
    for doc in candidates or []:
        metadata = doc.get("metadata") or {}
        if doc.get("kind") == verdict.kind and str(metadata.get("name") or "") == verdict.name:
            return doc
    return None


def traced_field(verdict: Verdict, document: dict | None, values: dict) -> str | None:
    """The one parameter whose value equals the rendered value at the verdict's path."""
    if document is None or not verdict.path:
        return None
    rendered = value_at(document, verdict.path)
    if rendered is None or isinstance(rendered, (dict, list)) or rendered == "":
        return None
    matches = [name for name, value in values.items()
               if not isinstance(value, (dict, list)) and value not in (None, "") and str(value) == str(rendered)]
    return matches[0] if len(matches) == 1 else None


def _shown(value) -> str:
    if value is None or value == "":
        return "left empty"
    return str(value)


def place(verdicts: list[Verdict], template_document: dict, values: dict, files: dict[str, bytes]):
    """The non-passing verdicts grouped by form field, and every verdict with its field labels."""
    mapping = field_map(template_document)
    known = parameter_fields(template_document)
    manifests = _manifests(files)
    by_field: dict[str, FieldVerdicts] = {}
    table: list[ShownVerdict] = []
    for verdict in verdicts:
        document = _document_for(verdict, manifests)
        pairs = [(path, name) for path, name in mapped_fields(verdict, mapping) if name in known]
        if not pairs:
            traced = traced_field(verdict, document, values)
            if traced in known:
                pairs = [(verdict.path, traced)]
        labels = []
        for path, name in pairs:
            label, page, page_title = known[name]
            if label not in labels:
                labels.append(label)
            if verdict.result == "pass":
                continue
            entry = by_field.setdefault(name, FieldVerdicts(name, label, page, page_title, _shown(values.get(name)),
                                                            position=list(known).index(name)))
            if verdict not in entry.verdicts:
                entry.verdicts.append(verdict)
            rendered = (path, _shown(value_at(document, path)) if document is not None else "")
            if document is not None and rendered not in entry.rendered:
                entry.rendered.append(rendered)
        table.append(ShownVerdict(verdict, labels))
    fields = sorted(by_field.values(), key=lambda item: (item.worst.sort_key[0], item.position))
    return fields, table


@contributor("guardrails", order=20)
def guardrails_section(context: PreviewContext) -> PreviewSection | None:
    """The policy, quota and schema verdicts on the files the task would commit."""
    files = {path: data for path, data in (getattr(context.result, "files", None) or {}).items()
             if path.endswith(_MANIFEST_SUFFIXES)}
    base = {"name": "guardrails", "title": "Guardrails", "template_name": "deployments/partials/guardrails_preview.html"}
    if not files:
        return PreviewSection(**base, context={"empty": True}, summary="nothing to check")
    try:
        found = check_change(files)
    except Exception as error:  # a check that cannot run is never a pass
        logger.info("guardrails.preview_failed", exc_info=True)
        return PreviewSection(**base, context={"error": str(error) or error.__class__.__name__},
                              status="bad", summary="could not check")
    fields, table = place(found, context.template_document, context.values, files)
    counts = summary(found)
    blocking = counts["fail"] + counts["error"]
    if blocking:
        status = "bad"
        text = f"{blocking} refused: fix before creating"
    elif counts["warn"]:
        status = "warn"
        text = f"{counts['warn']} warning{'s' if counts['warn'] != 1 else ''}, nothing refused"
    elif found:
        status, text = "ok", f"all {len(found)} pass" if counts["pass"] == len(found) else summary_in_words(counts)
    else:
        status, text = "", "no rule applies"
    return PreviewSection(
        **base,
        context={"fields": fields, "rows": table, "counts": counts, "in_words": summary_in_words(counts),
                 "blocking": blocking},
        status=status,
        summary=text,
    )

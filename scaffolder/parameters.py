"""A template's `parameters`: its JSON-Schema pages, and validation errors in words.

Backstage templates give `parameters` as one JSON-Schema object or a list of them (one form
page each). Values are validated with the `jsonschema` library (draft 7, as Backstage's
ajv); each error is translated into a sentence that names what a valid value looks like
("must be a lowercase DNS label, e.g. fraud-model") and never quotes the value itself, which
may be a secret.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError

#: Backstage's EntityNamePicker rule, written as a Kubernetes DNS label (what a name becomes).
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_MAX = 63

#: Patterns people write for a DNS label; their errors read as words, not as a regex.
_DNS_LABEL_PATTERNS = {
    DNS_LABEL_PATTERN,
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
    r"^[a-z]([-a-z0-9]*[a-z0-9])?$",
    r"^[a-z0-9][a-z0-9-]*[a-z0-9]$",
    r"^[a-z0-9-]+$",
}
_DNS_EXAMPLE = "fraud-model"

_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a set of fields",
    "null": "empty",
}


@dataclass(frozen=True)
class FieldError:
    """A value that does not fit its field: the field's dotted path, the problem in words, and
    the form page (0-based) that holds the field."""

    field: str
    message: str
    page: int


def parameter_pages(template_document: dict) -> list[dict]:
    """The template's `parameters` as a list of JSON-Schema pages (one object becomes one page)."""
    parameters = (template_document.get("spec") or {}).get("parameters")
    if not parameters:
        return []
    if isinstance(parameters, dict):
        return [parameters]
    return [page for page in parameters if isinstance(page, dict)]


def parameter_schema(template_document: dict) -> dict:
    """Backstage's `GET .../parameter-schema` answer: {title, description, steps}."""
    metadata = template_document.get("metadata") or {}
    steps = []
    for number, page in enumerate(parameter_pages(template_document), start=1):
        schema = {key: value for key, value in page.items() if key not in ("title", "description")}
        steps.append({
            "title": page.get("title") or f"Step {number}",
            "description": page.get("description"),
            "schema": schema,
        })
    return {
        "title": metadata.get("title") or metadata.get("name", ""),
        "description": metadata.get("description"),
        "steps": steps,
    }


def with_defaults(template_document: dict, values: dict) -> dict:
    """`values` plus the `default` of every top-level field left out, as the form prefills them.

    A script calling the API then sends only what differs from the template's defaults.
    Fields inside conditional branches are left alone: their branch may not apply.
    """
    merged = dict(values)
    for page in parameter_pages(template_document):
        for name, schema in (page.get("properties") or {}).items():
            if isinstance(schema, dict) and "default" in schema:
                merged.setdefault(name, schema["default"])
    return merged


def secret_fields(template_document: dict) -> set[str]:
    """The fields shown with `ui:widget: password`, whose values are kept as secrets."""
    found: set[str] = set()
    for page in parameter_pages(template_document):
        for path, prop in _walk_properties(page):
            if isinstance(prop, dict) and prop.get("ui:widget") == "password":
                found.add(path)
    return found


def page_of_field(template_document: dict, field: str) -> int:
    """The page that declares `field` (its first part), or 0 when no page declares it."""
    top = field.split(".", 1)[0]
    for index, page in enumerate(parameter_pages(template_document)):
        if any(path.split(".", 1)[0] == top for path, _ in _walk_properties(page)):
            return index
    return 0


def validate_values(template_document: dict, values: dict, *, page: int | None = None) -> list[FieldError]:
    """Every problem with `values`, one per field, in the order of the form.

    `page` limits the check to one page (the form checks a page before moving to the next);
    without it every page is checked, as on submit.
    """
    pages = parameter_pages(template_document)
    indexes = range(len(pages)) if page is None else [page] if 0 <= page < len(pages) else []
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index in indexes:
        schema = with_picker_rules(pages[index])
        validator = Draft7Validator(schema, format_checker=FormatChecker())
        for field, message in _page_errors(validator, schema, values if isinstance(values, dict) else {}):
            if field in seen:
                continue
            seen.add(field)
            errors.append(FieldError(field=field, message=message, page=index))
    return errors


def with_picker_rules(schema: dict) -> dict:
    """The page with the rules its `ui:field` pickers imply (an EntityNamePicker is a DNS label)."""
    needs_copy = any(
        isinstance(prop, dict) and prop.get("ui:field") == "EntityNamePicker" for _, prop in _walk_properties(schema)
    )
    if not needs_copy:
        return schema
    schema = copy.deepcopy(schema)
    for _, prop in _walk_properties(schema):
        if isinstance(prop, dict) and prop.get("ui:field") == "EntityNamePicker":
            prop.setdefault("type", "string")
            prop.setdefault("pattern", DNS_LABEL_PATTERN)
            prop.setdefault("maxLength", DNS_LABEL_MAX)
    return schema


# --- walking a schema ----------------------------------------------------------------------


def _walk_properties(schema: dict, prefix: str = ""):
    """(dotted path, property schema) for every property, in nested objects and in the
    branches of `dependencies` and `oneOf`/`anyOf`/`allOf`, first declaration first."""
    if not isinstance(schema, dict):
        return
    for name, prop in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        yield path, prop
        if isinstance(prop, dict) and prop.get("type") == "object":
            yield from _walk_properties(prop, f"{path}.")
    for dependency in (schema.get("dependencies") or {}).values():
        if isinstance(dependency, dict):
            yield from _walk_properties(dependency, prefix)
    for keyword in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(keyword) or []:
            yield from _walk_properties(branch, prefix)


def property_schema(schema: dict, field: str) -> dict:
    """The schema of a dotted field path, looked up through nested objects and branches."""
    for path, prop in _walk_properties(schema):
        if path == field and isinstance(prop, dict) and (prop.get("type") or prop.get("title") or len(prop) > 1):
            return prop
    for path, prop in _walk_properties(schema):
        if path == field and isinstance(prop, dict):
            return prop
    return {}


# --- errors in words -----------------------------------------------------------------------


def _page_errors(validator: Draft7Validator, schema: dict, values: dict) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for error in sorted(validator.iter_errors(values), key=_error_order(schema)):
        found.extend(_translate(error, schema, values))
    return found


def _error_order(schema: dict):
    order = {path: position for position, (path, _) in enumerate(_walk_properties(schema))}

    def key(error: ValidationError) -> tuple[int, str]:
        field = _field_of(error)
        return order.get(field, len(order)), field

    return key


def _field_of(error: ValidationError) -> str:
    parts = [str(part) for part in error.absolute_path if not isinstance(part, int)]
    if error.validator == "required" and isinstance(error.instance, dict) or error.validator == "dependencies" and isinstance(error.validator_value, dict):
        missing = _missing_property(error)
        if missing:
            parts.append(missing)
    return ".".join(parts)


def _missing_property(error: ValidationError) -> str:
    match = re.match(r"^'([^']+)' is a (?:required|dependency)", error.message)
    if match:
        return match.group(1)
    if error.validator == "required":
        for name in error.validator_value or []:
            if isinstance(error.instance, dict) and name not in error.instance:
                return name
    return ""


def _translate(error: ValidationError, schema: dict, values: dict) -> list[tuple[str, str]]:
    """One or more (field, message) pairs for a jsonschema error."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        return _translate_branch(error, schema, values)
    field = _field_of(error)
    prop = property_schema(schema, field) if field else {}
    return [(field, _message(error, prop))]


def _translate_branch(error: ValidationError, schema: dict, values: dict) -> list[tuple[str, str]]:
    """A `oneOf` of dependency branches: report the branch the controlling value selected.

    Backstage's conditional fields are `dependencies: {x: {oneOf: [...]}}` where each branch
    pins `x` with `enum`/`const`; the branch whose pin matches is the one the user is filling,
    so its errors (a missing dependent field, say) are the ones that make sense.
    """
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    chosen: list[ValidationError] | None = None
    for _, errors in sorted(branches.items()):
        if not any(sub.validator in ("enum", "const") for sub in errors):
            chosen = errors
            break
    if chosen is None:
        field = _field_of(error) or next(iter(schema.get("dependencies") or {}), "")
        return [(field, "does not match any of the allowed combinations")]
    results: list[tuple[str, str]] = []
    for sub in chosen:
        results.extend(_translate(sub, schema, values))
    return results


def _message(error: ValidationError, prop: dict) -> str:
    rule = error.validator
    expected = error.validator_value
    if rule == "required" or rule == "dependencies":
        return "is required"
    if rule == "type":
        types = expected if isinstance(expected, list) else [expected]
        return "must be " + " or ".join(_TYPE_WORDS.get(name, name) for name in types)
    if rule == "enum":
        if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            prop = prop["items"]
        choices = _choice_labels(prop, expected)
        return f"must be one of: {', '.join(choices)}"
    if rule == "const":
        return f"must be {expected}"
    if rule == "pattern":
        return _with_example(_pattern_words(expected, prop), prop, error)
    if rule == "minLength":
        if expected == 1:
            return "is required"
        return _with_example(f"must be at least {expected} characters long", prop, error)
    if rule == "maxLength":
        return _with_example(f"must be at most {expected} characters long", prop, error)
    if rule == "minimum":
        return f"must be at least {_number(expected)}"
    if rule == "maximum":
        return f"must be at most {_number(expected)}"
    if rule == "exclusiveMinimum":
        return f"must be more than {_number(expected)}"
    if rule == "exclusiveMaximum":
        return f"must be less than {_number(expected)}"
    if rule == "multipleOf":
        return f"must be a multiple of {_number(expected)}"
    if rule == "minItems":
        return f"choose at least {expected}" if expected != 1 else "choose at least one"
    if rule == "maxItems":
        return f"choose at most {expected}"
    if rule == "uniqueItems":
        return "must not list the same choice twice"
    if rule == "format":
        return _with_example(f"must be a valid {expected}", prop, error)
    return f"is not valid ({rule})"


def _pattern_words(pattern: str, prop: dict) -> str:
    if pattern in _DNS_LABEL_PATTERNS or prop.get("ui:field") == "EntityNamePicker":
        return "must be a lowercase DNS label"
    help_text = prop.get("ui:help") or prop.get("description")
    if help_text:
        return f"is not in the expected form: {' '.join(str(help_text).split()).rstrip('.')}"
    return f"must match the pattern {pattern}"


def _with_example(message: str, prop: dict, error: ValidationError) -> str:
    if "e.g." in message:
        return message
    example = _example(prop, error)
    return f"{message}, e.g. {example}" if example else message


def _example(prop: dict, error: ValidationError) -> str:
    """A valid value to show: from ui:placeholder, examples or default, only if it is valid."""
    candidates: list[Any] = []
    if prop.get("ui:placeholder"):
        candidates.append(prop["ui:placeholder"])
    examples = prop.get("examples")
    if isinstance(examples, list):
        candidates.extend(examples)
    if "default" in prop:
        candidates.append(prop["default"])
    if prop.get("ui:field") == "EntityNamePicker" or prop.get("pattern") in _DNS_LABEL_PATTERNS:
        candidates.append(_DNS_EXAMPLE)
    checker = Draft7Validator({k: v for k, v in prop.items() if not k.startswith("ui:")}, format_checker=FormatChecker())
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip() and checker.is_valid(candidate):
            return candidate
    return ""


def _choice_labels(prop: dict, choices: list) -> list[str]:
    names = prop.get("enumNames")
    if isinstance(names, list) and len(names) == len(prop.get("enum") or []) and choices == prop.get("enum"):
        return [str(name) for name in names]
    return [str(choice) for choice in choices]


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

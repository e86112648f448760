"""A template's JSON-Schema pages as server-rendered form fields, and form data back as values.

Fields are plain dataclasses the templates render (no Django Form classes: the schema decides
the fields at request time). Conditional fields (`dependencies` with `oneOf`) are resolved
from the current values, so a controlling select shows the fields its value selects.
Values travel between pages in a draft token: Fernet-encrypted and authenticated, so
password values never appear in the page in clear and the draft cannot be tampered with.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db.models import Q
from django.http import QueryDict

from catalog.models import Entity, EntitySearch
from catalog.refs import humanize
from portal import identity
from scaffolder.parameters import FieldError, with_picker_rules

#: The longest a draft is kept: a form left open overnight still submits.
DRAFT_MAX_AGE = 24 * 3600
#: The most entities a picker offers.
PICKER_LIMIT = 500
#: What the review step shows for a password value.
MASK = "••••••••"


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    selected: bool


@dataclass
class FormField:
    """One input of a form page, as the template renders it."""

    name: str
    label: str
    widget: str  # text, textarea, password, number, checkbox, select, multiselect, radio, checkboxes, datalist
    value: str = ""
    checked: bool = False
    choices: list[Choice] = field(default_factory=list)
    description: str = ""
    help: str = ""
    placeholder: str = ""
    required: bool = False
    readonly: bool = False
    autofocus: bool = False
    #: For number inputs: the browser's spinner bounds and step.
    min: Any = None
    max: Any = None
    step: str = ""
    error: str = ""
    #: A password value is kept from an earlier page (it is never written back into the page).
    secret_kept: bool = False
    #: For a field others depend on: the fields its current value shows (None: controls nothing).
    dependents: list[FormField] | None = None

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)

    @property
    def describedby(self) -> str:
        ids = [f"{self.id}-error"]
        if self.description:
            ids.insert(0, f"{self.id}-description")
        if self.help:
            ids.insert(-1, f"{self.id}-help")
        return " ".join(ids)


# --- pages and their active fields -----------------------------------------------------------


@dataclass(frozen=True)
class ActiveField:
    name: str
    schema: dict
    required: bool
    controller: str = ""  # the field whose value showed this one


def active_fields(page: dict, values: dict) -> list[ActiveField]:
    """The page's fields for these values, in order: a controlling field is followed by the
    fields its value selects (`dependencies` with `oneOf`, or a schema shown once it is set)."""
    page = with_picker_rules(page)
    properties = page.get("properties") or {}
    required = set(page.get("required") or [])
    order = _ordered_names(properties, page.get("ui:order"))
    result: list[ActiveField] = []
    for name in order:
        result.append(ActiveField(name, properties[name] or {}, name in required))
        for dependent in dependent_fields(page, name, values):
            result.append(dependent)
    return result


def dependent_fields(page: dict, controller: str, values: dict) -> list[ActiveField]:
    """The fields `controller`'s current value shows."""
    dependency = (page.get("dependencies") or {}).get(controller)
    if not isinstance(dependency, dict):
        return []
    value = values.get(controller)
    branch: dict | None = None
    if dependency.get("oneOf"):
        for candidate in dependency["oneOf"]:
            pin = ((candidate or {}).get("properties") or {}).get(controller) or {}
            allowed = pin.get("enum", [pin["const"]] if "const" in pin else None)
            if allowed is not None and value in allowed:
                branch = candidate
                break
    elif value not in (None, "", False, []):
        branch = dependency
    if not branch:
        return []
    required = set(branch.get("required") or [])
    return [
        ActiveField(name, schema or {}, name in required, controller)
        for name, schema in (branch.get("properties") or {}).items()
        if name != controller
    ]


def controllers(page: dict) -> set[str]:
    return {name for name, dep in (page.get("dependencies") or {}).items() if isinstance(dep, dict)}


def _ordered_names(properties: dict, ui_order) -> list[str]:
    names = list(properties)
    if not isinstance(ui_order, list):
        return names
    listed = [name for name in ui_order if name in properties]
    rest = [name for name in names if name not in listed]
    if "*" in ui_order:
        star = ui_order.index("*")
        before = [n for n in ui_order[:star] if n in properties]
        after = [n for n in ui_order[star + 1:] if n in properties]
        return before + [n for n in rest] + after
    return listed + rest


def defaults(pages: list[dict]) -> dict:
    """Each field's `default`, on every page and in every conditional branch."""
    values: dict[str, Any] = {}
    for page in pages:
        for name, schema in (page.get("properties") or {}).items():
            if isinstance(schema, dict) and "default" in schema:
                values.setdefault(name, schema["default"])
        for dependency in (page.get("dependencies") or {}).values():
            if not isinstance(dependency, dict):
                continue
            for branch in dependency.get("oneOf") or [dependency]:
                for name, schema in ((branch or {}).get("properties") or {}).items():
                    if isinstance(schema, dict) and "default" in schema:
                        values.setdefault(name, schema["default"])
    return values


# --- form data → values ----------------------------------------------------------------------


def read_page(page: dict, data: QueryDict, values: dict) -> dict:
    """`values` updated from one page's submitted form data (typed by the schema).

    Empty inputs remove the value (so `required` says so); text that is not a number stays
    text (so the error says "must be a whole number" and the input keeps what was typed);
    read-only fields keep their value; an empty password keeps the one already given.
    """
    updated = dict(values)
    page_props = page.get("properties") or {}
    # Controlling fields first: they decide which dependent fields the page has.
    for name, schema in page_props.items():
        _read_field(name, schema or {}, data, updated)
    for active in active_fields(page, updated):
        if active.controller:
            _read_field(active.name, active.schema, data, updated)
    return updated


def _read_field(name: str, schema: dict, data: QueryDict, values: dict) -> None:
    if schema.get("ui:readonly"):
        return
    kind = schema.get("type")
    if kind == "boolean":
        values[name] = data.get(name) in ("true", "on", "1")
        return
    if kind == "array":
        items = [item for item in data.getlist(name) if item != ""]
        if schema.get("ui:widget") == "textarea" or not _enum_of(schema.get("items")):
            text = data.get(name)
            if text is not None and len(data.getlist(name)) == 1:
                items = [line.strip() for line in text.splitlines() if line.strip()]
        item_type = (schema.get("items") or {}).get("type")
        values[name] = [_typed(item, item_type) for item in items]
        if not values[name] and name not in data:
            values.pop(name)
        return
    if name not in data:
        return
    text = data.get(name, "")
    if schema.get("ui:widget") == "password" and text == "":
        return  # keep the value given earlier; it is never written back into the page
    if text.strip() == "":
        values.pop(name, None)
        return
    values[name] = _typed(text, kind)


def _typed(text: str, kind) -> Any:
    if kind == "integer":
        return int(text) if re.fullmatch(r"\s*[-+]?\d+\s*", text) else text
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if re.fullmatch(r"\s*[-+]?\d+\s*", text) else number
    return text


def _enum_of(schema) -> list | None:
    if isinstance(schema, dict) and isinstance(schema.get("enum"), list):
        return schema["enum"]
    return None


# --- values → fields ------------------------------------------------------------------------


def build_fields(page: dict, values: dict, errors: list[FieldError], *, user, secrets_kept: set[str] = frozenset()) -> list[FormField]:
    """The page's fields for rendering, with values, choices and errors in place."""
    messages = {error.field.split(".", 1)[0]: error.message for error in errors}
    controlling = controllers(page)
    fields: list[FormField] = []
    by_name: dict[str, FormField] = {}
    for active in active_fields(page, values):
        form_field = make_field(active, values, messages.get(active.name, ""), user=user, secrets_kept=secrets_kept)
        by_name[active.name] = form_field
        if active.controller and active.controller in by_name:
            by_name[active.controller].dependents.append(form_field)
            continue
        if active.name in controlling:
            form_field.dependents = []
        fields.append(form_field)
    return fields


def make_field(active: ActiveField, values: dict, error: str, *, user, secrets_kept=frozenset()) -> FormField:
    schema = active.schema
    name = active.name
    value = values.get(name)
    widget_hint = schema.get("ui:widget")
    options = schema.get("ui:options") or {}
    form_field = FormField(
        name=name,
        label=schema.get("title") or _humanize_name(name),
        widget="text",
        description=_one_line(schema.get("description")),
        help=_one_line(schema.get("ui:help")),
        placeholder=str(schema.get("ui:placeholder") or ""),
        required=active.required,
        readonly=bool(schema.get("ui:readonly")),
        autofocus=bool(schema.get("ui:autofocus")),
        error=error,
    )
    kind = schema.get("type")
    picker = schema.get("ui:field")
    if picker == "OwnerPicker":
        filters = options.get("catalogFilter") or {"kind": options.get("allowedKinds") or ["Group"]}
        if not value:
            value = _default_owner(user, filters)
        form_field.widget = "select"
        form_field.choices = _entity_choices(filters, value, blank=not active.required or not value)
        return form_field
    if picker == "EntityPicker":
        filters = options.get("catalogFilter") or ({"kind": options["allowedKinds"]} if options.get("allowedKinds") else {})
        form_field.choices = _entity_choices(filters, value, blank=True)
        form_field.widget = "datalist" if options.get("allowArbitraryValues", True) else "select"
        form_field.value = "" if value is None else str(value)
        return form_field
    if kind == "boolean":
        form_field.widget = "checkbox"
        form_field.checked = bool(value)
        return form_field
    if kind == "array":
        choices = _enum_of(schema.get("items"))
        if choices is not None:
            labels = _labels(schema.get("items") or {}, choices)
            selected = {str(item) for item in value or []}
            form_field.widget = "multiselect" if widget_hint == "select" else "checkboxes"
            form_field.choices = [Choice(str(c), label, str(c) in selected) for c, label in zip(choices, labels, strict=True)]
        else:
            form_field.widget = "textarea"
            form_field.value = "\n".join(str(item) for item in value or [])
            form_field.help = form_field.help or "One value per line."
        return form_field
    choices = _enum_of(schema)
    if choices is not None:
        labels = _labels(schema, choices)
        form_field.widget = "radio" if widget_hint == "radio" else "select"
        current = "" if value is None else str(value)
        form_field.choices = [Choice(str(c), label, str(c) == current) for c, label in zip(choices, labels, strict=True)]
        if form_field.widget == "select" and (not active.required or value is None):
            form_field.choices.insert(0, Choice("", "Choose…", value is None))
        return form_field
    if kind in ("integer", "number"):
        form_field.widget = "number"
        form_field.min = schema.get("minimum")
        form_field.max = schema.get("maximum")
        form_field.step = "1" if kind == "integer" else "any"
    elif widget_hint == "textarea":
        form_field.widget = "textarea"
    elif widget_hint == "password":
        form_field.widget = "password"
        form_field.secret_kept = name in secrets_kept or bool(value)
        return form_field  # the value is never written into the page
    form_field.value = "" if value is None else str(value)
    return form_field


def _labels(schema: dict, choices: list) -> list[str]:
    names = schema.get("enumNames")
    if isinstance(names, list) and len(names) == len(choices):
        return [str(name) for name in names]
    return [str(choice) for choice in choices]


def _humanize_name(name: str) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name.rsplit(".", 1)[-1]).replace("_", " ").replace("-", " ")
    return words[:1].upper() + words[1:].lower()


def _one_line(text) -> str:
    return " ".join(str(text).split()) if text else ""


# --- catalog pickers -------------------------------------------------------------------------


def catalog_filter_query(filters) -> Q:
    """Backstage's `catalogFilter` (one mapping, or a list meaning any of them) as a query."""
    alternatives = filters if isinstance(filters, list) else [filters]
    combined = Q()
    for alternative in alternatives:
        if not isinstance(alternative, dict):
            continue
        query = Q()
        for key, wanted in alternative.items():
            values = [str(v) for v in (wanted if isinstance(wanted, list) else [wanted])]
            lowered = [v.lower() for v in values]
            if key == "kind":
                query &= Q(kind__iregex=r"^(" + "|".join(re.escape(v) for v in values) + r")$")
            elif key == "spec.type":
                query &= Q(type__in=values)
            elif key == "metadata.namespace":
                query &= Q(namespace__in=lowered)
            elif key == "metadata.name":
                query &= Q(name__in=values)
            else:
                rows = EntitySearch.objects.filter(key=key.lower(), value__in=lowered).values("entity_id")
                query &= Q(pk__in=rows)
        combined |= query
    return combined


def _entity_choices(filters, value, *, blank: bool) -> list[Choice]:
    entities = Entity.objects.filter(catalog_filter_query(filters)).order_by("kind", "namespace", "name")
    current = str(value or "").lower()
    choices = [
        Choice(entity.ref, _entity_label(entity), entity.ref == current or entity.name == current)
        for entity in entities.only("ref", "kind", "name", "namespace", "title")[:PICKER_LIMIT]
    ]
    if value and not any(choice.selected for choice in choices):
        choices.append(Choice(str(value), str(value), True))
    if blank:
        choices.insert(0, Choice("", "Choose…", not value))
    return choices


def _entity_label(entity: Entity) -> str:
    short = humanize(entity.ref, entity.kind)
    return f"{entity.title} ({short})" if entity.title and entity.title != short else short


def _default_owner(user, filters) -> str:
    """The user's team, when the picker offers it (Backstage pre-fills the same way)."""
    teams = identity.team_refs(user)
    if not teams:
        return ""
    found = Entity.objects.filter(catalog_filter_query(filters), ref__in=teams).order_by("ref").values_list("ref", flat=True)
    return next(iter(found), "")


# --- the review step -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRow:
    label: str
    value: str
    page: int


def review_rows(pages: list[dict], values: dict, secrets: set[str]) -> list[ReviewRow]:
    """Every field with its value, as the review step lists it; password values masked."""
    rows: list[ReviewRow] = []
    for index, page in enumerate(pages):
        for active in active_fields(page, values):
            name = active.name
            if name not in values:
                shown = "—"
            elif name in secrets or active.schema.get("ui:widget") == "password":
                shown = MASK
            else:
                shown = _display(active.schema, values[name])
            rows.append(ReviewRow(active.schema.get("title") or _humanize_name(name), shown, index))
    return rows


def _display(schema: dict, value) -> str:
    if schema.get("ui:field") in ("OwnerPicker", "EntityPicker") and isinstance(value, str):
        try:
            return humanize(value, "group" if schema["ui:field"] == "OwnerPicker" else None)
        except ValueError:
            return value
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        items = schema.get("items") or {}
        return ", ".join(_display(items, item) for item in value) or "—"
    choices = _enum_of(schema)
    if choices is not None and value in choices:
        return _labels(schema, choices)[choices.index(value)]
    return str(value)


# --- drafts ------------------------------------------------------------------------------------


def _fernet() -> Fernet:
    digest = hashlib.sha256(("scaffolder.draft:" + settings.SECRET_KEY).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def dump_draft(values: dict, user) -> str:
    """The values as an encrypted token for a hidden field, bound to the user."""
    payload = json.dumps({"u": user.pk, "v": values}, separators=(",", ":")).encode()
    return _fernet().encrypt(payload).decode()


def load_draft(token: str, user) -> dict:
    """The values of a draft token; {} when it is missing, expired, altered or someone else's."""
    if not token:
        return {}
    try:
        payload = json.loads(_fernet().decrypt(token.encode(), ttl=DRAFT_MAX_AGE))
    except (InvalidToken, ValueError):
        return {}
    if payload.get("u") != user.pk or not isinstance(payload.get("v"), dict):
        return {}
    return payload["v"]

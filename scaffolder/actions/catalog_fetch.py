"""`catalog:fetch`: read entities from the catalog, e.g. the owner group's cost-centre label.

Input and output follow Backstage's action of the same name; `entityRef` (and `entityRefs`)
are also returned normalised, so a template can write the full ref of a short one.
"""

from __future__ import annotations

from typing import Any

from catalog import store
from catalog.models import Entity
from catalog.refs import RefError, ref_string
from scaffolder.actions.context import ActionContext
from scaffolder.actions.registry import ActionError, action

CATALOG_FETCH_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "entityRef": {"title": "Entity reference", "description": "The entity to fetch, e.g. group:default/fraud-detection.", "type": "string"},
        "entityRefs": {
            "title": "Entity references",
            "description": "Several entities to fetch, answered in the same order.",
            "type": "array",
            "items": {"type": "string"},
        },
        "optional": {
            "title": "Optional",
            "description": "When true, a missing entity gives null instead of failing the step.",
            "type": "boolean",
        },
        "defaultKind": {"title": "Default kind", "description": "The kind of a ref written without one, e.g. group.", "type": "string"},
        "defaultNamespace": {"title": "Default namespace", "description": "The namespace of a ref written without one.", "type": "string"},
    },
    "oneOf": [{"required": ["entityRef"]}, {"required": ["entityRefs"]}],
}

CATALOG_FETCH_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "entity": {"title": "The entity (Backstage's document, with its relations)", "type": ["object", "null"]},
        "entities": {"title": "The entities, null where missing", "type": "array", "items": {"type": ["object", "null"]}},
        "entityRef": {"title": "The normalised ref of entityRef", "type": "string"},
        "entityRefs": {"title": "The normalised refs of entityRefs", "type": "array", "items": {"type": "string"}},
    },
}

_EXAMPLE = """\
steps:
  - id: owner
    name: Look up the owner team
    action: catalog:fetch
    input:
      entityRef: ${{ parameters.owner }}
      defaultKind: group
  # later: ${{ steps['owner'].output.entity.metadata.labels['cost-center'] }}
"""


@action(
    "catalog:fetch",
    input_schema=CATALOG_FETCH_INPUT,
    output_schema=CATALOG_FETCH_OUTPUT,
    supports_dry_run=True,
    description="Returns entities from the catalog by their refs.",
    examples=[{"description": "Fetch the owner group of the new component", "example": _EXAMPLE}],
)
def catalog_fetch(ctx: ActionContext) -> None:
    data = ctx.input
    optional = bool(data.get("optional"))
    if "entityRef" in data:
        ref = _normalise(data["entityRef"], data)
        ctx.output("entityRef", ref)
        ctx.output("entity", _fetch([ref], optional=optional)[0])
        ctx.logger(f"Fetched {ref} from the catalog")
    if "entityRefs" in data:
        refs = [_normalise(ref, data) for ref in data["entityRefs"]]
        ctx.output("entityRefs", refs)
        ctx.output("entities", _fetch(refs, optional=optional))
        ctx.logger(f"Fetched {len(refs)} entities from the catalog")


def _normalise(ref: str, data: dict[str, Any]) -> str:
    try:
        return ref_string(ref, default_kind=data.get("defaultKind"), default_namespace=data.get("defaultNamespace") or "default")
    except RefError as error:
        raise ActionError(f"catalog:fetch: {error}") from None


def _fetch(refs: list[str], *, optional: bool) -> list[dict | None]:
    """The entities in the order asked, read in two queries whatever their number."""
    found = {entity.ref: entity for entity in Entity.objects.filter(ref__in=refs)}
    missing = [ref for ref in refs if ref not in found]
    if missing and not optional:
        raise ActionError(
            f"catalog:fetch: no entity {', '.join(missing)} in the catalog; check the name, or set optional: true"
        )
    relations = store.relations_of(list(found.values()))
    return [found[ref].as_backstage(relations.get(ref, [])) if ref in found else None for ref in refs]

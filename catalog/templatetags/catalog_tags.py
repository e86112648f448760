"""Template helpers of the catalog pages: entity links from refs, short refs, query strings."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import template
from django.http import QueryDict
from django.urls import reverse

from catalog.choices import KINDS
from catalog.refs import RefError, humanize, parse_ref

register = template.Library()

_KIND_NAMES = {kind.lower(): kind for kind in KINDS}

#: How each relation type reads in a sentence about the entity on the page.
RELATION_LABELS = {
    "ownedBy": "Owned by",
    "ownerOf": "Owner of",
    "partOf": "Part of",
    "hasPart": "Has part",
    "dependsOn": "Depends on",
    "dependencyOf": "Dependency of",
    "providesApi": "Provides API",
    "apiProvidedBy": "API provided by",
    "consumesApi": "Consumes API",
    "apiConsumedBy": "API consumed by",
    "memberOf": "Member of",
    "hasMember": "Has member",
    "childOf": "Child of",
    "parentOf": "Parent of",
}

#: Link schemes an entity's metadata.links may use; anything else is shown as text.
SAFE_LINK_SCHEMES = {"http", "https", "mailto"}


@register.filter
def entity_url(ref: str) -> str:
    """The page of the entity a ref names (whether or not it exists)."""
    try:
        parsed = parse_ref(ref)
    except RefError:
        return ""
    return reverse(
        "catalog:entity_detail",
        kwargs={"namespace": parsed.namespace, "kind": parsed.kind.lower(), "name": parsed.name},
    )


@register.filter
def short_ref(ref: str, default_kind: str | None = None) -> str:
    """`group:default/fraud-detection` as `fraud-detection` where the kind is expected."""
    if not ref:
        return ""
    try:
        return humanize(ref, default_kind or None)
    except RefError:
        return ref


@register.filter
def kind_name(kind: str) -> str:
    """A kind as Backstage spells it (`component` → `Component`)."""
    return _KIND_NAMES.get((kind or "").lower(), kind)


@register.filter
def relation_label(relation_type: str) -> str:
    return RELATION_LABELS.get(relation_type, relation_type)


@register.filter
def safe_link(url) -> str:
    """The URL when its scheme may be linked (http, https, mailto), else ''."""
    if not isinstance(url, str):
        return ""
    return url if urlsplit(url.strip()).scheme.lower() in SAFE_LINK_SCHEMES else ""


@register.simple_tag
def query_with(query: QueryDict, **changes) -> str:
    """`?` plus the query with some keys replaced (None removes a key); page always resets."""
    updated = query.copy()
    updated.pop("page", None)
    for key, value in changes.items():
        updated.pop(key, None)
        if value not in (None, ""):
            updated[key] = str(value)
    encoded = updated.urlencode()
    return f"?{encoded}" if encoded else "?"

"""Entity refs, `kind:namespace/name`, compared case-insensitively (Backstage's rules)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_NAMESPACE = "default"


class RefError(ValueError):
    pass


@dataclass(frozen=True)
class EntityRef:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.namespace}/{self.name}".lower()


def parse_ref(
    ref: str | dict, *, default_kind: str | None = None, default_namespace: str = DEFAULT_NAMESPACE
) -> EntityRef:
    """Parse `[kind:][namespace/]name` (or a {kind, namespace, name} dict) into its parts."""
    if isinstance(ref, dict):
        kind, namespace, name = ref.get("kind") or default_kind, ref.get("namespace") or default_namespace, ref.get("name")
    else:
        if not isinstance(ref, str) or not ref.strip():
            raise RefError("An entity ref must be a non-empty string such as group:default/platform-team.")
        text = ref.strip()
        kind = default_kind
        if ":" in text:
            kind, text = text.split(":", 1)
        namespace = default_namespace
        if "/" in text:
            namespace, text = text.split("/", 1)
        name = text
    if not kind:
        raise RefError(f"Entity ref {ref!r} has no kind: write it as kind:namespace/name.")
    if not name or not namespace or "/" in name or ":" in name:
        raise RefError(f"Entity ref {ref!r} is not of the form kind:namespace/name.")
    return EntityRef(kind, namespace, name)


def ref_string(ref: str | dict, *, default_kind: str | None = None, default_namespace: str = DEFAULT_NAMESPACE) -> str:
    """The normalised lower-cased ref string."""
    return str(parse_ref(ref, default_kind=default_kind, default_namespace=default_namespace))


def entity_ref(kind: str, namespace: str, name: str) -> str:
    return f"{kind}:{namespace}/{name}".lower()


def humanize(ref: str, default_kind: str | None = None) -> str:
    """A short ref for display: the default namespace and the expected kind are left out."""
    parsed = parse_ref(ref)
    text = parsed.name if parsed.namespace == DEFAULT_NAMESPACE else f"{parsed.namespace}/{parsed.name}"
    if default_kind is None or parsed.kind.lower() != default_kind.lower():
        text = f"{parsed.kind}:{text}"
    return text

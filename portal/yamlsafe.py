"""Safe YAML loading for everything the portal reads from repositories and uploads.

The C safe loader (the pure-Python one is about ten times slower), a size limit, and no
duplicate mapping keys: Kubernetes and Backstage reject duplicates, so a manifest the
portal accepted would otherwise be refused later, or worse, silently take the last value.
"""

from __future__ import annotations

import contextlib

import yaml
from django.conf import settings

__all__ = ["YAMLError", "load_all", "load"]


class YAMLError(ValueError):
    """A document the portal refuses: malformed, a duplicate key, or too large."""


class _UniqueKeyLoader(yaml.CSafeLoader):
    """The C safe loader, refusing a key that appears twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    first = None  # unhashable key: construct_mapping reports it
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r} (first defined on line {first.line + 1})",
                        key_node.start_mark,
                    )
                with contextlib.suppress(TypeError):
                    seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _UniqueKeyLoader.construct_mapping
)
# Kubernetes keeps unquoted dates as strings; a datetime would not survive JSON or JMESPath.
_UniqueKeyLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", yaml.constructor.SafeConstructor.construct_scalar
)


def _describe(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    text = f"{where}{problem}"
    if context and "duplicate key" not in problem:
        text += f" ({context})"
    return text


def load_all(text: str | bytes, max_bytes: int | None = None, *, source: str = "") -> list:
    """Every document of a YAML stream, empty documents dropped.

    Raises YAMLError naming the source and the line for malformed input or a duplicate key,
    and for a stream larger than ``max_bytes`` (default ``settings.PORTAL_YAML_MAX_BYTES``).
    """
    where = f"{source}: " if source else ""
    limit = settings.PORTAL_YAML_MAX_BYTES if max_bytes is None else max_bytes
    size = len(text.encode("utf-8")) if isinstance(text, str) else len(text)
    if size > limit:
        raise YAMLError(
            f"{where}file is {size} bytes, over the limit of {limit} (PORTAL_YAML_MAX_BYTES)"
        )
    try:
        return [doc for doc in yaml.load_all(text, Loader=_UniqueKeyLoader) if doc is not None]
    except yaml.YAMLError as exc:
        raise YAMLError(f"{where}{_describe(exc)}") from exc
    except UnicodeDecodeError as exc:
        raise YAMLError(f"{where}not UTF-8 text: {exc.reason} at byte {exc.start}") from exc


def load(text: str | bytes, max_bytes: int | None = None, *, source: str = ""):
    """The single document of a YAML stream (None when empty); more than one is an error."""
    docs = load_all(text, source=source, max_bytes=max_bytes)
    if len(docs) > 1:
        where = f"{source}: " if source else ""
        raise YAMLError(f"{where}expected one YAML document, found {len(docs)}")
    return docs[0] if docs else None

"""Safe YAML loading for everything the portal reads from repositories and uploads.

The C safe loader (the pure-Python one is about ten times slower), a size limit, and no
duplicate mapping keys: Kubernetes and Backstage reject duplicates, so a manifest the
portal accepted would otherwise be refused later, or worse, silently take the last value.
"""

from __future__ import annotations

import yaml
from django.conf import settings

__all__ = ["YAMLError", "load_all", "load"]


class YAMLError(ValueError):
    """A document the portal refuses: malformed, a duplicate key, or too large."""


_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.CSafeLoader):
    """The C safe loader, refusing a key that appears twice in one mapping.

    Mappings are built here in one pass: string keys (all keys of a Kubernetes manifest) are
    taken from the node as they are, instead of being constructed once for the duplicate check
    and again for the mapping.
    """

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping node, but found {node.id}", node.start_mark
            )
        seen: dict = {}
        merged = False
        for key_node, _value in node.value:
            if key_node.tag == _MERGE_TAG:
                merged = True
                continue
            key = key_node.value if key_node.tag == _STR_TAG else self._key(key_node, node)
            first = seen.get(key)
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r} (first defined on line {first.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        if merged:
            self.flatten_mapping(node)
        mapping = {}
        construct = self.construct_object
        for key_node, value_node in node.value:
            key = key_node.value if key_node.tag == _STR_TAG else self._key(key_node, node)
            mapping[key] = construct(value_node, deep=deep)
        return mapping

    def _key(self, key_node, node):
        key = self.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError as exc:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found unhashable key",
                key_node.start_mark,
            ) from exc
        return key


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

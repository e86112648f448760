"""Backstage's template filters, and Jinja filters with bounds on what they may build.

Backstage adds `parseRepoUrl`, `parseEntityRef`, `pick` and `projectSlug` to Nunjucks, whose
own `dump` is `JSON.stringify`; each behaves here as it does there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Undefined, pass_environment, pass_eval_context
from jinja2 import filters as jinja_filters

from catalog.refs import DEFAULT_NAMESPACE, RefError, parse_ref

_REPO_PARAMS = ("owner", "repo", "organization", "workspace", "project")


class FilterError(ValueError):
    """A filter given a value it cannot work with."""


def parse_repo_url(url: Any) -> dict[str, str]:
    """`github.com?owner=o&repo=r` -> {host, owner, repo}, as the RepoUrlPicker writes it."""
    if not isinstance(url, str) or not url.strip():
        raise FilterError("parseRepoUrl needs a repository URL such as github.com?owner=acme&repo=models")
    parsed = urlsplit(f"https://{url.strip()}")
    if not parsed.netloc:
        raise FilterError(f"parseRepoUrl: {url!r} names no host (expected host?owner=…&repo=…)")
    query = parse_qs(parsed.query)
    result = {"host": parsed.netloc}
    for name in _REPO_PARAMS:
        if query.get(name):
            result[name] = query[name][0].strip("/")
    needs_owner = not ({"organization", "workspace", "project"} & result.keys())
    for required in ("repo", "owner") if needs_owner else ("repo",):
        if not result.get(required):
            raise FilterError(f"parseRepoUrl: {url!r} has no {required} (expected host?owner=…&repo=…)")
    return result


def project_slug(url: Any) -> str:
    """`github.com?owner=o&repo=r` -> `o/r`."""
    parts = parse_repo_url(url)
    return f"{parts.get('owner', '')}/{parts['repo']}"


def parse_entity_ref(ref: Any, context: Any = None) -> dict[str, str]:
    """`group:default/team` -> {kind, namespace, name}; `context` gives defaultKind/defaultNamespace."""
    context = context if isinstance(context, dict) else {}
    if isinstance(ref, Undefined) or not isinstance(ref, str):
        raise FilterError("parseEntityRef needs an entity ref such as group:default/platform-team")
    try:
        parsed = parse_ref(
            ref,
            default_kind=context.get("defaultKind"),
            default_namespace=context.get("defaultNamespace") or DEFAULT_NAMESPACE,
        )
    except RefError as error:
        raise FilterError(f"parseEntityRef: {error}") from None
    return {"kind": parsed.kind, "namespace": parsed.namespace, "name": parsed.name}


_PATH_PART = re.compile(r"[^.\[\]]+")


@pass_environment
def pick(environment: Any, value: Any, path: Any) -> Any:
    """lodash's `get`: `obj | pick('a.b[0]')`; undefined when any part is missing."""
    current = value
    for part in _PATH_PART.findall(str(path)):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, (list, tuple)) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return environment.undefined(name=str(path))
    return current


def plain(value: Any) -> Any:
    """A JSON value: undefined keys dropped, undefined items null (JSON.stringify's rules)."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items() if not isinstance(item, Undefined)}
    if isinstance(value, (list, tuple)):
        return [None if isinstance(item, Undefined) else plain(item) for item in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise FilterError(f"a {type(value).__name__} value cannot be written as JSON")


def dump(value: Any, spaces: Any = None) -> Any:
    """Nunjucks' `dump`: JSON.stringify(value, null, spaces); JSON is also valid YAML."""
    if isinstance(value, Undefined):
        return value
    indent = spaces if isinstance(spaces, int) and not isinstance(spaces, bool) and spaces > 0 else None
    separators = (",", ": ") if indent else (",", ":")
    return json.dumps(plain(value), indent=min(indent or 0, 10) or None, separators=separators, ensure_ascii=False)


BACKSTAGE_FILTERS: dict[str, Callable[..., Any]] = {
    "parseRepoUrl": parse_repo_url,
    "parseEntityRef": parse_entity_ref,
    "pick": pick,
    "projectSlug": project_slug,
    "dump": dump,
}


def bounded_jinja_filters(environment: Any) -> dict[str, Callable[..., Any]]:
    """Jinja's filters that can build large output from small input, with their limits checked."""
    from scaffolder.expressions.environment import (
        MAX_RANGE,
        MAX_TEXT,
        LimitExceeded,
        check_percent_format,
    )

    def limit(what: str, size: int) -> None:
        if size > MAX_TEXT:
            raise LimitExceeded(f"{what} would build {size:,} characters or items (the limit is {MAX_TEXT:,})")

    @pass_eval_context
    def replace(eval_ctx: Any, value: Any, old: Any, new: Any, count: Any = None) -> Any:
        text, old, new = str(value), str(old), str(new)
        limit("replace", len(text) + (text.count(old) if old else len(text) + 1) * max(len(new) - len(old), 0))
        return jinja_filters.do_replace(eval_ctx, value, old, new, count)

    @pass_eval_context
    def join(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None) -> Any:
        items = list(value)
        limit("join", sum(len(str(item)) for item in items) + len(str(d)) * max(len(items) - 1, 0))
        return jinja_filters.do_join(eval_ctx, items, d, attribute)

    def center(value: Any, width: Any = 80) -> str:
        limit("center", int(width))
        return jinja_filters.do_center(value, width)

    def indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> str:
        step = len(width) if isinstance(width, str) else int(width)
        limit("indent", len(str(value)) + step * (str(value).count("\n") + 1))
        return jinja_filters.do_indent(value, width, first, blank)

    def format_(value: Any, *args: Any, **kwargs: Any) -> str:
        if args and kwargs:
            raise FilterError("format accepts positional or keyword arguments, not both")
        check_percent_format(str(value), kwargs or args)
        return str(value) % (kwargs or args)

    def bounded(name: str, position: int, bound: int) -> Callable[..., Any]:
        original = environment.filters[name]

        def checked(*args: Any, **kwargs: Any) -> Any:
            count = args[position] if len(args) > position else None
            if isinstance(count, int) and count > bound:
                raise LimitExceeded(f"{name} count {count:,} is above the limit of {bound:,}")
            return original(*args, **kwargs)

        return checked

    return {
        "replace": replace,
        "join": join,
        "center": center,
        "indent": indent,
        "format": format_,
        "batch": bounded("batch", 1, MAX_RANGE),
        "slice": bounded("slice", 1, MAX_RANGE),
    }

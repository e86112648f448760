"""The `${{ ... }}` expression engine of templates (DESIGN §4.2).

`render(value, context)` renders every string in a nested value in one sandboxed child
process and returns the rendered value with the warnings it produced:

- a string that is exactly one `${{ expression }}` keeps the expression's type (number,
  boolean, list, object), as Backstage does; other strings render to text;
- an undefined value prints as empty text inside text, and makes a whole-expression value
  null; each case adds a warning naming where it happened;
- anything the sandbox refuses, and anything that runs out of memory or time, raises
  TemplateError with a message naming the expression.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from scaffolder.expressions import rendering
from scaffolder.expressions.environment import TemplateEnvironment
from scaffolder.expressions.isolation import ChildFailure, IsolationError, run_isolated

__all__ = ["RenderResult", "TemplateError", "render", "TIMEOUT_SECONDS", "MEMORY_MB"]

#: Wall-clock time one render call may take, all strings included.
TIMEOUT_SECONDS = 2.0
#: Memory one render call may add to the process it forks from.
MEMORY_MB = 100
# Secrets shorter than this are not masked in messages: masking "a" would garble every word.
_MIN_MASKED_SECRET = 4


class TemplateError(ValueError):
    """An expression that was refused or failed; the message names it and says why."""


@dataclass(frozen=True)
class RenderResult:
    value: Any
    warnings: list[str] = field(default_factory=list)


@functools.cache
def environment() -> TemplateEnvironment:
    """The shared environment, warmed up so a forked child imports nothing."""
    env = TemplateEnvironment()
    rendering.render_all(env, {"warm": "${{ up | dump }} {% if up %}${{ up.x }}{% endif %}"}, {"up": {}}, "", False)
    return env


def render(
    value: Any,
    context: dict[str, Any],
    *,
    label: str = "",
    as_text: bool = False,
    timeout: float = TIMEOUT_SECONDS,
    memory_mb: int = MEMORY_MB,
) -> RenderResult:
    """Render every string in `value` against `context`, in one isolated child process.

    `label` prefixes the places named in warnings and errors (e.g. `input`); `as_text`
    renders whole expressions to text too (file names and contents).
    """
    if not any(rendering.needs_rendering(text) for text in _strings(value)):
        return RenderResult(copy.deepcopy(value), [])
    env = environment()
    try:
        outcome = run_isolated(
            lambda progress: rendering.render_all(env, value, context, label, as_text, progress),
            timeout=timeout,
            memory_bytes=memory_mb * 2**20,
        )
    except IsolationError as error:
        where = error.at or f"{label or 'the template'}:"
        raise TemplateError(_mask(f"{where} {error}", context)) from None
    except ChildFailure as error:
        raise TemplateError(_mask(str(error), context)) from None
    return RenderResult(outcome["value"], [_mask(warning, context) for warning in outcome["warnings"]])


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _secret_values(secrets: Any) -> Iterable[str]:
    if isinstance(secrets, dict):
        for item in secrets.values():
            yield from _secret_values(item)
    elif isinstance(secrets, str) and len(secrets) >= _MIN_MASKED_SECRET:
        yield secrets


def _mask(message: str, context: dict[str, Any]) -> str:
    """Messages quote expressions and sometimes values: secrets never appear in them."""
    for secret in sorted(_secret_values(context.get("secrets")), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message

"""Rendering a nested value string by string: the work done inside the isolated child."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jinja2 import Undefined
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

from scaffolder.expressions.environment import (
    TemplateEnvironment,
    UndefinedRecorder,
    recording,
    stop_recording,
    undefined_message,
    whole_expression,
)
from scaffolder.expressions.filters import FilterError
from scaffolder.expressions.isolation import ChildFailure

_QUOTE_CHARS = 120
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEMPLATE_FILE = "<template>"


def needs_rendering(text: str) -> bool:
    """Text without `${{`, `{%` or `{#` renders to itself."""
    return "${{" in text or "{%" in text or "{#" in text


def render_all(
    env: TemplateEnvironment,
    value: Any,
    context: dict[str, Any],
    label: str,
    as_text: bool,
    progress: Callable[[str], None] = lambda where: None,
) -> dict[str, Any]:
    """Render every string in `value`; returns {value, warnings} (JSON-ready)."""
    renderer = _Renderer(env, context, as_text, progress)
    token = recording(renderer.recorder)
    try:
        rendered = renderer.walk(value, label)
    finally:
        stop_recording(token)
    return {"value": rendered, "warnings": list(dict.fromkeys(renderer.warnings))}


def child_label(parent: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _IDENTIFIER.match(str(key)):
        return f"{parent}.{key}" if parent else str(key)
    return f"{parent}[{str(key)!r}]" if parent else str(key)


class _Renderer:
    def __init__(self, env: TemplateEnvironment, context: dict[str, Any], as_text: bool, progress: Callable[[str], None]):
        self.env = env
        self.context = context
        self.as_text = as_text
        self.progress = progress
        self.recorder = UndefinedRecorder()
        self.warnings: list[str] = []

    def walk(self, value: Any, label: str) -> Any:
        if isinstance(value, str):
            return self.render_string(value, label) if needs_rendering(value) else value
        if isinstance(value, dict):
            return {key: self.walk(item, child_label(label, key)) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.walk(item, child_label(label, index)) for index, item in enumerate(value)]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        raise ChildFailure(f"{label or 'value'}: a {type(value).__name__} value cannot be rendered")

    def render_string(self, text: str, label: str) -> Any:
        single_line = "\n" not in text.strip("\n")
        # What a time or memory limit will name: "input.x: `${{ … }}`", or "file['a.yaml']:".
        self.progress(f"{label or 'value'}: `{_shorten(text)}`" if single_line else f"{label or 'value'}:")
        self.recorder.undefined.clear()
        expression = None
        try:
            expression = None if self.as_text else whole_expression(self.env, text)
            if expression is not None:
                return self._evaluate(expression, text, label)
            return self._render_text(text, label)
        except ChildFailure:
            raise
        except Exception as error:  # noqa: BLE001 - every failure becomes a message naming the place
            # Only rendered text has its traceback mapped back to template lines.
            line = _template_line(error) if expression is None or isinstance(error, TemplateSyntaxError) else None
            raise ChildFailure(_describe_failure(error, text, label, line)) from None

    def _evaluate(self, expression: str, text: str, label: str) -> Any:
        result = self.env.compile_expression(expression, undefined_to_none=False)(self.context)
        value = self._json_value(result, text, label)
        for message, _line in self.recorder.undefined:
            self.warnings.append(f"{label or 'value'}: `{_shorten(text)}`: {message}; rendered as empty text")
        return value

    def _json_value(self, value: Any, text: str, label: str) -> Any:
        if isinstance(value, Undefined):
            self.warnings.append(f"{label or 'value'}: `{_shorten(text)}`: {undefined_message(value)}; the value is null")
            return None
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, str):
            return str(value)
        if isinstance(value, dict):
            return {
                str(key): self._json_value(item, text, label)
                for key, item in value.items()
                if not isinstance(item, Undefined)
            }
        if isinstance(value, (list, tuple, range)) or _is_iterator(value):
            return [self._json_value(item, text, label) for item in value]
        raise SecurityError(f"it produced a {type(value).__name__} object, which is not data")

    def _render_text(self, text: str, label: str) -> str:
        template = self.env.from_string(text)
        self.recorder.template = template
        chunks = []
        for chunk in template.generate(self.context):
            self.recorder.count(len(chunk))
            chunks.append(chunk)
        for message, line in self.recorder.undefined_with_lines():
            self.warnings.append(f"{_where(label, text, line)}: `{_quote(text, line)}`: {message}; rendered as empty text")
        return "".join(chunks)


def _is_iterator(value: Any) -> bool:
    return hasattr(value, "__next__") and hasattr(value, "__iter__")


def _template_line(error: BaseException) -> int | None:
    if isinstance(error, TemplateSyntaxError):
        return error.lineno
    line = None
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == _TEMPLATE_FILE:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _describe_failure(error: BaseException, text: str, label: str, line: int | None) -> str:
    place = f"{_where(label, text, line)}: `{_quote(text, line)}`"
    if isinstance(error, SecurityError):
        return f"{place} was refused: {error}"
    if isinstance(error, TemplateSyntaxError):
        return f"{place} is not a valid expression: {error.message}"
    if isinstance(error, RecursionError):
        return f"{place} was refused: it nests too deeply (a macro calling itself?)"
    if isinstance(error, MemoryError):
        raise error
    if isinstance(error, (UndefinedError, FilterError, TypeError, ValueError, ArithmeticError, LookupError)):
        return f"{place} failed: {error}"
    return f"{place} failed: {type(error).__name__}: {error}"


def _where(label: str, text: str, line: int | None) -> str:
    name = label or "value"
    return f"{name} line {line}" if line and "\n" in text.strip("\n") else name


def _quote(text: str, line: int | None) -> str:
    lines = text.splitlines() or [""]
    chosen = lines[line - 1] if line and 0 < line <= len(lines) else lines[0] if len(lines) == 1 else text
    return _shorten(chosen.strip())


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1] + "…"

"""The sandboxed Jinja environment that evaluates `${{ ... }}` expressions.

Jinja's immutable sandbox refuses private attributes and mutation; on top of it this
environment refuses unsafe attributes at once (Jinja's default only fails when the value is
used), caps `range`, `*`, `**`, `+`, `%`, `str.format` and the string methods and filters that
can build huge text, and prints values the way Nunjucks (Backstage's engine) does. These are
the cheap limits; `isolation.py` adds the hard ones (memory and time) around every render.
"""

from __future__ import annotations

import contextvars
import json
import math
import re
import string
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jinja2 import ChainableUndefined, Template, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from scaffolder.expressions import filters

#: Items a single `range()` may produce.
MAX_RANGE = 10_000
#: Characters (or items) one operation may build: `*`, `+`, `%`, `format`, `replace`, `join`...
MAX_TEXT = 1_000_000
#: Characters one render call may produce in total, over every string it renders.
MAX_OUTPUT = 10_000_000
#: Bits of an integer built by `*` or `**` (about 1,200 decimal digits).
MAX_INT_BITS = 4_096
#: Format widths and precisions above this are refused (`'%0999999999d'`, `'{:>999999999}'`).
MAX_FORMAT_WIDTH = 10_000

# str methods that can build text much larger than their inputs.
_GROWING_STR_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "replace", "join"})
_PRIMITIVES = (str, int, float, bool, type(None))


class LimitExceeded(SecurityError):
    """An operation that would use more memory or time than a template may."""


class UndefinedRecorder:
    """Collects the undefined values printed while rendering, and counts the output."""

    def __init__(self) -> None:
        #: (message, line of the compiled template's code) per undefined value printed.
        self.undefined: list[tuple[str, int | None]] = []
        self.template: Template | None = None
        self.output_chars = 0

    def record(self, message: str) -> None:
        self.undefined.append((message, _compiled_line()))

    def undefined_with_lines(self) -> Iterator[tuple[str, int | None]]:
        """Each message with its line in the template source (Jinja keeps the line map)."""
        for message, code_line in self.undefined:
            line = self.template.get_corresponding_lineno(code_line) if self.template and code_line else None
            yield message, line

    def count(self, chars: int) -> None:
        self.output_chars += chars
        if self.output_chars > MAX_OUTPUT:
            raise LimitExceeded(f"the rendered text exceeds {MAX_OUTPUT:,} characters")


def _compiled_line() -> int | None:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename == "<template>":
            return frame.f_lineno
        frame = frame.f_back
    return None


_recorder: contextvars.ContextVar[UndefinedRecorder | None] = contextvars.ContextVar("recorder", default=None)


def current_recorder() -> UndefinedRecorder | None:
    return _recorder.get()


def recording(recorder: UndefinedRecorder) -> contextvars.Token:
    return _recorder.set(recorder)


def stop_recording(token: contextvars.Token) -> None:
    _recorder.reset(token)


def undefined_message(value: ChainableUndefined) -> str:
    """A short description of a missing value: `'owner' is undefined`."""
    name = value._undefined_name
    if value._undefined_hint:
        return value._undefined_hint
    return f"{name!r} is undefined" if isinstance(name, str) else f"item {name!r} is undefined"


class RecordingUndefined(ChainableUndefined):
    """Nunjucks' undefined: prints as empty text, chains through `.a.b`, and is recorded."""

    __slots__ = ()

    def __str__(self) -> str:
        recorder = current_recorder()
        if recorder is not None:
            recorder.record(undefined_message(self))
        return ""


def to_text(value: Any) -> Any:
    """Print a value as Nunjucks does: null and undefined as empty text, booleans in lower case."""
    if isinstance(value, RecordingUndefined):
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return str(int(value))
    if isinstance(value, (list, tuple)):
        # JavaScript's Array.prototype.toString, which Nunjucks uses.
        return ",".join(str(to_text(item)) for item in value)
    if isinstance(value, dict):
        # Nunjucks prints "[object Object]"; JSON is the useful reading of the same intent.
        return json.dumps(filters.plain(value), ensure_ascii=False, separators=(",", ":"))
    return value


def safe_range(*args: int) -> range:
    """`range()` capped at MAX_RANGE items."""
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise LimitExceeded(f"range() would produce {len(result):,} items (the limit is {MAX_RANGE:,})")
    return result


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, list, tuple)) else None


def check_repeat(left: Any, right: Any) -> None:
    """`'x' * n`, `[1] * n`, and integer products, before they are built."""
    for seq, count in ((left, right), (right, left)):
        size = _size(seq)
        if size is not None and isinstance(count, int) and size * count > MAX_TEXT:
            raise LimitExceeded(f"'*' would build {size * count:,} characters or items (the limit is {MAX_TEXT:,})")
    if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise LimitExceeded(f"'*' would build an integer of more than {MAX_INT_BITS:,} bits")


def check_power(base: Any, exponent: Any) -> None:
    """`10 ** 10 ** 9` and friends, before Python starts computing them."""
    if not (_is_int(base) and _is_int(exponent) and abs(base) > 1 and exponent > 0):
        return
    if (abs(base).bit_length() - 1) * exponent > MAX_INT_BITS:
        raise LimitExceeded(f"'**' would build an integer of more than {MAX_INT_BITS:,} bits")


def check_concat(left: Any, right: Any) -> None:
    left_size, right_size = _size(left), _size(right)
    if left_size is not None and right_size is not None and left_size + right_size > MAX_TEXT:
        raise LimitExceeded(f"'+' would build {left_size + right_size:,} characters or items (the limit is {MAX_TEXT:,})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_percent_format(template: str, args: Any) -> None:
    """`'%s' % x` accepts text and numbers only, with modest widths."""
    values = args.values() if isinstance(args, Mapping) else args if isinstance(args, tuple) else (args,)
    for value in values:
        if not isinstance(value, (*_PRIMITIVES, RecordingUndefined)):
            raise SecurityError(f"'%' formatting accepts text and numbers, not a {type(value).__name__} object")
    for match in _PERCENT_SPEC.finditer(template):
        _check_widths(match.groups(), "'%' formatting")


def check_format_call(template: str, args: Iterable[Any], kwargs: Mapping[str, Any]) -> None:
    """`'{0}'.format(x)`: text and numbers only, no nested or huge widths."""
    for value in [*args, *kwargs.values()]:
        if not isinstance(value, (*_PRIMITIVES, RecordingUndefined)):
            raise SecurityError(f"format() accepts text and numbers, not a {type(value).__name__} object")
    for _literal, _field, spec, _conversion in string.Formatter().parse(template):
        if spec and "{" in spec:
            raise SecurityError("format() does not accept nested replacement fields")
        if spec:
            _check_widths(re.findall(r"\d+", spec), "format()")


def _check_widths(numbers: Iterable[str | None], what: str) -> None:
    for number in numbers:
        if number == "*":
            raise SecurityError(f"{what} does not accept '*' widths")
        if number and int(number) > MAX_FORMAT_WIDTH:
            raise LimitExceeded(f"{what} width {int(number):,} is above the limit of {MAX_FORMAT_WIDTH:,}")


def check_growing_call(method: Callable[..., Any], args: tuple, kwargs: dict) -> tuple:
    """Estimate what a str method such as `replace` or `ljust` would build; returns the args."""
    text: str = method.__self__  # type: ignore[attr-defined]
    name = method.__name__
    if name == "join":
        items = list(args[0]) if args else []
        args = (items, *args[1:])
        estimate = sum(len(str(item)) for item in items) + len(text) * max(len(items) - 1, 0)
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        estimate = len(text) + (text.count(old) if old else len(text) + 1) * max(len(new) - len(old), 0)
    elif name == "expandtabs":
        estimate = len(text) + text.count("\t") * int(args[0] if args else kwargs.get("tabsize", 8))
    else:
        estimate = int(args[0]) if args and isinstance(args[0], int) else len(text)
    if estimate > MAX_TEXT:
        raise LimitExceeded(f"str.{name}() would build {estimate:,} characters (the limit is {MAX_TEXT:,})")
    return args


class TemplateEnvironment(ImmutableSandboxedEnvironment):
    """Backstage's `${{ }}` syntax in Jinja's immutable sandbox, with resource limits."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(
            variable_start_string="${{",
            variable_end_string="}}",
            autoescape=False,
            undefined=RecordingUndefined,
            finalize=to_text,
            keep_trailing_newline=True,
        )
        # lipsum() writes arbitrary amounts of text and serves no template; the other
        # helpers (dict, cycler, joiner, namespace) are plain values without side effects.
        self.globals.pop("lipsum", None)
        self.globals["range"] = safe_range
        self.filters.update(filters.BACKSTAGE_FILTERS)
        self.filters.update(filters.bounded_jinja_filters(self))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            check_repeat(left, right)
        elif operator == "**":
            check_power(left, right)
        elif operator == "+":
            check_concat(left, right)
        elif operator == "%" and isinstance(left, str):
            check_percent_format(left, right)
        return super().call_binop(context, operator, left, right)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Jinja returns an undefined that fails only when used, so `${{ ''.__class__ }}`
        # would print nothing; refuse it where it happens, with its name.
        raise SecurityError(f"access to attribute {attribute!r} of {_kind(obj)} is not allowed")

    def getattr(self, obj: Any, attribute: str) -> Any:
        # `values.items` means the key "items", as in JavaScript, not the dict method.
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        _refuse_private(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping) and argument in obj:
            return obj[argument]
        _refuse_private(obj, argument)
        return super().getitem(obj, argument)

    def _load_template(self, name: Any, globals: Any) -> Any:
        raise SecurityError("templates cannot include, import or extend other files")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            named = args[0] if value.__name__ == "format_map" and args else kwargs
            check_format_call(template, args if value.__name__ == "format" else (), named)
            return wrapped(*args, **kwargs)

        return checked

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if getattr(__obj, "__name__", None) in _GROWING_STR_METHODS and isinstance(
            getattr(__obj, "__self__", None), str
        ):
            args = check_growing_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


def _refuse_private(obj: Any, name: Any) -> None:
    # Also on undefined values, which would otherwise chain quietly through `x.__globals__`.
    if isinstance(name, str) and name.startswith("_"):
        raise SecurityError(f"access to attribute {name!r} of {_kind(obj)} is not allowed")


def _kind(obj: Any) -> str:
    return "an undefined value" if isinstance(obj, ChainableUndefined) else f"a {type(obj).__name__} value"


def whole_expression(env: TemplateEnvironment, text: str) -> str | None:
    """The expression source when `text` is exactly one `${{ ... }}` and nothing else."""
    if not (text.startswith("${{") and text.endswith("}}")):
        return None
    body = env.parse(text).body
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return None
    parts = body[0].nodes
    if len(parts) != 1 or isinstance(parts[0], nodes.TemplateData):
        return None
    return text[3:-2]

"""`{{ }}` variables: JMESPath over the admission request, with Kyverno's custom functions.

Expressions are compiled once and cached. A string that is exactly one variable takes the
variable's JSON value (a list stays a list); a variable inside other text is interpolated
(non-strings as compact JSON). `\\{{` escapes a literal `{{`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import posixpath
import re
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from functools import lru_cache

import jmespath
import yaml
from jmespath import exceptions as jp_exceptions
from jmespath import functions as jp_functions

from .values import go_sprint, parse_duration, parse_quantity_or_none, wildcard_match

VARIABLE = re.compile(r"(^|[^\\])(\{\{(?:\{[^{}]*\}|[^{}])*\}\})")
VARIABLE_AT_START = re.compile(r"^\{\{(\{[^{}]*\}|[^{}])*\}\}")


class VariableError(ValueError):
    """A variable could not be evaluated (bad expression, unknown function, wrong argument)."""


# --- Kyverno's JMESPath functions -----------------------------------------------------

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX = {
    -9: "n",
    -6: "u",
    -3: "m",
    0: "",
    3: "k",
    6: "M",
    9: "G",
    12: "T",
    15: "P",
    18: "E",
}


def format_quantity(value: Decimal, like: str) -> str:
    """A quantity in Kubernetes' canonical form, in the format family of `like`."""
    binary = like.endswith("i")
    if binary and -1024 < value < 1024:
        binary = False
    if binary and value == value.to_integral_value():
        integer = int(value)
        for suffix, shift in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
            if integer % (1 << shift) == 0:
                return f"{integer >> shift}{suffix}"
        return str(integer)
    # Decimal SI, rounded up to nano precision as Kubernetes does.
    nanos = (value * 1_000_000_000).to_integral_value(rounding=ROUND_UP)
    if nanos == 0:
        return "0"
    exponent = -9
    while exponent < 18 and nanos % 1000 == 0:
        nanos //= 1000
        exponent += 3
    return f"{int(nanos)}{_DECIMAL_SUFFIX[exponent]}"


def format_duration(nanos: int) -> str:
    """Go's time.Duration.String()."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    n = abs(nanos)
    if n < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if n >= size:
                return sign + _trim(Decimal(n) / size) + unit
    hours, rest = divmod(n, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = _trim(Decimal(rest) / 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _trim(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _operand(value, name: str):
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "scalar", value
    if isinstance(value, str):
        quantity = parse_quantity_or_none(value)
        if quantity is not None:
            return "quantity", quantity
        duration = parse_duration(value)
        if duration is not None:
            return "duration", duration
    raise jp_exceptions.JMESPathError(f"{name}: invalid operand {value!r}")


def _number(value: float):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _arith(name: str, left, right):
    lt, lv = _operand(left, name)
    rt, rv = _operand(right, name)
    mismatch = jp_exceptions.JMESPathError(f"{name}: operand types do not match")
    if name in ("add", "sum", "subtract"):
        if lt != rt:
            raise mismatch
        result = lv + rv if name != "subtract" else lv - rv
        if lt == "quantity":
            return format_quantity(result, left)
        if lt == "duration":
            return format_duration(result)
        return result
    if name == "multiply":
        if lt == "scalar" and rt != "scalar":
            (lt, lv, left), (rt, rv) = (rt, rv, right), (lt, lv)
        if rt != "scalar":
            raise mismatch
        if lt == "scalar":
            return lv * rv
        if lt == "quantity":
            return format_quantity(lv * Decimal(str(rv)), left)
        return format_duration(int(lv / 1e9 * rv * 1e9))
    if name == "divide":
        if rt == "scalar" and rv == 0 or rt != "scalar" and rv == 0:
            raise jp_exceptions.JMESPathError("divide: division by zero")
        if lt == rt == "scalar":
            return lv / rv
        if lt == rt == "quantity":
            return float(lv) / float(rv)
        if lt == rt == "duration":
            return lv / rv
        if lt == "quantity" and rt == "scalar":
            divisor = Decimal(str(rv))
            scale = max(-lv.as_tuple().exponent, -divisor.as_tuple().exponent, 0)
            quotient = (lv / divisor).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_DOWN)
            return format_quantity(quotient, left)
        if lt == "duration" and rt == "scalar":
            return format_duration(int(lv / rv))
        raise mismatch
    # modulo
    if lt != rt or lt == "duration" and rv == 0:
        raise mismatch
    if lt == "duration":
        return format_duration(int(math.fmod(lv, rv)))
    if lv != int(lv) or rv != int(rv):
        raise jp_exceptions.JMESPathError("modulo: non-integer argument")
    if int(rv) == 0:
        raise jp_exceptions.JMESPathError("modulo: division by zero")
    result = int(math.fmod(int(lv), int(rv)))
    return format_quantity(Decimal(result), left) if lt == "quantity" else float(result)


class KyvernoFunctions(jp_functions.Functions):
    """The custom JMESPath functions Kyverno adds (the ones policies commonly use)."""

    @jp_functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_compare(self, a, b):
        return (a > b) - (a < b)

    @jp_functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_equal_fold(self, a, b):
        return a.casefold() == b.casefold()

    @jp_functions.signature(
        {"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]}, {"types": ["number"]}
    )
    def _func_replace(self, text, old, new, count):
        return text.replace(old, new, int(count)) if count >= 0 else text.replace(old, new)

    @jp_functions.signature({"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_replace_all(self, text, old, new):
        return text.replace(old, new)

    @jp_functions.signature({"types": ["string"]})
    def _func_to_upper(self, text):
        return text.upper()

    @jp_functions.signature({"types": ["string"]})
    def _func_to_lower(self, text):
        return text.lower()

    @jp_functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_trim(self, text, cutset):
        return text.strip(cutset)

    @jp_functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_trim_prefix(self, text, prefix):
        return text[len(prefix) :] if prefix and text.startswith(prefix) else text

    @jp_functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_split(self, text, sep):
        if sep == "":
            return list(text)
        return text.split(sep)

    @jp_functions.signature({"types": ["string"]}, {"types": ["string", "number"]})
    def _func_regex_match(self, regex, text):
        return _regex(regex).search(go_sprint(text)) is not None

    @jp_functions.signature(
        {"types": ["string"]}, {"types": ["string", "number"]}, {"types": ["string", "number"]}
    )
    def _func_regex_replace_all(self, regex, text, repl):
        template = re.sub(
            r"\$\{(\w+)\}|\$(\w+)",
            lambda m: "\\g<" + (m.group(1) or m.group(2)) + ">",
            go_sprint(repl),
        )
        return _regex(regex).sub(template, go_sprint(text))

    @jp_functions.signature(
        {"types": ["string"]}, {"types": ["string", "number"]}, {"types": ["string", "number"]}
    )
    def _func_regex_replace_all_literal(self, regex, text, repl):
        return _regex(regex).sub(lambda _m: go_sprint(repl), go_sprint(text))

    @jp_functions.signature({"types": ["string"]}, {"types": ["string", "number"]})
    def _func_pattern_match(self, pattern, text):
        return wildcard_match(pattern, go_sprint(text))

    @jp_functions.signature({"types": ["object"]}, {"types": ["object"]})
    def _func_label_match(self, selector, labels):
        return all(k in labels and labels[k] == v for k, v in selector.items())

    @jp_functions.signature({"types": ["string"]})
    def _func_to_boolean(self, text):
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise jp_exceptions.JMESPathError(f"to_boolean: '{text}' is not true or false")
        return lowered == "true"

    @jp_functions.signature({"types": []}, {"types": []})
    def _func_add(self, a, b):
        return _arith("add", a, b)

    @jp_functions.signature({"types": ["array"]})
    def _func_sum(self, items):
        if not items:
            raise jp_exceptions.JMESPathError("sum: at least one element in the array is required")
        result = items[0]
        for item in items[1:]:
            result = _arith("sum", result, item)
        return result

    @jp_functions.signature({"types": []}, {"types": []})
    def _func_subtract(self, a, b):
        return _arith("subtract", a, b)

    @jp_functions.signature({"types": []}, {"types": []})
    def _func_multiply(self, a, b):
        return _arith("multiply", a, b)

    @jp_functions.signature({"types": []}, {"types": []})
    def _func_divide(self, a, b):
        return _arith("divide", a, b)

    @jp_functions.signature({"types": []}, {"types": []})
    def _func_modulo(self, a, b):
        return _arith("modulo", a, b)

    @jp_functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_round(self, value, digits):
        if digits != int(digits) or digits < 0:
            raise jp_exceptions.JMESPathError("round: digits must be a non-negative integer")
        shift = 10 ** int(digits)
        return math.floor(abs(value) * shift + 0.5) / shift * (1 if value >= 0 else -1)

    @jp_functions.signature({"types": ["string"]})
    def _func_base64_decode(self, text):
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")

    @jp_functions.signature({"types": ["string"]})
    def _func_base64_encode(self, text):
        return base64.b64encode(text.encode()).decode()

    @jp_functions.signature({"types": ["string"]})
    def _func_path_canonicalize(self, text):
        return posixpath.normpath(text) if text else "."

    @jp_functions.signature({"types": ["string"]}, {"types": ["number"]})
    def _func_truncate(self, text, length):
        return text[: max(int(length), 0)]

    @jp_functions.signature({"types": ["string"]})
    def _func_parse_json(self, text):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise jp_exceptions.JMESPathError(f"parse_json: {exc}") from exc

    @jp_functions.signature({"types": ["string"]})
    def _func_parse_yaml(self, text):
        try:
            return yaml.load(text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError as exc:
            raise jp_exceptions.JMESPathError(f"parse_yaml: {exc}") from exc

    @jp_functions.signature({"types": ["object", "array"]}, {"types": ["string", "number"]})
    def _func_lookup(self, collection, key):
        if isinstance(collection, dict):
            if not isinstance(key, str):
                raise jp_exceptions.JMESPathError("lookup: object keys are strings")
            return collection.get(key)
        if isinstance(key, str) or key != int(key):
            raise jp_exceptions.JMESPathError("lookup: array index must be an integer")
        index = int(key)
        return collection[index] if 0 <= index < len(collection) else None

    @jp_functions.signature(
        {"types": ["object", "array"]}, {"types": ["string"]}, {"types": ["string"]}
    )
    def _func_items(self, collection, key_name, value_name):
        if isinstance(collection, dict):
            return [{key_name: k, value_name: collection[k]} for k in sorted(collection)]
        return [{key_name: i, value_name: v} for i, v in enumerate(collection)]

    @jp_functions.signature({"types": ["array"]}, {"types": ["array"]})
    def _func_object_from_lists(self, keys, values):
        return {str(k): (values[i] if i < len(values) else None) for i, k in enumerate(keys)}

    @jp_functions.signature({"types": ["string"]})
    def _func_sha256(self, text):
        return hashlib.sha256(text.encode()).hexdigest()

    @jp_functions.signature({"types": ["string"]})
    def _func_sha1(self, text):
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

    @jp_functions.signature({"types": ["string"]})
    def _func_md5(self, text):
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    @jp_functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_semver_compare(self, version, constraint):
        from .conditions import semver_satisfies

        return semver_satisfies(version, constraint)


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise jp_exceptions.JMESPathError(f"invalid regular expression {pattern!r}: {exc}") from exc


_OPTIONS = jmespath.Options(custom_functions=KyvernoFunctions())


@lru_cache(maxsize=4096)
def compile_expression(expression: str):
    try:
        return jmespath.compile(expression)
    except jp_exceptions.JMESPathError as exc:
        raise VariableError(f"invalid JMESPath expression {expression!r}: {exc}") from exc


def query(expression: str, data: dict):
    """Evaluate a JMESPath expression against the context."""
    compiled = compile_expression(expression.strip())
    try:
        return compiled.search(data, options=_OPTIONS)
    except jp_exceptions.JMESPathError as exc:
        raise VariableError(f"failed to evaluate {expression.strip()!r}: {exc}") from exc
    except (TypeError, ValueError, ArithmeticError, KeyError) as exc:
        raise VariableError(f"failed to evaluate {expression.strip()!r}: {exc}") from exc


# --- substitution ----------------------------------------------------------------------


def to_json_text(value) -> str:
    """Go's json.Marshal for interpolation: compact, sorted keys, integral floats as integers."""
    return json.dumps(_integral(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _integral(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


def has_variables(document) -> bool:
    if isinstance(document, str):
        return "{{" in document
    if isinstance(document, dict):
        return any(has_variables(k) or has_variables(v) for k, v in document.items())
    if isinstance(document, list):
        return any(has_variables(v) for v in document)
    return False


def substitute(document, context: dict):
    """Replace every `{{ }}` in a JSON document (keys and values) using the context."""
    if isinstance(document, str):
        return substitute_string(document, context) if "{{" in document else document
    if isinstance(document, dict):
        return {
            (substitute_string(k, context) if "{{" in k else k): substitute(v, context)
            for k, v in document.items()
        }
    if isinstance(document, list):
        return [substitute(v, context) for v in document]
    return document


def substitute_string(value: str, context: dict):
    """Substitute the variables of one string; a lone variable keeps its JSON type."""
    found = [m.group(2) for m in VARIABLE.finditer(value)]
    while found:
        original = value
        shallow = False
        for var in found:
            expression = var[2:-2].strip()
            if expression.startswith("-"):
                expression, shallow = expression[1:].strip(), True
            resolved = query(expression, context)
            if original == var:
                return resolved
            if shallow and resolved is not None:
                resolved = str(resolved).replace("{{", "\\{{")
            text = resolved if isinstance(resolved, str) else to_json_text(resolved)
            value = value.replace(var, text, 1)
        found = [] if shallow else [m.group(2) for m in VARIABLE.finditer(value)]
    return value.replace("\\{{", "{{")

"""Scalar comparisons shared by patterns and conditions: wildcards, quantities, durations.

Kyverno compares a value written in a policy with a value in a resource in several ways at
once: shell-style wildcards (`*` any run, `?` exactly one character), Kubernetes quantities
(`500m`, `4Gi`) and Go durations (`1h30m`). Parsing is cached: the same policy strings are
compared against every resource.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from kubernetes.utils import parse_quantity

# Go's time.ParseDuration units, in nanoseconds.
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.I)


@lru_cache(maxsize=4096)
def wildcard_regex(pattern: str) -> re.Pattern:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def wildcard_match(pattern: str, text: str) -> bool:
    """Kyverno's wildcard match: `*` is any run of characters, `?` exactly one."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == text
    return wildcard_regex(pattern).fullmatch(text) is not None


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


@lru_cache(maxsize=4096)
def parse_duration(text: str) -> int | None:
    """Nanoseconds for a Go duration string ("90s", "1h30m", "-1.5h", "0"), else None."""
    s = text
    sign = 1
    if s and s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        return None
    total = Decimal(0)
    pos = 0
    for match in _DURATION_PART.finditer(s):
        if match.start() != pos:
            return None
        total += Decimal(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(s):
        return None
    return sign * int(total)


# The grammar of Kubernetes' resource.ParseQuantity; parse_quantity alone is laxer ("inf", "1K").
_QUANTITY = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?")


@lru_cache(maxsize=4096)
def parse_quantity_or_none(text: str) -> Decimal | None:
    """A Kubernetes quantity as a Decimal, or None when the text is not one."""
    if not _QUANTITY.fullmatch(text):
        return None
    try:
        return parse_quantity(text)
    except (ValueError, InvalidOperation, TypeError):
        return None


def parse_int(text: str) -> int | None:
    """Go's strconv.ParseInt(s, 10, 64)."""
    if _INT.fullmatch(text):
        value = int(text)
        if -(2**63) <= value < 2**63:
            return value
    return None


def parse_float(text: str) -> float | None:
    """Go's strconv.ParseFloat(s, 64), close enough for policy values."""
    if _FLOAT.fullmatch(text.replace("_", "")):
        try:
            return float(text)
        except ValueError:
            return None
    return None


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def go_sprint(value) -> str:
    """fmt.Sprint of a JSON value, as Kyverno formats keys for the In operators."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value == math.trunc(value) and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_sprint(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def format_float_e(value: float) -> str:
    """strconv.FormatFloat(v, 'E', -1, 64): the shortest exponent form, as in 8E+01."""
    # Shortest round-trip digits (repr), re-expressed in Go's exponent notation.
    shortest = f"{Decimal(repr(value)):E}"
    mantissa, exponent = shortest.split("E")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    sign = "-" if exponent.startswith("-") else "+"
    exp = exponent.lstrip("+-").rjust(2, "0")
    return f"{mantissa}E{sign}{exp}"


class IdentityCache:
    """A value computed once per long-lived object (a policy's rule or pattern), by identity.

    The object is kept alongside its value, so its id cannot be reused while cached; the cache
    is cleared when it fills up, which only costs recomputation.
    """

    def __init__(self, compute, maxsize: int = 16384):
        self._compute = compute
        self._maxsize = maxsize
        self._data: dict[int, tuple] = {}

    def __call__(self, obj):
        hit = self._data.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        value = self._compute(obj)
        if len(self._data) >= self._maxsize:
            self._data.clear()
        self._data[id(obj)] = (obj, value)
        return value

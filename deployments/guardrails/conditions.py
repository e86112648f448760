"""Kyverno condition operators for `preconditions` and `validate.deny.conditions`.

Each operator follows Kyverno's pkg/engine/variables/operator: Equals compares durations, then
quantities, then wildcards; the set operators accept a list, a single value, a JSON array in a
string or a range (`1-1024`); GreaterThan and kin compare durations, quantities, numbers and
semantic versions. Numbers are compared as JSON numbers, as Kyverno does after its JSON round trip.
"""

from __future__ import annotations

import json
import re

from .patterns import IN_RANGE, string_operator, validate_value
from .values import (
    go_sprint,
    is_number,
    parse_duration,
    parse_float,
    parse_int,
    parse_quantity_or_none,
    wildcard_match,
)

NS_PER_SECOND = 1_000_000_000


class UnknownOperator(ValueError):
    """A condition names an operator Kyverno does not have."""


def _durations(key, value) -> tuple[float, float] | None:
    """Kyverno's parseDuration: both sides as seconds when at least one is a duration string."""
    key_d = parse_duration(key) if isinstance(key, str) and key != "0" else None
    value_d = parse_duration(value) if isinstance(value, str) and value != "0" else None
    if key_d is None and value_d is None:
        return None
    if key_d is None:
        if not is_number(key):
            return None
        key_d = int(key * NS_PER_SECOND)
    if value_d is None:
        if not is_number(value):
            return None
        value_d = int(value * NS_PER_SECOND)
    return key_d / NS_PER_SECOND, value_d / NS_PER_SECOND


# --- Equals / NotEquals ----------------------------------------------------------------


def _equals(key, value) -> bool | None:
    """Equality as Kyverno decides it; None where the types do not compare (Equals is false,
    NotEquals true)."""
    if isinstance(key, bool):
        return value == key if isinstance(value, bool) else None
    if is_number(key):
        if is_number(value):
            return key == value
        if isinstance(value, str):
            parsed = parse_float(value)
            return None if parsed is None else parsed == key
        return None
    if isinstance(key, str):
        durations = _durations(key, value)
        if durations is not None:
            return durations[0] == durations[1]
        key_q = parse_quantity_or_none(key)
        if key_q is not None and isinstance(value, str):
            value_q = parse_quantity_or_none(value)
            return None if value_q is None else key_q == value_q
        if isinstance(value, str):
            return wildcard_match(value, key)
        return None
    if isinstance(key, dict | list):
        return key == value if type(value) is type(key) else None
    return None


def op_equals(key, value) -> bool:
    return key is not None and _equals(key, value) is True


def op_not_equals(key, value) -> bool:
    if key is None:
        return False
    result = _equals(key, value)
    return True if result is None else not result


# --- In family -------------------------------------------------------------------------
# Each helper returns None when the value has a type the operator rejects (always false).


def _matches_either(a: str, b: str) -> bool:
    return wildcard_match(a, b) or wildcard_match(b, a)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _string_array(text: str) -> list[str] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
        return parsed
    return None


def _value_list(value: str) -> list[str] | None:
    """A string value as a list: a JSON array of strings, or the string itself."""
    if _is_json(value):
        return _string_array(value)
    return [value]


def _key_in(key: str, value, legacy: bool = False) -> bool | None:
    """Is one key in the value? Kyverno's anyKeyExistsInArray / allKeyExistsInArray, or
    keyExistsInArray for the deprecated In / NotIn (`legacy`: no ranges, JSON arrays only)."""
    if isinstance(value, list):
        return any(_matches_either(go_sprint(v), key) for v in value)
    if isinstance(value, str):
        if wildcard_match(value, key):
            return True
        if legacy:
            values = _string_array(value)
        elif string_operator(value) == IN_RANGE:
            return validate_value(key, value)
        else:
            values = _value_list(value)
        return None if values is None else key in values
    return None


def _keys_in(keys: list[str], value, mode: str) -> bool | None:
    """AnyIn / AllIn / AnyNotIn / AllNotIn for a list key."""
    negate = mode in ("anynotin", "allnotin")
    if isinstance(value, list):
        values = [go_sprint(v) for v in value]
    elif mode in ("anyin", "anynotin") and (isinstance(value, bool) or is_number(value)):
        values = [go_sprint(value)]
    elif isinstance(value, str):
        if len(keys) == 1 and keys[0] == value:
            return not negate
        if string_operator(value) == IN_RANGE:
            if mode == "anyin":
                return any(validate_value(k, value) for k in keys)
            if mode == "anynotin":
                flipped = value.replace("-", "!-", 1)
                return any(validate_value(k, flipped) for k in keys)
            if mode == "allin":
                return all(validate_value(k, value) for k in keys)
            return not any(validate_value(k, value) for k in keys)
        values = _value_list(value)
        if values is None:
            return None
    else:
        return None
    found = [any(_matches_either(k, v) for v in values) for k in keys]
    if mode == "anyin":
        return any(found)
    if mode == "anynotin":
        return not all(found)
    if mode == "allin":
        return all(found)
    return not any(found)


def _legacy_keys_in(keys: list[str], value, negate: bool) -> bool | None:
    """In / NotIn for a list key: exact string membership."""
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            return None
        values = value
    elif isinstance(value, str):
        if len(keys) == 1 and keys[0] == value:
            return True  # Kyverno answers true here for NotIn as well
        values = _string_array(value)
        if values is None:
            return None
    else:
        return None
    if negate:
        return any(k not in values for k in keys)
    return all(k in values for k in keys)


def _set_operator(mode: str):
    negate = mode in ("anynotin", "allnotin", "notin")
    legacy = mode in ("in", "notin")

    def evaluate(key, value) -> bool:
        if isinstance(key, str | bool) or is_number(key):
            single = key if isinstance(key, str) else go_sprint(key)
            found = _key_in(single, value, legacy)
            if found is None:
                return False
            return not found if negate else found
        if isinstance(key, list):
            if legacy:
                if not all(isinstance(k, str) for k in key):
                    return False
                return bool(_legacy_keys_in(key, value, negate))
            return bool(_keys_in([go_sprint(k) for k in key], value, mode))
        return False

    return evaluate


# --- numeric ---------------------------------------------------------------------------

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


def _semver_key(text: str):
    match = _SEMVER.match(text)
    if not match:
        return None
    major, minor, patch, pre = match.groups()
    pre_key: tuple = (
        (1,)
        if pre is None
        else (0, *((0, int(p)) if p.isdigit() else (1, p) for p in pre.split(".")))
    )
    return (int(major), int(minor), int(patch), pre_key)


def _by_operator(a, b, op: str) -> bool:
    if op == "greaterthanorequals":
        return a >= b
    if op == "greaterthan":
        return a > b
    if op == "lessthanorequals":
        return a <= b
    return a < b


def _numeric_value(key: float, value, op: str) -> bool:
    if isinstance(value, bool):
        return False
    if is_number(value):
        return _by_operator(key, value, op)
    if isinstance(value, str):
        durations = _durations(key, value)
        if durations is not None:
            return _by_operator(durations[0], durations[1], op)
        parsed = parse_float(value)
        if parsed is None:
            parsed = parse_int(value)
        if parsed is None:
            return False
        return _by_operator(key, parsed, op)
    return False


def _numeric(op: str):
    def evaluate(key, value) -> bool:
        if isinstance(key, bool):
            return False
        if is_number(key):
            return _numeric_value(key, value, op)
        if not isinstance(key, str):
            return False
        durations = _durations(key, value)
        if durations is not None:
            return _by_operator(durations[0], durations[1], op)
        key_q = parse_quantity_or_none(key)
        value_q = parse_quantity_or_none(value) if isinstance(value, str) else None
        if key_q is not None and value_q is not None:
            return _by_operator(key_q, value_q, op)
        number = parse_float(key)
        if number is not None:
            return _numeric_value(number, value, op)
        version = _semver_key(key)
        if version is not None and isinstance(value, str):
            other = _semver_key(value)
            return other is not None and _by_operator(version, other, op)
        return False

    return evaluate


def _duration_operator(op: str):
    def seconds(value) -> int | None:
        if isinstance(value, bool):
            return None
        if is_number(value):
            return int(value) * NS_PER_SECOND
        if isinstance(value, str):
            return parse_duration(value)
        return None

    def evaluate(key, value) -> bool:
        if isinstance(key, str):
            key_d = parse_duration(key)
        elif is_number(key) and not isinstance(key, bool):
            key_d = int(key) * NS_PER_SECOND
        else:
            return False
        value_d = seconds(value)
        if key_d is None or value_d is None:
            return False
        return _by_operator(key_d, value_d, op)

    return evaluate


OPERATORS = {
    "equal": op_equals,
    "equals": op_equals,
    "notequal": op_not_equals,
    "notequals": op_not_equals,
    "in": _set_operator("in"),
    "notin": _set_operator("notin"),
    "anyin": _set_operator("anyin"),
    "allin": _set_operator("allin"),
    "anynotin": _set_operator("anynotin"),
    "allnotin": _set_operator("allnotin"),
    "greaterthanorequals": _numeric("greaterthanorequals"),
    "greaterthan": _numeric("greaterthan"),
    "lessthanorequals": _numeric("lessthanorequals"),
    "lessthan": _numeric("lessthan"),
    "durationgreaterthanorequals": _duration_operator("greaterthanorequals"),
    "durationgreaterthan": _duration_operator("greaterthan"),
    "durationlessthanorequals": _duration_operator("lessthanorequals"),
    "durationlessthan": _duration_operator("lessthan"),
}


def evaluate_operator(operator: str, key, value) -> bool:
    """Apply a Kyverno condition operator (case-insensitive name) to substituted key and value."""
    handler = OPERATORS.get(str(operator).lower())
    if handler is None:
        raise UnknownOperator(f"unknown condition operator {operator!r}")
    return handler(key, value)


def semver_satisfies(version: str, constraint: str) -> bool:
    """blang/semver ranges: `>=1.2.0 <2.0.0 || 3.x`-style without the x: AND by space, OR by ||."""
    current = _semver_key(version)
    if current is None:
        raise ValueError(f"invalid semantic version {version!r}")
    for alternative in constraint.split("||"):
        ok = True
        for part in alternative.split():
            match = re.match(r"^(>=|<=|!=|==|=|>|<)?(.+)$", part)
            op, text = match.group(1) or "=", match.group(2)
            other = _semver_key(text)
            if other is None:
                raise ValueError(f"invalid semantic version range {constraint!r}")
            if not {
                ">=": current >= other,
                "<=": current <= other,
                ">": current > other,
                "<": current < other,
                "!=": current != other,
            }.get(op, current == other):
                ok = False
                break
        if ok:
            return True
    return False

"""Kyverno `validate.pattern` matching: anchors, wildcards and value operators.

Follows Kyverno's pkg/engine/validate semantics element by element, because the verdict has to
be the admission controller's: a conditional `(key)` or global `<(key)` anchor that does not
hold makes the rule *skip*, a negation `X(key)` that is present *fails*, `=(key)` only checks a
key that exists, `^(key)` needs one list element to match, and a string value may combine
`|` (or), `&` (and), `!`, `>`, `<`, `>=`, `<=`, ranges `a-b` / `a!-b`, wildcards, quantities and
durations.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from .values import (
    IdentityCache,
    format_float_e,
    has_wildcard,
    is_number,
    parse_duration,
    parse_float,
    parse_int,
    parse_quantity_or_none,
    wildcard_match,
)

# --- anchors ---------------------------------------------------------------------------

CONDITION, GLOBAL, NEGATION, ADD, EQUALITY, EXISTENCE = "", "<", "X", "+", "=", "^"
_ANCHOR = re.compile(r"^([+<=X^])?\((.+)\)$", re.DOTALL)


@lru_cache(maxsize=8192)
def parse_anchor(key: str) -> tuple[str, str] | None:
    """(modifier, key) for an anchored key such as `=(name)`, else None."""
    match = _ANCHOR.match(key.strip())
    if not match:
        return None
    return (match.group(1) or "", match.group(2))


def anchor_string(modifier: str, key: str) -> str:
    return f"{modifier}({key})"


# --- errors ----------------------------------------------------------------------------

COND_MSG = "conditional anchor mismatch"
GLOBAL_MSG = "global anchor mismatch"
NEG_MSG = "negation anchor matched in resource"


@dataclass(slots=True)
class PatternErr:
    """An element did not match. `anchor` is set for errors raised by an anchor itself."""

    message: str
    anchor: str | None = None  # "cond", "global", "neg"
    combined: bool = False  # several skip errors folded into one (Kyverno's PatternError)


def _anchor_err(kind: str, prefix: str, msg: str) -> PatternErr:
    return PatternErr(f"{prefix}: {msg}", anchor=kind)


def _is(err: PatternErr, kind: str, msg: str) -> bool:
    if err.anchor is not None:
        return err.anchor == kind
    return msg in err.message


def is_skip(err: PatternErr) -> bool:
    return _is(err, "cond", COND_MSG) or _is(err, "global", GLOBAL_MSG)


def is_negation(err: PatternErr) -> bool:
    return _is(err, "neg", NEG_MSG)


def _combine(errors: list[PatternErr]) -> PatternErr:
    return PatternErr("; ".join(e.message for e in errors), combined=True)


# --- outcome ---------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """The result of matching one pattern against one resource."""

    status: str  # "pass", "fail", "skip", "error"
    path: str = ""
    message: str = ""


class _AnchorMap:
    """Which conditional/existence/negation anchor keys were seen in the resource."""

    __slots__ = ("seen", "error")

    def __init__(self):
        self.seen: dict[str, bool] = {}

    def check(self, pattern: dict, resource) -> None:
        for key, name in _plan(pattern).tracked:
            if self.seen.get(key):
                continue
            self.seen[key] = _has_key(resource, name)

    def keys_missing(self) -> bool:
        for key, present in self.seen.items():
            if not present:
                anchor = parse_anchor(key)
                if anchor and anchor[0] == NEGATION:
                    continue
                return True
        return False


def _has_key(resource, key: str) -> bool:
    if isinstance(resource, dict):
        return key in resource
    if isinstance(resource, list):
        return any(_has_key(v, key) for v in resource)
    return False


def match_pattern(resource, pattern) -> Outcome:
    """Match a resource (or a foreach element) against a pattern, as Kyverno's MatchPattern."""
    anchors = _AnchorMap()
    path, err = _validate_element(resource, pattern, "/", anchors)
    if err is None:
        return Outcome("pass")
    if is_skip(err):
        return Outcome("skip", "", err.message)
    if is_negation(err):
        return Outcome("fail", path, err.message)
    if anchors.keys_missing():
        return Outcome("error", "", err.message)
    if not path:
        return Outcome("error", "", err.message)
    return Outcome("fail", path, err.message)


_SCALARS = (str, int, float, bool, type(None))


def _validate_element(resource, pattern, path: str, anchors: _AnchorMap):
    if isinstance(pattern, dict):
        if not isinstance(resource, dict):
            return path, PatternErr(
                f"pattern and resource have different structures. Path: {path}. "
                f"Expected map, found {_type_name(resource)}"
            )
        anchors.check(pattern, resource)
        return _validate_map(resource, pattern, path, anchors)
    if isinstance(pattern, list):
        if not isinstance(resource, list):
            return path, PatternErr(
                f"validation rule failed at path {path}, resource does not satisfy the "
                "expected overlay pattern"
            )
        return _validate_array(resource, pattern, path, anchors)
    if isinstance(pattern, _SCALARS):
        if isinstance(resource, list):
            for item in resource:
                if not validate_value(item, pattern):
                    return path, PatternErr(
                        f"resource value '{_show(resource)}' does not match '{_show(pattern)}' at path {path}"
                    )
            return "", None
        if not validate_value(resource, pattern):
            return path, PatternErr(
                f"resource value '{_show(resource)}' does not match '{_show(pattern)}' at path {path}"
            )
        return "", None
    return path, PatternErr(f"failed at '{path}', pattern contains unknown type")


def _type_name(value) -> str:
    if isinstance(value, list):
        return "array"
    if value is None:
        return "nothing"
    return type(value).__name__


def _show(value) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _nested_anchors(pattern) -> bool:
    if isinstance(pattern, dict):
        for key, value in pattern.items():
            anchor = parse_anchor(key)
            if anchor is not None and anchor[0] != ADD:
                return True
            if _nested_anchors(value):
                return True
        return False
    if isinstance(pattern, list):
        return any(_nested_anchors(v) for v in pattern)
    return False


@dataclass(slots=True)
class _MapPlan:
    """How Kyverno walks one map of a pattern, computed once per pattern map."""

    anchored: list  # (key, modifier, name, value), sorted by key
    plain: list  # (key, value); global anchors and keys with nested anchors first
    tracked: list  # (key, name) of conditional / existence / negation anchors
    metadata: bool  # wildcard label or annotation keys that may need expanding


def _make_plan(pattern: dict) -> _MapPlan:
    anchored, plain_keys, tracked = [], {}, []
    for key, value in pattern.items():
        anchor = parse_anchor(key)
        if anchor is not None and anchor[0] in (CONDITION, EXISTENCE, EQUALITY, NEGATION):
            anchored.append((key, anchor[0], anchor[1], value))
            if anchor[0] != EQUALITY:
                tracked.append((key, anchor[1]))
        else:
            plain_keys[key] = value
    anchored.sort(key=lambda item: item[0])
    front: list = []
    back: list = []
    for key in sorted(plain_keys):
        anchor = parse_anchor(key)
        if (anchor is not None and anchor[0] == GLOBAL) or _nested_anchors(plain_keys[key]):
            front.insert(0, (key, plain_keys[key]))  # Kyverno pushes these to the front
        else:
            back.append((key, plain_keys[key]))
    return _MapPlan(anchored, front + back, tracked, _needs_metadata_expansion(pattern))


_plan = IdentityCache(_make_plan)


def _validate_map(resource: dict, pattern: dict, path: str, anchors: _AnchorMap):
    plan = _plan(pattern)
    if plan.metadata:
        expanded = expand_metadata_wildcards(pattern, resource)
        if expanded is not pattern:
            plan = _make_plan(expanded)

    skip_errors: list[PatternErr] = []
    apply_count = 0
    for key, modifier, name, value in plan.anchored:
        handler_path, err = _handle_anchor(key, modifier, name, value, resource, path, anchors)
        if err is not None:
            if is_skip(err):
                skip_errors.append(err)
                continue
            if not any(not e.combined for e in skip_errors):
                return handler_path, err
            continue
        apply_count += 1

    if skip_errors:
        direct = any(not e.combined for e in skip_errors)
        if apply_count == 0 or direct:
            return path, _combine(skip_errors)

    for key, value in plan.plain:
        anchor = parse_anchor(key)
        if anchor is not None and anchor[0] == GLOBAL:
            handler_path, err = _handle_anchor(
                key, GLOBAL, anchor[1], value, resource, path, anchors
            )
        else:
            handler_path, err = _handle_default(key, value, resource, path, anchors)
        if err is not None:
            return handler_path, err
    return "", None


def _validate_array(resource: list, pattern: list, path: str, anchors: _AnchorMap):
    if not pattern:
        return path, PatternErr("pattern Array empty")
    first = pattern[0]
    if isinstance(first, dict):
        return _validate_array_of_maps(resource, first, path, anchors)
    if isinstance(first, _SCALARS):
        return _validate_element(resource, first, path, anchors)
    if len(resource) < len(pattern):
        return "", PatternErr(
            "validate Array failed, array length mismatch, resource Array len is "
            f"{len(resource)} and pattern Array len is {len(pattern)}"
        )
    return _validate_pairs(zip(resource, pattern, strict=False), path, anchors)


def _validate_array_of_maps(resource: list, pattern: dict, path: str, anchors: _AnchorMap):
    """Every element against the one map pattern; skipped only if every element skips."""
    return _validate_pairs(((element, pattern) for element in resource), path, anchors)


def _validate_pairs(pairs, path: str, anchors: _AnchorMap):
    apply_count = 0
    skip_errors: list[PatternErr] = []
    for i, (element, element_pattern) in enumerate(pairs):
        elem_path, err = _validate_element(element, element_pattern, f"{path}{i}/", anchors)
        if err is not None:
            if is_skip(err):
                skip_errors.append(err)
                continue
            return elem_path, err
        apply_count += 1
    if apply_count == 0 and skip_errors:
        return path, _combine(skip_errors)
    return "", None


def _handle_anchor(key, modifier, name, pattern, resource: dict, path: str, anchors):
    current = f"{path}{name}/"
    present = name in resource
    if modifier == NEGATION:
        if present:
            return current, _anchor_err("neg", NEG_MSG, f"{current} is not allowed")
        return "", None
    if modifier == EQUALITY:
        if present:
            return _validate_element(resource[name], pattern, current, anchors)
        return "", None
    if modifier == CONDITION:
        if not present:
            return current, _anchor_err(
                "cond", COND_MSG, "conditional anchor key doesn't exist in the resource"
            )
        ret_path, err = _validate_element(resource[name], pattern, current, anchors)
        if err is not None:
            return ret_path, _anchor_err("cond", COND_MSG, err.message)
        return "", None
    if modifier == GLOBAL:
        if present:
            ret_path, err = _validate_element(resource[name], pattern, current, anchors)
            if err is not None:
                return ret_path, _anchor_err("global", GLOBAL_MSG, err.message)
        return "", None
    # EXISTENCE
    if not present:
        return "", None
    value = resource[name]
    if not isinstance(value, list):
        return current, PatternErr(
            "invalid resource type: Existence ^ () anchor can be used only on list/array type resource"
        )
    if not isinstance(pattern, list):
        return current, PatternErr(
            "invalid pattern type: Pattern has to be of list to compare against resource"
        )
    for item_pattern in pattern:
        if not isinstance(item_pattern, dict):
            return current, PatternErr(
                "invalid pattern type: Pattern has to be of type map to compare against items in resource"
            )
        if not any(
            _validate_element(item, item_pattern, f"{current}{i}/", anchors)[1] is None
            for i, item in enumerate(value)
        ):
            return current, PatternErr(f"existence anchor validation failed at path {current}")
    return "", None


def _handle_default(key: str, pattern, resource: dict, path: str, anchors: _AnchorMap):
    """A plain key (or an unsupported `+()` one): the value must match."""
    current = f"{path}{key}/"
    value = resource.get(key)
    if pattern == "*" and isinstance(pattern, str):
        if value is not None:
            return "", None
        return path, PatternErr(f"{path}/{key} not found")
    return _validate_element(value, pattern, current, anchors)


# --- wildcard keys in metadata.labels / metadata.annotations ---------------------------


def _pattern_value(tag: str, pattern: dict):
    for key, value in pattern.items():
        if key == tag:
            return key, value
        anchor = parse_anchor(key)
        if anchor is not None and anchor[1] == tag:
            return key, value
    return "", None


def _tag_needs_expansion(tags) -> bool:
    return isinstance(tags, dict) and any(
        has_wildcard(k) or not isinstance(v, str) for k, v in tags.items()
    )


def _needs_metadata_expansion(pattern: dict) -> bool:
    """Kyverno rewrites metadata.labels / annotations patterns with wildcard keys (and drops
    their non-string values); any other pattern is left as it is."""
    _, metadata = _pattern_value("metadata", pattern)
    if not isinstance(metadata, dict):
        return False
    return any(
        _tag_needs_expansion(_pattern_value(t, metadata)[1]) for t in ("labels", "annotations")
    )


def expand_metadata_wildcards(pattern: dict, resource: dict) -> dict:
    """Replace wildcard label/annotation keys in a pattern with the resource's matching keys."""
    meta_key, meta_pattern = _pattern_value("metadata", pattern)
    resource_meta = resource.get("metadata")
    if not isinstance(meta_pattern, dict) or not isinstance(resource_meta, dict):
        return pattern
    new_meta = None
    for tag in ("labels", "annotations"):
        tag_key, tag_pattern = _pattern_value(tag, meta_pattern)
        _, resource_tags = _pattern_value(tag, resource_meta)
        if not _tag_needs_expansion(tag_pattern) or not isinstance(resource_tags, dict):
            continue
        resource_keys = [k for k, v in resource_tags.items() if isinstance(v, str)]
        expanded = {}
        for key, value in tag_pattern.items():
            if not isinstance(value, str):
                continue  # Kyverno keeps only string values here
            if has_wildcard(key):
                anchor = parse_anchor(key)
                bare = anchor[1] if anchor else key
                found = next((k for k in resource_keys if wildcard_match(bare, k)), bare)
                expanded[anchor_string(anchor[0], found) if anchor else found] = value
            else:
                expanded[key] = value
        if new_meta is None:
            new_meta = dict(meta_pattern)
        new_meta[tag_key] = expanded
    if new_meta is None:
        return pattern
    return {**pattern, meta_key: new_meta}


# --- scalar values ---------------------------------------------------------------------

EQUAL, MORE_EQUAL, LESS_EQUAL, NOT_EQUAL, MORE, LESS = "", ">=", "<=", "!", ">", "<"
IN_RANGE, NOT_IN_RANGE = "-", "!-"
_NUM = r"[-|\+]?\d+(?:\.\d+)?[A-Za-z]*"
IN_RANGE_RE = re.compile(rf"^({_NUM})-({_NUM})$")
NOT_IN_RANGE_RE = re.compile(rf"^({_NUM})!-({_NUM})$")


def string_operator(pattern: str) -> str:
    """The operator a string pattern starts with, as Kyverno's GetOperatorFromStringPattern."""
    if len(pattern) < 2:
        return EQUAL
    for op in (MORE_EQUAL, LESS_EQUAL, MORE, LESS, NOT_EQUAL):
        if pattern.startswith(op):
            return op
    if NOT_IN_RANGE_RE.match(pattern):
        return NOT_IN_RANGE
    if IN_RANGE_RE.match(pattern):
        return IN_RANGE
    return EQUAL


def validate_value(value, pattern) -> bool:
    """Does a scalar resource value satisfy a scalar pattern value?"""
    if isinstance(pattern, bool):
        return isinstance(value, bool) and value == pattern
    if isinstance(pattern, int):
        return _validate_int(value, pattern)
    if isinstance(pattern, float):
        return _validate_float(value, pattern)
    if pattern is None:
        return _validate_nil(value)
    if isinstance(pattern, dict):
        return isinstance(value, dict)
    if isinstance(pattern, str):
        return validate_string_pattern(value, pattern)
    return False


def _validate_int(value, pattern: int) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == pattern
    if isinstance(value, float):
        return value == math.trunc(value) and int(value) == pattern
    if isinstance(value, str):
        parsed = parse_int(value)
        return parsed is not None and parsed == pattern
    return False


def _validate_float(value, pattern: float) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return pattern == math.trunc(pattern) and int(pattern) == value
    if isinstance(value, float):
        return value == pattern
    if isinstance(value, str):
        parsed = parse_float(value)
        return parsed is not None and parsed == pattern
    return False


def _validate_nil(value) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str):
        return value == ""
    return False


@lru_cache(maxsize=4096)
def _alternatives(pattern: str) -> tuple[tuple[str, ...], ...]:
    return tuple(
        tuple(part.strip(" ") for part in alt.strip(" ").split("&")) for alt in pattern.split("|")
    )


def validate_string_pattern(value, pattern: str) -> bool:
    if isinstance(value, str) and value == pattern:
        return True
    for conjunction in _alternatives(pattern):
        if all(_validate_single(value, part) for part in conjunction):
            return True
    return False


def _validate_single(value, pattern: str) -> bool:
    op = string_operator(pattern)
    if op == IN_RANGE:
        left, right = IN_RANGE_RE.match(pattern).groups()
        return _validate_single(value, f">= {left}") and _validate_single(value, f"<= {right}")
    if op == NOT_IN_RANGE:
        left, right = NOT_IN_RANGE_RE.match(pattern).groups()
        return _validate_single(value, f"< {left}") or _validate_single(value, f"> {right}")
    operand = pattern[len(op) :].strip()
    for parse in (parse_duration, parse_quantity_or_none):
        result = _compare_parsed(value, operand, op, parse)
        if result is not None:
            return result
    return _compare_string(value, operand, op)


def _number_text(value) -> str | None:
    """Kyverno's convertNumberToString: nil is "0", floats use %f."""
    if value is None:
        return "0"
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:f}"
    if isinstance(value, int):
        return str(value)
    return None


def _compare(result: int, op: str) -> bool | None:
    if op == EQUAL:
        return result == 0
    if op == NOT_EQUAL:
        return result != 0
    if op == MORE:
        return result > 0
    if op == LESS:
        return result < 0
    if op == MORE_EQUAL:
        return result >= 0
    if op == LESS_EQUAL:
        return result <= 0
    return None


def _cmp(a, b) -> int:
    return (a > b) - (a < b)


def _compare_parsed(value, operand: str, op: str, parse) -> bool | None:
    """Compare as durations or as quantities; None when either side does not parse."""
    expected = parse(operand)
    if expected is None:
        return None
    text = _number_text(value)
    actual = parse(text) if text is not None else None
    if actual is None:
        return None
    return _compare(_cmp(actual, expected), op)


def _compare_string(value, operand: str, op: str) -> bool:
    if op not in (EQUAL, NOT_EQUAL):
        return False
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = format_float_e(value)
    elif isinstance(value, int | str):
        text = str(value)
    else:
        return False
    matched = wildcard_match(operand, text)
    return not matched if op == NOT_EQUAL else matched


__all__ = [
    "Outcome",
    "match_pattern",
    "parse_anchor",
    "validate_value",
    "validate_string_pattern",
    "string_operator",
    "is_number",
]

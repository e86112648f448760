"""Label and field selectors with the syntax and semantics of the Kubernetes API.

Labels: `a=b`, `a==b`, `a!=b`, `a in (b,c)`, `a notin (b,c)`, `a`, `!a`, `a>1`, `a<1`,
joined by commas (all must hold). As in Kubernetes, `!=` and `notin` also match objects
without the label. Fields: `metadata.name` and `metadata.namespace` with `=`, `==`, `!=`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from sandbox.errors import bad_request

Matcher = Callable[[dict], bool]

_KEY = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_EQUALITY = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*({_VALUE})$")
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
_EXISTS = re.compile(rf"^(!?)\s*({_KEY})$")
_COMPARE = re.compile(rf"^({_KEY})\s*([<>])\s*(-?[0-9]+)$")
_VALUE_ONLY = re.compile(rf"^{_VALUE}$")

FIELDS = ("metadata.name", "metadata.namespace")


def _split_terms(selector: str) -> list[str]:
    """Split on the commas that separate requirements, not those inside `in (...)`."""
    terms, depth, start = [], 0, 0
    for index, char in enumerate(selector):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            terms.append(selector[start:index].strip())
            start = index + 1
    terms.append(selector[start:].strip())
    return terms


def _requirement(term: str) -> Callable[[Mapping[str, str]], bool]:
    if match := _EQUALITY.match(term):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _SET.match(term):
        key, operator, raw = match.groups()
        values = {value.strip() for value in raw.split(",")}
        if not all(_VALUE_ONLY.match(value) for value in values):
            raise bad_request(f"unable to parse requirement: invalid value in {term!r}")
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EXISTS.match(term):
        negated, key = match.groups()
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    if match := _COMPARE.match(term):
        key, operator, raw = match.groups()
        bound = int(raw)

        def compare(labels: Mapping[str, str]) -> bool:
            try:
                value = int(labels[key])
            except (KeyError, ValueError):
                return False
            return value > bound if operator == ">" else value < bound

        return compare
    raise bad_request(f"unable to parse requirement: {term!r}")


def label_selector(selector: str | None) -> Matcher:
    """A predicate on objects for a `labelSelector` query parameter (None or '' selects all)."""
    if not selector or not selector.strip():
        return lambda obj: True
    requirements = [_requirement(term) for term in _split_terms(selector)]

    def matches(obj: dict) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(requirement(labels) for requirement in requirements)

    return matches


def field_selector(selector: str | None) -> Matcher:
    """A predicate on objects for a `fieldSelector` query parameter."""
    if not selector or not selector.strip():
        return lambda obj: True
    requirements = []
    for term in _split_terms(selector):
        match = re.match(r"^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$", term)
        if not match:
            raise bad_request(f"invalid field selector: {term!r}")
        field, operator, value = match.groups()
        if field not in FIELDS:
            raise bad_request(f'field label not supported: {field}')
        requirements.append((field.split(".", 1)[1], operator == "!=", value))

    def matches(obj: dict) -> bool:
        metadata = obj.get("metadata", {})
        return all((metadata.get(name, "") == value) != negated for name, negated, value in requirements)

    return matches


def both(first: Matcher, second: Matcher) -> Matcher:
    return lambda obj: first(obj) and second(obj)

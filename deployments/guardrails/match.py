"""Which resources a rule applies to: Kyverno's `match` / `exclude` blocks.

A rule matches when its `match` block does (`any`: one filter, `all`: every filter, or the
legacy top-level `resources`) and its `exclude` block does not. A filter ANDs its attributes
(kinds, names, namespaces, annotations, selector, namespaceSelector, operations) and ORs the
values of each list. User info (roles, clusterRoles, subjects) is ignored: there is no
admission user when a change is checked before it is committed, as in the Kyverno CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .values import IdentityCache, has_wildcard, wildcard_match

_VERSION = re.compile(r"^(v\d+((alpha|beta)\d+)?|\*)$")

# Built-in kinds that live outside namespaces (the Kyverno CLI learns these from discovery).
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterPolicy",
        "ClusterCleanupPolicy",
        "ClusterPolicyReport",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "SelfSubjectAccessReview",
        "SelfSubjectRulesReview",
        "StorageClass",
        "SubjectAccessReview",
        "TokenReview",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
        "ClusterIssuer",
        "ClusterServingRuntime",
        "ClusterStorageContainer",
    }
)


@lru_cache(maxsize=1024)
def parse_kind_selector(selector: str) -> tuple[str, str, str, str]:
    """(group, version, kind, subresource) of a `kinds` entry such as `apps/v1/Deployment`."""
    parts = selector.split("/")
    parts = parts[:-1] + parts[-1].split(".")
    if len(parts) == 1:
        return "*", "*", parts[0], ""
    if len(parts) == 2:
        if parts[0] == "*" and parts[1] == "*":
            return "*", "*", "*", "*"
        if parts[0] == "*" and parts[1].lower() == parts[1]:
            return "*", "*", parts[0], parts[1]
        if _VERSION.match(parts[0]):
            return "*", parts[0], parts[1], ""
        return "*", "*", parts[0], parts[1]
    if len(parts) == 3:
        if _VERSION.match(parts[0]):
            return "*", parts[0], parts[1], parts[2]
        return parts[0], parts[1], parts[2], ""
    if len(parts) == 4:
        return parts[0], parts[1], parts[2], parts[3]
    return "", "", "", ""


def kind_from_selector(selector: str) -> str:
    """The plain kind of a `kinds` entry (Kyverno's GetKindFromGVK + SplitSubresource)."""
    return parse_kind_selector(selector)[2] if "/" in selector else selector.split(".")[0]


def split_api_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


@dataclass(frozen=True, slots=True)
class Subject:
    """What matching looks at in a resource."""

    group: str
    version: str
    kind: str
    name: str
    namespace: str
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    namespace_labels: dict = field(default_factory=dict)
    operation: str = "CREATE"


def _expand_selector_labels(match_labels: dict, labels: dict) -> dict:
    result = {}
    for key, value in match_labels.items():
        key, value = str(key), str(value)
        if has_wildcard(key) or has_wildcard(value):
            for rkey, rvalue in labels.items():
                if wildcard_match(key, rkey) and wildcard_match(value, str(rvalue)):
                    key, value = rkey, str(rvalue)
                    break
            else:
                key = key.replace("*", "0").replace("?", "0")
                value = value.replace("*", "0").replace("?", "0")
        result[key] = value
    return result


class SelectorError(ValueError):
    """A label selector Kubernetes would refuse."""


def check_selector(selector, labels: dict) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions) against labels."""
    if not isinstance(selector, dict):
        raise SelectorError("selector must be a mapping")
    labels = {str(k): str(v) for k, v in (labels or {}).items()}
    match_labels = _expand_selector_labels(selector.get("matchLabels") or {}, labels)
    for key, value in match_labels.items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key = expression.get("key")
        operator = expression.get("operator")
        values = [str(v) for v in expression.get("values") or []]
        if operator == "In":
            if not values:
                raise SelectorError("values must be non-empty for In")
            if key not in labels or labels[key] not in values:
                return False
        elif operator == "NotIn":
            if not values:
                raise SelectorError("values must be non-empty for NotIn")
            if key in labels and labels[key] in values:
                return False
        elif operator == "Exists":
            if values:
                raise SelectorError("values must be empty for Exists")
            if key not in labels:
                return False
        elif operator == "DoesNotExist":
            if values:
                raise SelectorError("values must be empty for DoesNotExist")
            if key in labels:
                return False
        else:
            raise SelectorError(f"{operator!r} is not a valid label selector operator")
    return True


_DESCRIPTION_KEYS = (
    "kinds",
    "name",
    "names",
    "namespaces",
    "annotations",
    "selector",
    "namespaceSelector",
    "operations",
)
_USER_KEYS = ("roles", "clusterRoles", "subjects")


def _description_empty(description: dict) -> bool:
    return not any(description.get(k) for k in _DESCRIPTION_KEYS)


def _namespace_of(subject: Subject) -> str:
    return subject.name if subject.kind == "Namespace" else subject.namespace


@lru_cache(maxsize=8192)
def _kinds_match(kinds: tuple, group: str, version: str, kind: str) -> bool:
    for entry in kinds:
        g, v, k, sub = parse_kind_selector(entry)
        if (
            wildcard_match(g, group)
            and wildcard_match(v, version)
            and wildcard_match(k, kind)
            and wildcard_match(sub, "")
        ):
            return True
    return False


def filter_matches(description: dict, subject: Subject) -> bool:
    """Does one resource filter (kinds, names, namespaces, ...) select the resource?"""
    operations = description.get("operations")
    if operations and subject.operation not in operations:
        return False
    kinds = description.get("kinds")
    if kinds and not _kinds_match(
        tuple(str(k) for k in kinds), subject.group, subject.version, subject.kind
    ):
        return False
    name = description.get("name")
    if name and not wildcard_match(str(name), subject.name):
        return False
    names = description.get("names")
    if names and not any(wildcard_match(str(n), subject.name) for n in names):
        return False
    namespaces = description.get("namespaces")
    if namespaces and not any(wildcard_match(str(n), _namespace_of(subject)) for n in namespaces):
        return False
    annotations = description.get("annotations")
    if annotations and not _annotations_match(annotations, subject):
        return False
    selector = description.get("selector")
    if selector is not None and not _selector_matches(selector, subject.labels):
        return False
    selector = description.get("namespaceSelector")
    if selector is None:
        return True
    return subject.kind != "Namespace" and _selector_matches(selector, subject.namespace_labels)


def _selector_matches(selector, labels: dict) -> bool:
    try:
        return check_selector(selector, labels)
    except SelectorError:
        return False  # Kyverno treats a selector it cannot parse as not matching


def _annotations_match(expected: dict, subject: Subject) -> bool:
    return all(
        any(
            wildcard_match(str(key), k) and wildcard_match(str(value), str(v))
            for k, v in subject.annotations.items()
        )
        for key, value in expected.items()
    )


@dataclass(frozen=True, slots=True)
class _Block:
    """A match or exclude block reduced to its filters: mode "any", "all" or "one"."""

    mode: str
    filters: tuple  # resource descriptions; None for a filter that can never apply


def _compile_block(block: dict, exclude: bool) -> _Block:
    if block.get("any"):
        mode, filters = "any", block["any"]
    elif block.get("all"):
        mode, filters = "all", block["all"]
    else:
        mode, filters = "one", [{"resources": block.get("resources") or {}, **block}]
    compiled = []
    for resource_filter in filters:
        resource_filter = resource_filter or {}
        description = resource_filter.get("resources") or {}
        has_user = any(resource_filter.get(k) for k in _USER_KEYS)
        if _description_empty(description) or (exclude and has_user):
            # An empty filter never matches; with no admission user (as in the Kyverno CLI)
            # an exclude on roles, clusterRoles or subjects never applies.
            compiled.append(None)
        else:
            compiled.append(description)
    return _Block(mode, tuple(compiled))


def _compile_rule(rule: dict) -> tuple[_Block, _Block | None]:
    exclude = rule.get("exclude")
    return (
        _compile_block(rule.get("match") or {}, exclude=False),
        _compile_block(exclude, exclude=True) if exclude else None,
    )


_compiled = IdentityCache(_compile_rule)


def _applies(description: dict | None, subject: Subject) -> bool:
    return description is not None and filter_matches(description, subject)


def rule_matches(rule: dict, subject: Subject) -> bool:
    """Does the rule's match block select the resource, and its exclude block leave it?"""
    match, exclude = _compiled(rule)
    if match.mode == "all":
        if not all(_applies(d, subject) for d in match.filters):
            return False
    elif not any(_applies(d, subject) for d in match.filters):
        return False
    if exclude is None:
        return True
    if exclude.mode == "all":
        return not all(_applies(d, subject) for d in exclude.filters)
    return not any(_applies(d, subject) for d in exclude.filters)

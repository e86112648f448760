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

from .values import has_wildcard, wildcard_match

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


def check_kinds(kinds: list, subject: Subject) -> bool:
    for entry in kinds:
        group, version, kind, sub = parse_kind_selector(str(entry))
        if (
            wildcard_match(group, subject.group)
            and wildcard_match(version, subject.version)
            and wildcard_match(kind, subject.kind)
            and wildcard_match(sub, "")
        ):
            return True
    return False


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


def _filter_errors(description: dict, subject: Subject) -> list[str]:
    """Reasons a resource filter does not match (empty list: it matches)."""
    operations = description.get("operations") or []
    if operations and subject.operation not in operations:
        return ["operation does not match"]
    errors = []
    kinds = description.get("kinds") or []
    if kinds and not check_kinds(kinds, subject):
        errors.append(f"kind does not match {kinds}")
    name = description.get("name")
    if name and not wildcard_match(str(name), subject.name):
        errors.append("name does not match")
    names = description.get("names") or []
    if names and not any(wildcard_match(str(n), subject.name) for n in names):
        errors.append("none of the names match")
    namespaces = description.get("namespaces") or []
    if namespaces:
        namespace = subject.name if subject.kind == "Namespace" else subject.namespace
        if not any(wildcard_match(str(n), namespace) for n in namespaces):
            errors.append("namespace does not match")
    annotations = description.get("annotations") or {}
    if annotations:
        for key, value in annotations.items():
            if not any(
                wildcard_match(str(key), k) and wildcard_match(str(value), str(v))
                for k, v in subject.annotations.items()
            ):
                errors.append("annotations does not match")
                break
    selector = description.get("selector")
    if selector is not None:
        try:
            if not check_selector(selector, subject.labels):
                errors.append("selector does not match")
        except SelectorError as exc:
            errors.append(f"failed to parse selector: {exc}")
    namespace_selector = description.get("namespaceSelector")
    if namespace_selector is not None:
        if subject.kind == "Namespace":
            errors.append("namespace selector is not applicable for namespace resource")
        else:
            try:
                if not check_selector(namespace_selector, subject.namespace_labels):
                    errors.append("namespace selector does not match labels")
            except SelectorError as exc:
                errors.append(f"failed to parse namespace selector: {exc}")
    return errors


def _as_filter(block: dict) -> dict:
    """A legacy block (resources + user info at the top) as a resource filter."""
    return {"resources": block.get("resources") or {}, **{k: block.get(k) for k in _USER_KEYS}}


def _match_filter_errors(resource_filter: dict, subject: Subject) -> list[str]:
    description = resource_filter.get("resources") or {}
    if _description_empty(description):
        # User info alone never matches here: there is no admission user.
        return ["match cannot be empty"]
    return _filter_errors(description, subject)


def _exclude_filter_matches(resource_filter: dict, subject: Subject) -> bool:
    description = resource_filter.get("resources") or {}
    if _description_empty(description):
        # Only roles / clusterRoles / subjects: with no user info this excludes nothing.
        return False
    return not _filter_errors(description, subject)


def rule_matches(rule: dict, subject: Subject) -> bool:
    """Does the rule's match block select the resource, and its exclude block leave it?"""
    match = rule.get("match") or {}
    if match.get("any"):
        if not any(not _match_filter_errors(f or {}, subject) for f in match["any"]):
            return False
    elif match.get("all"):
        if any(_match_filter_errors(f or {}, subject) for f in match["all"]):
            return False
    elif _match_filter_errors(_as_filter(match), subject):
        return False

    exclude = rule.get("exclude") or {}
    if not exclude:
        return True
    if exclude.get("any"):
        return not any(_exclude_filter_matches(f or {}, subject) for f in exclude["any"])
    if exclude.get("all"):
        return not all(_exclude_filter_matches(f or {}, subject) for f in exclude["all"])
    return not _exclude_filter_matches(_as_filter(exclude), subject)

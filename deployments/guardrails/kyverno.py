"""Evaluate Kyverno ClusterPolicy / Policy validate rules against Kubernetes resources.

The portal checks a change with the same policy files the admission controller enforces, so
the verdict in the form is the cluster's verdict. One row per (policy, rule, resource) that the
rule matches: `pass`, `fail` (Enforce), `warn` (Audit), `skip` (preconditions or conditional
anchors do not hold) or `error` (the rule could not be evaluated, or uses a feature the portal
does not evaluate, named in the message). A violation is never reported as a pass.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cached_property

from .autogen import expand_rules
from .conditions import UnknownOperator, evaluate_operator
from .match import CLUSTER_SCOPED_KINDS, Subject, rule_matches, split_api_version
from .patterns import match_pattern
from .values import IdentityCache, wildcard_match
from .variables import VariableError, has_variables, query, substitute

POLICY_KINDS = ("ClusterPolicy", "Policy")
DEFAULT_OPERATION = "CREATE"


@dataclass(frozen=True, slots=True)
class Row:
    """One verdict: a rule of a policy applied to a resource."""

    policy: str
    rule: str
    kind: str
    namespace: str
    name: str
    result: str
    message: str
    #: The file the resource came from and the manifest path that caused the verdict, when known.
    file: str = ""
    path: str = ""

    def as_dict(self) -> dict:
        data = {
            "policy": self.policy,
            "rule": self.rule,
            "resource": {"kind": self.kind, "namespace": self.namespace, "name": self.name},
            "result": self.result,
            "message": self.message,
        }
        if self.file:
            data["file"] = self.file
        if self.path:
            data["path"] = self.path
        return data

    @property
    def sort_key(self) -> tuple:
        return (self.policy, self.rule, self.kind, self.namespace, self.name)


def is_policy(document) -> bool:
    return (
        isinstance(document, dict)
        and document.get("kind") in POLICY_KINDS
        and str(document.get("apiVersion", "")).startswith("kyverno.io/")
    )


# --- unsupported features ---------------------------------------------------------------

_CONTEXT_FEATURES = ("apiCall", "configMap", "globalReference", "imageRegistry")
_VALIDATE_FEATURES = ("podSecurity", "cel", "manifests", "assert")


def _context_features(entries, where: str) -> list[str]:
    found = []
    for entry in entries or []:
        for feature in _CONTEXT_FEATURES:
            if isinstance(entry, dict) and entry.get(feature) is not None:
                found.append(f"{where}context.{feature}")
    return found


def _foreach_features(foreach_list, where: str) -> list[str]:
    found = []
    for entry in foreach_list or []:
        if not isinstance(entry, dict):
            continue
        found += _context_features(entry.get("context"), f"{where}foreach.")
        found += _foreach_features(entry.get("foreach"), f"{where}foreach.")
    return found


# Variables and references the engine does not resolve; a rule using one gets an error row,
# never a verdict computed without it.
_UNSUPPORTED_TEXT = (
    (re.compile(r"\{\{\s*@\s*\}\}"), "the {{@}} variable"),
    (re.compile(r"\{\{[^}]*\bimages\b"), "the images variable"),
    (re.compile(r"\$\("), "pattern references $(...)"),
)


def unsupported_features(rule: dict) -> list[str]:
    """Features of a rule that would affect its verdict and that the portal does not evaluate."""
    found = [f for f in ("mutate", "generate", "verifyImages") if rule.get(f)]
    text = json.dumps(rule.get("validate"), default=str) + json.dumps(rule.get("preconditions"), default=str)
    found += [name for pattern, name in _UNSUPPORTED_TEXT if pattern.search(text)]
    found += _context_features(rule.get("context"), "")
    if rule.get("celPreconditions"):
        found.append("celPreconditions")
    validate = rule.get("validate")
    if isinstance(validate, dict):
        found += [f"validate.{f}" for f in _VALIDATE_FEATURES if validate.get(f) is not None]
        found += _foreach_features(validate.get("foreach"), "validate.")
    elif not found:
        found.append("a rule without validate")
    return found


_rule_features = IdentityCache(unsupported_features)
_has_variables = IdentityCache(has_variables)


# --- policies and resources --------------------------------------------------------------


class Policy:
    """A loaded ClusterPolicy or Policy, with its auto-generated rules computed per kind."""

    def __init__(self, document: dict):
        self.document = document
        metadata = document.get("metadata") or {}
        self.name = str(metadata.get("name", ""))
        self.namespaced = document.get("kind") == "Policy"
        self.namespace = str(metadata.get("namespace") or "default") if self.namespaced else ""
        self.spec = document.get("spec") or {}
        self._rules_by_kind: dict[str, list[dict]] = {}

    def rules_for(self, kind: str) -> list[dict]:
        rules = self._rules_by_kind.get(kind)
        if rules is None:
            rules = self._rules_by_kind[kind] = expand_rules(self.document, kind)
        return rules

    @cached_property
    def apply_one(self) -> bool:
        return str(self.spec.get("applyRules", "All")) == "One"

    def action(self, rule: dict, namespace: str) -> str:
        """The action, `enforce` or `audit`, for a rule on a resource in `namespace`."""
        validate = rule.get("validate") or {}
        overrides = validate.get("failureActionOverrides")
        if overrides is None:
            overrides = self.spec.get("validationFailureActionOverrides")
        for override in overrides or []:
            if any(wildcard_match(str(n), namespace) for n in override.get("namespaces") or []):
                return str(override.get("action", "Audit")).lower()
        action = (
            validate.get("failureAction") or self.spec.get("validationFailureAction") or "Audit"
        )
        return str(action).lower()


class Resource:
    """A resource under check, normalised as the Kyverno CLI does (namespace defaulted)."""

    def __init__(self, document: dict, namespace_labels: dict | None = None):
        document = copy.deepcopy(document)
        _normalise_nil_maps(document)
        metadata = document.get("metadata")
        if not isinstance(metadata, dict):
            metadata = document["metadata"] = {}
        self.kind = str(document.get("kind", ""))
        self.group, self.version = split_api_version(str(document.get("apiVersion", "")))
        self.cluster_scoped = self.kind in CLUSTER_SCOPED_KINDS
        if not self.cluster_scoped and not metadata.get("namespace"):
            metadata["namespace"] = "default"
        self.namespace = "" if self.cluster_scoped else str(metadata.get("namespace"))
        self.name = str(metadata.get("name") or metadata.get("generateName") or "")
        self.document = document
        labels = metadata.get("labels") or {}
        annotations = metadata.get("annotations") or {}
        self.subject = Subject(
            group=self.group,
            version=self.version,
            kind=self.kind,
            name=self.name,
            namespace=self.namespace,
            labels=labels if isinstance(labels, dict) else {},
            annotations=annotations if isinstance(annotations, dict) else {},
            namespace_labels=namespace_labels or {},
            operation=DEFAULT_OPERATION,
        )

    def context(self) -> dict:
        return {
            "request": {
                "operation": DEFAULT_OPERATION,
                "object": self.document,
                "oldObject": None,
                "userInfo": {},
                "roles": [],
                "clusterRoles": [],
                "namespace": self.namespace,
                "name": self.name,
                "kind": {"group": self.group, "version": self.version, "kind": self.kind},
            },
            "serviceAccountName": "",
            "serviceAccountNamespace": "",
        }


_NIL_MAP_FIELDS = frozenset(
    {"annotations", "labels", "matchLabels", "nodeSelector", "data", "stringData"}
)


def _normalise_nil_maps(obj) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if value is None and key in _NIL_MAP_FIELDS:
                obj[key] = {}
            else:
                _normalise_nil_maps(value)
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict):
                _normalise_nil_maps(item)


# --- rule evaluation ----------------------------------------------------------------------


@dataclass(slots=True)
class Verdict:
    status: str  # pass, fail, skip, error
    message: str


class _RuleError(Exception):
    """The rule cannot be evaluated for this resource."""


def _conditions(block, context: dict) -> tuple[bool, str]:
    """Evaluate any/all conditions (or a legacy list); (holds, message)."""
    if block is None:
        return True, ""
    if isinstance(block, list):
        for condition in block:
            if not _condition(condition, context):
                return False, str((condition or {}).get("message", ""))
        return True, ""
    if not isinstance(block, dict):
        raise _RuleError("conditions must be a mapping with any/all or a list")
    any_ok, all_ok = True, True
    messages: list[str] = []
    if block.get("any") is not None:
        any_ok = False
        for condition in block["any"] or []:
            if _condition(condition, context):
                any_ok = True
                break
            messages.append(str((condition or {}).get("message", "")))
    for condition in block.get("all") or []:
        if not _condition(condition, context):
            all_ok = False
            messages.append(str((condition or {}).get("message", "")))
            break
    return any_ok and all_ok, "; ".join(m for m in messages if m)


def _condition(condition, context: dict) -> bool:
    if not isinstance(condition, dict):
        raise _RuleError("a condition must be a mapping")
    try:
        key = substitute(condition.get("key"), context)
        value = substitute(condition.get("value"), context)
        return evaluate_operator(condition.get("operator", ""), key, value)
    except VariableError as exc:
        raise _RuleError(f"failed to substitute variables in condition: {exc}") from exc
    except UnknownOperator as exc:
        raise _RuleError(str(exc)) from exc


def _load_context(entries, context: dict) -> dict:
    """Add `variable` context entries (the supported kind) to a copy of the context."""
    if not entries:
        return context
    context = dict(context)
    for entry in entries:
        name = str(entry.get("name", ""))
        variable = entry.get("variable")
        if variable is None:
            raise _RuleError(f"context entry {name!r} has no supported source")
        try:
            value = substitute(variable.get("value"), context) if "value" in variable else None
            path = variable.get("jmesPath")
            if path:
                path = substitute(path, context)
                value = query(path, value if "value" in variable else context)
            if value is None:
                value = substitute(variable.get("default"), context)
        except VariableError as exc:
            raise _RuleError(f"failed to load context entry {name!r}: {exc}") from exc
        if value is None:
            raise _RuleError(f"context entry {name!r} resolved to nothing")
        context[name] = value
    return context


class RuleEvaluator:
    """Evaluates one (already matched) rule for one resource, foreach levels included."""

    def __init__(self, rule: dict):
        self.rule = rule
        self.name = str(rule.get("name", ""))
        self.validate = rule.get("validate") or {}
        self.message = str(self.validate.get("message") or "")

    def evaluate(self, resource: dict, context: dict) -> Verdict | None:
        try:
            context = _load_context(self.rule.get("context"), context)
            holds, message = _conditions(self.rule.get("preconditions"), context)
        except _RuleError as exc:
            return Verdict("error", f"failed to evaluate preconditions: {exc}")
        if not holds:
            return Verdict("skip", "; ".join(p for p in ("preconditions not met", message) if p))
        return self._validate(self.validate, resource, context, nesting=0)

    def _validate(self, block: dict, resource: dict, context: dict, nesting: int) -> Verdict | None:
        if block.get("deny") is not None:
            return self._deny(block["deny"], context)
        if block.get("pattern") is not None or block.get("anyPattern") is not None:
            return self._patterns(block, resource, context)
        if block.get("foreach") is not None:
            return self._foreach(block["foreach"], resource, context, nesting)
        return Verdict(
            "error", "invalid validation rule: pattern, anyPattern, deny or foreach expected"
        )

    # deny ---------------------------------------------------------------------------
    def _deny(self, deny, context: dict) -> Verdict:
        conditions = deny.get("conditions") if isinstance(deny, dict) else None
        try:
            denied, message = _conditions(conditions, context)
        except _RuleError as exc:
            return Verdict("error", f"failed to check deny conditions: {exc}")
        if not denied:
            return Verdict("pass", f"validation rule '{self.name}' passed.")
        if not self.message and not message:
            return Verdict("fail", f"validation error: rule {self.name} failed")
        text = "; ".join(m for m in (self.message, message) if m)
        return Verdict("fail", self._substituted(text, context, fallback=message))

    def _substituted(self, text: str, context: dict, fallback: str) -> str:
        try:
            value = substitute(text, context)
        except VariableError:
            return fallback
        if isinstance(value, str):
            return value
        return "the produced message didn't resolve to a string, check your policy definition."

    # patterns -------------------------------------------------------------------------
    def _patterns(self, block: dict, resource: dict, context: dict) -> Verdict:
        pattern, any_pattern = block.get("pattern"), block.get("anyPattern")
        try:
            if pattern is not None and _has_variables(pattern):
                pattern = substitute(pattern, context)
            elif pattern is None and _has_variables(any_pattern):
                any_pattern = substitute(any_pattern, context)
        except VariableError as exc:
            return Verdict("error", f"variable substitution failed: {exc}")

        if pattern is not None:
            outcome = match_pattern(resource, pattern)
            if outcome.status == "pass":
                return Verdict("pass", f"validation rule '{self.name}' passed.")
            if outcome.status == "skip":
                return Verdict("skip", outcome.message)
            return Verdict(
                outcome.status, self._error_message(outcome.message, outcome.path, context)
            )

        if not isinstance(any_pattern, list):
            return Verdict("error", "failed to deserialize anyPattern, expected type array")
        failed, skipped = [], []
        for index, alternative in enumerate(any_pattern):
            outcome = match_pattern(resource, alternative)
            if outcome.status == "pass":
                return Verdict("pass", f"validation rule '{self.name}' anyPattern[{index}] passed.")
            if outcome.status == "skip":
                skipped.append(f"rule {self.name}[{index}] skipped: {outcome.message}")
            elif outcome.path:
                failed.append(f"rule {self.name}[{index}] failed at path {outcome.path}")
            else:
                failed.append(f"rule {self.name}[{index}] failed: {outcome.message}")
        if skipped and not failed:
            return Verdict("skip", " ".join(skipped))
        if failed:
            return Verdict("fail", self._any_pattern_message(" ".join(failed), context))
        return Verdict("pass", self.message)

    def _error_message(self, error: str, path: str, context: dict) -> str:
        if not self.message:
            if path:
                return f"validation error: rule {self.name} failed at path {path}"
            return f"validation error: rule {self.name} execution error: {error}"
        try:
            message = substitute(self.message, context)
        except VariableError:
            return (
                f"validation error: variables substitution error in rule {self.name} "
                f"execution error: {error}"
            )
        message = str(message)
        if not message.endswith("."):
            message += "."
        if path:
            return f"validation error: {message} rule {self.name} failed at path {path}"
        return f"validation error: {message} rule {self.name} execution error: {error}"

    def _any_pattern_message(self, errors: str, context: dict) -> str:
        if not self.message:
            return f"validation error: {errors}"
        try:
            message = str(substitute(self.message, context))
        except VariableError:
            return (
                f"validation error: variables substitution error in rule {self.name} "
                f"execution error: {errors}"
            )
        if message.endswith("."):
            return f"validation error: {message} {errors}"
        return f"validation error: {message}. {errors}"

    # foreach --------------------------------------------------------------------------
    def _foreach(self, entries, resource: dict, context: dict, nesting: int) -> Verdict | None:
        applied = 0
        list_error = None
        for entry in entries or []:
            if not isinstance(entry, dict):
                return Verdict("error", "a foreach entry must be a mapping")
            try:
                elements = query(str(entry.get("list", "")), context)
            except VariableError as exc:
                list_error = exc
                continue
            if not isinstance(elements, list):
                elements = [elements]
            verdict, count = self._elements(entry, elements, resource, context, nesting)
            if verdict.status != "pass":
                return verdict
            applied += count
        if applied == 0:
            if list_error is not None:
                return Verdict("error", f"failed to evaluate list: {list_error}")
            return None
        return Verdict("pass", "rule passed")

    def _elements(self, entry: dict, elements: list, resource: dict, context: dict, nesting: int):
        applied = 0
        scoped_setting = entry.get("elementScope")
        for index, element in enumerate(elements):
            if element is None:
                continue
            element_context = dict(context)
            element_context.update(
                {
                    "element": element,
                    f"element{nesting}": element,
                    "elementIndex": index,
                    f"elementIndex{nesting}": index,
                }
            )
            scoped = isinstance(element, dict) if scoped_setting is None else bool(scoped_setting)
            if scoped and not isinstance(element, dict):
                return Verdict(
                    "error",
                    "failed to process foreach: cannot use elementScope=true foreach rules for "
                    "elements that are not maps",
                ), applied
            target = element if scoped else resource
            verdict = self._element(entry, target, element_context, nesting + 1)
            if verdict is None or verdict.status == "skip":
                continue
            if verdict.status != "pass":
                if (
                    verdict.status == "error"
                    and "failed to evaluate preconditions" in verdict.message
                ):
                    continue
                return Verdict(verdict.status, f"validation failure: {verdict.message}"), applied
            applied += 1
        return Verdict("pass", ""), applied

    def _element(self, entry: dict, target: dict, context: dict, nesting: int) -> Verdict | None:
        try:
            context = _load_context(entry.get("context"), context)
            holds, message = _conditions(entry.get("preconditions"), context)
        except _RuleError as exc:
            return Verdict("error", f"failed to evaluate preconditions: {exc}")
        if not holds:
            return Verdict("skip", "; ".join(p for p in ("preconditions not met", message) if p))
        return self._validate(entry, target, context, nesting)


# --- the engine ---------------------------------------------------------------------------


def evaluate(policies: list[Policy], resources: list[Resource]) -> list[Row]:
    """Every rule of every policy against every resource it matches, sorted."""
    rows: list[Row] = []
    for policy in policies:
        for resource in resources:
            rows.extend(evaluate_policy(policy, resource))
    rows.sort(key=lambda r: r.sort_key)
    return rows


def evaluate_policy(policy: Policy, resource: Resource) -> list[Row]:
    if policy.namespaced and resource.namespace != policy.namespace:
        return []
    rows = []
    for rule in policy.rules_for(resource.kind):
        if not rule_matches(rule, resource.subject):
            continue
        verdict = _evaluate_rule(policy, rule, resource)
        if verdict is None:
            continue
        result = verdict.status
        if result == "fail" and policy.action(rule, resource.namespace) != "enforce":
            result = "warn"
        rows.append(
            Row(
                policy=policy.name,
                rule=str(rule.get("name", "")),
                kind=resource.kind,
                namespace=resource.namespace,
                name=resource.name,
                result=result,
                message=verdict.message,
            )
        )
        if policy.apply_one and result in ("pass", "fail", "warn"):
            break
    return rows


def _evaluate_rule(policy: Policy, rule: dict, resource: Resource) -> Verdict | None:
    features = _rule_features(rule)
    if features:
        return Verdict(
            "error",
            f"policy {policy.name} rule {rule.get('name', '')} uses "
            f"{', '.join(features)}, which the portal does not evaluate",
        )
    evaluator = RuleEvaluator(rule)
    return evaluator.evaluate(resource.document, resource.context())

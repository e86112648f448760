"""Kyverno's auto-generated rules for pod controllers.

A policy whose rules match Pods also guards the pod templates of DaemonSets, Deployments, Jobs,
StatefulSets, ReplicaSets and ReplicationControllers (`autogen-<rule>`, pattern under
`spec.template`) and of CronJobs (`autogen-cronjob-<rule>`, under
`spec.jobTemplate.spec.template`), unless `pod-policies.kyverno.io/autogen-controllers` says
otherwise. Variables are rewritten textually, as Kyverno does: `request.object.spec` becomes the
template's spec.
"""

from __future__ import annotations

import copy
import json

from .match import kind_from_selector

ANNOTATION = "pod-policies.kyverno.io/autogen-controllers"
CONTROLLERS = (
    "DaemonSet",
    "Deployment",
    "Job",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
)
POD_CONTROLLERS = frozenset({*CONTROLLERS, "CronJob"})
_KINDS_WITH_POD = POD_CONTROLLERS | {"Pod"}
_GVK = {
    "DaemonSet": "apps/v1/DaemonSet",
    "Deployment": "apps/v1/Deployment",
    "Job": "batch/v1/Job",
    "StatefulSet": "apps/v1/StatefulSet",
    "ReplicaSet": "apps/v1/ReplicaSet",
    "ReplicationController": "v1/ReplicationController",
    "CronJob": "batch/v1/CronJob",
    "Pod": "v1/Pod",
}
_POD_REWRITES = (
    ("request.object.spec", "request.object.spec.template.spec"),
    ("request.oldObject.spec", "request.oldObject.spec.template.spec"),
    ("request.object.metadata", "request.object.spec.template.metadata"),
    ("request.oldObject.metadata", "request.oldObject.spec.template.metadata"),
)
_CRONJOB_REWRITES = (
    ("request.object.spec", "request.object.spec.jobTemplate.spec.template.spec"),
    ("request.oldObject.spec", "request.oldObject.spec.jobTemplate.spec.template.spec"),
    ("request.object.metadata", "request.object.spec.jobTemplate.spec.template.metadata"),
    ("request.oldObject.metadata", "request.oldObject.spec.jobTemplate.spec.template.metadata"),
)


def _contains_pod(kinds) -> bool:
    return any(kind_from_selector(str(k)) == "Pod" for k in kinds or [])


def _descriptions(block: dict | None) -> list[dict]:
    if not block:
        return []
    found = [block.get("resources") or {}]
    for key in ("any", "all"):
        found.extend((f or {}).get("resources") or {} for f in block.get(key) or [])
    return found


def _block_kinds(block: dict | None) -> list:
    kinds: list = []
    for description in _descriptions(block):
        kinds.extend(description.get("kinds") or [])
    return kinds


def _supported(rules: list[dict]) -> bool:
    """Kyverno's CanAutoGen: Pod rules without names, selectors or mixed kinds."""
    needed = False
    for rule in rules:
        if rule.get("generate"):
            return False
        mutate = rule.get("mutate") or {}
        if mutate.get("patchesJson6902") or any(
            (f or {}).get("patchesJson6902") for f in mutate.get("foreach") or []
        ):
            return False
        for block in (rule.get("match"), rule.get("exclude")):
            for description in _descriptions(block):
                kinds = description.get("kinds") or []
                if (
                    description.get("name")
                    or description.get("names")
                    or description.get("selector") is not None
                    or description.get("annotations") is not None
                    or (len(kinds) > 1 and _contains_pod(kinds))
                ):
                    return False
                needed = needed or any(k in _KINDS_WITH_POD for k in kinds)
    return needed


def controllers_for(policy: dict) -> frozenset[str]:
    """The controller kinds a policy's Pod rules are extended to (empty: none)."""
    spec = policy.get("spec") or {}
    if not _supported(spec.get("rules") or []):
        return frozenset()
    annotations = (policy.get("metadata") or {}).get("annotations") or {}
    if ANNOTATION in annotations:
        return frozenset(str(annotations[ANNOTATION]).split(","))
    return POD_CONTROLLERS


def _retarget(filters: list, kinds: list[str], only_pod: bool) -> list:
    out = copy.deepcopy(filters)
    for f in out:
        if not isinstance(f, dict):
            continue
        resources = f.get("resources")
        if resources is None:
            if only_pod:
                continue
            resources = f["resources"] = {}
        if not only_pod or _contains_pod(resources.get("kinds")):
            resources["kinds"] = [_GVK.get(k, k) for k in kinds]
    return out


def _generate(
    rule: dict, name: str, template_key: str, kinds: list[str], only_pod: bool
) -> dict | None:
    rule = copy.deepcopy(rule)
    rule["name"] = name
    match = rule.setdefault("match", {})
    if match.get("any"):
        match["any"] = _retarget(match["any"], kinds, only_pod)
    elif match.get("all"):
        match["all"] = _retarget(match["all"], kinds, only_pod)
    else:
        match.setdefault("resources", {})["kinds"] = [_GVK.get(k, k) for k in kinds]
    exclude = rule.get("exclude")
    if exclude:
        if exclude.get("any"):
            exclude["any"] = _retarget(exclude["any"], kinds, only_pod)
        elif exclude.get("all"):
            exclude["all"] = _retarget(exclude["all"], kinds, only_pod)
        elif (exclude.get("resources") or {}).get("kinds"):
            exclude["resources"]["kinds"] = [_GVK.get(k, k) for k in kinds]

    validate = rule.get("validate")
    if validate:
        kept = {
            k: validate[k]
            for k in (
                "message",
                "failureAction",
                "failureActionOverrides",
                "allowExistingViolations",
            )
            if k in validate
        }
        if validate.get("pattern") is not None:
            rule["validate"] = {**kept, "pattern": {"spec": {template_key: validate["pattern"]}}}
        elif validate.get("deny") is not None:
            rule["validate"] = {**kept, "deny": validate["deny"]}
        elif validate.get("podSecurity") is not None:
            rule["validate"] = {**kept, "podSecurity": validate["podSecurity"]}
        elif validate.get("anyPattern") is not None:
            patterns = validate["anyPattern"]
            if isinstance(patterns, list):
                patterns = [{"spec": {template_key: p}} for p in patterns]
            rule["validate"] = {**kept, "anyPattern": patterns}
        elif validate.get("foreach"):
            rule["validate"] = {**kept, "foreach": validate["foreach"]}
        return rule
    if rule.get("mutate") or rule.get("verifyImages"):
        return rule
    return None


def _autogen_name(prefix: str, name: str) -> str:
    return f"{prefix}-{name}"[:63]


def _rule_for_controllers(rule: dict, controllers: list[str]) -> dict | None:
    name = str(rule.get("name", ""))
    if name.startswith("autogen-") or not controllers:
        return None
    match_kinds = _block_kinds(rule.get("match"))
    exclude_kinds = _block_kinds(rule.get("exclude"))
    if not _contains_pod(match_kinds) or (exclude_kinds and not _contains_pod(exclude_kinds)):
        return None
    valid = sorted(c for c in controllers if c in CONTROLLERS)
    kinds = valid if valid else sorted(controllers)
    return _generate(rule, _autogen_name("autogen", name), "template", kinds, only_pod=True)


def _rewrite(rule: dict, rewrites) -> dict:
    text = json.dumps(rule)
    for old, new in rewrites:
        text = text.replace(old, new)
    return json.loads(text)


def expand_rules(policy: dict, kind: str) -> list[dict]:
    """The rules Kyverno evaluates for a resource of `kind`, auto-generated ones included."""
    rules = [r for r in (policy.get("spec") or {}).get("rules") or [] if isinstance(r, dict)]
    controllers = controllers_for(policy)
    if kind not in controllers or "none" in controllers:
        return rules
    all_controllers = "all" in controllers
    plain = list(CONTROLLERS) if all_controllers else [c for c in controllers if c != "CronJob"]
    with_cron = all_controllers or "CronJob" in controllers
    generated = []
    for rule in rules:
        pod_rule = _rule_for_controllers(rule, plain)
        if pod_rule is not None:
            generated.append(_rewrite(pod_rule, _POD_REWRITES))
        if with_cron:
            inner = _rule_for_controllers(
                rule, sorted(controllers) if not all_controllers else [*CONTROLLERS, "CronJob"]
            )
            if inner is not None:
                cron = _generate(
                    inner,
                    _autogen_name("autogen-cronjob", str(rule.get("name", ""))),
                    "jobTemplate",
                    ["CronJob"],
                    only_pod=False,
                )
                if cron is not None:
                    generated.append(_rewrite(cron, _CRONJOB_REWRITES))
    if not generated:
        return rules
    return [r for r in rules if not str(r.get("name", "")).startswith("autogen-")] + generated

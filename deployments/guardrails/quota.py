"""ResourceQuota and LimitRange simulation: would the namespace admit this change?

Usage before the change is either the repository's own sum (every manifest on the default
branch, which ArgoCD keeps applied) or, when the status poller has read the cluster's
`ResourceQuota.status.used`, that observation. The change is added as a delta: a changed file's
new documents minus its old ones, a deleted file's documents subtracted. The message says which
base was used, because only the cluster's figure is exact.

Rows: `ResourceQuota/<name>` with the quota key as rule (`requests.cpu`,
`count/inferenceservices.serving.kserve.io`, ...), and `LimitRange/<name>` with rules such as
`max.cpu` or `min.memory`, checked per container (or per pod for `type: Pod`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from deployments.resources import (
    QuantityError,
    WorkloadResources,
    format_quantity,
    is_workload,
    parse,
    resource_name,
    workload_resources,
)

from .kyverno import Row

ZERO = Decimal(0)
REPOSITORY = "estimated from the repository"

#: Object-count quota keys of the kinds the portal writes, with the word for people.
COUNT_KEYS = {
    ("serving.kserve.io", "InferenceService"): (
        "count/inferenceservices.serving.kserve.io",
        "InferenceService",
    ),
    ("apps", "Deployment"): ("count/deployments.apps", "Deployment"),
    ("apps", "StatefulSet"): ("count/statefulsets.apps", "StatefulSet"),
    ("", "Service"): ("count/services", "Service"),
    ("", "ConfigMap"): ("count/configmaps", "ConfigMap"),
    ("", "Secret"): ("count/secrets", "Secret"),
    ("", "PersistentVolumeClaim"): ("count/persistentvolumeclaims", "PersistentVolumeClaim"),
}
_LEGACY_COUNT_KEYS = {
    "services": "count/services",
    "configmaps": "count/configmaps",
    "secrets": "count/secrets",
    "persistentvolumeclaims": "count/persistentvolumeclaims",
}
_COUNT_WORDS = {key: word for key, word in COUNT_KEYS.values()} | {"pods": "pod"}


def namespace_of(document: dict) -> str:
    return str((document.get("metadata") or {}).get("namespace") or "default")


def _group(document: dict) -> str:
    api_version = str(document.get("apiVersion") or "")
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def quota_key(key: str) -> str:
    """The canonical form of a ResourceQuota key: `cpu` is `requests.cpu`, `services` is
    `count/services`, GPUs are `requests.gpu`."""
    key = _LEGACY_COUNT_KEYS.get(key, key)
    if key in ("cpu", "memory", "ephemeral-storage"):
        key = f"requests.{key}"
    for section in ("requests.", "limits."):
        if key.startswith(section):
            return section + resource_name(key[len(section) :])
    return key


@dataclass
class Consumption:
    """What one manifest takes from a namespace's quotas."""

    amounts: dict[str, Decimal] = field(default_factory=dict)
    #: quota key → manifest path that contributes it (for rows pointing at a field)
    paths: dict[str, str] = field(default_factory=dict)
    #: requests/limits keys some container of a running workload does not set at all
    unset: dict[str, str] = field(default_factory=dict)
    workload: WorkloadResources | None = None

    def add(self, other: Consumption, sign: int = 1) -> None:
        for key, value in other.amounts.items():
            self.amounts[key] = self.amounts.get(key, ZERO) + sign * value


def consumption(document: dict, limit_ranges=()) -> Consumption:
    """Quota keys a manifest consumes, LimitRange defaults applied. Raises QuantityError."""
    result = Consumption()
    count = COUNT_KEYS.get((_group(document), str(document.get("kind", ""))))
    if count:
        result.amounts[count[0]] = Decimal(1)
        result.paths[count[0]] = "metadata.name"
    if not is_workload(document):
        return result
    workload = workload_resources(document, limit_ranges)
    result.workload = workload
    result.amounts["pods"] = Decimal(workload.replicas)
    result.paths["pods"] = {
        "InferenceService": "spec.predictor.minReplicas",
        "Pod": "metadata.name",
    }.get(workload.kind, "spec.replicas")
    for section in ("requests", "limits"):
        totals = getattr(workload, section)
        for resource, value in totals.items():
            result.amounts[f"{section}.{resource}"] = value
        for container in workload.containers:
            for resource in ("cpu", "memory"):
                key = f"{section}.{resource}"
                values = getattr(container, section)
                if resource not in values and workload.replicas:
                    result.unset.setdefault(key, f"{container.name} ({container.path})")
                elif resource in values and key not in result.paths:
                    result.paths[key] = container.value_path(section, resource)
            for resource in getattr(container, section):
                result.paths.setdefault(
                    f"{section}.{resource}", container.value_path(section, resource)
                )
    return result


@dataclass
class Observation:
    """A quota as the cluster last reported it (a QuotaUsage row, already parsed)."""

    used: dict[str, Decimal]
    hard: dict[str, Decimal]
    age: str  # "3 minutes"


def parse_amounts(values: dict, where: str) -> dict[str, Decimal]:
    return {quota_key(str(k)): parse(v, f"{where}.{k}") for k, v in (values or {}).items()}


@dataclass
class NamespaceChange:
    """The documents of one namespace before the change and the change itself, by file."""

    namespace: str
    base: dict[str, list[dict]]  # file → documents on the default branch (this namespace)
    change: dict[str, list[dict] | None]  # file → new documents (this namespace), None = deleted
    quotas: list[dict] = field(default_factory=list)
    limit_ranges: list[dict] = field(default_factory=list)


def _label(key: str, amount: Decimal) -> str:
    word = _COUNT_WORDS.get(key)
    if word is None:
        return format_quantity(key, amount)
    plural = "" if amount == 1 else ("es" if word.endswith("s") else "s")
    return f"{format_quantity(key, amount)} {word}{plural}"


def _signed(key: str, amount: Decimal) -> str:
    return ("+ " if amount >= 0 else "- ") + format_quantity(key, abs(amount))


def _row(
    quota: str, key: str, document: dict, result: str, message: str, file: str, path: str
) -> Row:
    metadata = document.get("metadata") or {}
    return Row(
        policy=quota,
        rule=key,
        kind=str(document.get("kind", "")),
        namespace=namespace_of(document),
        name=str(metadata.get("name") or ""),
        result=result,
        message=message,
        file=file,
        path=path,
    )


def check_quotas(
    change: NamespaceChange,
    observations: dict[str, Observation] | None = None,
    *,
    estimate: str = REPOSITORY,
) -> list[Row]:
    """ResourceQuota rows for every changed manifest of the namespace that consumes a quota key."""
    observations = observations or {}
    rows: list[Row] = []
    changed: list[tuple[str, dict, Consumption]] = []
    delta = Consumption()
    for file, documents in change.change.items():
        for document in documents or ():
            try:
                used = consumption(document, change.limit_ranges)
            except QuantityError as exc:
                for quota in change.quotas:
                    name = f"ResourceQuota/{(quota.get('metadata') or {}).get('name', '')}"
                    rows.append(
                        _row(name, "resources", document, "error", str(exc), file, exc.path)
                    )
                continue
            changed.append((file, document, used))
            delta.add(used)
    if not changed:
        return rows
    before = Consumption()
    uncounted = 0
    for file, documents in change.base.items():
        for document in documents:
            try:
                used = consumption(document, change.limit_ranges)
            except QuantityError:
                uncounted += 1
                continue
            before.add(used)
            if file in change.change:
                delta.add(used, sign=-1)

    quota_names = [str((q.get("metadata") or {}).get("name", "")) for q in change.quotas]
    for name, quota in zip(quota_names, change.quotas, strict=True):
        policy = f"ResourceQuota/{name}"
        try:
            hard = parse_amounts((quota.get("spec") or {}).get("hard"), f"{policy} spec.hard")
        except QuantityError as exc:
            for file, document, _used in changed:
                rows.append(_row(policy, "hard", document, "error", str(exc), file, ""))
            continue
        observation = observations.get(name)
        if observation is not None:
            used_before, source = observation.used, f"cluster usage observed {observation.age} ago"
            hard = {**hard, **observation.hard}
        else:
            used_before, source = before.amounts, estimate
            if uncounted:
                source += (
                    f", {uncounted} manifest(s) there not counted: their quantities do not parse"
                )
        for key, limit in sorted(hard.items()):
            for file, document, used in changed:
                if key not in used.amounts and key not in used.unset:
                    continue
                rows.append(
                    _quota_row(
                        policy,
                        name,
                        key,
                        limit,
                        used_before.get(key, ZERO),
                        delta.amounts.get(key, ZERO),
                        document,
                        used,
                        file,
                        source,
                    )
                )
    return rows


def _quota_row(
    policy, name, key, limit, before, delta, document, used: Consumption, file, source
) -> Row:
    path = used.paths.get(key, "")
    if key in used.unset:
        return _row(
            policy,
            key,
            document,
            "fail",
            f"container {used.unset[key]} sets no {key}, and the quota {name} limits {key}: the namespace "
            f"refuses pods without it (set resources.{key})",
            file,
            "",
        )
    after = before + delta
    numbers = (
        f"{format_quantity(key, before)} in use, {source}, {_signed(key, delta)} from this change"
    )
    if after > limit and delta > 0:
        if key in _COUNT_WORDS:
            message = (
                f"{_label(key, after)} would exceed the quota {name} of {format_quantity(key, limit)} ({key}): "
                f"{numbers}"
            )
        else:
            message = (
                f"{key} would total {format_quantity(key, after)}, over the quota {name} of "
                f"{format_quantity(key, limit)} by {format_quantity(key, after - limit)} ({numbers})"
            )
        return _row(policy, key, document, "fail", message, file, path)
    if after > limit:
        return _row(
            policy,
            key,
            document,
            "warn",
            f"{key} is already over the quota {name} ({format_quantity(key, after)} of "
            f"{format_quantity(key, limit)}; {numbers}); this change does not add to it",
            file,
            path,
        )
    return _row(
        policy,
        key,
        document,
        "pass",
        f"{_label(key, after)} of {format_quantity(key, limit)} allowed by the quota {name} ({key}; {numbers})",
        file,
        path,
    )


def check_repository_quotas(
    namespace: str, documents: list[dict], quotas: list[dict], limit_ranges
) -> list[Row]:
    """Rows about the quotas themselves: does everything on the branch fit? (`--repo`)."""
    total = Consumption()
    rows: list[Row] = []
    for document in documents:
        try:
            total.add(consumption(document, limit_ranges))
        except QuantityError:
            continue  # reported per manifest by the LimitRange and schema rows
    for quota in quotas:
        name = str((quota.get("metadata") or {}).get("name", ""))
        policy = f"ResourceQuota/{name}"
        subject = {"kind": "ResourceQuota", "metadata": {"name": name, "namespace": namespace}}
        try:
            hard = parse_amounts((quota.get("spec") or {}).get("hard"), f"{policy} spec.hard")
        except QuantityError as exc:
            rows.append(_row(policy, "hard", subject, "error", str(exc), "", ""))
            continue
        for key, limit in sorted(hard.items()):
            used = total.amounts.get(key, ZERO)
            if used > limit:
                rows.append(
                    _row(
                        policy,
                        key,
                        subject,
                        "fail",
                        f"{_label(key, used)} on the branch exceed the quota {name} of {format_quantity(key, limit)} "
                        f"({key}) by {format_quantity(key, used - limit)}; {REPOSITORY}",
                        "",
                        "",
                    )
                )
            else:
                rows.append(
                    _row(
                        policy,
                        key,
                        subject,
                        "pass",
                        f"{_label(key, used)} of {format_quantity(key, limit)} allowed by the quota {name} ({key}); "
                        f"{REPOSITORY}",
                        "",
                        "",
                    )
                )
    return rows


# --- LimitRange ----------------------------------------------------------------------------


def check_limit_ranges(document: dict, limit_ranges: list[dict], file: str = "") -> list[Row]:
    """LimitRange min / max / maxLimitRequestRatio rows for one workload manifest."""
    if not is_workload(document) or not limit_ranges:
        return []
    rows: list[Row] = []
    try:
        workload = workload_resources(document, limit_ranges)
    except QuantityError as exc:
        for limit_range in limit_ranges:
            name = (limit_range.get("metadata") or {}).get("name", "")
            rows.append(
                _row(f"LimitRange/{name}", "resources", document, "error", str(exc), file, exc.path)
            )
        return rows
    for limit_range in limit_ranges:
        name = str((limit_range.get("metadata") or {}).get("name", ""))
        policy = f"LimitRange/{name}"
        for index, item in enumerate((limit_range.get("spec") or {}).get("limits") or []):
            if not isinstance(item, dict):
                continue
            kind = str(item.get("type", "Container"))
            if kind == "Container":
                subjects = [
                    (f"container {c.name}", c.requests, c.limits, c) for c in workload.containers
                ]
            elif kind == "Pod":
                subjects = [
                    ("the pod", workload.per_pod("requests"), workload.per_pod("limits"), None)
                ]
            else:
                continue
            where = f"{policy} spec.limits[{index}]"
            for check in ("min", "max", "maxLimitRequestRatio"):
                for key, raw in sorted((item.get(check) or {}).items()):
                    try:
                        bound = parse(raw, f"{where}.{check}.{key}")
                    except QuantityError as exc:
                        rows.append(
                            _row(policy, f"{check}.{key}", document, "error", str(exc), file, "")
                        )
                        continue
                    rows.append(
                        _limit_row(policy, name, kind, check, key, bound, subjects, document, file)
                    )
    return rows


def _limit_row(policy, name, kind, check, key, bound, subjects, document, file) -> Row:
    resource = resource_name(key)
    rule = f"{check}.{key}"
    shown = lambda value: format_quantity(resource, value)  # noqa: E731
    problems: list[str] = []
    path = ""
    for label, requests, limits, container in subjects:
        request, limit = requests.get(resource), limits.get(resource)
        found: list[str] = []
        if check == "min":
            if request is None:
                found.append(f"sets no {key} request (the minimum is {shown(bound)})")
            elif request < bound:
                found.append(
                    f"{key} request {shown(request)} is under the minimum of {shown(bound)} by {shown(bound - request)}"
                )
            if limit is not None and limit < bound:
                found.append(
                    f"{key} limit {shown(limit)} is under the minimum of {shown(bound)} by {shown(bound - limit)}"
                )
            section = "requests"
        elif check == "max":
            if limit is None:
                found.append(f"sets no {key} limit (the maximum is {shown(bound)})")
            elif limit > bound:
                found.append(
                    f"{key} limit {shown(limit)} is over the maximum of {shown(bound)} by {shown(limit - bound)}"
                )
            if request is not None and request > bound:
                found.append(
                    f"{key} request {shown(request)} is over the maximum of {shown(bound)} by {shown(request - bound)}"
                )
            section = "limits" if limit is None or limit > bound else "requests"
        else:
            section = "limits"
            if request and limit is not None and limit / request > bound:
                found.append(
                    f"{key} limit {shown(limit)} is {_plain_ratio(limit / request)} times the request "
                    f"{shown(request)}, over the ratio of {_plain_ratio(bound)}"
                )
        if found:
            problems.append(f"{label}: " + "; ".join(found))
            if not path and container is not None:
                path = container.value_path(section, resource)
    per = f"per {kind}" if kind == "Container" else "per pod"
    if problems:
        return _row(
            policy,
            rule,
            document,
            "fail",
            f"{'; '.join(problems)} ({check} {per} in LimitRange {name})",
            file,
            path,
        )
    return _row(
        policy,
        rule,
        document,
        "pass",
        f"{key} within the {check} of {_bound_text(check, resource, bound)} {per} in LimitRange {name}",
        file,
        "",
    )


def _plain_ratio(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")).normalize(), "f")


def _bound_text(check: str, resource: str, bound: Decimal) -> str:
    return (
        _plain_ratio(bound) if check == "maxLimitRequestRatio" else format_quantity(resource, bound)
    )

"""The resource and cost delta of a change to the GitOps repository.

For every Deployment and InferenceService a change adds, changes or removes under `apps/`, what
it asks for before and after: CPU and memory requests and limits and GPUs, summed over its
replicas (`deployments.resources`, with the namespace's LimitRange defaults from the repository
snapshot), the totals of the change, flags for workloads above the thresholds below, and an
estimate of the monthly cost at `PORTAL_PRICE_CPU_HOUR`, `PORTAL_PRICE_GIB_HOUR` and
`PORTAL_PRICE_GPU_HOUR` over 730 hours a month.

Requests are what a workload reserves, so the cost is requests × price: CPU cores, memory in GiB
and GPUs, each times its hourly price. Totals and costs count the minimum replicas (what runs
while idle; zero for an InferenceService that scales to zero); a workload that scales out also
says what it would cost at its maximum. A value that does not parse is an error row in words,
and a side with an error has no total: it is never counted as zero.

The same `ResourceDelta` feeds the preview ("Resources and cost"), the pull request's comment
(`as_markdown()`, found again by its `<!-- portal-delta -->` marker) and the HTML (`context()`).
Each workload row carries its `cost-center` and `owner` labels and each side its unrounded hourly
cost, so `deployments.budgets` can add what the change does to each budgeted cost centre's month
(`budget_effects`, rendered in both).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import structlog
from django.conf import settings

from deployments.guardrails.checks import SnapshotSource, repository_context
from deployments.resources import QuantityError, format_quantity, workload_resources
from portal.yamlsafe import YAMLError, load_all

log = structlog.get_logger(__name__)

#: The marker of the portal's delta comment on a pull request (edited in place on every publish).
DELTA_MARKER = "portal-delta"
#: Only workloads under this folder are deployed by ArgoCD's ApplicationSet (DESIGN §1).
APPS_PREFIX = "apps/"
#: The kinds the delta counts.
DELTA_KINDS = ("Deployment", "InferenceService")
#: The hours a month is priced at (365 × 24 / 12), as cloud price lists use.
HOURS_PER_MONTH = Decimal(730)
GIB = Decimal(2**30)
CENT = Decimal("0.01")
RESOURCES = ("cpu", "memory", "gpu")
_YAML_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Thresholds:
    """A workload is flagged for review when it requests more than this in total.

    Defaults: 2 CPU cores, 4 GiB of memory, and any GPU at all. The total is the requests of
    one replica times the minimum replicas (one, for an endpoint that scales to zero): what
    the workload reserves on the cluster whenever it serves.
    """

    cpu: Decimal = Decimal(2)
    memory: Decimal = Decimal(4) * GIB
    gpu: Decimal = Decimal(0)


@dataclass(frozen=True)
class Prices:
    """US dollars per hour: per CPU core requested, per GiB of memory requested, per GPU."""

    cpu_hour: Decimal
    gib_hour: Decimal
    gpu_hour: Decimal

    @classmethod
    def from_settings(cls) -> Prices:
        return cls(
            Decimal(str(settings.PORTAL_PRICE_CPU_HOUR)),
            Decimal(str(settings.PORTAL_PRICE_GIB_HOUR)),
            Decimal(str(settings.PORTAL_PRICE_GPU_HOUR)),
        )

    def monthly(self, requests: dict[str, Decimal]) -> Decimal:
        """The cost of a month of these requests, to the cent."""
        return (self.hourly(requests) * HOURS_PER_MONTH).quantize(CENT, rounding=ROUND_HALF_UP)

    def hourly(self, requests: dict[str, Decimal]) -> Decimal:
        """The cost of an hour of these requests, unrounded (budgets multiply it by days left)."""
        return (
            requests.get("cpu", Decimal(0)) * self.cpu_hour
            + requests.get("memory", Decimal(0)) / GIB * self.gib_hour
            + requests.get("gpu", Decimal(0)) * self.gpu_hour
        )


@dataclass
class Side:
    """A workload as the repository has it (before) or as the change would make it (after).

    `requests` and `limits` are totals over `min_replicas`; `per_pod_*` are one replica's.
    """

    min_replicas: int
    max_replicas: int
    per_pod_requests: dict[str, Decimal]
    per_pod_limits: dict[str, Decimal]
    monthly_cost: Decimal
    max_monthly_cost: Decimal
    note: str = ""
    #: The unrounded cost of an hour at the minimum replicas (what a day of it costs, over 24).
    hourly_cost: Decimal = Decimal(0)

    @property
    def requests(self) -> dict[str, Decimal]:
        return {r: v * self.min_replicas for r, v in self.per_pod_requests.items()}

    @property
    def limits(self) -> dict[str, Decimal]:
        return {r: v * self.min_replicas for r, v in self.per_pod_limits.items()}

    @property
    def replicas_text(self) -> str:
        if self.max_replicas != self.min_replicas:
            return f"{self.min_replicas}–{self.max_replicas}"
        return str(self.min_replicas)


@dataclass
class DeltaRow:
    """One workload of the change: added, changed or removed, with each side or its error."""

    kind: str
    namespace: str
    name: str
    file: str
    change: str  # added, changed, removed
    before: Side | None = None
    after: Side | None = None
    #: In words, naming the manifest path and the fix; the side it concerns has no figures.
    before_error: str = ""
    after_error: str = ""
    flags: list[str] = field(default_factory=list)
    #: The workload's `cost-center` and `owner` labels (the change's, or the removed manifest's):
    #: whose budget the change counts against.
    cost_center: str = ""
    owner: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.kind else self.file

    @property
    def errors(self) -> list[str]:
        return [e for e in (self.before_error, self.after_error) if e]

    def cells(self) -> dict[str, str]:
        """The row's table cells: `before → after` for a change, one value otherwise."""
        cells = {"replicas": self._pair(lambda s: s.replicas_text)}
        for resource in ("cpu", "memory"):
            cells[f"{resource}_request"] = self._pair(lambda s, r=resource: _amount(r, s.requests))
            cells[f"{resource}_limit"] = self._pair(lambda s, r=resource: _amount(r, s.limits))
        cells["gpu"] = self._pair(lambda s: _amount("gpu", s.requests))
        cells["cost"] = self._pair(lambda s: dollars(s.monthly_cost))
        return cells

    def _pair(self, show) -> str:
        before = "error" if self.before_error else (show(self.before) if self.before else "")
        after = "error" if self.after_error else (show(self.after) if self.after else "")
        if self.change == "added":
            return after
        if self.change == "removed":
            return before
        return before if before == after else f"{before} → {after}"


@dataclass
class Totals:
    """The sum of one side over the change's workloads (None in ResourceDelta: unknown)."""

    requests: dict[str, Decimal]
    limits: dict[str, Decimal]
    monthly_cost: Decimal
    max_monthly_cost: Decimal


@dataclass
class ResourceDelta:
    """What a change does to resources and cost, workload by workload, and in total."""

    rows: list[DeltaRow]
    prices: Prices
    thresholds: Thresholds
    #: What the change does to each affected cost centre's budget (`deployments.budgets`
    #: fills it in: this module reads no budget); each item renders itself.
    budget_effects: list = field(default_factory=list)

    @property
    def before(self) -> Totals | None:
        return _totals(self.rows, "before")

    @property
    def after(self) -> Totals | None:
        return _totals(self.rows, "after")

    @property
    def difference(self) -> Decimal | None:
        before, after = self.before, self.after
        if before is None or after is None:
            return None
        return after.monthly_cost - before.monthly_cost

    @property
    def errors(self) -> list[tuple[str, str]]:
        return [(row.label, error) for row in self.rows for error in row.errors]

    @property
    def flags(self) -> list[tuple[str, str]]:
        return [(row.label, flag) for row in self.rows for flag in row.flags]

    @property
    def scales_out(self) -> bool:
        return any(side.max_replicas != side.min_replicas
                   for row in self.rows for side in (row.before, row.after) if side)

    def headline(self) -> str:
        """"about $X per month" for the change, with the before and the difference."""
        before, after, difference = self.before, self.after, self.difference
        if not self.rows:
            return "no workload changes"
        if after is None:
            return "cost unknown until the errors below are fixed"
        text = f"about {dollars(after.monthly_cost)} per month"
        if before is None:
            return f"{text} (the cost before is unknown)"
        return f"{text} (was {dollars(before.monthly_cost)}, {signed_dollars(difference)})"

    def summary(self) -> str:
        """The headline, short enough for a badge: "about $X per month"."""
        after = self.after
        if not self.rows:
            return "no workload changes"
        if after is None:
            return "cost unknown: fix the errors"
        return f"about {dollars(after.monthly_cost)} per month"

    def totals_cells(self) -> dict[str, str]:
        before, after = self.before, self.after
        cells = {"replicas": ""}

        def pair(show) -> str:
            left = show(before) if before else "unknown"
            right = show(after) if after else "unknown"
            return left if left == right else f"{left} → {right}"

        for resource in ("cpu", "memory"):
            cells[f"{resource}_request"] = pair(lambda t, r=resource: _amount(r, t.requests))
            cells[f"{resource}_limit"] = pair(lambda t, r=resource: _amount(r, t.limits))
        cells["gpu"] = pair(lambda t: _amount("gpu", t.requests))
        cells["cost"] = pair(lambda t: dollars(t.monthly_cost))
        difference = self.difference
        if difference is not None and before and after and before.monthly_cost != after.monthly_cost:
            cells["cost"] += f" ({signed_dollars(difference)})"
        return cells

    def notes(self) -> list[str]:
        """The assumptions behind the figures, in words."""
        notes = ["Requests and limits are totals over each workload's minimum replicas; "
                 "the cost counts requests, as the cluster reserves them."]
        after = self.after
        if self.scales_out and after is not None and after.max_monthly_cost != after.monthly_cost:
            notes.append(f"At the maximum replicas it would be up to {dollars(after.max_monthly_cost)} per month.")
        for row in self.rows:
            for side in (row.after,):
                if side is not None and side.note:
                    notes.append(f"{row.label} {side.note}.")
        notes.append(
            f"Prices: {dollars(self.prices.cpu_hour, exact=True)} per CPU hour, "
            f"{dollars(self.prices.gib_hour, exact=True)} per GiB hour, "
            f"{dollars(self.prices.gpu_hour, exact=True)} per GPU hour, {HOURS_PER_MONTH} hours a month."
        )
        return notes

    def context(self) -> dict:
        """What the HTML needs: rows with their cells, totals, headline, flags, errors, notes."""
        return {
            "rows": [{"row": row, "cells": row.cells()} for row in self.rows],
            "totals": self.totals_cells(),
            "headline": self.headline(),
            "flags": self.flags,
            "errors": self.errors,
            "notes": self.notes(),
            "empty": not self.rows,
            "budget_effects": self.budget_effects,
        }

    def as_markdown(self) -> str:
        """The pull request's comment, with the `<!-- portal-delta -->` marker on its first line."""
        lines = [f"<!-- {DELTA_MARKER} -->", "### Resources and cost", ""]
        if not self.rows:
            lines.append("This change adds, changes or removes no Deployment or InferenceService under `apps/`.")
            return "\n".join(lines) + "\n"
        lines += [f"{_capitalised(self.headline())}.", ""]
        header = ["Workload", "Change", *COLUMNS.values()]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for row in self.rows:
            cells = row.cells()
            lines.append("| " + " | ".join([_md(row.label), row.change, *(_md(cells[k]) for k in COLUMNS)]) + " |")
        totals = self.totals_cells()
        lines.append("| " + " | ".join(["**Total**", "", *(_md(totals[k]) for k in COLUMNS)]) + " |")
        lines.append("")
        if self.flags:
            lines += ["**Above the review thresholds**", ""]
            lines += [f"- {label}: {_md(flag)}" for label, flag in self.flags]
            lines.append("")
        if self.errors:
            lines += ["**Could not be counted** (fix these; they are not counted as zero)", ""]
            lines += [f"- {label}: {_md(error)}" for label, error in self.errors]
            lines.append("")
        if self.budget_effects:
            lines += ["**Budget**", ""]
            for effect in self.budget_effects:
                lines += [*effect.as_markdown_lines(), ""]
        lines += [f"_{note}_" for note in self.notes()]
        return "\n".join(lines) + "\n"


#: The table's value columns, by cell key.
COLUMNS = {
    "replicas": "Replicas",
    "cpu_request": "CPU request",
    "cpu_limit": "CPU limit",
    "memory_request": "Memory request",
    "memory_limit": "Memory limit",
    "gpu": "GPUs",
    "cost": "Per month",
}


# --- building the delta -------------------------------------------------------------------------


def change_delta(
    files: dict[str, bytes | None],
    *,
    snapshot=None,
    source=None,
    prices: Prices | None = None,
    thresholds: Thresholds | None = None,
) -> ResourceDelta:
    """The delta of a change against the repository snapshot (or `source`).

    `files` maps repository paths to their new content; None deletes the file. Files outside
    `apps/` and documents of other kinds are left out.
    """
    prices = prices or Prices.from_settings()
    thresholds = thresholds or Thresholds()
    context = repository_context(source or SnapshotSource(snapshot))
    changed = {path: content for path, content in files.items() if path.startswith(APPS_PREFIX)}

    before: dict[tuple, tuple[str, dict]] = {}
    after: dict[tuple, tuple[str, dict]] = {}
    rows: list[DeltaRow] = []
    for path in sorted(changed):
        for document in context.manifests.get(path, ()):
            if document.get("kind") in DELTA_KINDS:
                before.setdefault(_key(document), (path, document))
        content = changed[path]
        if content is None or not path.endswith(_YAML_SUFFIXES):
            continue
        try:
            documents = load_all(content, source=path)
        except YAMLError as error:
            rows.append(DeltaRow("", "", "", path, "changed", after_error=f"{error} (fix the YAML)"))
            continue
        for document in documents:
            if isinstance(document, dict) and document.get("kind") in DELTA_KINDS:
                after.setdefault(_key(document), (path, document))

    for key in sorted(set(before) | set(after)):
        kind, namespace, name = key
        old, new = before.get(key), after.get(key)
        change = "changed" if old and new else ("added" if new else "removed")
        row = DeltaRow(kind, namespace, name, (new or old)[0], change)
        labels = ((new or old)[1].get("metadata") or {}).get("labels") or {}
        if isinstance(labels, dict):
            row.cost_center = str(labels.get("cost-center") or "")
            row.owner = str(labels.get("owner") or "")
        limit_ranges = context.namespace(namespace).limit_ranges
        if old:
            row.before, row.before_error = _side(old[1], limit_ranges, prices)
        if new:
            row.after, row.after_error = _side(new[1], limit_ranges, prices)
            if row.after is not None:
                row.flags = _flags(row.after, thresholds)
        if change == "changed" and row.before == row.after and not row.errors:
            continue  # the manifest changed, not what it asks for
        rows.append(row)
    rows.sort(key=lambda r: ({"added": 0, "changed": 1, "removed": 2}[r.change], r.label))
    return ResourceDelta(rows, prices, thresholds)


def comment(provider, number: int, files: dict[str, bytes | None], *, change: ResourceDelta | None = None) -> ResourceDelta:
    """Put the change's delta on pull request `number` (editing the portal's earlier comment).

    With its budget effects: the comment says what the change does to each cost centre's
    month. `change` is the delta already worked out for these files (the publish step's budget
    check), so it is not computed twice.
    """
    if change is None:
        from deployments import budgets

        change = budgets.with_effects(change_delta(files))
    delta = change
    provider.upsert_comment(number, marker=DELTA_MARKER, body=delta.as_markdown())
    log.info("delta commented", pull_request=number, rows=len(delta.rows), errors=len(delta.errors))
    return delta


def _key(document: dict) -> tuple[str, str, str]:
    metadata = document.get("metadata") or {}
    return (
        str(document.get("kind")),
        str(metadata.get("namespace") or "default"),
        str(metadata.get("name") or ""),
    )


def _side(document: dict, limit_ranges, prices: Prices) -> tuple[Side | None, str]:
    try:
        workload = workload_resources(document, limit_ranges)
        maximum = _max_replicas(document, workload.replicas)
    except QuantityError as error:
        return None, str(error)
    per_pod_requests = {r: workload.per_pod("requests").get(r, Decimal(0)) for r in RESOURCES}
    per_pod_limits = {r: workload.per_pod("limits").get(r, Decimal(0)) for r in RESOURCES}
    return Side(
        min_replicas=workload.replicas,
        max_replicas=maximum,
        per_pod_requests=per_pod_requests,
        per_pod_limits=per_pod_limits,
        monthly_cost=prices.monthly({r: v * workload.replicas for r, v in per_pod_requests.items()}),
        max_monthly_cost=prices.monthly({r: v * maximum for r, v in per_pod_requests.items()}),
        note=workload.note,
        hourly_cost=prices.hourly({r: v * workload.replicas for r, v in per_pod_requests.items()}),
    ), ""


def _max_replicas(document: dict, minimum: int) -> int:
    """An InferenceService's maxReplicas (KServe: 0 or absent leaves it to the autoscaler)."""
    if document.get("kind") != "InferenceService":
        return minimum
    value = ((document.get("spec") or {}).get("predictor") or {}).get("maxReplicas")
    if value is None:
        return minimum
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise QuantityError("spec.predictor.maxReplicas", value)
    return max(value, minimum)


def _flags(side: Side, thresholds: Thresholds) -> list[str]:
    flags = []
    # What the workload reserves once it serves at all: a scale-to-zero endpoint counts one replica.
    replicas = max(side.min_replicas, 1)
    for resource, threshold, unit in (("cpu", thresholds.cpu, " CPU"), ("memory", thresholds.memory, "")):
        reserved = side.per_pod_requests[resource] * replicas
        if reserved > threshold:
            flags.append(
                f"requests {format_quantity(resource, reserved)}{unit or ' of memory'} across {replicas} "
                f"replica{'s' if replicas != 1 else ''}, above the {format_quantity(resource, threshold)}"
                f"{unit or ' of memory'} review threshold"
            )
    gpus = max(side.per_pod_requests["gpu"], side.per_pod_limits["gpu"])
    if gpus > thresholds.gpu:
        flags.append(f"{format_quantity('gpu', gpus)} GPU{'s' if gpus != 1 else ''} per replica")
    return flags


def _totals(rows: list[DeltaRow], side_name: str) -> Totals | None:
    requests = dict.fromkeys(RESOURCES, Decimal(0))
    limits = dict.fromkeys(RESOURCES, Decimal(0))
    cost = maximum = Decimal(0)
    for row in rows:
        if getattr(row, f"{side_name}_error"):
            return None
        side: Side | None = getattr(row, side_name)
        if side is None:
            continue
        for resource in RESOURCES:
            requests[resource] += side.requests[resource]
            limits[resource] += side.limits[resource]
        cost += side.monthly_cost
        maximum += side.max_monthly_cost
    return Totals(requests, limits, cost, maximum)


# --- words ----------------------------------------------------------------------------------------


def dollars(amount: Decimal, *, exact: bool = False) -> str:
    """`$14.63`; prices per hour keep their digits (`$0.031611`)."""
    if exact:
        return f"${format(amount.normalize(), 'f')}"
    return f"${amount.quantize(CENT, rounding=ROUND_HALF_UP):,}"


def signed_dollars(amount: Decimal) -> str:
    if amount > 0:
        return f"+{dollars(amount)}"
    if amount < 0:
        return f"−{dollars(-amount)}"
    return "no change"


def _amount(resource: str, values: dict[str, Decimal]) -> str:
    return format_quantity(resource, values.get(resource, Decimal(0)))


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")

"""Monthly budgets per cost centre: spend against them, and what a change would do to them.

The figures come from the daily cost snapshots (`CostSnapshot`, scope `cost-center`, every
cluster) that the cost job writes; a page never asks OpenCost.

- **Month to date**: the sum of this month's daily snapshots of the cost centre.
- **Projected month-end**: month to date ÷ the days from the 1st to the newest day with
  figures × the days in the month (the month's run rate so far, carried to its end). Figures
  that stopped a few days ago still project from the days they cover.
- **A change**: its daily cost is the hourly cost of what it asks for at its minimum replicas
  (`deployments.delta`, after minus before) × 24; from tomorrow to the month's end it adds
  daily cost × the days left after today. The projection with the change is the projection
  without it plus that.
- A cost centre is **over budget** with a change when the change adds cost and the projection
  with it is above the budget (with no figures yet this month: when the change's rest of the
  month alone is). A change that lowers the cost is never stopped.
- With `PORTAL_BUDGET_HARD_STOP`, the publish step refuses such a change before any pull
  request is opened (`enforce`: the authoritative check, whatever created the task), unless the
  task was created by a platform admin with the override (`budgetOverride` among the task's
  values, ticked on the form's review step); each use of the override is recorded in the audit
  log with the cost centre and the amounts. The template form says so before any task exists
  (`form_refusal`).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import structlog
from django.conf import settings
from django.db.models import Max, Sum
from django.utils import timezone

from catalog.models import Entity
from deployments.delta import CENT, ResourceDelta, change_delta, dollars
from deployments.models import Budget, CostScope, CostSnapshot
from portal import audit, identity

log = structlog.get_logger(__name__)

#: The task value that asks for the budget to be overridden (honoured for admins only).
BUDGET_OVERRIDE = "budgetOverride"
#: A cost centre past this share of its budget is shown with a warning tone.
WARN_PERCENT = Decimal(80)
HOURS_PER_DAY = Decimal(24)
OVERRIDE_ACTION = "budget.overridden"


def today() -> date:
    """Today in UTC, the day the cost snapshots are cut by."""
    return timezone.now().astimezone(UTC).date()


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def money(amount: Decimal | None, currency: str = "USD") -> str:
    """`$1,234.50` in dollars, `1,234.50 EUR` otherwise; None is said as unknown."""
    if amount is None:
        return "unknown"
    if currency == "USD":
        return dollars(amount)
    return f"{cents(amount):,} {currency}"


# --- Spend this month ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spend:
    """A cost centre's month so far, from its daily snapshots on every cluster."""

    cost_center: str
    total: Decimal
    currency: str
    newest_day: date
    fetched_at: datetime


def month_spend(cost_centers=None, *, on: date | None = None) -> dict[str, Spend]:
    """{cost centre: Spend} for the month of `on` (today), in one query; `cost_centers` limits it."""
    on = on or today()
    rows = CostSnapshot.objects.filter(scope=CostScope.COST_CENTER, day__gte=on.replace(day=1), day__lte=on)
    if cost_centers is not None:
        rows = rows.filter(key__in=sorted(set(cost_centers)))
    aggregated = rows.order_by().values("key").annotate(
        total=Sum("total_cost"), newest=Max("day"), fetched=Max("fetched_at"), currency=Max("currency"),
    )
    return {
        row["key"]: Spend(row["key"], Decimal(row["total"] or 0), row["currency"] or "USD", row["newest"],
                          row["fetched"])
        for row in aggregated
    }


def project(spend: Spend, on: date) -> Decimal:
    """Month to date ÷ days from the 1st to the newest day with figures × days in the month."""
    elapsed = max(spend.newest_day.day, 1)
    return cents(spend.total / elapsed * days_in_month(on))


@dataclass
class Standing:
    """One cost centre's month: budget, spend so far, projection, share of the budget."""

    cost_center: str
    budget: Budget | None
    spend: Spend | None
    on: date
    in_catalog: bool = True

    @property
    def currency(self) -> str:
        return self.budget.currency if self.budget else (self.spend.currency if self.spend else "USD")

    @property
    def month_to_date(self) -> Decimal | None:
        return cents(self.spend.total) if self.spend else None

    @property
    def projected(self) -> Decimal | None:
        return project(self.spend, self.on) if self.spend else None

    @property
    def elapsed(self) -> int | None:
        return self.spend.newest_day.day if self.spend else None

    @property
    def days_in_month(self) -> int:
        return days_in_month(self.on)

    @property
    def percent(self) -> Decimal | None:
        """Month to date as a share of the budget, in percent (one decimal)."""
        if self.budget is None or self.spend is None or not self.budget.amount:
            return None
        return (self.spend.total / self.budget.amount * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def bar_value(self) -> Decimal:
        return min(self.percent or Decimal(0), Decimal(100))

    @property
    def tone(self) -> str:
        """`bad` over 100 % of the budget, `warn` over 80 %, `ok` otherwise ('' with no figures)."""
        percent = self.percent
        if percent is None:
            return ""
        if percent > 100:
            return "bad"
        return "warn" if percent > WARN_PERCENT else "ok"

    @property
    def projected_over(self) -> bool:
        projected = self.projected
        return bool(self.budget and projected is not None and projected > self.budget.amount)


def known_cost_centers() -> list[str]:
    """Cost centres that some team or endpoint in the catalog carries, sorted."""
    return sorted(set(Entity.objects.exclude(cost_center="").values_list("cost_center", flat=True)))


def standings(*, on: date | None = None) -> list[Standing]:
    """Every cost centre with a budget, then every other one the catalog or the figures know
    (three queries)."""
    on = on or today()
    budgets = {budget.cost_center: budget for budget in Budget.objects.all()}
    known = set(known_cost_centers())
    # OpenCost's names for what no label claims (__unallocated__, __idle__) are no cost centre.
    spend = {name: figures for name, figures in month_spend(on=on).items() if not name.startswith("__")}
    names = sorted(set(budgets) | known | set(spend), key=lambda name: (name not in budgets, name))
    return [Standing(name, budgets.get(name), spend.get(name), on, name in known) for name in names]


#: The demo's budgets: small, as the demo's endpoints are (about $2.69 a month each at the
#: LimitRange's 100m and 128Mi), so the Budgets page shows every tone and a new endpoint on the
#: golden path (about $14.63 a month) takes cc-fraud over.
DEMO_BUDGETS = {"cc-fraud": Decimal("3.00"), "cc-search": Decimal("10.00"), "cc-platform": Decimal("2.50")}


def seed_demo_budgets() -> int:
    """The demo's budgets, once: nothing is written when any budget exists (an admin's stay)."""
    if Budget.objects.exists():
        return 0
    Budget.objects.bulk_create(
        Budget(cost_center=center, amount=amount, note="Demo budget", updated_by="demo")
        for center, amount in DEMO_BUDGETS.items()
    )
    return len(DEMO_BUDGETS)


def standing(cost_center: str, *, on: date | None = None) -> Standing | None:
    """One cost centre's month against its budget, or None when it has no budget (two queries)."""
    budget = Budget.objects.filter(cost_center=cost_center).first()
    if budget is None:
        return None
    on = on or today()
    return Standing(cost_center, budget, month_spend([cost_center], on=on).get(cost_center), on)


# --- What a change does to a budget ------------------------------------------------------------------


@dataclass
class BudgetEffect:
    """One cost centre's month with and without a change."""

    cost_center: str
    budget: Decimal
    currency: str
    #: After minus before, per month (730 hours), to the cent.
    monthly_change: Decimal
    #: After minus before, per day, unrounded.
    daily_change: Decimal
    days_left: int
    spent: Decimal | None
    projected_without: Decimal | None
    hard_stop: bool
    #: Some workload of this cost centre could not be counted: the figures leave it out.
    incomplete: bool = False

    @property
    def rest_of_month(self) -> Decimal:
        """What the change adds from tomorrow to the end of the month."""
        return cents(self.daily_change * self.days_left)

    @property
    def projected_with(self) -> Decimal | None:
        if self.projected_without is None:
            return None
        return self.projected_without + self.rest_of_month

    @property
    def over(self) -> bool:
        """The change adds cost and the month would end above the budget with it."""
        if self.daily_change <= 0:
            return False
        basis = self.projected_with if self.projected_with is not None else self.rest_of_month
        return basis > self.budget

    @property
    def stops(self) -> bool:
        return self.hard_stop and self.over

    def money(self, amount: Decimal | None) -> str:
        return money(amount, self.currency)

    def sentence(self) -> str:
        """The effect in one sentence, as the preview and the pull-request comment say it."""
        budget = self.money(self.budget)
        days = f"the {self.days_left} day{'s' if self.days_left != 1 else ''} left this month"
        saves = self.rest_of_month < 0
        amount = self.money(abs(self.rest_of_month))
        if self.projected_without is None:
            verb = "saves" if saves else "adds"
            text = (f"{self.cost_center} has no cost figures this month yet; the change {verb} {amount} over {days}, "
                    f"against a monthly budget of {budget}.")
        else:
            effect = f"{amount} less over {days}" if saves else f"{amount} over {days}"
            text = (f"{self.cost_center}: projected month-end spend {self.money(self.projected_without)} without this "
                    f"change, {self.money(self.projected_with)} with it ({effect}), against a monthly budget of {budget}.")
        if self.incomplete:
            text += " Some of its workloads could not be counted (see above)."
        return text

    def warning(self) -> str:
        if not self.over:
            return ""
        if self.stops:
            return (f"This change would take {self.cost_center} over its budget, and the portal stops such changes: "
                    f"only a platform admin can override the budget.")
        return f"This change would take {self.cost_center} over its monthly budget of {self.money(self.budget)}."

    def as_markdown_lines(self) -> list[str]:
        lines = [f"- {self.sentence()}"]
        if self.over:
            lines.append(f"  **Warning**: {self.warning()}")
        return lines

    def audit_details(self) -> dict:
        return {
            "cost_center": self.cost_center, "currency": self.currency, "budget": str(self.budget),
            "projected_without": str(self.projected_without) if self.projected_without is not None else None,
            "projected_with": str(self.projected_with) if self.projected_with is not None else None,
            "rest_of_month": str(self.rest_of_month), "monthly_change": str(self.monthly_change),
        }


def effects(change: ResourceDelta, *, on: date | None = None) -> list[BudgetEffect]:
    """The change's effect on each cost centre it touches that has a budget (at most three queries)."""
    on = on or today()
    by_center: dict[str, list] = {}
    owners_without_center = {row.owner for row in change.rows if not row.cost_center and row.owner}
    owner_centers = _owner_cost_centers(owners_without_center)
    for row in change.rows:
        center = row.cost_center or owner_centers.get(row.owner.lower(), "")
        if center:
            by_center.setdefault(center, []).append(row)
    if not by_center:
        return []
    budgets = {budget.cost_center: budget for budget in Budget.objects.filter(cost_center__in=sorted(by_center))}
    if not budgets:
        return []
    spend = month_spend(budgets, on=on)
    days_left = days_in_month(on) - on.day
    found = []
    for center, budget in sorted(budgets.items()):
        rows = by_center[center]
        hourly = monthly = Decimal(0)
        incomplete = False
        for row in rows:
            if row.errors:
                incomplete = True
                continue
            for sign, side in ((1, row.after), (-1, row.before)):
                if side is not None:
                    hourly += sign * side.hourly_cost
                    monthly += sign * side.monthly_cost
        month = spend.get(center)
        found.append(BudgetEffect(
            cost_center=center, budget=budget.amount, currency=budget.currency, monthly_change=monthly,
            daily_change=hourly * HOURS_PER_DAY, days_left=days_left,
            spent=cents(month.total) if month else None,
            projected_without=project(month, on) if month else None,
            hard_stop=bool(settings.PORTAL_BUDGET_HARD_STOP), incomplete=incomplete,
        ))
    return found


def with_effects(change: ResourceDelta, *, on: date | None = None) -> ResourceDelta:
    """The delta with its budget effects filled in."""
    change.budget_effects = effects(change, on=on)
    return change


def _owner_cost_centers(owners: set[str]) -> dict[str, str]:
    """{owner group name: its cost centre} for workloads without a `cost-center` label."""
    if not owners:
        return {}
    refs = [f"group:default/{owner.lower()}" for owner in owners]
    return {
        ref.split("/", 1)[1]: center
        for ref, center in Entity.objects.filter(ref__in=refs).exclude(cost_center="").values_list("ref", "cost_center")
    }


# --- The hard stop ------------------------------------------------------------------------------------


class OverBudget(Exception):
    """The change would take a cost centre over its budget and the portal stops such changes."""


def override_requested(values) -> bool:
    return isinstance(values, dict) and values.get(BUDGET_OVERRIDE) in (True, "true", "on", "1", 1)


def with_override(values: dict, request) -> dict:
    """The form's values plus the override, when an admin ticked "Override the budget"."""
    if request.POST.get(BUDGET_OVERRIDE) and identity.is_admin(request.user):
        return {**values, BUDGET_OVERRIDE: True}
    return values


def form_refusal(template_entity, values: dict, user) -> str:
    """Why the form may not create this task (the hard stop, in words), or "" when it may.

    Dry-runs the template for its files: only with the hard stop on, and not for an admin who
    ticked the override. The publish step checks again whatever this says; a dry run that fails
    here is left for the task to report.
    """
    if not settings.PORTAL_BUDGET_HARD_STOP:
        return ""
    if override_requested(values) and identity.is_admin(user):
        return ""
    from scaffolder import services

    try:
        result = services.dry_run(template_entity.document, values, user=user, template_entity=template_entity)
        over = [effect for effect in with_effects(change_delta(result.files)).budget_effects if effect.stops]
    except Exception:
        log.info("budget.form_check_failed", template=getattr(template_entity, "ref", ""), exc_info=True)
        return ""
    if not over:
        return ""
    names = ", ".join(effect.cost_center for effect in over)
    if identity.is_admin(user):
        return (f"This change would take {names} over budget, and the portal stops such changes. As a platform admin "
                f"you may go ahead: tick \"Override the budget\" in the preview below, then Create.")
    return (f"This change would take {names} over budget, and the portal stops such changes. Lower the requests, or "
            f"ask a platform admin (a member of {admin_group()}) to create it with the budget overridden.")


def admin_group() -> str:
    return settings.PORTAL_ADMIN_GROUP


def enforce(files: dict[str, bytes | None], *, task_id: str, logger) -> ResourceDelta:
    """The publish step's budget check: the delta of the files with its budget effects.

    Raises OverBudget (in words: which cost centre, the amounts, whom to ask) when the hard stop
    is on and the change takes a cost centre over its budget, unless the task's creator is a
    platform admin who asked for the override; each override is recorded in the audit log.
    """
    change = with_effects(change_delta(files))
    over = [effect for effect in change.budget_effects if effect.over]
    for effect in over:
        logger(f"Budget: {effect.sentence()}", "warning")
    if not over or not settings.PORTAL_BUDGET_HARD_STOP:
        return change
    from scaffolder.models import Task

    task = Task.objects.select_related("created_by").filter(uuid=task_id).first()
    creator = task.created_by if task else None
    asked = task is not None and override_requested(task.values)
    if asked and creator is not None and identity.is_admin(creator):
        target = f"task:{task.uuid}"
        for effect in over:
            if not _already_recorded(target, effect.cost_center):
                audit.record(creator, OVERRIDE_ACTION, target, **effect.audit_details())
            logger(f"Budget overridden by {creator.get_username()} for {effect.cost_center}", "warning")
        return change
    names = ", ".join(effect.cost_center for effect in over)
    amounts = " ".join(effect.sentence() for effect in over)
    message = (
        f"This change would take {names} over budget, and the portal stops such changes. {amounts} "
        f"Lower the requests, or ask a platform admin (a member of {admin_group()}) to create it with "
        f"\"Override the budget\" ticked on the form's review step."
    )
    if asked:
        message += " The override was ignored: only platform admins may override a budget."
    log.info("budget.hard_stop", task=task_id, cost_centers=names)
    raise OverBudget(message)


def _already_recorded(target: str, cost_center: str) -> bool:
    """A retried publish step records its override once."""
    from portal.models import AuditEvent

    return AuditEvent.objects.filter(action=OVERRIDE_ACTION, target=target, details__cost_center=cost_center).exists()

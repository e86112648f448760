"""The Budgets page (every signed-in user may read it; platform admins set, change and remove
budgets, each recorded in the audit log) and the Budget panel on a team's page.

Both read the database only: budgets, and the daily cost snapshots the cost job wrote.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View
from django.views.decorators.http import require_POST

from deployments import budgets
from deployments.models import Budget
from portal import audit, identity

#: A Kubernetes label value, as the `cost-center` label holds it.
COST_CENTER = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
PANEL_TEMPLATE = "deployments/partials/budget_panel.html"


class BudgetForm(forms.Form):
    """Set (or change) one cost centre's monthly budget."""

    cost_center = forms.CharField(
        label="Cost centre", max_length=63,
        widget=forms.TextInput(attrs={"list": "known-cost-centers", "autocomplete": "off"}),
        help_text="As the cost-center label has it, e.g. cc-fraud.",
        error_messages={"required": "Cost centre: enter the cost centre, e.g. cc-fraud.",
                        "max_length": "Cost centre: at most 63 characters (a Kubernetes label value)."},
    )
    amount = forms.DecimalField(
        label="Budget per month (USD)", max_digits=14, decimal_places=2,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        help_text="A positive amount in US dollars, e.g. 1500 or 1500.00.",
        error_messages={
            "required": "Budget per month: enter an amount in US dollars, e.g. 1500.",
            "invalid": "Budget per month: enter a number in US dollars, e.g. 1500 or 1500.50 (no currency sign or commas).",
            "max_decimal_places": "Budget per month: at most two decimal places (cents), e.g. 1500.50.",
            "max_digits": "Budget per month: at most 12 digits before the decimal point.",
            "max_whole_digits": "Budget per month: at most 12 digits before the decimal point.",
        },
    )
    note = forms.CharField(label="Note", max_length=500, required=False,
                           help_text="Optional: why this amount, e.g. the quarter's plan.")

    def clean_cost_center(self) -> str:
        value = self.cleaned_data["cost_center"].strip()
        if not COST_CENTER.match(value):
            raise forms.ValidationError(
                "Cost centre: letters, digits, dashes, dots or underscores, starting and ending with a letter or "
                "digit, e.g. cc-fraud."
            )
        return value

    def clean_amount(self) -> Decimal:
        value = self.cleaned_data["amount"]
        if value <= 0:
            raise forms.ValidationError("Budget per month: enter a positive amount, e.g. 1500; to stop budgeting "
                                        "a cost centre, remove its budget instead.")
        return value.quantize(Decimal("0.01"))


def _require_admin(request: HttpRequest) -> None:
    if not identity.is_admin(request.user):
        raise PermissionDenied("Only platform admins can set, change or remove budgets.")


class BudgetListView(View):
    """GET: each cost centre's budget, month to date, projection and share; POST (admins): set one."""

    def get(self, request: HttpRequest) -> HttpResponse:
        editing = request.GET.get("cost_center", "").strip()
        initial = {"cost_center": editing}
        if editing:
            existing = Budget.objects.filter(cost_center=editing).first()
            if existing is not None:
                initial.update(amount=existing.amount, note=existing.note)
        return self.render(request, BudgetForm(initial=initial), editing=bool(editing))

    def post(self, request: HttpRequest) -> HttpResponse:
        _require_admin(request)
        form = BudgetForm(request.POST)
        if not form.is_valid():
            return self.render(request, form, status=400)
        data = form.cleaned_data
        center = data["cost_center"]
        with transaction.atomic():
            previous = Budget.objects.select_for_update().filter(cost_center=center).first()
            Budget.objects.update_or_create(cost_center=center, defaults={
                "amount": data["amount"], "note": data["note"], "updated_by": request.user.get_username(),
                "updated_at": timezone.now(),
            })
            audit.record(request.user, "budget.changed" if previous else "budget.set", f"cost-center:{center}",
                         cost_center=center, amount=str(data["amount"]), currency="USD", note=data["note"],
                         previous=str(previous.amount) if previous else None)
        what = "changed to" if previous else "set to"
        messages.success(request, f"The budget of {center} is {what} {budgets.money(data['amount'])} a month.")
        if center not in budgets.known_cost_centers():
            messages.warning(request, f"No team or endpoint in the catalog carries the cost centre {center} yet: "
                                      "check the spelling. The budget counts once something does.")
        return redirect("deployments:budgets")

    def render(self, request: HttpRequest, form: BudgetForm, *, status: int = 200, editing: bool = False) -> HttpResponse:
        rows = budgets.standings()
        context = {
            "rows": rows,
            "budgeted": [row for row in rows if row.budget],
            "unbudgeted": [row for row in rows if not row.budget],
            "form": form,
            "editing": editing,
            "is_admin": identity.is_admin(request.user),
            "known": [row.cost_center for row in rows if row.in_catalog],
            "hard_stop": settings.PORTAL_BUDGET_HARD_STOP,
            "today": budgets.today(),
            "admin_group": budgets.admin_group(),
        }
        return render(request, "deployments/budget_list.html", context, status=status)


@require_POST
def remove_budget(request: HttpRequest, cost_center: str) -> HttpResponse:
    _require_admin(request)
    with transaction.atomic():
        budget = Budget.objects.select_for_update().filter(cost_center=cost_center).first()
        if budget is None:
            raise Http404(f"{cost_center} has no budget.")
        budget.delete()
        audit.record(request.user, "budget.removed", f"cost-center:{cost_center}", cost_center=cost_center,
                     amount=str(budget.amount), currency=budget.currency)
    messages.success(request, f"The budget of {cost_center} ({budgets.money(budget.amount, budget.currency)} a month) "
                              "is removed.")
    return redirect("deployments:budgets")


# --- The Budget panel on a team's page ------------------------------------------------------------------


def budget_panel(entity, request) -> tuple[str, dict] | None:
    """A Group whose cost centre has a budget: the month against it (two queries)."""
    if entity.kind.lower() != "group" or not entity.cost_center:
        return None
    found = budgets.standing(entity.cost_center)
    if found is None:
        return None
    return PANEL_TEMPLATE, {"standing": found}


def register_panels() -> None:
    from catalog.panels import register_panel

    register_panel("budget", 30, budget_panel)

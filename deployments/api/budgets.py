"""GET /api/deployments/budgets/ and /api/deployments/right-sizing/: spend against budget and the
right-sizing suggestions, as the Budgets and Right-sizing pages show them, for scripts.

Every signed-in user may read. The database only: the cost job writes the figures. Money is a
decimal string with its currency; a cost centre with no figures this month has nulls, never zeros.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments import budgets, rightsizing

ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="InputError: a malformed parameter"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="AuthenticationError: no or bad credentials"),
}
MONEY = {"max_digits": 16, "decimal_places": 2}


class StandingSerializer(serializers.Serializer):
    cost_center = serializers.CharField()
    currency = serializers.CharField()
    budget = serializers.DecimalField(**MONEY, allow_null=True, source="budget.amount",
                                      help_text="Per calendar month; null: no budget")
    month_to_date = serializers.DecimalField(**MONEY, allow_null=True,
                                             help_text="This month's daily figures summed; null: none yet")
    projected = serializers.DecimalField(**MONEY, allow_null=True,
                                         help_text="Month to date ÷ days from the 1st to the newest day with "
                                                   "figures × days in the month")
    percent = serializers.DecimalField(max_digits=8, decimal_places=1, allow_null=True,
                                       help_text="Month to date as a share of the budget")
    tone = serializers.ChoiceField(choices=["", "ok", "warn", "bad"],
                                   help_text="warn past 80 % of the budget, bad past 100 %")
    projected_over = serializers.BooleanField(help_text="The projection is above the budget")
    figures_through = serializers.DateField(allow_null=True, source="spend.newest_day",
                                            help_text="The newest day with figures")
    fetched_at = serializers.DateTimeField(allow_null=True, source="spend.fetched_at",
                                           help_text="When the newest figures were fetched")
    in_catalog = serializers.BooleanField(help_text="Some team or endpoint carries this cost centre")


class BudgetsSerializer(serializers.Serializer):
    month = serializers.DateField(help_text="The first day of the month")
    days_in_month = serializers.IntegerField()
    results = StandingSerializer(many=True)


class ResourceSuggestionSerializer(serializers.Serializer):
    resource = serializers.ChoiceField(choices=["cpu", "memory"])
    current = serializers.CharField(source="current_text", help_text="Requested per replica now, e.g. 500m or 1Gi")
    suggested = serializers.CharField(source="suggested_text", help_text="Suggested per replica")
    peak_percent = serializers.DecimalField(max_digits=6, decimal_places=1,
                                            help_text="Use on the busiest day, as a share of the request")
    days = serializers.IntegerField(help_text="Days with figures in the window")


class SuggestionSerializer(serializers.Serializer):
    cluster = serializers.CharField()
    key = serializers.CharField(help_text="namespace/controller, as OpenCost names it")
    namespace = serializers.CharField()
    name = serializers.CharField()
    entity_ref = serializers.CharField(allow_blank=True)
    owner = serializers.CharField(allow_blank=True)
    cost_center = serializers.CharField(allow_blank=True)
    replicas = serializers.IntegerField(help_text="The replicas the saving counts (the minimum, at least one)")
    currency = serializers.CharField()
    monthly_saving = serializers.DecimalField(**MONEY)
    resources = ResourceSuggestionSerializer(many=True)
    change = serializers.DictField(source="form_values", help_text="The Change resources flow's values with the "
                                                                   "suggested requests")


class RightsizingSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First UTC day of the window")
    end = serializers.DateField(help_text="Last UTC day of the window")
    threshold_percent = serializers.IntegerField()
    min_days = serializers.IntegerField(help_text="Days with figures needed before a flag")
    results = SuggestionSerializer(many=True)


class BudgetListView(APIView):
    @extend_schema(
        operation_id="getBudgets",
        summary="Each cost centre's monthly budget and its spend this month; budgeted ones first",
        responses={200: BudgetsSerializer, **ERRORS},
    )
    def get(self, request):
        today = budgets.today()
        rows = budgets.standings(on=today)
        return Response(BudgetsSerializer({
            "month": today.replace(day=1), "days_in_month": budgets.days_in_month(today), "results": rows,
        }).data)


class RightsizingListView(APIView):
    @extend_schema(
        operation_id="getRightsizing",
        summary="Model endpoints flagged for asking far more than they use, largest saving first",
        parameters=[
            OpenApiParameter("owner", str, description="Owner group, e.g. fraud-detection"),
            OpenApiParameter("cost_center", str, description="Cost centre, e.g. cc-fraud"),
        ],
        responses={200: RightsizingSerializer, **ERRORS},
    )
    def get(self, request):
        filterset = rightsizing.RightsizingFilterSet(request.query_params or None)
        if filterset.is_bound and not filterset.is_valid():
            raise exceptions.ParseError(" ".join(
                f"{name}: {' '.join(str(message) for message in messages)}"
                for name, messages in filterset.errors.items()
            ))
        found = rightsizing.suggestions(filterset.qs if filterset.is_bound else filterset.queryset)
        start, end = rightsizing.window()
        return Response(RightsizingSerializer({
            "start": start, "end": end, "threshold_percent": settings.PORTAL_RIGHTSIZING_THRESHOLD,
            "min_days": rightsizing.min_days(), "results": found,
        }).data)

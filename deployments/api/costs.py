"""GET /api/deployments/costs/{cost-centers,owners,endpoints,daily}/: the Costs page's figures for scripts.

Every signed-in user may read (showback). The database only: the cost job writes it. Money is a
decimal string with its currency; each answer names its window and how fresh the figures are
(`stale` when a cluster's last OpenCost fetch failed, with the figures' age).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments.costs import report
from deployments.costs.fetch import CURRENCY
from deployments.models import CostScope

ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="InputError: a malformed parameter"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="AuthenticationError: no or bad credentials"),
}
MAX_LIMIT = 500


class WindowSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=list(report.WINDOWS))
    words = serializers.CharField(help_text='e.g. "last 7 days"')
    start = serializers.DateField(help_text="First UTC day counted")
    end = serializers.DateField(help_text="Last UTC day counted (today's figures so far when it is today)")


class ClusterErrorSerializer(serializers.Serializer):
    cluster = serializers.CharField()
    error = serializers.CharField(help_text="Why the last fetch failed, in words")
    since = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance):
        cluster, error, since = instance
        return super().to_representation({"cluster": cluster, "error": error, "since": since})


class FreshnessSerializer(serializers.Serializer):
    last_success_at = serializers.DateTimeField(allow_null=True, help_text="When OpenCost last answered")
    age_seconds = serializers.IntegerField(allow_null=True, help_text="How old the figures are")
    stale = serializers.BooleanField(help_text="A cluster's last fetch failed: its figures are the last known")
    errors = ClusterErrorSerializer(many=True)


class TotalSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The cost centre, the owner group, or the endpoint's entity ref "
                                          "(namespace/controller when not in the catalog); __unallocated__ for "
                                          "what carries no label")
    label = serializers.CharField(help_text="As the Costs page names it")
    currency = serializers.CharField()
    total_cost = serializers.DecimalField(max_digits=16, decimal_places=6)
    cpu_cost = serializers.DecimalField(max_digits=16, decimal_places=6)
    gpu_cost = serializers.DecimalField(max_digits=16, decimal_places=6)
    ram_cost = serializers.DecimalField(max_digits=16, decimal_places=6)
    network_cost = serializers.DecimalField(max_digits=16, decimal_places=6)
    pv_cost = serializers.DecimalField(max_digits=16, decimal_places=6)
    cpu_efficiency = serializers.FloatField(allow_null=True, help_text="CPU used / requested (0.25 = 25 %), "
                                                                       "weighted by CPU cost; null: nothing requested")
    ram_efficiency = serializers.FloatField(allow_null=True)
    total_efficiency = serializers.FloatField(allow_null=True)
    entity_ref = serializers.CharField(allow_blank=True)
    owner = serializers.CharField(allow_blank=True)
    cost_center = serializers.CharField(allow_blank=True)


class TotalsSerializer(serializers.Serializer):
    window = WindowSerializer()
    currency = serializers.CharField()
    freshness = FreshnessSerializer()
    results = TotalSerializer(many=True)


class PointSerializer(serializers.Serializer):
    day = serializers.DateField()
    total_cost = serializers.DecimalField(max_digits=16, decimal_places=6, allow_null=True,
                                          help_text="null: no figures for that day (not zero)")

    def to_representation(self, instance):
        day, value = instance
        return super().to_representation({"day": day, "total_cost": value})


class SeriesSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    currency = serializers.CharField()
    points = PointSerializer(many=True)


class DailySerializer(serializers.Serializer):
    window = WindowSerializer()
    currency = serializers.CharField()
    freshness = FreshnessSerializer()
    results = SeriesSerializer(many=True)


PARAMETERS = [
    OpenApiParameter("window", str, enum=list(report.WINDOWS), description=(
        "24h: yesterday (the last full UTC day); 7d and 30d: the last 7 or 30 UTC days, today so far "
        f"included; mtd: month to date. Default {report.DEFAULT_WINDOW}.")),
    OpenApiParameter("owner", str, description="Only this owner group (owner and endpoint totals)"),
    OpenApiParameter("cost_center", str, description="Only this cost centre (cost-centre and endpoint totals)"),
]


def _query(request) -> tuple[report.Window, dict]:
    try:
        win = report.window(request.query_params.get("window") or None)
    except report.UnknownWindow as exc:
        raise exceptions.ParseError(f"{exc}.") from None
    filters = {name: request.query_params.get(name, "").strip() for name in ("owner", "cost_center")}
    return win, filters


def _envelope(win: report.Window, results: list) -> dict:
    return {
        "window": {"key": win.key, "words": win.words, "start": win.start, "end": win.end},
        "currency": next((r.currency for r in results), CURRENCY),
        "freshness": report.freshness(),
        "results": results,
    }


class _TotalsView(APIView):
    scope: str = ""

    def get(self, request):
        win, filters = _query(request)
        limit = None
        if self.scope == CostScope.ENDPOINT:
            raw = request.query_params.get("limit") or "50"
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
                raise exceptions.ParseError(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {raw!r}.")
            limit = int(raw)
        results = report.totals(self.scope, win, limit=limit, **filters)
        return Response(TotalsSerializer(_envelope(win, results)).data)


class CostCenterTotalsView(_TotalsView):
    scope = CostScope.COST_CENTER

    @extend_schema(operation_id="getCostsByCostCenter", summary="Totals per cost centre over a window, largest first",
                   parameters=PARAMETERS, responses={200: TotalsSerializer, **ERRORS})
    def get(self, request):
        return super().get(request)


class OwnerTotalsView(_TotalsView):
    scope = CostScope.OWNER

    @extend_schema(operation_id="getCostsByOwner", summary="Totals per owner group over a window, largest first",
                   parameters=PARAMETERS, responses={200: TotalsSerializer, **ERRORS})
    def get(self, request):
        return super().get(request)


class EndpointTotalsView(_TotalsView):
    scope = CostScope.ENDPOINT

    @extend_schema(operation_id="getCostsByEndpoint", summary="Totals per model endpoint over a window, largest first",
                   parameters=[*PARAMETERS, OpenApiParameter("limit", int, description=f"At most this many (1-{MAX_LIMIT}, default 50)")],
                   responses={200: TotalsSerializer, **ERRORS})
    def get(self, request):
        return super().get(request)


class DailyCostView(APIView):
    @extend_schema(operation_id="getDailyCostsByCostCenter", summary="Each cost centre's cost per UTC day of a window",
                   parameters=PARAMETERS, responses={200: DailySerializer, **ERRORS})
    def get(self, request):
        win, filters = _query(request)
        series = report.daily_series(CostScope.COST_CENTER, win, **filters)
        return Response(DailySerializer(_envelope(win, series)).data)

"""GET /api/deployments/endpoints/ and /endpoints/{uid}: model endpoints' live status for scripts.

Every signed-in user may read (like the catalog). The database only: the poller writes it.
"""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Entity
from deployments.api import serializers
from deployments.live import STATES, live_status, live_statuses

ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="InputError: a malformed parameter"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="AuthenticationError: no or bad credentials"),
}


def endpoints():
    return Entity.objects.filter(kind__iexact="component", type="model-endpoint")


def _owner_ref(text: str) -> str:
    text = text.strip().lower()
    if ":" not in text:
        text = f"group:{text}"
    kind, _, rest = text.partition(":")
    return f"{kind}:{rest}" if "/" in rest else f"{kind}:default/{rest}"


def _yes_no(params, name: str) -> bool | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise exceptions.ParseError(f"{name} must be true or false, not {value!r}.")


class EndpointListView(APIView):
    @extend_schema(
        operation_id="getEndpoints",
        summary="Model endpoints with their live status, ordered by ref",
        parameters=[
            OpenApiParameter("owner", str, description="Owner group, e.g. fraud-detection or group:default/fraud-detection"),
            OpenApiParameter("cost_center", str, description="Cost centre label, e.g. cc-1234"),
            OpenApiParameter("cluster", str, description="Only endpoints seen on this cluster"),
            OpenApiParameter("state", str, enum=list(STATES)),
            OpenApiParameter("stale", bool, description="true: only endpoints whose cluster's last poll failed"),
        ],
        responses={200: serializers.EndpointSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        params = request.query_params
        queryset = endpoints()
        if owner := params.get("owner"):
            queryset = queryset.filter(owner_ref=_owner_ref(owner))
        if cost_center := params.get("cost_center"):
            queryset = queryset.filter(cost_center__iexact=cost_center)
        if cluster := params.get("cluster"):
            queryset = queryset.filter(workloads__cluster__name=cluster, workloads__gone_at__isnull=True).distinct()
        state = params.get("state")
        if state and state not in STATES:
            raise exceptions.ParseError(f"state must be one of {', '.join(STATES)}, not {state!r}.")
        stale = _yes_no(params, "stale")
        entities = list(queryset.order_by("ref"))
        statuses = live_statuses(entities)
        rows = [statuses[entity.pk] for entity in entities]
        if state:
            rows = [row for row in rows if row.state == state]
        if stale is not None:
            rows = [row for row in rows if row.stale == stale]
        return Response(serializers.EndpointSerializer(rows, many=True).data)


class EndpointDetailView(APIView):
    @extend_schema(
        operation_id="getEndpoint",
        summary="One model endpoint: status, conditions in words, timeline, URL, staleness",
        responses={
            200: serializers.EndpointDetailSerializer,
            **ERRORS,
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="NotFoundError"),
        },
    )
    def get(self, request, uid: str):
        try:
            key = uuid.UUID(uid)
        except ValueError:
            raise exceptions.NotFound(f"No model endpoint with uid {uid!r}.") from None
        entity = endpoints().filter(uid=key).first()
        if entity is None:
            raise exceptions.NotFound(f"No model endpoint with uid {uid!r}.")
        return Response(serializers.EndpointDetailSerializer(live_status(entity)).data)

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

from deployments import reconcile
from deployments.api import serializers
from deployments.filtersets import STATE_CHOICES, EndpointFilterSet, endpoints
from deployments.live import live_status, live_statuses

ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="InputError: a malformed parameter"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="AuthenticationError: no or bad credentials"),
}


class EndpointListView(APIView):
    @extend_schema(
        operation_id="getEndpoints",
        summary="Model endpoints with their live status, ordered by ref",
        parameters=[
            OpenApiParameter("owner", str, description="Owner group, e.g. fraud-detection or group:default/fraud-detection; mine: your teams"),
            OpenApiParameter("cost_center", str, description="Cost centre label, e.g. cc-1234"),
            OpenApiParameter("cluster", str, description="Only endpoints seen on this cluster"),
            OpenApiParameter("state", str, enum=[value for value, _ in STATE_CHOICES],
                             description="progressing: not ready with nothing failed; not-ready includes it"),
            OpenApiParameter("stale", bool, description="true: only endpoints whose cluster's last poll failed"),
            OpenApiParameter("missing", bool, description="true: only endpoints that should run but do not "
                             "(gone from the cluster, or never there long after their merge)"),
        ],
        responses={200: serializers.EndpointSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        filterset = EndpointFilterSet(request.query_params, request=request)
        if not filterset.is_valid():
            raise exceptions.ParseError(" ".join(filterset.errors_in_words()))
        entities = list(filterset.qs)
        statuses = live_statuses(entities)
        rows = filterset.filter_rows([statuses[entity.pk] for entity in entities])
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
        missing = reconcile.missing(endpoints().filter(pk=entity.pk))
        context = {"missing": missing[0].reason if missing else ""}
        return Response(serializers.EndpointDetailSerializer(live_status(entity), context=context).data)


class UnregisteredListView(APIView):
    @extend_schema(
        operation_id="getUnregisteredWorkloads",
        summary="Applications and InferenceServices on the clusters that no catalog entry claims, by cluster and name",
        parameters=[
            OpenApiParameter("cluster", str, description="Only this cluster"),
            OpenApiParameter("owner", str, description="Only workloads whose `owner` label is this group's name"),
        ],
        responses={200: serializers.UnregisteredSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        owner = (request.query_params.get("owner") or "").strip()
        owners = [owner.rpartition("/")[2]] if owner else None
        items = reconcile.unregistered(owners, cluster=(request.query_params.get("cluster") or "").strip())
        return Response(serializers.UnregisteredSerializer(items, many=True).data)

"""The catalog REST API, answering Backstage's catalog endpoints with Backstage's shapes.

Reference: https://backstage.io/docs/features/software-catalog/software-catalog-api
Every signed-in user (session or Bearer token) may read; deleting an entity needs its owner
group (or an admin); registering and deleting locations needs an admin (DESIGN §4.0).
"""

from __future__ import annotations

import uuid

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import facets, ingestion, query, store, tasks
from catalog.api import serializers
from catalog.models import Entity, Location
from catalog.refs import RefError, entity_ref, ref_string
from catalog.validation import validate_entity
from portal import audit, identity
from portal.api.exceptions import error_body
from portal.permissions import IsAuthenticatedWithScope

# --- shared parameters of the OpenAPI schema -------------------------------------------------

FILTER = OpenApiParameter(
    "filter", str, many=True,
    description="key=value pairs joined by commas are ANDed; repeated filter parameters are ORed; "
    "a bare key means the key exists. Case-insensitive. e.g. kind=component,spec.owner=fraud-detection",
)
FIELDS = OpenApiParameter(
    "fields", str, many=True, description="Only return these fields, e.g. metadata.name,spec.owner"
)
LIMIT = OpenApiParameter("limit", int, description="Page size")
OFFSET = OpenApiParameter("offset", int, description="Rows to skip")
ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="InputError: a malformed parameter or body"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="AuthenticationError: no or bad credentials"),
}
NOT_FOUND = {404: OpenApiResponse(OpenApiTypes.OBJECT, description="NotFoundError")}
FORBIDDEN = {403: OpenApiResponse(OpenApiTypes.OBJECT, description="NotAllowedError")}


def _integer(params, name: str, *, minimum: int) -> int | None:
    text = params.get(name)
    if text in (None, ""):
        return None
    try:
        value = int(text)
    except ValueError:
        raise query.QueryError(f"Invalid {name} {text!r}: it must be a whole number.") from None
    if value < minimum:
        raise query.QueryError(f"Invalid {name}, it must be {minimum} or greater.")
    return value


def render_entities(entities: list[Entity], fields: list[str]) -> list[dict]:
    """Entities as Backstage returns them, with their relations read in one query."""
    relations = store.relations_of(entities) if query.wants_relations(fields) else {}
    return [query.project(e.as_backstage(relations.get(e.ref)), fields) for e in entities]


def location_data(location: Location) -> dict:
    return serializers.LocationSerializer(location).data


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource already exists."


class ReadingPost(permissions.IsAuthenticated):
    """Signed in with any token scope: for POSTs that only read (by-refs, validate-entity, dry runs)."""


def _require_write_scope(request, view) -> None:
    if not IsAuthenticatedWithScope().has_permission(request, view):
        raise exceptions.PermissionDenied(IsAuthenticatedWithScope.message)


class CatalogAPIView(APIView):
    """Turns malformed query parameters into Backstage's 400 InputError."""

    def handle_exception(self, exc):
        if isinstance(exc, query.QueryError):
            exc = exceptions.ParseError(str(exc))
        return super().handle_exception(exc)


# --- entities --------------------------------------------------------------------------------


class EntityListView(CatalogAPIView):
    @extend_schema(
        operation_id="getEntities",
        summary="List entities (a bare JSON array)",
        parameters=[
            FILTER, FIELDS, LIMIT, OFFSET,
            OpenApiParameter("after", str, description="The opaque cursor of the Link rel=next header"),
            OpenApiParameter("order", str, many=True, description="asc:<field> or desc:<field>, e.g. asc:metadata.name"),
        ],
        responses={200: serializers.EntitySerializer(many=True), **ERRORS},
    )
    def get(self, request):
        params = request.query_params
        spec = query.parse_filters(params.getlist("filter"))
        fields = query.parse_fields(params.getlist("fields"))
        order = query.parse_order(params.getlist("order"))
        limit = _integer(params, "limit", minimum=1)
        offset = _integer(params, "offset", minimum=0) or 0
        if params.get("after"):
            limit, offset = query.decode_offset_cursor(params["after"])
        entities = query.order_entities(query.apply_filters(Entity.objects.all(), spec), order)
        if limit is None:
            rows, more = list(entities[offset:]), False
        else:
            rows = list(entities[offset : offset + limit + 1])
            more = len(rows) > limit
            rows = rows[:limit]
        response = Response(render_entities(rows, fields))
        if more:
            after = query.encode_offset_cursor(limit, offset + limit)
            next_params = params.copy()
            next_params.pop("offset", None)
            next_params["after"] = after
            response["Link"] = f'<{request.path}?{next_params.urlencode()}>; rel="next"'
        return response


class EntityQueryView(CatalogAPIView):
    @extend_schema(
        operation_id="getEntitiesByQuery",
        summary="Query entities with cursor paging",
        parameters=[
            FILTER, FIELDS, LIMIT, OFFSET,
            OpenApiParameter("orderField", str, many=True, description="field,asc|desc, e.g. metadata.name,asc"),
            OpenApiParameter("cursor", str, description="nextCursor or prevCursor of a previous page; replaces every other parameter but fields and limit"),
            OpenApiParameter("fullTextFilterTerm", str, description="Text searched inside the full-text fields"),
            OpenApiParameter("fullTextFilterFields", str, description="Comma-separated fields, e.g. metadata.name,metadata.description"),
            OpenApiParameter("totalItems", str, enum=["include", "exclude"], description="exclude skips counting"),
        ],
        responses={200: serializers.EntityQueryResponseSerializer, **ERRORS},
    )
    def get(self, request):
        params = request.query_params
        fields = query.parse_fields(params.getlist("fields"))
        limit = _integer(params, "limit", minimum=0)
        limit = query.DEFAULT_LIMIT if limit is None else min(limit, query.MAX_LIMIT)
        cursor = query.decode_cursor(params["cursor"]) if params.get("cursor") else None
        if cursor:
            spec = cursor.query
        else:
            text_fields = params.get("fullTextFilterFields", "")
            spec = query.Query(
                filter=query.parse_filters(params.getlist("filter")),
                order_fields=query.parse_order_fields(params.getlist("orderField")),
                full_text_term=params.get("fullTextFilterTerm", ""),
                full_text_fields=[f.strip() for f in text_fields.split(",") if f.strip()],
            )
        page = query.query_page(
            Entity.objects.all(), spec, limit=limit, cursor=cursor,
            offset=_integer(params, "offset", minimum=0) or 0,
            count=params.get("totalItems") != "exclude",
        )
        page_info = {}
        if page.next_cursor:
            page_info["nextCursor"] = page.next_cursor
        if page.prev_cursor:
            page_info["prevCursor"] = page.prev_cursor
        return Response({"items": render_entities(page.entities, fields), "totalItems": page.total_items, "pageInfo": page_info})


class EntityByNameView(CatalogAPIView):
    @extend_schema(operation_id="getEntityByName", summary="One entity by kind, namespace and name",
                   responses={200: serializers.EntitySerializer, **NOT_FOUND})
    def get(self, request, kind: str, namespace: str, name: str):
        entity = Entity.objects.filter(ref=entity_ref(kind, namespace, name)).first()
        if entity is None:
            raise exceptions.NotFound(
                f"No entity named '{name}' found, with kind '{kind}' in namespace '{namespace}'"
            )
        return Response(render_entities([entity], [])[0])


def _find_by_uuid(queryset, field: str, text: str):
    """The row whose UUID `field` is `text`, or None (also when `text` is no UUID)."""
    try:
        return queryset.filter(**{field: uuid.UUID(text)}).first()
    except ValueError:
        return None


def _entity_by_uid(uid: str) -> Entity:
    entity = _find_by_uuid(Entity.objects.all(), "uid", uid)
    if entity is None:
        raise exceptions.NotFound(f"No entity with uid {uid}")
    return entity


class EntityByUidView(CatalogAPIView):
    @extend_schema(operation_id="getEntityByUid", summary="One entity by its uid",
                   responses={200: serializers.EntitySerializer, **NOT_FOUND})
    def get(self, request, uid: str):
        return Response(render_entities([_entity_by_uid(uid)], [])[0])

    @extend_schema(operation_id="deleteEntityByUid",
                   summary="Delete an entity (its owner group's members and admins); its location may emit it again",
                   responses={204: None, **FORBIDDEN})
    def delete(self, request, uid: str):
        try:
            entity = _entity_by_uid(uid)
        except exceptions.NotFound:
            # Backstage answers 204 whether or not the entity existed.
            return Response(status=status.HTTP_204_NO_CONTENT)
        if not identity.can_change(request.user, entity.owner_ref):
            owner = entity.owner_ref or "no owner"
            raise exceptions.PermissionDenied(
                f"Only members of {owner} (the owner of {entity.ref}) and admins may delete it."
            )
        with transaction.atomic():
            store.delete(entity)
            audit.record(request.user, "catalog.entity.deleted", entity.ref, uid=uid)
        ingestion.finish_batch()  # a deleted Group or User changes memberships
        return Response(status=status.HTTP_204_NO_CONTENT)


class EntityByRefsView(CatalogAPIView):
    permission_classes = [ReadingPost]

    @extend_schema(operation_id="getEntitiesByRefs", summary="Many entities by ref, in the order asked",
                   parameters=[FILTER], request=serializers.EntitiesByRefsRequestSerializer,
                   responses={200: serializers.EntitiesByRefsResponseSerializer, **ERRORS})
    def post(self, request):
        body = serializers.EntitiesByRefsRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        refs = []
        for text in body.validated_data["entityRefs"]:
            try:
                refs.append(ref_string(text))
            except RefError:
                refs.append(None)
        fields = query.parse_fields(body.validated_data["fields"])
        spec = query.parse_filters(request.query_params.getlist("filter"))
        found = list(query.apply_filters(Entity.objects.filter(ref__in={r for r in refs if r}), spec))
        rendered = dict(zip((e.ref for e in found), render_entities(found, fields), strict=True))
        return Response({"items": [rendered.get(ref) if ref else None for ref in refs]})


class EntityFacetsView(CatalogAPIView):
    @extend_schema(
        operation_id="getEntityFacets",
        summary="Value counts of keys, e.g. facet=spec.owner",
        parameters=[OpenApiParameter("facet", str, many=True, required=True, description="A key such as spec.owner or metadata.tags"), FILTER],
        responses={200: serializers.FacetsResponseSerializer, **ERRORS},
    )
    def get(self, request):
        keys = [k.strip() for k in request.query_params.getlist("facet") if k.strip()]
        if not keys:
            raise query.QueryError("Missing facet: add facet=<key>, e.g. facet=spec.owner.")
        spec = query.parse_filters(request.query_params.getlist("filter"))
        entities = query.apply_filters(Entity.objects.all(), spec) if spec else None
        return Response({"facets": facets.facet_counts(entities, keys)})


# --- locations -------------------------------------------------------------------------------


def _location(location_id: str) -> Location:
    location = _find_by_uuid(Location.objects.all(), "uuid", location_id)
    if location is None:
        raise exceptions.NotFound(f"Found no location with ID {location_id}")
    return location


def _require_admin(request, what: str) -> None:
    if not identity.is_admin(request.user):
        raise exceptions.PermissionDenied(f"Only admins may {what}.")


class LocationListView(CatalogAPIView):
    permission_classes = [ReadingPost]  # a dry run only reads; registering checks the scope

    @extend_schema(operation_id="getLocations", summary="Every registered location",
                   responses={200: serializers.LocationListItemSerializer(many=True)})
    def get(self, request):
        return Response([{"data": location_data(location)} for location in Location.objects.order_by("type", "target")])

    @extend_schema(
        operation_id="createLocation",
        summary="Register a location (admins); with dryRun=true, show what it would emit without saving anything",
        parameters=[OpenApiParameter("dryRun", bool, description="true: read the target, save nothing")],
        request=serializers.LocationInputSerializer,
        responses={201: serializers.LocationCreatedSerializer, 409: OpenApiResponse(OpenApiTypes.OBJECT, description="ConflictError"), **ERRORS, **FORBIDDEN},
    )
    def post(self, request):
        body = serializers.LocationInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        kind, target = body.validated_data["type"], body.validated_data["target"]
        existing = Location.objects.filter(type=kind, target=target).first()
        if request.query_params.get("dryRun", "").lower() in ("true", "1", "yes"):
            return self._dry_run(request, kind, target, existing)
        _require_write_scope(request, self)
        _require_admin(request, "register locations")
        try:
            location = ingestion.register_location(kind, target, request.user)
        except ingestion.LocationExists as exc:
            raise Conflict(str(exc)) from None
        except ingestion.IngestionError as exc:
            raise exceptions.ValidationError(str(exc)) from None
        entities = list(Entity.objects.filter(location=location).order_by("ref"))
        return Response(
            {"location": location_data(location), "entities": render_entities(entities, [])},
            status=status.HTTP_201_CREATED,
        )

    def _dry_run(self, request, kind: str, target: str, existing: Location | None) -> Response:
        try:
            documents, errors = ingestion.dry_run(kind, target)
        except ingestion.IngestionError as exc:
            raise exceptions.ValidationError(str(exc)) from None
        if errors:
            message = "; ".join(f"{e.get('path') or target}: {e['message']}" for e in errors)
            return Response(error_body(request, 400, message, details=errors), status=status.HTTP_400_BAD_REQUEST)
        location = {"id": str(existing.uuid if existing else uuid.uuid4()), "type": kind, "target": target}
        return Response({"location": location, "entities": documents, "exists": existing is not None},
                        status=status.HTTP_201_CREATED)


class LocationDetailView(CatalogAPIView):
    @extend_schema(operation_id="getLocation", summary="One location by id",
                   responses={200: serializers.LocationSerializer, **NOT_FOUND})
    def get(self, request, location_id: str):
        return Response(location_data(_location(location_id)))

    @extend_schema(operation_id="deleteLocation", summary="Delete a location and its entities (admins)",
                   responses={204: None, **FORBIDDEN, **NOT_FOUND})
    def delete(self, request, location_id: str):
        _require_admin(request, "delete locations")
        try:
            ingestion.delete_location(_location(location_id), request.user)
        except ingestion.IngestionError as exc:
            raise exceptions.ValidationError(str(exc)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class LocationByEntityView(CatalogAPIView):
    @extend_schema(operation_id="getLocationByEntity", summary="The location an entity came from",
                   responses={200: serializers.LocationSerializer, **NOT_FOUND})
    def get(self, request, kind: str, namespace: str, name: str):
        ref = entity_ref(kind, namespace, name)
        entity = Entity.objects.select_related("location").filter(ref=ref).first()
        if entity is None or entity.location is None:
            raise exceptions.NotFound(f"No location found for entity {ref}")
        return Response(location_data(entity.location))


# --- refresh and validation ------------------------------------------------------------------


class RefreshView(CatalogAPIView):
    @extend_schema(operation_id="refreshEntity", summary="Re-read the locations an entity comes from (queued)",
                   request=serializers.RefreshRequestSerializer,
                   responses={200: None, **ERRORS, **NOT_FOUND})
    def post(self, request):
        body = serializers.RefreshRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            ref = ref_string(body.validated_data["entityRef"])
        except RefError as exc:
            raise exceptions.ValidationError({"entityRef": [str(exc)]}) from None
        if not Entity.objects.filter(ref=ref).exists():
            raise exceptions.NotFound(f"No entity {ref}")
        transaction.on_commit(tasks.refresh_locations.delay)
        return Response(status=status.HTTP_200_OK)


class ValidateEntityView(CatalogAPIView):
    permission_classes = [ReadingPost]

    @extend_schema(
        operation_id="validateEntity",
        summary="Check an entity document as ingestion would",
        request=serializers.ValidateEntityRequestSerializer,
        responses={200: serializers.EmptySerializer, 400: serializers.ValidateEntityErrorSerializer},
    )
    def post(self, request):
        body = serializers.ValidateEntityRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        issues = validate_entity(body.validated_data["entity"])
        if not issues:
            return Response({})
        errors = [
            {"name": "InputError", "message": f"{issue.field}: {issue.message}", "field": issue.field, "rule": issue.rule}
            for issue in issues
        ]
        message = "; ".join(error["message"] for error in errors)
        # Backstage's client reads `errors`; generic clients read the usual error body.
        return Response({**error_body(request, 400, message), "errors": errors}, status=status.HTTP_400_BAD_REQUEST)

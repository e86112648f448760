"""Request and response shapes of the Backstage-compatible catalog API.

Entities are returned as their stored documents (plus uid, etag and relations), so the
entity serializers below describe the shape for the OpenAPI schema; request serializers
validate what clients send.
"""

from rest_framework import serializers

from catalog.choices import LocationType


class RelationSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="e.g. ownedBy, partOf, hasMember")
    targetRef = serializers.CharField(help_text="kind:namespace/name, lower-cased")


class EntityMetadataSerializer(serializers.Serializer):
    name = serializers.CharField()
    namespace = serializers.CharField()
    uid = serializers.UUIDField()
    etag = serializers.CharField()
    title = serializers.CharField(required=False)
    description = serializers.CharField(required=False)
    labels = serializers.DictField(child=serializers.CharField(), required=False)
    annotations = serializers.DictField(child=serializers.CharField(), required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


class EntitySerializer(serializers.Serializer):
    """A Backstage entity; with `fields=` only the requested parts are present."""

    apiVersion = serializers.CharField()
    kind = serializers.CharField()
    metadata = EntityMetadataSerializer()
    spec = serializers.DictField(required=False)
    relations = RelationSerializer(many=True, required=False)


class PageInfoSerializer(serializers.Serializer):
    nextCursor = serializers.CharField(required=False, help_text="Pass as `cursor` for the next page")
    prevCursor = serializers.CharField(required=False, help_text="Pass as `cursor` for the previous page")


class EntityQueryResponseSerializer(serializers.Serializer):
    items = EntitySerializer(many=True)
    totalItems = serializers.IntegerField()
    pageInfo = PageInfoSerializer()


class EntitiesByRefsRequestSerializer(serializers.Serializer):
    entityRefs = serializers.ListField(
        child=serializers.CharField(), max_length=1000, help_text="Refs such as component:default/fraud-model"
    )
    fields = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class EntitiesByRefsResponseSerializer(serializers.Serializer):
    items = EntitySerializer(many=True, allow_null=True, help_text="One item per requested ref, null when absent")


class FacetValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    count = serializers.IntegerField()


class FacetsResponseSerializer(serializers.Serializer):
    facets = serializers.DictField(child=FacetValueSerializer(many=True))


class LocationSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    type = serializers.CharField()
    target = serializers.CharField()


class LocationListItemSerializer(serializers.Serializer):
    data = LocationSerializer()


class LocationInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=LocationType.choices)
    target = serializers.CharField(max_length=1024)
    presence = serializers.ChoiceField(choices=["required", "optional"], required=False)


class LocationCreatedSerializer(serializers.Serializer):
    location = LocationSerializer()
    entities = EntitySerializer(many=True)
    exists = serializers.BooleanField(required=False, help_text="Dry run only: the location is already registered")


class RefreshRequestSerializer(serializers.Serializer):
    entityRef = serializers.CharField(help_text="The entity whose locations to re-read, e.g. component:default/fraud-model")


class ValidateEntityRequestSerializer(serializers.Serializer):
    entity = serializers.JSONField(help_text="The entity document to check")
    location = serializers.CharField(required=False, help_text="Where it would come from, e.g. url:https://host/path")


class ValidationErrorItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField()
    rule = serializers.CharField()


class ValidateEntityErrorSerializer(serializers.Serializer):
    errors = ValidationErrorItemSerializer(many=True)


class EmptySerializer(serializers.Serializer):
    """An empty JSON object."""

"""The catalog: Backstage-format entities, their relations, search rows and locations."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from catalog.choices import EntityStatus, LocationType


class Location(models.Model):
    """A registered place entities come from: a path or glob in the GitOps repository, or a URL.

    The root location (settings.PORTAL_CATALOG_ROOT_LOCATION) is registered automatically;
    Location entities found while processing it are followed as part of it.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=8, choices=LocationType.choices)
    target = models.CharField(max_length=1024)
    is_root = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    refreshed_at = models.DateTimeField(null=True, blank=True)
    #: Processing errors of the last refresh: [{"path", "message", "field", "document"}].
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["type", "target"]
        constraints = [models.UniqueConstraint(fields=["type", "target"], name="location_unique")]

    def __str__(self) -> str:
        return f"{self.type}:{self.target}"

    @property
    def ref(self) -> str:
        return f"{self.type}:{self.target}"


class Entity(models.Model):
    """One catalog entity, stored as its full Backstage document plus indexed columns.

    `uid` is stable across refreshes; `ref` (`kind:namespace/name`, lower-cased) is unique.
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    ref = models.CharField(max_length=400, unique=True)
    api_version = models.CharField(max_length=255)
    kind = models.CharField(max_length=63)
    namespace = models.CharField(max_length=63, default="default")
    name = models.CharField(max_length=63)
    title = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=255, blank=True, help_text="spec.type")
    owner_ref = models.CharField(max_length=400, blank=True, help_text="spec.owner as a full lower-cased ref")
    lifecycle = models.CharField(max_length=63, blank=True)
    system_ref = models.CharField(max_length=400, blank=True)
    cost_center = models.CharField(max_length=63, blank=True, help_text="label cost-center, or the owner group's")
    #: The entity as its location emitted it (no uid, etag or relations: those are added on output).
    document = models.JSONField()
    etag = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=EntityStatus.choices, default=EntityStatus.ACTIVE)
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="entities")
    #: The repository path (or URL) of the file that holds the entity.
    source = models.CharField(max_length=1024, blank=True)
    #: Processing errors that concern this entity: [{"message", "field"}].
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "entities"
        ordering = ["kind", "namespace", "name"]
        indexes = [
            # catalog list filtered by kind (and sorted by name)
            models.Index(fields=["kind", "name"], name="entity_kind_name"),
            # "owned by my team" and the owner filter
            models.Index(fields=["owner_ref", "kind"], name="entity_owner_kind"),
            # facet and filter columns of the catalog list
            models.Index(fields=["type"], name="entity_type"),
            models.Index(fields=["lifecycle"], name="entity_lifecycle"),
            models.Index(fields=["cost_center"], name="entity_cost_center"),
            models.Index(fields=["system_ref"], name="entity_system"),
            models.Index(fields=["namespace", "name"], name="entity_namespace_name"),
            # pending and orphaned entities on the admin views
            models.Index(fields=["status"], name="entity_status"),
        ]

    def __str__(self) -> str:
        return self.ref

    @property
    def display_name(self) -> str:
        return self.title or self.name

    @property
    def metadata(self) -> dict:
        return self.document.get("metadata", {})

    @property
    def spec(self) -> dict:
        return self.document.get("spec", {}) or {}

    @property
    def labels(self) -> dict:
        return self.metadata.get("labels", {}) or {}

    @property
    def annotations(self) -> dict:
        return self.metadata.get("annotations", {}) or {}

    @property
    def tags(self) -> list[str]:
        return self.metadata.get("tags", []) or []

    def url_path(self) -> str:
        return f"/catalog/{self.namespace}/{self.kind.lower()}/{self.name}"

    def as_backstage(self, relations: list[dict] | None = None) -> dict:
        """The entity as Backstage's catalog API returns it: uid, etag and relations added."""
        document = dict(self.document)
        metadata = dict(document.get("metadata", {}))
        metadata["uid"] = str(self.uid)
        metadata["etag"] = self.etag
        metadata.setdefault("namespace", self.namespace)
        document["metadata"] = metadata
        if relations is not None:
            document["relations"] = relations
        return document


class EntitySearch(models.Model):
    """One flattened `key=value` of an entity (lower-cased), Backstage's search table.

    Any `filter=key=value` is one indexed lookup, tags and relations included.
    """

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="search_rows")
    key = models.CharField(max_length=255)
    # NULL marks a key whose value is not indexed (too long), as in Backstage.
    value = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001

    class Meta:
        indexes = [
            # filter=key=value subqueries and facet counts read (key, value, entity_id) from the
            # index alone, without visiting the table for each match
            models.Index(fields=["key", "value", "entity"], name="search_key_value_entity"),
            # filter=key (exists) and rebuilding one entity's rows
            models.Index(fields=["entity", "key"], name="search_entity_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class Relation(models.Model):
    """A relation `source -type-> target`, stored both ways, attributed to the entity that emitted it.

    Refs are lower-cased; the target need not exist (an unresolved relation).
    """

    originating = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="emitted_relations")
    source_ref = models.CharField(max_length=400)
    type = models.CharField(max_length=63)
    target_ref = models.CharField(max_length=400)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["originating", "source_ref", "type", "target_ref"], name="relation_unique"),
        ]
        indexes = [
            # an entity's relations, on its page and in the API
            models.Index(fields=["source_ref", "type"], name="relation_source_type"),
            # who points at an entity
            models.Index(fields=["target_ref", "type"], name="relation_target_type"),
        ]

    def __str__(self) -> str:
        return f"{self.source_ref} {self.type} {self.target_ref}"

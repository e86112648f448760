from django.db import models


class EntityStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PENDING = "pending", "Pending (pull request open)"
    ORPHANED = "orphaned", "Orphaned (gone from its location)"


class LocationType(models.TextChoices):
    FILE = "file", "File in the GitOps repository"
    URL = "url", "URL"


# Backstage's relation types and their reverses; both directions are stored.
RELATION_PAIRS = {
    "ownedBy": "ownerOf",
    "partOf": "hasPart",
    "dependsOn": "dependencyOf",
    "providesApi": "apiProvidedBy",
    "consumesApi": "apiConsumedBy",
    "memberOf": "hasMember",
    "childOf": "parentOf",
}
REVERSE_RELATION = {**RELATION_PAIRS, **{v: k for k, v in RELATION_PAIRS.items()}}

KINDS = ["Component", "API", "Resource", "System", "Domain", "Group", "User", "Location", "Template"]

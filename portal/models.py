"""Identity, API tokens, the audit log and the GitOps repository snapshot."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.choices import TokenScope

TOKEN_PREFIX = "nsp_"


class Membership(models.Model):
    """A user's place in a catalog Group, materialised from the catalog on every ingestion.

    `direct` rows come from memberOf / spec.members; the others follow childOf. A user is a
    member of the ancestors of their groups (for "my team" views) and manages the
    descendants of their groups (object permissions): `can_manage` says which.
    """

    user_ref = models.CharField(max_length=255)
    group_ref = models.CharField(max_length=255)
    direct = models.BooleanField(default=False)
    can_manage = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user_ref", "group_ref"], name="membership_unique"),
        ]
        indexes = [
            # the groups of the signed-in user, on every page and permission check
            models.Index(fields=["user_ref"], name="membership_user"),
            # the members of a group, on the group page
            models.Index(fields=["group_ref"], name="membership_group"),
        ]

    def __str__(self) -> str:
        return f"{self.user_ref} in {self.group_ref}"


class ServiceAccount(models.Model):
    """A robot user owned by a Group, for CI jobs and scripts; admins manage it and its tokens."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account")
    owner_ref = models.CharField(max_length=255, help_text="The owning Group, e.g. group:default/platform-team")
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return self.user.username


class APITokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class APIToken(models.Model):
    """A bearer token for the API, belonging to a user or a service account.

    Only a SHA-256 digest is stored (tokens carry 256 bits of randomness, so a fast hash is
    enough, as GitHub does); the clear token is shown once, when it is created.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.READ)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False, help_text="The first characters, to tell tokens apart")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = APITokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # the token list on a profile or service-account page
            models.Index(fields=["user", "-created_at"], name="apitoken_user_created"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @staticmethod
    def hash(clear: str) -> str:
        return hashlib.sha256(clear.encode()).hexdigest()

    @classmethod
    def issue(cls, user, name: str, scope: str, created_by=None) -> tuple[APIToken, str]:
        """Create a token; returns the row and the clear token, which is never stored."""
        clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, scope=scope, digest=cls.hash(clear), hint=clear[:10], created_by=created_by
        )
        return token, clear

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def can_write(self) -> bool:
        return self.scope == TokenScope.WRITE

    def touch(self) -> None:
        """Record use at most once a minute: one conditional UPDATE, no read-then-write."""
        now = timezone.now()
        cutoff = now - timedelta(seconds=settings.PORTAL_TOKEN_TOUCH_SECONDS)
        if self.last_used_at is not None and self.last_used_at >= cutoff:
            return  # recorded within the minute: no write at all on the hot path
        APIToken.objects.filter(pk=self.pk).filter(
            models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lt=cutoff)
        ).update(last_used_at=now)


class AuditEvent(models.Model):
    """An append-only record of who did what to which target, and when."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150, help_text="Kept when the user is deleted")
    action = models.CharField(max_length=64, help_text="e.g. token.created, entity.deleted")
    target = models.CharField(max_length=500, blank=True, help_text="A text ref, e.g. component:default/fraud-model")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # the audit page, newest first, optionally by action or actor
            models.Index(fields=["-created_at"], name="audit_created"),
            models.Index(fields=["action", "-created_at"], name="audit_action_created"),
            models.Index(fields=["actor_name", "-created_at"], name="audit_actor_created"),
            # the history of one target
            models.Index(fields=["target", "-created_at"], name="audit_target_created"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.target}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")


class RepositorySnapshot(models.Model):
    """The GitOps repository's default branch as last read: what every reader sees.

    One row per (provider, repository, branch). Files are refreshed incrementally by blob SHA.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.CharField(max_length=16)
    repository = models.CharField(max_length=500)
    branch = models.CharField(max_length=255)
    commit_sha = models.CharField(max_length=64, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "repository", "branch"], name="snapshot_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.repository}@{self.branch} ({self.commit_sha[:12]})"


class SnapshotFile(models.Model):
    """One file of a repository snapshot: its path, blob SHA and content."""

    snapshot = models.ForeignKey(RepositorySnapshot, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024)
    blob_sha = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    content = models.BinaryField()

    class Meta:
        constraints = [
            # also serves lookups of one path and prefix scans (path LIKE 'apps/%')
            models.UniqueConstraint(fields=["snapshot", "path"], name="snapshotfile_unique"),
        ]

    def __str__(self) -> str:
        return self.path

    def text(self) -> str:
        return bytes(self.content).decode("utf-8")

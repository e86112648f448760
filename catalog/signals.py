"""Signal receivers: ingestion after the snapshot moves, a User entity on first sign-in."""

from __future__ import annotations

import structlog
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from catalog import ingestion, store
from catalog.models import Entity
from catalog.validation import validate_entity
from portal.identity import user_ref
from portal.tasks import snapshot_changed

log = structlog.get_logger(__name__)


@receiver(snapshot_changed, dispatch_uid="catalog.refresh_on_snapshot_change")
def refresh_on_snapshot_change(sender, **kwargs) -> None:
    """The default branch moved: re-read every location from the new snapshot."""
    ingestion.refresh_all()


@receiver(user_logged_in, dispatch_uid="catalog.ensure_user_entity")
def ensure_user_entity(sender, request, user, **kwargs) -> None:
    """A signed-in user is the catalog User of the same name: create a minimal one when absent."""
    ref = user_ref(user)
    if Entity.objects.filter(ref=ref).exists():
        return
    document = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "User",
        "metadata": {"name": user.get_username()},
        "spec": {"memberOf": []},
    }
    if validate_entity(document):
        log.warning("username is not a valid entity name; no User entity created", username=user.get_username())
        return
    store.upsert(document)

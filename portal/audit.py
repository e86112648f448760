"""The audit log helper that every feature calls on a write."""

from __future__ import annotations

from typing import Any

from portal.models import AuditEvent


def record(actor, action: str, target: str = "", **details: Any) -> AuditEvent:
    """Append an audit event. `actor` is a user or None (the system)."""
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if authenticated else None,
        actor_name=actor.get_username() if authenticated else "system",
        action=action,
        target=target,
        details=details,
    )

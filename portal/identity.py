"""Who the signed-in user is in the catalog, which teams they belong to, what they may change."""

from __future__ import annotations

from django.conf import settings

from portal.models import Membership

DEFAULT_NAMESPACE = "default"


def user_ref(user) -> str:
    """The catalog User entity ref of a Django user: `user:default/<username>`."""
    return f"user:{DEFAULT_NAMESPACE}/{user.get_username().lower()}"


def admin_group_ref() -> str:
    return f"group:{DEFAULT_NAMESPACE}/{settings.PORTAL_ADMIN_GROUP.lower()}"


def _memberships(user) -> list[Membership]:
    """The user's membership rows, read once per request."""
    if not user.is_authenticated:
        return []
    cached = getattr(user, "_portal_memberships", None)
    if cached is None:
        cached = list(Membership.objects.filter(user_ref=user_ref(user)))
        user._portal_memberships = cached
    return cached


def team_refs(user) -> list[str]:
    """The groups the user belongs to directly, e.g. for a "my team" view."""
    return sorted(m.group_ref for m in _memberships(user) if m.direct)


def member_refs(user) -> set[str]:
    """Every group the user belongs to, directly or through a sub-group."""
    return {m.group_ref for m in _memberships(user) if not m.can_manage or m.direct}


def managed_refs(user) -> set[str]:
    """The groups whose belongings the user may change: their groups and their descendants."""
    return {m.group_ref for m in _memberships(user) if m.can_manage}


def is_admin(user) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return admin_group_ref() in member_refs(user)


def can_change(user, owner_ref: str | None) -> bool:
    """Admins, and members of the owning group or of its ancestors, may change a thing."""
    if is_admin(user):
        return True
    return bool(owner_ref) and owner_ref.lower() in managed_refs(user)

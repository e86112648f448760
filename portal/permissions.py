from rest_framework import permissions

from portal.models import APIToken


class IsAuthenticatedWithScope(permissions.BasePermission):
    """Signed in; a `read` token may only read."""

    message = "This token has the read scope: create a token with the write scope to change data."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if isinstance(request.auth, APIToken) and not request.auth.can_write():
            return request.method in permissions.SAFE_METHODS
        return True

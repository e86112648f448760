"""API authentication: `Authorization: Bearer <token>` and the browser session, nothing else."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from portal.models import APIToken


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use 'Bearer <token>'.")
        try:
            clear = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The token contains invalid characters.") from None
        token = (
            APIToken.objects.active().select_related("user").filter(digest=APIToken.hash(clear)).first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        token.touch()
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class SessionAuthentication(authentication.SessionAuthentication):
    """Django's session, with CSRF enforced on writes (DRF's default behaviour)."""

"""OpenAPI security schemes for the portal's two API authentications (Bearer token, session).

drf-spectacular cannot infer them from portal.auth's classes; without these every API path
warns. Imported by the portal app at start-up, so every API's schema knows them.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal or service-account API token"}


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "portal.auth.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}

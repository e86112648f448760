"""API errors in Backstage's error body shape, so Backstage clients read them unchanged.

    {"error": {"name": "NotFoundError", "message": "..."},
     "request": {"method": "GET", "url": "/api/..."},
     "response": {"statusCode": 404}}
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

NAMES = {
    400: "InputError",
    401: "AuthenticationError",
    403: "NotAllowedError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    409: "ConflictError",
    412: "NotModifiedError",
    422: "InputError",
    429: "TooManyRequestsError",
    503: "ServiceUnavailableError",
}


def _message(detail) -> str:
    if isinstance(detail, dict):
        parts = []
        for field, value in detail.items():
            text = _message(value)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(_message(item) for item in detail)
    return str(detail)


def error_body(request, status_code: int, message: str, name: str | None = None, details=None) -> dict:
    body = {
        "error": {"name": name or NAMES.get(status_code, "Error"), "message": message},
        "request": {"method": request.method, "url": request.get_full_path()},
        "response": {"statusCode": status_code},
    }
    if details is not None:
        body["error"]["details"] = details
    return body


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "You may not do that.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    request = context["request"]
    details = exc.detail if isinstance(exc, exceptions.ValidationError) else None
    body = error_body(request, response.status_code, _message(getattr(exc, "detail", exc)), details=details)
    return Response(body, status=response.status_code, headers=dict(response.items()))


def api_error(request, status_code: int, message: str, name: str | None = None, details=None) -> Response:
    return Response(error_body(request, status_code, message, name, details), status=status_code)


__all__ = ["api_error", "error_body", "exception_handler", "status"]

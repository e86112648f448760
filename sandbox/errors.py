"""Kubernetes `Status` errors, raised by the store and rendered by the HTTP server."""

from __future__ import annotations

from typing import Any

from sandbox.resources import ResourceType


class ApiError(Exception):
    """An API failure with the `Status` body the real API server would answer."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(resource: ResourceType, name: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return {**details, **extra}


def not_found(resource: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource.qualified} "{name}" not found', _details(resource, name))


def already_exists(resource: ResourceType, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{resource.qualified} "{name}" already exists', _details(resource, name))


def conflict(resource: ResourceType, name: str, why: str) -> ApiError:
    message = f'Operation cannot be fulfilled on {resource.qualified} "{name}": {why}'
    return ApiError(409, "Conflict", message, _details(resource, name))


def modified(resource: ResourceType, name: str) -> ApiError:
    return conflict(
        resource, name, "the object has been modified; please apply your changes to the latest version and try again"
    )


def invalid(resource: ResourceType, name: str, field: str, problem: str) -> ApiError:
    message = f'{resource.kind}.{resource.group or "core"} "{name}" is invalid: {field}: {problem}'
    cause = {"reason": "FieldValueInvalid", "message": problem, "field": field}
    return ApiError(422, "Invalid", message, _details(resource, name, kind=resource.kind, causes=[cause]))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}")


def expired(message: str) -> ApiError:
    # Today's API servers answer an outdated resourceVersion or continue token with reason
    # "Expired" (older ones said "Gone"); clients key on the code, 410.
    return ApiError(410, "Expired", message)


def no_such_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})

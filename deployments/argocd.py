"""ArgoCD `Application`s (argoproj.io/v1alpha1), read through the official `kubernetes` client.

A small typed client: one list call per namespace, objects parsed into `Application`, and
`in_words` for the state a developer reads on the timeline, with the fix where one is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubernetes import client

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "applications"
#: Seconds a list call may take before the poll cycle gives up on the cluster.
REQUEST_TIMEOUT = (5, 30)

# Condition types ArgoCD raises when it cannot render or apply an app (types.go).
ERROR_CONDITIONS = (
    "ComparisonError",
    "InvalidSpecError",
    "SyncError",
    "UnknownError",
    "SharedResourceWarning",
)


@dataclass(frozen=True)
class Condition:
    type: str
    message: str = ""
    last_transition_time: str = ""


@dataclass(frozen=True)
class Application:
    """What the portal keeps of an ArgoCD Application."""

    name: str
    namespace: str
    uid: str = ""
    resource_version: str = ""
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    source_path: str = ""
    sync_status: str = ""  # Synced, OutOfSync, Unknown
    revision: str = ""
    health_status: str = ""  # Healthy, Progressing, Degraded, Suspended, Missing, Unknown
    health_message: str = ""
    operation_phase: str = ""  # Running, Succeeded, Failed, Error, Terminating
    operation_message: str = ""
    conditions: tuple[Condition, ...] = ()
    reconciled_at: str = ""
    deleting: bool = False

    @property
    def error_conditions(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if c.type in ERROR_CONDITIONS)

    def as_dict(self) -> dict:
        return {"conditions": [{"type": c.type, "message": c.message, "lastTransitionTime": c.last_transition_time}
                               for c in self.conditions]}


@dataclass(frozen=True)
class ApplicationList:
    items: list[Application]
    resource_version: str


def parse(obj: dict) -> Application:
    """An Application object (as the API returns it) as an `Application`; absent fields are empty."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    sync = status.get("sync") or {}
    health = status.get("health") or {}
    operation = status.get("operationState") or {}
    source = spec.get("source") or {}
    return Application(
        name=str(metadata.get("name") or ""),
        namespace=str(metadata.get("namespace") or ""),
        uid=str(metadata.get("uid") or ""),
        resource_version=str(metadata.get("resourceVersion") or ""),
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
        source_path=str(source.get("path") or ""),
        sync_status=str(sync.get("status") or ""),
        revision=str(sync.get("revision") or (operation.get("syncResult") or {}).get("revision") or ""),
        health_status=str(health.get("status") or ""),
        health_message=str(health.get("message") or ""),
        operation_phase=str(operation.get("phase") or ""),
        operation_message=str(operation.get("message") or ""),
        conditions=tuple(
            Condition(str(c.get("type") or ""), str(c.get("message") or ""), str(c.get("lastTransitionTime") or ""))
            for c in status.get("conditions") or []
            if isinstance(c, dict)
        ),
        reconciled_at=str(status.get("reconciledAt") or ""),
        deleting=bool(metadata.get("deletionTimestamp")),
    )


def list_applications(api_client: client.ApiClient, namespace: str) -> ApplicationList:
    """Every Application in ArgoCD's namespace, in one call.

    Raises `kubernetes.client.ApiException` or a urllib3/OS error when the cluster cannot answer.
    """
    # Reference: https://kubernetes.io/docs/reference/using-api/api-concepts/#collections
    # (CustomObjectsApi.list_namespaced_custom_object: GET /apis/argoproj.io/v1alpha1/namespaces/{ns}/applications)
    response = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, _request_timeout=REQUEST_TIMEOUT
    )
    items = [parse(item) for item in response.get("items") or []]
    return ApplicationList(items, str((response.get("metadata") or {}).get("resourceVersion") or ""))


def _short(revision: str) -> str:
    return revision[:7] if len(revision) == 40 else revision


def in_words(app: Application) -> str:
    """The Application's state in one or two sentences a developer can act on."""
    for condition in app.conditions:
        if condition.type == "ComparisonError":
            return (
                f"ArgoCD cannot render the app: ComparisonError {condition.message} "
                f"Fix: check the manifests under {app.source_path or 'the app folder'} are valid YAML "
                "for kinds the cluster knows (the template's preview shows what is rendered)."
            )
        if condition.type == "InvalidSpecError":
            return f"ArgoCD refuses the Application itself: InvalidSpecError {condition.message}"
    if app.deleting:
        return "ArgoCD is deleting the app."
    failed = app.operation_phase in ("Failed", "Error") or any(c.type == "SyncError" for c in app.conditions)
    if failed:
        message = app.operation_message or next((c.message for c in app.conditions if c.type == "SyncError"), "")
        words = f"ArgoCD cannot apply the app: {message}".rstrip(": ")
        if "admission webhook" in message and "kyverno" in message:
            words += " Fix: the guardrails refused it; change the manifest as the policy message says and push again."
        return words
    if app.operation_phase == "Running":
        return "ArgoCD is syncing the app."
    revision = f" at {_short(app.revision)}" if app.revision else ""
    if app.sync_status == "OutOfSync":
        if app.health_status == "Missing":
            return f"ArgoCD has not created the app's objects yet{revision}."
        return f"The cluster differs from Git{revision} (OutOfSync); ArgoCD will put it back when self-heal is on."
    if app.sync_status == "Unknown":
        return "ArgoCD cannot tell whether the app matches Git (sync Unknown): the repository may be unreachable."
    health = {
        "Healthy": "Healthy",
        "Progressing": "still starting (Progressing)",
        "Degraded": "Degraded: a resource failed",
        "Missing": "missing from the cluster",
        "Suspended": "suspended",
    }.get(app.health_status, app.health_status or "of unknown health")
    if app.sync_status == "Synced":
        words = f"Synced{revision}; {health}."
    else:
        words = f"Sync {app.sync_status or 'not reported yet'}; {health}."
    if app.health_message:
        words += f" {app.health_message}"
    warnings = [c for c in app.conditions if c.type.endswith("Warning")]
    if warnings:
        words += " " + " ".join(f"{c.type}: {c.message}." for c in warnings)
    return words

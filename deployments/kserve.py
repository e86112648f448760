"""KServe `InferenceService`s (serving.kserve.io/v1beta1), read through the official `kubernetes` client.

A small typed client: one list call per namespace (or one across all), objects parsed into
`InferenceService`, and `in_words` for what a developer reads on the timeline, with the fix
where one is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubernetes import client

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
#: (connect, read) seconds a list call may take before the poll cycle gives up on the cluster.
REQUEST_TIMEOUT = (5, 30)
_PREDICTOR_KEYS = ("model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "lightgbm", "huggingface")


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True", "False", "Unknown"
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""


@dataclass(frozen=True)
class InferenceService:
    """What the portal keeps of a KServe InferenceService."""

    name: str
    namespace: str
    uid: str = ""
    resource_version: str = ""
    generation: int | None = None
    observed_generation: int | None = None
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    storage_uri: str = ""
    conditions: tuple[Condition, ...] = ()
    url: str = ""
    address: str = ""
    latest_ready_revision: str = ""
    traffic: tuple[dict, ...] = ()
    model_status: dict = field(default_factory=dict)

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == kind), None)

    @property
    def ready(self) -> str:
        """The Ready condition's status: "True", "False", or "Unknown" when not reported."""
        ready = self.condition("Ready")
        return ready.status if ready else "Unknown"

    @property
    def failure(self) -> tuple[str, str]:
        """(reason, message) of the model's last load failure, or empty strings."""
        info = self.model_status.get("lastFailureInfo") or {}
        return str(info.get("reason") or ""), str(info.get("message") or "")

    def conditions_as_list(self) -> list[dict]:
        return [
            {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message,
             "lastTransitionTime": c.last_transition_time}
            for c in self.conditions
        ]


@dataclass(frozen=True)
class InferenceServiceList:
    items: list[InferenceService]
    resource_version: str


def _storage_uri(spec: dict) -> str:
    predictor = spec.get("predictor") or {}
    for key in _PREDICTOR_KEYS:
        block = predictor.get(key)
        if isinstance(block, dict) and block.get("storageUri"):
            return str(block["storageUri"])
    return ""


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse(obj: dict) -> InferenceService:
    """An InferenceService object (as the API returns it) as an `InferenceService`."""
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    predictor = (status.get("components") or {}).get("predictor") or {}
    return InferenceService(
        name=str(metadata.get("name") or ""),
        namespace=str(metadata.get("namespace") or ""),
        uid=str(metadata.get("uid") or ""),
        resource_version=str(metadata.get("resourceVersion") or ""),
        generation=_int(metadata.get("generation")),
        observed_generation=_int(status.get("observedGeneration")),
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
        storage_uri=_storage_uri(obj.get("spec") or {}),
        conditions=tuple(
            Condition(
                str(c.get("type") or ""),
                str(c.get("status") or "Unknown"),
                str(c.get("reason") or ""),
                str(c.get("message") or ""),
                str(c.get("lastTransitionTime") or ""),
            )
            for c in status.get("conditions") or []
            if isinstance(c, dict)
        ),
        url=str(status.get("url") or ""),
        address=str((status.get("address") or {}).get("url") or ""),
        latest_ready_revision=str(predictor.get("latestReadyRevision") or ""),
        traffic=tuple(t for t in predictor.get("traffic") or [] if isinstance(t, dict)),
        model_status=dict(status.get("modelStatus") or {}),
    )


def list_inference_services(api_client: client.ApiClient, namespace: str | None = None) -> InferenceServiceList:
    """Every InferenceService in `namespace` (all namespaces when None), in one call.

    Raises `kubernetes.client.ApiException` or a urllib3/OS error when the cluster cannot answer.
    """
    api = client.CustomObjectsApi(api_client)
    # Reference: https://kserve.github.io/website/latest/reference/api/ (InferenceService),
    # listed as any custom resource: GET /apis/serving.kserve.io/v1beta1[/namespaces/{ns}]/inferenceservices
    if namespace:
        response = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _request_timeout=REQUEST_TIMEOUT)
    else:
        response = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, _request_timeout=REQUEST_TIMEOUT)
    items = [parse(item) for item in response.get("items") or []]
    return InferenceServiceList(items, str((response.get("metadata") or {}).get("resourceVersion") or ""))


def in_words(isvc: InferenceService) -> str:
    """The InferenceService's state in one or two sentences a developer can act on."""
    reason, message = isvc.failure
    if reason == "ModelLoadFailed" or (isvc.condition("PredictorReady") and isvc.condition("PredictorReady").reason == "ModelLoadFailed"):
        detail = message or isvc.condition("PredictorReady").message
        return (
            f"KServe cannot download the model: {detail} "
            f"Fix: point storageUri ({isvc.storage_uri or 'spec.predictor.model.storageUri'}) at a model that exists "
            "and that the cluster can read."
        )
    if isvc.ready == "True":
        revision = f" (revision {isvc.latest_ready_revision})" if isvc.latest_ready_revision else ""
        return f"Ready at {isvc.url}{revision}." if isvc.url else f"Ready{revision}."
    if not isvc.conditions:
        return "KServe has not reported on it yet."
    if isvc.ready == "False":
        failing = [c for c in isvc.conditions if c.type != "Ready" and c.status == "False"]
        words = "Not ready: " + "; ".join(
            f"{c.type} {c.reason}" + (f" ({c.message})" if c.message else "") for c in failing
        ) if failing else f"Not ready: {isvc.condition('Ready').reason} {isvc.condition('Ready').message}".strip()
        if reason:
            words += f". The model server reports {reason}: {message}"
        if any(c.reason == "ProgressDeadlineExceeded" for c in failing):
            words += ". Fix: read the predictor pod's logs; the model server keeps failing to start"
        return words.rstrip(".") + "."
    return "KServe is starting the model server (Progressing)."

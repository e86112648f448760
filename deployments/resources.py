"""Resource arithmetic for workloads: CPU, memory and GPU requests and limits, per container
and in total, as the cluster would account them.

One module for every page that adds resources up (guardrails quota checks, the pull-request
delta, the cost pages), so they agree to the millicore. Quantities are parsed with
`kubernetes.utils.parse_quantity`: CPU in cores, memory in bytes, GPUs as a count, all
`Decimal`. A value that does not parse raises `QuantityError` naming its manifest path; it
never counts as zero.

Defaults follow the API server: a container that sets a limit but no request gets the limit as
its request, then a namespace's `LimitRange` (type Container) fills what is still missing from
`defaultRequest` and `default` (`default` falling back to `max`, `defaultRequest` to `default`,
as the LimitRange itself is defaulted). KServe's controller may add resources of its own to the
model container on some clusters; only what the manifest and the LimitRange say is counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from kubernetes.utils import parse_quantity

__all__ = [
    "WORKLOAD_KINDS",
    "ContainerResources",
    "QuantityError",
    "WorkloadResources",
    "format_quantity",
    "is_workload",
    "parse",
    "resource_name",
    "workload_resources",
]

ZERO = Decimal(0)
#: Kinds whose pods this module can count (the InferenceService counts its predictor).
WORKLOAD_KINDS = frozenset({"InferenceService", "Deployment", "StatefulSet", "ReplicaSet", "Pod"})
_POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")
#: Framework keys of the older InferenceService predictor form (`predictor.sklearn: {...}`).
_PREDICTOR_FRAMEWORKS = (
    "sklearn",
    "xgboost",
    "tensorflow",
    "pytorch",
    "triton",
    "onnx",
    "pmml",
    "lightgbm",
    "paddle",
    "huggingface",
)
MODEL_CONTAINER = "kserve-container"


class QuantityError(ValueError):
    """A resource quantity that does not parse, with the manifest path that holds it."""

    def __init__(self, path: str, value):
        self.path = path
        self.value = value
        super().__init__(
            f"{path}: {value!r} is not a Kubernetes quantity (write e.g. 500m or 2 for CPU, "
            f"512Mi or 2Gi for memory)"
        )


class NotAWorkload(ValueError):
    """The manifest is not a kind whose pods this module counts."""


def resource_name(name: str) -> str:
    """Our short name for a Kubernetes resource name: `nvidia.com/gpu` and kin become `gpu`."""
    return "gpu" if name.endswith("/gpu") else name


def parse(value, path: str) -> Decimal:
    """A quantity as a Decimal, or QuantityError naming `path`."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise QuantityError(path, value)
    try:
        return parse_quantity(value)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise QuantityError(path, value) from exc


def format_quantity(resource: str, value: Decimal) -> str:
    """A quantity for people: CPU as `400m`/`20.5`, memory as `640Mi`/`8Gi`, counts as `3`."""
    if resource.endswith("memory") or resource.endswith("storage"):
        for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if abs(value) >= size:
                return f"{_plain(value / size)}{unit}"
        return _plain(value)
    if resource.endswith("cpu") and 0 < abs(value) < 1:
        return f"{_plain(value * 1000)}m"
    return _plain(value)


def _plain(value: Decimal) -> str:
    value = value.quantize(Decimal("0.001")) if value != value.to_integral_value() else value
    text = format(value.normalize(), "f")
    return text


@dataclass
class ContainerResources:
    """One container's requests and limits after defaults, keyed cpu / memory / gpu / ...

    `path` is the manifest path of the container (e.g. `spec.predictor.model`); `defaulted`
    names the values that came from defaults, e.g. {"requests.cpu"}.
    """

    name: str
    path: str
    requests: dict[str, Decimal] = field(default_factory=dict)
    limits: dict[str, Decimal] = field(default_factory=dict)
    defaulted: set[str] = field(default_factory=set)

    def value_path(self, section: str, resource: str) -> str:
        """The manifest path a value was (or would be) written at."""
        key = {"gpu": "nvidia.com/gpu"}.get(resource, resource)
        return f"{self.path}.resources.{section}.{key}"

    def as_dict(self) -> dict:
        return {"name": self.name, "requests": dict(self.requests), "limits": dict(self.limits)}


@dataclass
class WorkloadResources:
    """A workload's containers and replicas, and its totals (per-pod values × replicas).

    For an InferenceService, `replicas` is the predictor's minReplicas (default 1); a predictor
    that scales to zero counts 0 replicas and says so in `note`.
    """

    kind: str
    namespace: str
    name: str
    replicas: int
    containers: list[ContainerResources]
    note: str = ""

    @property
    def scale_to_zero(self) -> bool:
        return self.replicas == 0

    def per_pod(self, section: str) -> dict[str, Decimal]:
        total: dict[str, Decimal] = {}
        for container in self.containers:
            for resource, value in getattr(container, section).items():
                total[resource] = total.get(resource, ZERO) + value
        return total

    @property
    def requests(self) -> dict[str, Decimal]:
        """Total requests of every replica."""
        return {r: v * self.replicas for r, v in self.per_pod("requests").items()}

    @property
    def limits(self) -> dict[str, Decimal]:
        """Total limits of every replica."""
        return {r: v * self.replicas for r, v in self.per_pod("limits").items()}


def is_workload(manifest) -> bool:
    return isinstance(manifest, dict) and manifest.get("kind") in WORKLOAD_KINDS


def workload_resources(manifest: dict, limit_ranges=()) -> WorkloadResources:
    """Containers, replicas and totals of a workload manifest, LimitRange defaults applied.

    `limit_ranges` are LimitRange documents of the manifest's namespace. Raises NotAWorkload for
    other kinds and QuantityError for a value that does not parse (or a replica count that is
    not a whole number).
    """
    kind = manifest.get("kind")
    metadata = manifest.get("metadata") or {}
    namespace = str(metadata.get("namespace") or "default")
    name = str(metadata.get("name") or "")
    note = ""
    if kind == "InferenceService":
        predictor = _mapping((manifest.get("spec") or {}).get("predictor"))
        replicas = _replicas(predictor.get("minReplicas"), "spec.predictor.minReplicas", 1)
        if replicas == 0:
            note = "scales to zero: no replica counted while idle"
        raw = _predictor_containers(predictor)
    elif kind in _POD_TEMPLATE_KINDS:
        spec = _mapping(manifest.get("spec"))
        replicas = _replicas(spec.get("replicas"), "spec.replicas", 1)
        pod = _mapping(_mapping(spec.get("template")).get("spec"))
        raw = _pod_containers(pod, "spec.template.spec")
    elif kind == "Pod":
        replicas = 1
        raw = _pod_containers(_mapping(manifest.get("spec")), "spec")
    else:
        raise NotAWorkload(f"{kind or 'a document without kind'} is not a workload")
    defaults = container_defaults(limit_ranges)
    containers = [_container(name_, path, body, defaults) for name_, path, body in raw]
    return WorkloadResources(kind, namespace, name, replicas, containers, note)


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _replicas(value, path: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise QuantityError(path, value)
    return value


def _predictor_containers(predictor: dict) -> list[tuple[str, str, dict]]:
    found = []
    model = predictor.get("model")
    if isinstance(model, dict):
        found.append((str(model.get("name") or MODEL_CONTAINER), "spec.predictor.model", model))
    for framework in _PREDICTOR_FRAMEWORKS:
        body = predictor.get(framework)
        if isinstance(body, dict):
            found.append(
                (str(body.get("name") or MODEL_CONTAINER), f"spec.predictor.{framework}", body)
            )
    for index, body in enumerate(predictor.get("containers") or []):
        if isinstance(body, dict):
            default = MODEL_CONTAINER if not found and index == 0 else f"container-{index}"
            found.append(
                (str(body.get("name") or default), f"spec.predictor.containers[{index}]", body)
            )
    return found


def _pod_containers(pod: dict, base: str) -> list[tuple[str, str, dict]]:
    return [
        (str(body.get("name") or f"container-{index}"), f"{base}.containers[{index}]", body)
        for index, body in enumerate(pod.get("containers") or [])
        if isinstance(body, dict)
    ]


def container_defaults(limit_ranges) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """({resource: (value, source)} for limits, the same for requests) from LimitRanges.

    The source is `LimitRange/<name>`; the first LimitRange giving a value wins.
    """
    limits: dict[str, tuple] = {}
    requests: dict[str, tuple] = {}
    for document in limit_ranges or ():
        name = str((document.get("metadata") or {}).get("name", ""))
        for index, item in enumerate(_mapping(document.get("spec")).get("limits") or []):
            if not isinstance(item, dict) or item.get("type", "Container") != "Container":
                continue
            base = f"LimitRange/{name} spec.limits[{index}]"
            default = dict(_mapping(item.get("max")))
            default.update(_mapping(item.get("default")))
            default_request = dict(default)
            default_request.update(_mapping(item.get("defaultRequest")))
            for key, value in default.items():
                section = "default" if key in _mapping(item.get("default")) else "max"
                limits.setdefault(
                    resource_name(key),
                    (parse(value, f"{base}.{section}.{key}"), f"LimitRange/{name}"),
                )
            for key, value in default_request.items():
                requests.setdefault(
                    resource_name(key),
                    (parse(value, f"{base}.defaultRequest.{key}"), f"LimitRange/{name}"),
                )
    return limits, requests


def _container(name: str, path: str, body: dict, defaults) -> ContainerResources:
    resources = _mapping(body.get("resources"))
    container = ContainerResources(name=name, path=path)
    for section in ("requests", "limits"):
        values = resources.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise QuantityError(f"{path}.resources.{section}", values)
        for key, value in values.items():
            getattr(container, section)[resource_name(str(key))] = parse(
                value, f"{path}.resources.{section}.{key}"
            )
    # The API server's defaulting: an explicit limit is also the request when none is given.
    for resource, value in container.limits.items():
        if resource not in container.requests:
            container.requests[resource] = value
            container.defaulted.add(f"requests.{resource}")
    default_limits, default_requests = defaults
    for resource, (value, _source) in default_limits.items():
        if resource not in container.limits:
            container.limits[resource] = value
            container.defaulted.add(f"limits.{resource}")
    for resource, (value, _source) in default_requests.items():
        if resource not in container.requests:
            container.requests[resource] = value
            container.defaulted.add(f"requests.{resource}")
    return container

"""Simulated controllers for the sandbox cluster: ArgoCD, KServe and ResourceQuota usage.

They run in-process on one thread, woken by every change in the store (`Store.subscribe`) and
by a tick, and reconcile everything on each pass: a pass computes the wanted state and writes
only what differs, and a write that changes nothing makes no event, so the loop settles.

- **ArgoCD** (the ApplicationSet git directory generator): an `Application` per `apps/*`
  folder of the repository's default branch (namespace `argocd`, named after the folder),
  the folder's Kubernetes manifests applied (Backstage documents and kustomizations
  skipped), synced to the head commit, health Progressing then Healthy (Degraded when an
  InferenceService fails), pruned when the folder goes, a deleted or edited object put back.
  A write refused by admission (Kyverno, sandbox/kyverno.py: the repository's own policies)
  shows as a failed sync with the refusal's message.
- **KServe**: an `InferenceService` goes Progressing, then after `ready_delay` Ready with
  `status.url` `http://<name>.<namespace>.example.com`, or fails with `ModelLoadFailed`
  (rules in `storage_problem`).
- **Quota**: each `ResourceQuota`'s `status.hard` and `status.used`, computed from the
  InferenceServices, Deployments and Pods of its namespace (LimitRange defaults applied).

The rules are documented in sandbox/README.md.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path, PurePosixPath

import yaml

from deployments.resources import QuantityError, format_quantity, workload_resources
from sandbox.errors import ApiError
from sandbox.kyverno import POLICY_FOLDER, KyvernoAdmission
from sandbox.store import Store, now

logger = logging.getLogger(__name__)

#: What the ApplicationSet generator reads: (head commit, {path: content}) of the default branch.
RepositorySource = Callable[[], tuple[str, Mapping[str, bytes]]]

APPLICATIONSET = "neuroscale-model-endpoints"
REPO_URL = "https://github.com/sodiq-code/neuroscale-platform.git"
#: ArgoCD's tracking label: which Application an applied object belongs to.
INSTANCE_LABEL = "app.kubernetes.io/instance"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
#: Storage schemes KServe's storage initializer knows; any other is refused by it.
KNOWN_SCHEMES = ("gs://", "s3://", "pvc://", "file://", "hdfs://", "webhdfs://", "oci://", "hf://", "https://", "http://")
_PREDICTOR_FRAMEWORKS = ("model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "lightgbm", "huggingface")


@dataclass(frozen=True)
class Delays:
    """Seconds each simulated step takes (all 0 in tests)."""

    app_healthy: float = 0.0  # an Application stays Progressing at least this long
    isvc_ready: float = 0.0  # an InferenceService stays Progressing this long before Ready/failed


def storage_problem(uri: str) -> str | None:
    """KServe's message when the model at `uri` cannot be loaded, or None when it loads.

    Ready: `gs://kfserving-examples/*`, `pvc://*` and `file://` paths that exist. Failing:
    any URI containing `/missing/`, an unknown scheme, a `file://` path that does not exist,
    and any other bucket (the sandbox can reach none).
    """
    if "/missing/" in uri:
        return "RuntimeError: Failed to fetch model. No model found in /mnt/models."
    if uri.startswith("gs://kfserving-examples/") or uri.startswith("pvc://"):
        return None
    if uri.startswith("file://"):
        return None if Path(uri.removeprefix("file://")).exists() else (
            f"RuntimeError: Failed to fetch model. No model found in {uri.removeprefix('file://')}."
        )
    if not uri.startswith(KNOWN_SCHEMES):
        return (
            f"Exception: Cannot recognize storage type for {uri}\n'gs://', 's3://', 'pvc://', 'file://', "
            "'hdfs://', 'webhdfs://', 'oci://', 'hf://' and 'https://' are the current available storage type."
        )
    return f"RuntimeError: Failed to fetch model. Could not download {uri}: access denied or not found."


def storage_uri(isvc: dict) -> str:
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    for key in _PREDICTOR_FRAMEWORKS:
        block = predictor.get(key)
        if isinstance(block, dict) and block.get("storageUri"):
            return str(block["storageUri"])
    return ""


def manifests(files: Mapping[str, bytes], folder: str) -> tuple[list[dict], list[str]]:
    """The Kubernetes objects of a folder's files (sorted by path), and problems in words.

    Backstage documents (`backstage.io/*`) and kustomizations are not cluster objects.
    """
    objects: list[dict] = []
    problems: list[str] = []
    for path in sorted(p for p in files if p.startswith(folder + "/") and p.endswith(MANIFEST_SUFFIXES)):
        try:
            documents = list(yaml.safe_load_all(files[path]))
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not valid YAML: {exc}")
            continue
        for document in documents:
            if not isinstance(document, dict):
                continue
            api_version = str(document.get("apiVersion") or "")
            if api_version.startswith("backstage.io/") or api_version.startswith("kustomize.config.k8s.io/"):
                continue
            objects.append(document)
    return objects, problems


class Controllers:
    """ArgoCD, KServe and quota controllers over one sandbox store.

    `source` gives the repository's default branch; without one, no Applications are made
    (KServe and quota still run). Call `reconcile()` for one synchronous pass (tests), or
    `start()` for the background loop that passes on every change and every `tick` seconds.
    """

    def __init__(
        self,
        store: Store,
        source: RepositorySource | None = None,
        *,
        delays: Delays = Delays(),
        tick: float = 1.0,
        argocd_namespace: str = "argocd",
        destination_namespace: str = "default",
        clock: Callable[[], float] = time.monotonic,
        model_server_url: str | None = None,
        admission: bool = True,
        backdate: float = 0.0,
    ):
        self.store = store
        #: Seconds before now that the objects of the first sync were created: the endpoints
        #: the repository already declares have been running a while (their costs have a
        #: history), not since the sandbox started.
        self.backdate = backdate
        self._synced_once = False
        self._created: str | None = None  # creationTimestamp for objects this pass creates
        #: Kyverno's admission webhook over the repository's policies (see sandbox/kyverno.py),
        #: fed the same default branch as ArgoCD on every pass.
        self.kyverno = KyvernoAdmission(store) if admission else None
        if self.kyverno is not None:
            store.admission.append(self.kyverno)
        #: The shared model server (`python -m sandbox.modelserver`): a Ready sklearn
        #: InferenceService's `address.url`, where the portal sends "try it" requests.
        self.model_server_url = model_server_url.rstrip("/") if model_server_url else None
        self.source = source
        self.delays = delays
        self.tick = tick
        self.argocd_namespace = argocd_namespace
        self.destination_namespace = destination_namespace
        self.clock = clock
        self._first_seen: dict[tuple, float] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._lock = threading.Lock()

    # --- Lifecycle -------------------------------------------------------------------------------

    def start(self) -> Controllers:
        self._unsubscribe = self.store.subscribe(lambda _event: self._wake.set())
        self._thread = threading.Thread(target=self._loop, name="sandbox-controllers", daemon=True)
        self._thread.start()
        self._wake.set()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._unsubscribe:
            self._unsubscribe()
        if self._thread:
            self._thread.join(timeout=10)
        self._thread = None
        if self.kyverno is not None and self.kyverno in self.store.admission:
            self.store.admission.remove(self.kyverno)

    def __enter__(self) -> Controllers:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.tick)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.reconcile()
            except Exception:  # a controller bug must not end the loop
                logger.exception("sandbox controllers pass failed")

    def reconcile(self, passes: int = 1) -> None:
        """Run `passes` full passes: ArgoCD, then KServe, then quotas."""
        for _ in range(passes):
            with self._lock:
                self._argocd()
                self._kserve()
                self._quotas()

    def settle(self, limit: int = 20) -> None:
        """Pass until a pass changes nothing (delays permitting), for synchronous tests."""
        for _ in range(limit):
            before = self.store.revision
            self.reconcile()
            if self.store.revision == before:
                return

    def _due(self, key: tuple, delay: float) -> bool:
        """Whether `delay` seconds have passed since `key` was first seen; never on the first
        pass that sees it, so every step shows (Progressing before Healthy) even with no delay."""
        if key not in self._first_seen:
            self._first_seen[key] = self.clock()
            return False
        return self.clock() - self._first_seen[key] >= delay

    def _ensure_namespace(self, name: str) -> None:
        try:
            self.store.get(self.store.namespaces, None, name)
        except ApiError:
            self.store.create(self.store.namespaces, None, {"metadata": {"name": name}})

    # --- ArgoCD ----------------------------------------------------------------------------------

    def _argocd(self) -> None:
        if self.source is None:
            return
        revision, files = self.source()
        if self.kyverno is not None:
            self.kyverno.load(revision, files)
        self._created = (
            datetime.fromtimestamp(time.time() - self.backdate, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if self.backdate and not self._synced_once else None
        )
        folders = sorted({PurePosixPath(p).parts[1] for p in files if p.startswith("apps/") and len(PurePosixPath(p).parts) > 2})
        applications = self.store.resource_for("argoproj.io/v1alpha1", "Application")
        self._ensure_namespace(self.argocd_namespace)
        existing = {
            app["metadata"]["name"]: app
            for app in self.store.list(applications, self.argocd_namespace).items
            if (app["metadata"].get("labels") or {}).get("argocd.argoproj.io/application-set-name") == APPLICATIONSET
        }
        tracked = self._tracked()
        for name in folders:
            self._sync_application(name, f"apps/{name}", revision, files, existing.get(name), tracked.get(name, []))
        # The first sync that finds apps is the state "before the sandbox started" (a fresh
        # portal may have no snapshot yet on the first pass).
        self._synced_once = self._synced_once or bool(folders)
        for name in existing:
            if name not in folders:
                self._prune(tracked.get(name, []))
                self.store.delete(applications, self.argocd_namespace, name)
                self._first_seen.pop(("Application", name), None)

    def _application_body(self, name: str, path: str) -> dict:
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": name,
                "namespace": self.argocd_namespace,
                "labels": {"argocd.argoproj.io/application-set-name": APPLICATIONSET},
                "ownerReferences": [
                    {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": APPLICATIONSET,
                     "controller": True, "blockOwnerDeletion": True},
                ],
            },
            "spec": {
                "project": "default",
                "source": {"repoURL": REPO_URL, "targetRevision": "main", "path": path},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": self.destination_namespace},
                "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
            },
        }

    def _sync_application(
        self, name: str, path: str, revision: str, files: Mapping[str, bytes], app: dict | None, tracked: list
    ) -> None:
        applications = self.store.resource_for("argoproj.io/v1alpha1", "Application")
        body = self._application_body(name, path)
        if app is None:
            app = self.store.create(applications, self.argocd_namespace, body)
        wanted, problems = manifests(files, path)
        results, drifted = [], False
        failures = list(problems)
        for manifest in wanted:
            result, was_drift, failure = self._apply(name, manifest)
            results.append(result)
            drifted = drifted or was_drift
            if failure:
                failures.append(failure)
        self._prune(tracked, keep={(r["kind"], r["namespace"], r["name"]) for r in results})

        health = "Healthy" if self._due(("Application", name), self.delays.app_healthy) else "Progressing"
        for result in results:
            status = result["health"]["status"]
            if status == "Degraded" or (status == "Progressing" and health == "Healthy"):
                health = status
        if failures:
            health = "Missing" if not any(r["status"] == "Synced" for r in results) else "Degraded"
        source = body["spec"]["source"]
        destination = body["spec"]["destination"]
        stamp = now()
        status = {
            "sync": {
                "status": "OutOfSync" if failures else "Synced",
                "revision": revision,
                "comparedTo": {"source": source, "destination": destination},
            },
            "health": {"status": health},
            "resources": [{k: v for k, v in r.items() if k != "message"} for r in results],
            "sourceType": "Directory",
            "summary": {},
            "operationState": {
                "phase": "Failed" if failures else "Succeeded",
                "message": (
                    "one or more objects failed to apply, reason: " + "; ".join(failures)
                    if failures else "successfully synced (all tasks run)"
                ),
                "operation": {"initiatedBy": {"automated": True}, "sync": {"revision": revision}},
                "syncResult": {"revision": revision, "source": source, "resources": results},
            },
        }
        if failures:
            status["conditions"] = [{"type": "SyncError", "message": (
                f"Failed last sync attempt to [{revision}]: one or more objects failed to apply, reason: "
                + "; ".join(failures))}]
        previous = app.get("status") or {}
        if drifted and previous.get("sync", {}).get("status") == "Synced":
            # ArgoCD notices the drift before it heals it: OutOfSync first, at the same revision.
            self._write_status(name, app, {**previous, "sync": {**previous["sync"], "status": "OutOfSync"}})
            app = self.store.get(applications, self.argocd_namespace, name)
            previous = app.get("status") or {}
        if _without_times(previous) != _without_times(status):
            status["reconciledAt"] = stamp
            status["operationState"].update(startedAt=stamp, finishedAt=stamp)
            self._write_status(name, app, status)

    def _write_status(self, name: str, app: dict, status: dict) -> None:
        # The Application CRD has no status subresource: ArgoCD updates the whole object.
        applications = self.store.resource_for("argoproj.io/v1alpha1", "Application")
        self.store.update(applications, self.argocd_namespace, name, {**app, "status": status})

    def _apply(self, app: str, manifest: dict) -> tuple[dict, bool, str | None]:
        """Create or correct one object; (ArgoCD's resource result, whether it drifted, failure)."""
        metadata = dict(manifest.get("metadata") or {})
        labels = {**(metadata.get("labels") or {}), INSTANCE_LABEL: app}
        kind = str(manifest.get("kind") or "")
        api_version = str(manifest.get("apiVersion") or "")
        group, _, version = api_version.rpartition("/")
        result = {"group": group, "version": version, "kind": kind, "name": str(metadata.get("name") or ""),
                  "namespace": "", "status": "Synced", "health": {"status": "Healthy"}, "syncPhase": "Sync"}
        try:
            resource = self.store.resource_for(api_version, kind)
        except ApiError as exc:
            result.update(status="SyncFailed", message=exc.message, health={"status": "Missing"})
            return result, False, exc.message
        namespace = (metadata.get("namespace") or self.destination_namespace) if resource.namespaced else None
        result["namespace"] = namespace or ""
        body = {**manifest, "metadata": {**metadata, "labels": labels}}
        body.pop("status", None)
        drifted = False
        try:
            if namespace:
                self._ensure_namespace(namespace)
            try:
                live = self.store.get(resource, namespace, result["name"])
            except ApiError:
                live = None
            if live is None:
                live = self.store.create(resource, namespace, body, created=self._created)
            elif _desired_part(live) != _desired_part(body):
                drifted = True
                merged = {**body, "metadata": {**live["metadata"], "labels": labels,
                                               "annotations": metadata.get("annotations") or {}}}
                if "status" in live:
                    merged["status"] = live["status"]
                live = self.store.update(resource, namespace, result["name"], merged)
        except ApiError as exc:
            result.update(status="SyncFailed", message=exc.message, health={"status": "Missing"})
            return result, False, exc.message
        result["health"] = {"status": _health(live)}
        result["message"] = f"{kind.lower()}/{result['name']} {'configured' if drifted else 'created'}"
        return result, drifted, None

    def _tracked(self) -> dict[str, list[tuple]]:
        """Objects carrying ArgoCD's tracking label, by Application: one read of the store per pass."""
        tracked: dict[str, list[tuple]] = {}
        for resource in self.store.resources:
            if resource.group == "argoproj.io" or resource is self.store.namespaces:
                continue
            for obj in self.store.list(resource).items:
                if app := (obj["metadata"].get("labels") or {}).get(INSTANCE_LABEL):
                    tracked.setdefault(app, []).append((resource, obj))
        return tracked

    def _prune(self, tracked: list[tuple], keep: set[tuple] = frozenset()) -> None:
        """Delete the tracked objects an Application no longer declares."""
        for resource, obj in tracked:
            metadata = obj["metadata"]
            if (resource.kind, metadata.get("namespace", ""), metadata["name"]) not in keep:
                with contextlib.suppress(ApiError):  # already gone
                    self.store.delete(resource, metadata.get("namespace"), metadata["name"])

    # --- KServe ----------------------------------------------------------------------------------

    def _kserve(self) -> None:
        resource = self.store.resource_for("serving.kserve.io/v1beta1", "InferenceService")
        for isvc in self.store.list(resource).items:
            metadata = isvc["metadata"]
            key = ("InferenceService", metadata["namespace"], metadata["name"], metadata.get("generation"))
            status = isvc.get("status") or {}
            if status.get("observedGeneration") != metadata.get("generation"):
                self._first_seen[key] = self.clock()
                wanted = progressing_status(isvc)
            elif not self._due(key, self.delays.isvc_ready) or _ready(status) != "Unknown":
                continue
            else:
                problem = storage_problem(storage_uri(isvc))
                address = self.model_server_url if is_sklearn(isvc) else None
                wanted = failed_status(isvc, problem) if problem else ready_status(isvc, address=address)
            self.store.update(resource, metadata["namespace"], metadata["name"],
                              {**isvc, "status": wanted}, subresource="status")

    # --- Quotas ----------------------------------------------------------------------------------

    def _quotas(self) -> None:
        quotas = self.store.resource_for("v1", "ResourceQuota")
        for quota in self.store.list(quotas).items:
            namespace = quota["metadata"]["namespace"]
            hard = dict((quota.get("spec") or {}).get("hard") or {})
            wanted = {"hard": hard, "used": self._used(namespace, hard)}
            if quota.get("status") != wanted:
                self.store.update(quotas, namespace, quota["metadata"]["name"], {**quota, "status": wanted},
                                  subresource="status")

    def _used(self, namespace: str, hard: Mapping[str, str]) -> dict[str, str]:
        limit_ranges = self.store.list(self.store.resource_for("v1", "LimitRange"), namespace).items
        totals: dict[str, Decimal] = {}
        counts: dict[str, int] = {}
        pods = 0
        for api_version, kind in (("serving.kserve.io/v1beta1", "InferenceService"), ("apps/v1", "Deployment"), ("v1", "Pod")):
            resource = self.store.resource_for(api_version, kind)
            items = self.store.list(resource, namespace).items
            counts[resource.qualified] = len(items)
            for obj in items:
                if kind == "Pod" and (obj["metadata"].get("ownerReferences")):
                    continue  # counted with the workload that owns it
                try:
                    workload = workload_resources(obj, limit_ranges)
                except (QuantityError, ValueError):
                    continue
                pods += workload.replicas
                for section in ("requests", "limits"):
                    for name, value in getattr(workload, section).items():
                        totals[f"{section}.{name}"] = totals.get(f"{section}.{name}", Decimal(0)) + value
        used: dict[str, str] = {}
        for key in hard:
            if key == "pods":
                used[key] = str(pods)
            elif key.startswith("count/"):
                used[key] = str(counts.get(key.removeprefix("count/"), 0))
            else:
                section, _, name = key.partition(".") if key.startswith(("requests.", "limits.")) else ("requests", "", key)
                short = "gpu" if name.endswith("/gpu") else name
                used[key] = format_quantity(short, totals.get(f"{section}.{short}", Decimal(0)))
        return used


# --- InferenceService statuses, as KServe writes them -----------------------------------------------


def _condition(kind: str, status: str, reason: str = "", message: str = "") -> dict:
    condition = {"type": kind, "status": status, "lastTransitionTime": now()}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def progressing_status(isvc: dict) -> dict:
    return {
        "observedGeneration": isvc["metadata"].get("generation"),
        "conditions": [
            _condition("IngressReady", "Unknown", "Predictor ingress not created"),
            _condition("PredictorReady", "Unknown", "Progressing", "Deployment is progressing"),
            _condition("Ready", "Unknown", "Progressing", "Deployment is progressing"),
        ],
        "modelStatus": {"transitionStatus": "InProgress", "states": {"activeModelState": "", "targetModelState": "Loading"}},
    }


def is_sklearn(isvc: dict) -> bool:
    """Whether the predictor is scikit-learn (`predictor.sklearn`, or `predictor.model` with
    `modelFormat.name: sklearn`): the shared model server can answer for it."""
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    if isinstance(predictor.get("sklearn"), dict):
        return True
    model = predictor.get("model")
    model_format = (model.get("modelFormat") or {}) if isinstance(model, dict) else {}
    return str(model_format.get("name") or "").lower() == "sklearn"


def ready_status(isvc: dict, *, address: str | None = None) -> dict:
    """KServe's Ready status. `address` replaces the in-cluster address (the shared model
    server, which in the sandbox is what "the cluster network" reaches)."""
    name, namespace = isvc["metadata"]["name"], isvc["metadata"]["namespace"]
    revision = f"{name}-predictor-{isvc['metadata'].get('generation', 1):05d}"
    url = f"http://{name}.{namespace}.example.com"
    return {
        "observedGeneration": isvc["metadata"].get("generation"),
        "url": url,
        "address": {"url": address or f"http://{name}.{namespace}.svc.cluster.local"},
        "components": {"predictor": {
            "url": f"http://{name}-predictor.{namespace}.example.com",
            "address": {"url": address or f"http://{name}-predictor.{namespace}.svc.cluster.local"},
            "latestCreatedRevision": revision,
            "latestReadyRevision": revision,
            "latestRolledoutRevision": revision,
            "traffic": [{"revisionName": revision, "percent": 100, "latestRevision": True}],
        }},
        "conditions": [
            _condition("IngressReady", "True"),
            _condition("PredictorReady", "True"),
            _condition("Ready", "True"),
        ],
        "modelStatus": {"transitionStatus": "UpToDate", "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"}},
    }


def failed_status(isvc: dict, message: str) -> dict:
    return {
        "observedGeneration": isvc["metadata"].get("generation"),
        "components": {"predictor": {}},
        "conditions": [
            _condition("IngressReady", "False", "Predictor ingress not created"),
            _condition("PredictorReady", "False", "ModelLoadFailed", message),
            _condition("Ready", "False", "ModelLoadFailed", message),
        ],
        "modelStatus": {
            "transitionStatus": "BlockedByFailedLoad",
            "states": {"activeModelState": "", "targetModelState": "FailedToLoad"},
            "copies": {"failedCopies": 1},
            "lastFailureInfo": {"reason": "ModelLoadFailed", "message": message, "exitCode": 1},
        },
    }


def _ready(status: dict) -> str:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status"))
    return "Unknown"


def _health(obj: dict) -> str:
    """ArgoCD's health of one object: InferenceServices by their Ready condition."""
    if obj.get("kind") != "InferenceService":
        return "Healthy"
    status = obj.get("status") or {}
    ready = _ready(status)
    if ready == "True":
        return "Healthy"
    if ready == "False":
        return "Degraded"
    return "Progressing"


def _desired_part(obj: dict) -> dict:
    """What ArgoCD compares: everything but status and server-set metadata."""
    metadata = obj.get("metadata") or {}
    return {
        **{k: v for k, v in obj.items() if k not in ("metadata", "status")},
        "labels": metadata.get("labels") or {},
        "annotations": metadata.get("annotations") or {},
    }


def _without_times(status: dict) -> dict:
    """An Application status without its timestamps, to tell whether anything changed."""
    if not status:
        return {}
    trimmed = {k: v for k, v in status.items() if k != "reconciledAt"}
    operation = trimmed.get("operationState")
    if isinstance(operation, dict):
        trimmed["operationState"] = {k: v for k, v in operation.items() if k not in ("startedAt", "finishedAt")}
    return trimmed


# --- Repository sources ------------------------------------------------------------------------------


def directory_source(root: str | Path, revision: str = "local") -> RepositorySource:
    """The files under a directory (e.g. examples/gitops) as the default branch."""
    root = Path(root)

    def read() -> tuple[str, dict[str, bytes]]:
        files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
        return revision, files

    return read


def snapshot_source() -> RepositorySource:
    """The portal's repository snapshot (its `apps/` folders, Kyverno policies and namespace
    LimitRanges) at the snapshot's commit.

    Needs Django set up; imported lazily so the sandbox runs without it otherwise.
    """

    def read() -> tuple[str, dict[str, bytes]]:
        from portal import snapshot

        current = snapshot.current()
        paths = [
            *snapshot.paths("apps/**", current),
            *snapshot.paths(f"{POLICY_FOLDER}/**", current),
            *snapshot.paths("infrastructure/namespaces/**", current),  # LimitRanges, for OpenCost
        ]
        return current.commit_sha, snapshot.read_many(paths, current)

    return read

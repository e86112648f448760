"""The simulated ArgoCD, KServe and quota controllers, seen through the real `kubernetes` client."""

from __future__ import annotations

import pytest
from kubernetes.client import ApiException

from portal.testing import wait_for
from sandbox.controllers import Controllers, storage_problem
from sandbox.errors import ApiError
from sandbox.tests.conftest import APPLICATION, ISVC

HEAD = "9f2c4e1b7a3d5c6e8f0a1b2c3d4e5f6a7b8c9d0e"


def endpoint(name: str, storage_uri: str = "gs://kfserving-examples/models/sklearn/1.0/model", cpu: str = "500m") -> bytes:
    return f"""apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
  namespace: default
  labels: {{owner: fraud-detection, cost-center: cc-fraud}}
spec:
  predictor:
    model:
      modelFormat: {{name: sklearn}}
      storageUri: "{storage_uri}"
      resources:
        requests: {{cpu: {cpu}, memory: 512Mi}}
        limits: {{cpu: "1", memory: 1Gi}}
""".encode()


CATALOG_INFO = b"""apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: fraud-scorer}
spec: {type: model-endpoint, owner: fraud-detection, lifecycle: production}
"""


class Repository:
    """A default branch the test can change: (head, files) as the generator reads it."""

    def __init__(self, files: dict[str, bytes], head: str = HEAD):
        self.files, self.head = dict(files), head

    def __call__(self):
        return self.head, dict(self.files)


@pytest.fixture
def repository() -> Repository:
    return Repository({
        "apps/fraud-scorer/inference-service.yaml": endpoint("fraud-scorer"),
        "apps/fraud-scorer/catalog-info.yaml": CATALOG_INFO,
        "infrastructure/namespaces/default/resource-quota.yaml": b"kind: ResourceQuota",  # not under apps/
    })


@pytest.fixture
def controllers(sandbox, repository):
    with Controllers(sandbox.store, repository, tick=0.05) as running:
        yield running


def application(custom, name):
    try:
        return custom.get_namespaced_custom_object(*APPLICATION[:2], "argocd", APPLICATION[2], name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def status_of(custom, name):
    app = application(custom, name) or {}
    status = app.get("status") or {}
    return (status.get("sync") or {}).get("status"), (status.get("health") or {}).get("status")


def isvc_of(custom, name):
    return custom.get_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], name)


def ready(custom, name) -> str | None:
    try:
        conditions = (isvc_of(custom, name).get("status") or {}).get("conditions") or []
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return next((c["status"] for c in conditions if c["type"] == "Ready"), None)


def test_an_application_per_apps_folder_synced_to_the_head_then_healthy(sandbox, custom, controllers):
    wait_for(lambda: status_of(custom, "fraud-scorer") == ("Synced", "Healthy"), 10, message="Healthy")
    app = application(custom, "fraud-scorer")

    assert app["metadata"]["namespace"] == "argocd"
    assert app["spec"]["source"]["path"] == "apps/fraud-scorer"
    assert app["status"]["sync"]["revision"] == HEAD
    assert app["status"]["operationState"]["phase"] == "Succeeded"
    # The Backstage document is not a cluster object: only the InferenceService was applied.
    assert [(r["kind"], r["name"]) for r in app["status"]["resources"]] == [("InferenceService", "fraud-scorer")]
    # Progressing came first, then Healthy (seen in the store's history of the Application).
    healths = [
        (e.object.get("status") or {}).get("health", {}).get("status")
        for e in sandbox.store._history
        if e.resource.kind == "Application"
    ]
    assert healths.index("Progressing") < healths.index("Healthy")


def test_inference_service_goes_ready_with_its_url(custom, controllers):
    wait_for(lambda: ready(custom, "fraud-scorer") == "True", 10, message="Ready")
    status = isvc_of(custom, "fraud-scorer")["status"]

    assert status["url"] == "http://fraud-scorer.default.example.com"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "IngressReady": "True", "PredictorReady": "True", "Ready": "True",
    }


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("gs://kfserving-examples/missing/model", "RuntimeError: Failed to fetch model. No model found in /mnt/models."),
        ("ftp://models.example.com/iris", "Exception: Cannot recognize storage type for ftp://models.example.com/iris"),
    ],
)
def test_model_that_cannot_load_fails_with_kserves_message(custom, controllers, repository, uri, message):
    repository.files["apps/broken/inference-service.yaml"] = endpoint("broken", uri)

    wait_for(lambda: status_of(custom, "broken") == ("Synced", "Degraded"), 10, message="Degraded")
    status = isvc_of(custom, "broken")["status"]

    predictor = next(c for c in status["conditions"] if c["type"] == "PredictorReady")
    assert (predictor["status"], predictor["reason"]) == ("False", "ModelLoadFailed")
    assert predictor["message"].startswith(message)
    assert status["modelStatus"]["lastFailureInfo"]["reason"] == "ModelLoadFailed"
    assert "url" not in status


def test_storage_rules(tmp_path):
    model = tmp_path / "model.joblib"
    model.write_bytes(b"model")

    assert storage_problem("gs://kfserving-examples/models/sklearn/1.0/model") is None
    assert storage_problem("pvc://models/iris") is None
    assert storage_problem(f"file://{model}") is None
    assert storage_problem(f"file://{tmp_path}/absent") is not None
    assert storage_problem("gs://other-bucket/model") is not None


def test_folder_removed_prunes_the_application_and_its_objects(custom, controllers, repository):
    wait_for(lambda: status_of(custom, "fraud-scorer") == ("Synced", "Healthy"), 10, message="Healthy")

    repository.files = {p: c for p, c in repository.files.items() if not p.startswith("apps/fraud-scorer/")}
    repository.head = "1" * 40
    controllers._wake.set()

    wait_for(lambda: application(custom, "fraud-scorer") is None, 10, message="the Application pruned")
    with pytest.raises(ApiException) as gone:
        isvc_of(custom, "fraud-scorer")
    assert gone.value.status == 404


def test_deleted_object_is_put_back_and_drift_undone(sandbox, custom, controllers):
    wait_for(lambda: ready(custom, "fraud-scorer") == "True", 10, message="Ready")

    custom.delete_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "fraud-scorer")
    wait_for(lambda: ready(custom, "fraud-scorer") == "True", 10, message="Ready again after the delete")

    live = isvc_of(custom, "fraud-scorer")
    live["spec"]["predictor"]["minReplicas"] = 3
    custom.replace_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "fraud-scorer", live)
    wait_for(lambda: "minReplicas" not in isvc_of(custom, "fraud-scorer")["spec"]["predictor"], 10, message="self-heal")

    syncs = [
        (e.object.get("status") or {}).get("sync", {}).get("status")
        for e in sandbox.store._history
        if e.resource.kind == "Application"
    ]
    assert [s for i, s in enumerate(syncs) if i == 0 or syncs[i - 1] != s][-3:] == ["Synced", "OutOfSync", "Synced"]
    assert application(custom, "fraud-scorer")["status"]["sync"]["revision"] == HEAD


def test_admission_refusal_shows_as_a_failed_sync(sandbox, custom, repository):
    def kyverno(request):
        if request.resource.kind == "InferenceService" and "cost-center" not in (request.object["metadata"].get("labels") or {}):
            raise ApiError(400, "BadRequest", 'admission webhook "validate.kyverno.svc-fail" denied the request: cost-center is required')

    sandbox.store.admission.append(kyverno)
    repository.files["apps/unlabelled/inference-service.yaml"] = endpoint("unlabelled").replace(
        b"labels: {owner: fraud-detection, cost-center: cc-fraud}", b"labels: {owner: fraud-detection}"
    )
    controllers = Controllers(sandbox.store, repository)
    controllers.settle()

    app = application(custom, "unlabelled")
    assert (app["status"]["sync"]["status"], app["status"]["health"]["status"]) == ("OutOfSync", "Missing")
    assert app["status"]["operationState"]["phase"] == "Failed"
    assert "cost-center is required" in app["status"]["conditions"][0]["message"]


def test_quota_usage_is_computed_from_what_runs(sandbox, core, repository):
    repository.files["apps/second/inference-service.yaml"] = endpoint("second", cpu="1500m")
    sandbox.store.put({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "default-namespace-quota", "namespace": "default"},
        "spec": {"hard": {"requests.cpu": "4", "requests.memory": "8Gi", "limits.cpu": "8", "pods": "20",
                          "count/inferenceservices.serving.kserve.io": "5"}},
    })
    Controllers(sandbox.store, repository).settle()

    quota = core.read_namespaced_resource_quota("default-namespace-quota", "default")

    assert quota.status.hard["requests.cpu"] == "4"
    assert quota.status.used == {
        "requests.cpu": "2", "requests.memory": "1Gi", "limits.cpu": "2", "pods": "2",
        "count/inferenceservices.serving.kserve.io": "2",
    }


def test_a_settled_cluster_stays_still(sandbox, repository):
    controllers = Controllers(sandbox.store, repository)
    controllers.settle()
    revision = sandbox.store.revision

    controllers.reconcile(passes=3)

    assert sandbox.store.revision == revision

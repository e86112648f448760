"""Every status example from the reference platform parses into words a developer can act on."""

from __future__ import annotations

import json

import pytest
import yaml

from deployments import argocd, kserve
from portal.testing import FIXTURES

EXAMPLES = FIXTURES / "status-examples"


def applications(name: str) -> list[argocd.Application]:
    return [argocd.parse(doc) for doc in yaml.safe_load_all((EXAMPLES / name).read_text()) if doc]


def test_synced_healthy_application_names_its_revision():
    (app,) = applications("argocd-application-synced-healthy-full.yaml")

    assert app.sync_status == "Synced"
    assert app.health_status == "Healthy"
    assert app.operation_phase == "Succeeded"
    assert argocd.in_words(app).startswith(f"Synced at {app.revision[:7]}; Healthy.")


def test_application_variants_in_words():
    synced, deleting, warned, running, finished = applications("argocd-application-status-variants.yaml")

    assert argocd.in_words(synced) == "Synced; Healthy."
    assert argocd.in_words(deleting) == "ArgoCD is deleting the app."
    assert argocd.in_words(warned).startswith("The cluster differs from Git (OutOfSync)")
    assert [c.type for c in warned.conditions] == ["OrphanedResourceWarning", "ExcludedResourceWarning", "ExcludedResourceWarning"]
    assert argocd.in_words(running) == "ArgoCD is syncing the app."
    assert argocd.in_words(finished) == "Synced; Healthy."


def test_sync_refused_by_kyverno_names_the_policy_and_the_fix():
    (app,) = applications("argocd-application-missing-syncfailed.AUTHORED.yaml")

    words = argocd.in_words(app)

    assert app.health_status == "Missing"
    assert app.operation_phase == "Failed"
    assert words.startswith("ArgoCD cannot apply the app: one or more objects failed to apply")
    assert "require-standard-labels-inferenceservice" in words
    assert "Fix: the guardrails refused it" in words


def test_comparison_error_in_words():
    app = argocd.parse({
        "metadata": {"name": "fraud-scorer", "namespace": "argocd"},
        "spec": {"source": {"path": "apps/fraud-scorer"}},
        "status": {
            "sync": {"status": "Unknown"},
            "health": {"status": "Healthy"},
            "conditions": [{"type": "ComparisonError", "message": "failed to unmarshal inference-service.yaml: yaml: line 3: mapping values are not allowed in this context"}],
        },
    })

    words = argocd.in_words(app)

    assert words.startswith("ArgoCD cannot render the app: ComparisonError failed to unmarshal inference-service.yaml")
    assert "Fix: check the manifests under apps/fraud-scorer" in words


def test_ready_inference_service_gives_its_url():
    isvc = kserve.parse(json.loads((EXAMPLES / "kserve-inferenceservice-ready.json").read_text()))

    assert isvc.ready == "True"
    assert isvc.address == "http://flower-sample.kserve-test.svc.cluster.local/v1/models/flower-sample:predict"
    assert [t["percent"] for t in isvc.traffic] == [100]
    assert [c.type for c in isvc.conditions] == ["IngressReady", "PredictorConfigurationReady", "PredictorReady", "PredictorRouteReady", "Ready"]
    assert kserve.in_words(isvc) == (
        "Ready at http://flower-sample.kserve-test.example.com (revision flower-sample-predictor-default-fg4d6)."
    )


def test_canary_traffic_split_is_kept():
    predictor = json.loads((EXAMPLES / "kserve-inferenceservice-components-predictor-canary.json").read_text())
    isvc = kserve.parse({
        "metadata": {"name": "sklearn-iris", "namespace": "kserve-test"},
        "status": {"components": {"predictor": predictor}, "conditions": [{"type": "Ready", "status": "True"}]},
    })

    assert [(t["tag"], t["percent"]) for t in isvc.traffic] == [("prev", 90), ("latest", 10)]
    assert isvc.latest_ready_revision == "sklearn-iris-predictor-default-00003"


def test_model_that_cannot_load_is_explained_with_the_fix():
    isvc = kserve.parse(yaml.safe_load((EXAMPLES / "kserve-inferenceservice-not-ready.AUTHORED.yaml").read_text()))

    words = kserve.in_words(isvc)

    assert isvc.ready == "False"
    assert isvc.url == ""
    assert words == (
        "KServe cannot download the model: RuntimeError: Failed to fetch model. No model found in /mnt/models. "
        "Fix: point storageUri (gs://kfserving-examples/models/sklearn/1.0/model-does-not-exist) at a model "
        "that exists and that the cluster can read."
    )


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([], "KServe has not reported on it yet."),
        ([{"type": "Ready", "status": "Unknown"}], "KServe is starting the model server (Progressing)."),
        (
            [
                {"type": "PredictorReady", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"},
                {"type": "Ready", "status": "False"},
            ],
            "Not ready: PredictorReady ProgressDeadlineExceeded (timed out). Fix: read the predictor pod's logs; "
            "the model server keeps failing to start.",
        ),
    ],
)
def test_inference_service_states_in_words(conditions, expected):
    isvc = kserve.parse({"metadata": {"name": "x", "namespace": "default"}, "status": {"conditions": conditions}})

    assert kserve.in_words(isvc) == expected

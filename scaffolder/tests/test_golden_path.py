"""The golden-path template `model-endpoint`: it loads, its form explains itself, and it renders
exactly the InferenceService and Component the platform expects, passing its own policies."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from catalog.choices import EntityStatus
from catalog.models import Entity
from catalog.tests.conftest import demo_catalog  # noqa: F401 - fixture
from portal.testing import ROOT
from scaffolder import parameters, services

pytestmark = pytest.mark.django_db

POLICIES = ROOT / "examples/gitops/infrastructure/kyverno/policies"

SAMPLE = {
    "name": "fraud-model",
    "description": "Scores card payments for fraud",
    "modelFormat": "xgboost",
    "storageUri": "s3://models/fraud/v3",
    "minReplicas": 0,
    "maxReplicas": 4,
    "cpuRequest": "500m",
    "cpuLimit": "1",
    "memoryRequest": "1Gi",
    "memoryLimit": "2Gi",
    "gpu": 0,
    "owner": "group:default/fraud-detection",
}

EXPECTED_INFERENCE_SERVICE = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {
        "name": "fraud-model",
        "namespace": "default",
        "labels": {"owner": "fraud-detection", "cost-center": "cc-fraud", "backstage.io/kubernetes-id": "fraud-model"},
        "annotations": {
            "neuroscale.io/catalog-entity": "component:default/fraud-model",
            "neuroscale.io/owner": "group:default/fraud-detection",
            "neuroscale.io/template": "template:default/model-endpoint",
        },
    },
    "spec": {
        "predictor": {
            "minReplicas": 0,
            "maxReplicas": 4,
            "model": {
                "modelFormat": {"name": "xgboost"},
                "storageUri": "s3://models/fraud/v3",
                "resources": {
                    "requests": {"cpu": "500m", "memory": "1Gi"},
                    "limits": {"cpu": "1", "memory": "2Gi"},
                },
            },
        }
    },
}

EXPECTED_COMPONENT = {
    "apiVersion": "backstage.io/v1alpha1",
    "kind": "Component",
    "metadata": {
        "name": "fraud-model",
        "description": "Scores card payments for fraud",
        "labels": {"cost-center": "cc-fraud"},
        "annotations": {
            "argocd/app-name": "fraud-model",
            "backstage.io/kubernetes-id": "fraud-model",
            "backstage.io/kubernetes-namespace": "default",
            "neuroscale.io/gitops-path": "apps/fraud-model",
            "neuroscale.io/inference-service": "default/fraud-model",
        },
        "tags": ["kserve", "xgboost"],
    },
    "spec": {"type": "model-endpoint", "lifecycle": "experimental", "owner": "group:default/fraud-detection"},
}


@pytest.fixture
def template(dana, demo_catalog) -> Entity:  # noqa: F811 - personas first: ingestion rebuilds their memberships
    return Entity.objects.get(ref="template:default/model-endpoint")


def render(template: Entity, user, **changes) -> services.DryRunResult:
    result = services.dry_run(template.document, {**SAMPLE, **changes}, user=user, template_entity=template)
    assert not result.failed, result.log
    return result


def documents(result: services.DryRunResult, name: str = "fraud-model") -> tuple[dict, dict]:
    files = result.files
    return (
        yaml.safe_load(files[f"apps/{name}/inference-service.yaml"]),
        yaml.safe_load(files[f"apps/{name}/catalog-info.yaml"]),
    )


def guardrails(*resources) -> subprocess.CompletedProcess:
    command = [sys.executable, "manage.py", "guardrails", "check", "--policy", str(POLICIES)]
    for resource in resources:
        command += ["--resource", str(resource)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_both_templates_ingest_from_the_demo_repository_without_errors(demo_catalog):  # noqa: F811
    assert [report.errors for report in demo_catalog] == [[]]
    golden = Entity.objects.get(ref="template:default/model-endpoint")
    assert (golden.status, golden.errors, golden.title) == (EntityStatus.ACTIVE, [], "KServe model endpoint")
    assert golden.owner_ref == "group:default/platform-team"
    assert golden.source == "templates/model-endpoint/template.yaml"
    assert set(golden.tags) >= {"kserve", "model-endpoint"}
    reference = Entity.objects.get(ref="template:default/kserve-model-endpoint")
    assert (reference.status, reference.errors) == (EntityStatus.ACTIVE, [])


def test_the_form_has_four_pages_in_order(template):
    schema = parameters.parameter_schema(template.document)
    assert [step["title"] for step in schema["steps"]] == ["Endpoint", "Model", "Resources", "Ownership"]
    endpoint = schema["steps"][0]["schema"]["properties"]["name"]
    assert endpoint["ui:autofocus"] is True and endpoint["maxLength"] == 40
    ownership = schema["steps"][3]["schema"]
    assert ownership["properties"]["owner"]["ui:field"] == "OwnerPicker"
    assert ownership["required"] == ["owner"]  # the cost centre may be left to the owner team


def test_good_values_validate(template):
    assert parameters.validate_values(template.document, SAMPLE) == []
    for uri in ("gs://b/m", "pvc://claim/models/x", "https://models.example/fraud.tar.gz", "hf://acme/fraud-bert"):
        assert parameters.validate_values(template.document, {**SAMPLE, "storageUri": uri}) == [], uri
    bigger = {**SAMPLE, "gpu": 2, "cpuLimit": "2.5", "memoryLimit": "16Gi", "runtime": "kserve-xgbserver",
              "runtimeVersion": "v0.14.0", "costCenter": "cc-fraud-research"}
    assert parameters.validate_values(template.document, bigger) == []


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("name", "Fraud_Model", "must be a lowercase DNS label"),
        ("name", "f" * 41, "at most 40 characters"),
        ("modelFormat", "caffe", "must be one of: scikit-learn, XGBoost"),
        ("storageUri", "ftp://models/x", "gs://bucket/path"),
        ("storageUri", "gs:// bucket", "gs://bucket/path"),
        ("runtimeVersion", "latest", "never latest"),
        ("minReplicas", -1, "must be at least 0"),
        ("maxReplicas", 0, "must be at least 1"),
        ("cpuRequest", "20 cores", "millicores (500m)"),
        ("memoryLimit", "2GB", "Mi or Gi"),
        ("gpu", 9, "must be at most 8"),
        ("costCenter", "finance", "cc-fraud"),
    ],
)
def test_bad_values_are_refused_in_words(template, field, value, words):
    errors = parameters.validate_values(template.document, {**SAMPLE, field: value})
    assert [error.field for error in errors] == [field]
    assert words in errors[0].message


def test_the_owner_and_a_name_are_required(template):
    values = {key: value for key, value in SAMPLE.items() if key not in ("name", "owner")}
    errors = parameters.validate_values(template.document, values)
    assert {(error.field, error.message, error.page) for error in errors} == {
        ("name", "is required", 0), ("owner", "is required", 3),
    }


def test_the_skeleton_renders_exactly_the_inference_service_and_the_component(template, dana):
    result = render(template, dana)
    assert sorted(result.files) == ["apps/fraud-model/catalog-info.yaml", "apps/fraud-model/inference-service.yaml"]
    inference_service, component = documents(result)
    assert inference_service == EXPECTED_INFERENCE_SERVICE
    assert component == EXPECTED_COMPONENT
    assert [(step["id"], step["status"]) for step in result.steps] == [
        ("owner", "completed"), ("render", "completed"), ("guardrails", "completed"),
        ("publish", "completed"), ("register", "completed"),
    ]
    assert [link["title"] for link in result.output["links"]] == ["Pull request", "Open in catalog"]
    assert result.output["links"][1]["entityRef"] == "component:default/fraud-model"


def test_gpus_runtime_and_an_explicit_cost_centre_are_rendered(template, dana):
    result = render(template, dana, gpu=2, runtime="kserve-xgbserver", runtimeVersion="1.7.6", costCenter="cc-research")
    inference_service, component = documents(result)
    model = inference_service["spec"]["predictor"]["model"]
    assert model["runtime"] == "kserve-xgbserver"
    assert model["runtimeVersion"] == "1.7.6"  # a string, even when it looks like a number
    assert model["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert inference_service["metadata"]["labels"]["cost-center"] == "cc-research"
    assert component["metadata"]["labels"]["cost-center"] == "cc-research"


@pytest.mark.parametrize("owner", ["group:default/search-ranking", "search-ranking", "Group:default/Search-Ranking"])
def test_labels_hold_the_group_name_never_an_entity_ref(template, dana, owner):
    inference_service, component = documents(render(template, dana, owner=owner))
    labels = inference_service["metadata"]["labels"]
    assert labels["owner"] == "search-ranking"
    assert labels["cost-center"] == "cc-search"  # the owner team's label, as the field was left empty
    for value in [*labels.values(), *component["metadata"]["labels"].values()]:
        assert ":" not in value and "/" not in value, value


def test_the_rendered_manifest_passes_the_platforms_kyverno_policies(template, dana, tmp_path):
    manifest = tmp_path / "inference-service.yaml"
    manifest.write_bytes(render(template, dana).files["apps/fraud-model/inference-service.yaml"])
    checked = guardrails(manifest)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "require-standard-labels-inferenceservice" in checked.stdout
    # The same check refuses a manifest without its cost centre, so a pass above means something.
    unlabelled = tmp_path / "unlabelled.yaml"
    document = yaml.safe_load(manifest.read_text())
    del document["metadata"]["labels"]["cost-center"]
    unlabelled.write_text(yaml.safe_dump(document))
    assert guardrails(unlabelled).returncode == 1


def test_the_dry_run_says_which_branch_and_entity_the_run_would_create(template, dana):
    log = [entry["body"]["message"] for entry in render(template, dana).log]
    assert "Would open a pull request from model-endpoint/fraud-model into main:" in log
    assert "  write apps/fraud-model/inference-service.yaml" in log
    assert any(line.startswith("Would register component:default/fraud-model") for line in log)

"""CRD schema check against KServe's real InferenceService CRD."""

from __future__ import annotations

import copy

import pytest

from deployments.guardrails.schema import CRDIndex, to_json_schema, validate
from portal.testing import FIXTURES
from portal.yamlsafe import load, load_all

CRD = FIXTURES / "crds" / "serving.kserve.io_inferenceservices.yaml"
POLICY = "schema/serving.kserve.io/InferenceService"


@pytest.fixture(scope="module")
def index() -> CRDIndex:
    return CRDIndex((str(CRD), doc) for doc in load_all(CRD.read_bytes(), max_bytes=1 << 25))


@pytest.fixture
def manifest() -> dict:
    return load(
        (FIXTURES / "neuroscale" / "apps" / "demo-iris-2" / "inference-service.yaml").read_bytes()
    )


def test_the_reference_manifest_conforms(index, manifest):
    [row] = validate(manifest, index, "apps/demo-iris-2/inference-service.yaml")
    assert (row.policy, row.rule, row.result) == (POLICY, "openAPIV3Schema", "pass")
    assert (row.kind, row.namespace, row.name) == ("InferenceService", "default", "demo-iris-2")


def test_storage_url_for_storage_uri_is_caught_with_its_path(index, manifest):
    model = manifest["spec"]["predictor"]["model"]
    model["storageUrl"] = model.pop("storageUri")
    [row] = validate(manifest, index)
    assert row.result == "fail"
    assert row.message == (
        "spec.predictor.model.storageUrl is not a field of InferenceService (did you mean storageUri?)"
    )
    assert row.path == "spec.predictor.model.storageUrl"


def test_int_or_string_quantities_take_both_and_nothing_else(index, manifest):
    resources = manifest["spec"]["predictor"]["model"]["resources"] = {
        "requests": {"cpu": 1, "memory": "2Gi"},
        "limits": {"cpu": "1500m", "memory": 2147483648},
    }
    assert validate(manifest, index)[0].result == "pass"
    resources["limits"]["cpu"] = ["2"]
    [row] = validate(manifest, index)
    assert row.result == "fail"
    assert row.path == "spec.predictor.model.resources.limits.cpu"


def test_wrong_types_and_unknown_top_level_fields_fail(index, manifest):
    bad = copy.deepcopy(manifest)
    bad["spec"]["predictor"]["minReplicas"] = "two"
    bad["spec"]["predicter"] = {}
    [row] = validate(bad, index)
    assert row.result == "fail"
    assert (
        "spec.predicter is not a field of InferenceService (did you mean predictor?)" in row.message
    )
    assert "spec.predictor.minReplicas: 'two' is not of type 'integer'" in row.message


def test_a_version_the_crd_does_not_serve_fails_naming_the_served_ones(index, manifest):
    manifest["apiVersion"] = "serving.kserve.io/v1alpha9"
    [row] = validate(manifest, index)
    assert row.result == "fail"
    assert (
        row.message
        == "serving.kserve.io/v1alpha9 is not served by the InferenceService CRD (served versions: v1beta1)"
    )


def test_kinds_without_a_crd_are_skipped_and_built_in_kinds_give_no_row(manifest):
    [row] = validate(manifest, CRDIndex())
    assert (
        row.result == "skip"
        and "no CustomResourceDefinition for InferenceService.serving.kserve.io" in row.message
    )
    assert (
        validate(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}, CRDIndex()
        )
        == []
    )


def test_openapi_extensions_become_json_schema():
    schema = to_json_schema(
        {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "free": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"a": {}},
                },
            },
        }
    )
    assert schema["additionalProperties"] is False
    assert schema["properties"]["port"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert schema["properties"]["note"]["type"] == ["string", "null"]
    assert "additionalProperties" not in schema["properties"]["free"]

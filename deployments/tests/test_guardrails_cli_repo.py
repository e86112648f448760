"""`guardrails check --repo`: the whole repository, with quota, LimitRange and schema rows."""

from __future__ import annotations

import io
import json
import shutil

import jsonschema
import pytest
from django.core.management import call_command

from deployments.guardrails.check import SCHEMA_PATH
from portal import snapshot
from portal.testing import FIXTURES, ROOT

CRD = str(FIXTURES / "crds" / "serving.kserve.io_inferenceservices.yaml")


def run(*args) -> tuple[int, dict | str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("guardrails", "check", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    text = out.getvalue()
    return code, (json.loads(text) if text.startswith("{") else text), err.getvalue()


@pytest.fixture
def checkout(tmp_path):
    path = tmp_path / "gitops"
    shutil.copytree(ROOT / "examples" / "gitops", path)
    return path


def test_the_demo_checkout_passes_with_every_kind_of_row(checkout):
    code, output, _ = run("--repo", str(checkout), "--crd", CRD)
    assert code == 0
    jsonschema.validate(output, json.loads(SCHEMA_PATH.read_text()))
    policies = {row["policy"] for row in output["results"]}
    assert {
        "require-standard-labels-inferenceservice",
        "schema/serving.kserve.io/InferenceService",
        "LimitRange/default-namespace-limits",
        "ResourceQuota/default-namespace-quota",
    } <= policies
    [count] = [
        r for r in output["results"] if r["rule"] == "count/inferenceservices.serving.kserve.io"
    ]
    assert count["resource"] == {
        "kind": "ResourceQuota",
        "namespace": "default",
        "name": "default-namespace-quota",
    }
    assert count["message"].startswith("4 InferenceServices of 5 allowed")
    assert output["summary"]["fail"] == 0


def test_a_violating_manifest_in_the_checkout_exits_1_naming_its_file(checkout):
    manifest = checkout / "apps" / "search-ranker" / "inference-service.yaml"
    manifest.write_text(
        manifest.read_text()
        .replace("    cost-center: cc-search\n", "")
        .replace("storageUri", "storageUrl")
    )
    code, output, _ = run("--repo", str(checkout), "--crd", CRD)
    assert code == 1
    failed = {
        (r["policy"], r["file"], r.get("path")) for r in output["results"] if r["result"] == "fail"
    }
    assert failed == {
        (
            "require-standard-labels-inferenceservice",
            "apps/search-ranker/inference-service.yaml",
            "metadata.labels.cost-center",
        ),
        (
            "schema/serving.kserve.io/InferenceService",
            "apps/search-ranker/inference-service.yaml",
            "spec.predictor.model.storageUrl",
        ),
    }


def test_six_inference_services_on_the_branch_exceed_the_quota(checkout):
    for name in ("fifth", "sixth"):
        (checkout / "apps" / name).mkdir()
        source = (checkout / "apps" / "fraud-scorer" / "inference-service.yaml").read_text()
        (checkout / "apps" / name / "inference-service.yaml").write_text(
            source.replace("fraud-scorer", name)
        )
    code, output, _ = run("--repo", str(checkout), "--format", "text")
    assert code == 1
    assert (
        "6 InferenceServices on the branch exceed the quota default-namespace-quota of 5" in output
    )


def test_a_malformed_file_in_the_checkout_is_an_error_row(checkout):
    (checkout / "apps" / "demo-iris-2" / "inference-service.yaml").write_text("kind: [\n")
    code, output, _ = run("--repo", str(checkout))
    assert code == 1
    [error] = [r for r in output["results"] if r["result"] == "error"]
    assert error["file"] == "apps/demo-iris-2/inference-service.yaml"


@pytest.mark.django_db
def test_repo_without_a_directory_checks_the_snapshot(gitops_repo):
    snapshot.refresh()
    code, output, _ = run("--repo")
    assert code == 0
    assert {
        r["resource"]["name"]
        for r in output["results"]
        if r["resource"]["kind"] == "InferenceService"
    } == {
        "sklearn-iris",
        "demo-iris-2",
        "fraud-scorer",
        "search-ranker",
    }


def test_unusable_input_exits_2_with_the_reason(tmp_path):
    assert run("--repo", str(tmp_path / "missing"))[0::2] == (
        2,
        f"guardrails: {tmp_path / 'missing'}: no such directory\n",
    )
    code, _, err = run("--repo", str(tmp_path), "--policy", str(tmp_path))
    assert code == 2 and "leave out --policy" in err
    code, _, err = run("--policy", str(tmp_path))
    assert code == 2 and "give --policy and --resource" in err


def test_policy_and_resource_with_namespaces_and_crds_add_rows():
    code, output, _ = run(
        "--policy",
        str(FIXTURES / "neuroscale" / "infrastructure" / "kyverno" / "policies"),
        "--resource",
        str(FIXTURES / "neuroscale" / "apps"),
        "--namespaces",
        str(FIXTURES / "neuroscale" / "infrastructure" / "namespaces"),
        "--crd",
        CRD,
    )
    assert code == 0
    [count] = [
        r
        for r in output["results"]
        if r["rule"] == "count/inferenceservices.serving.kserve.io"
        and r["resource"]["name"] == "demo-iris-2"
    ]
    assert count["message"].startswith("2 InferenceServices of 5 allowed")
    assert "estimated from the resources given" in count["message"]
    assert sum(r["policy"].startswith("schema/") for r in output["results"]) == 2

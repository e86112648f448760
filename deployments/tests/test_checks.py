"""evaluate_change on the demo repository's snapshot: what the developer sees in the form."""

from __future__ import annotations

import pytest

from catalog.tests.conftest import commit  # noqa: F401 - fixture
from deployments.guardrails.checks import evaluate_change
from portal import snapshot
from portal.testing import FIXTURES, ROOT
from scaffolder.expressions import render
from scaffolder.tests.task_helpers import GOLDEN_VALUES

SKELETON = (
    ROOT
    / "examples"
    / "gitops"
    / "templates"
    / "model-endpoint"
    / "skeleton"
    / "apps"
    / "${{ values.name }}"
)
#: The golden-path form's values, as the template hands them to its skeleton.
VALUES = {
    **GOLDEN_VALUES,
    "name": "churn-model",
    "owner": "fraud-detection",
    "ownerRef": "group:default/fraud-detection",
}
MANIFEST = "apps/churn-model/inference-service.yaml"


@pytest.fixture
def repository(gitops_repo, db, settings):
    settings.PORTAL_CRD_PATHS = [
        str(FIXTURES / "crds" / "serving.kserve.io_inferenceservices.yaml")
    ]
    snapshot.refresh()


def rendered(**values) -> dict[str, bytes]:
    context = {"values": {**VALUES, **values}}
    files = {}
    for name in ("inference-service.yaml", "catalog-info.yaml"):
        text = render((SKELETON / name).read_text(), context, as_text=True).value
        files[f"apps/churn-model/{name}"] = text.encode()
    return files


def verdicts(report) -> dict[tuple[str, str], str]:
    return {(row.policy, row.rule): row.result for row in report.rows if row.file == MANIFEST}


def test_the_golden_path_manifest_passes_every_guardrail(repository):
    report = evaluate_change(rendered())
    assert not report.failed, report.to_text()
    assert report.commit == snapshot.current().commit_sha
    found = verdicts(report)
    assert (
        found[("require-standard-labels-inferenceservice", "check-owner-and-cost-center-on-isvc")]
        == "pass"
    )
    assert found[("schema/serving.kserve.io/InferenceService", "openAPIV3Schema")] == "pass"
    assert (
        found[
            ("ResourceQuota/default-namespace-quota", "count/inferenceservices.serving.kserve.io")
        ]
        == "pass"
    )
    assert found[("LimitRange/default-namespace-limits", "max.cpu")] == "pass"
    assert report.summary["fail"] == report.summary["error"] == 0


def test_a_manifest_without_a_cost_center_fails_naming_the_policy_and_the_field(repository):
    report = evaluate_change(rendered(costCenter=""))
    assert report.failed
    [failed] = [row for row in report.rows if row.result == "fail"]
    assert failed.policy == "require-standard-labels-inferenceservice"
    assert failed.rule == "check-owner-and-cost-center-on-isvc"
    assert (failed.kind, failed.namespace, failed.name) == (
        "InferenceService",
        "default",
        "churn-model",
    )
    assert "must set metadata.labels.owner and metadata.labels.cost-center" in failed.message
    assert (failed.file, failed.path) == (MANIFEST, "metadata.labels.cost-center")


def test_a_new_commit_on_the_branch_is_seen_by_the_next_check(repository, commit):  # noqa: F811
    assert not evaluate_change(rendered()).failed
    fifth = (
        ROOT / "examples" / "gitops" / "apps" / "fraud-scorer" / "inference-service.yaml"
    ).read_text()
    commit({"apps/fifth/inference-service.yaml": fifth.replace("fraud-scorer", "fifth")})
    report = evaluate_change(rendered())
    [denied] = [row for row in report.rows if row.result == "fail"]
    assert denied.policy == "ResourceQuota/default-namespace-quota"
    assert denied.message.startswith(
        "6 InferenceServices would exceed the quota default-namespace-quota of 5"
    )


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"kind: InferenceService\nmetadata: [unclosed\n", "apps/x/bad.yaml: line 3"),
        (b"kind: A\nkind: B\n", "found duplicate key 'kind' (first defined on line 1)"),
        (b"x" * 2_000_000, "over the limit of"),
    ],
)
def test_unusable_files_are_error_rows_naming_the_file(repository, content, words):
    report = evaluate_change({"apps/x/bad.yaml": content})
    [error] = report.rows
    assert (error.result, error.file) == ("error", "apps/x/bad.yaml")
    assert words in error.message
    assert report.failed

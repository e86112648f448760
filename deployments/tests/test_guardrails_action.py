"""`neuroscale:guardrails`: a violation fails the step in words, a warning passes visibly, and the
golden path's pull request carries the verdict table."""

from __future__ import annotations

import pytest

from catalog.tests.conftest import commit  # noqa: F401 - fixture
from deployments.models import PullRequest
from scaffolder import runner, services
from scaffolder.actions import registry
from scaffolder.actions.registry import ActionError
from scaffolder.choices import StepStatus, TaskStatus
from scaffolder.tests import task_helpers
from scaffolder.tests.action_context import run
from scaffolder.tests.task_helpers import (
    GOLDEN_TEMPLATE,
    GOLDEN_VALUES,
    messages,
    step_statuses,
    template,
)
from scaffolder.workspace import temporary_workspace, write_file

pytestmark = pytest.mark.django_db
task_catalog = task_helpers.task_catalog  # fixture

COMPLIANT = b"""\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: churn-model
  namespace: default
  labels: {owner: fraud-detection, cost-center: cc-fraud}
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      storageUri: gs://models/churn
      resources:
        requests: {cpu: 100m, memory: 128Mi}
        limits: {cpu: 200m, memory: 256Mi}
"""
UNLABELLED = COMPLIANT.replace(b"  labels: {owner: fraud-detection, cost-center: cc-fraud}\n", b"")
AUDIT_POLICY = """\
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: recommend-description
spec:
  validationFailureAction: Audit
  rules:
    - name: check-description-annotation
      match:
        any:
          - resources:
              kinds: [InferenceService]
      validate:
        message: InferenceServices should carry a neuroscale.io/description annotation.
        pattern:
          metadata:
            annotations:
              neuroscale.io/description: "?*"
"""


@pytest.fixture
def workspace():
    with temporary_workspace("test") as folder:
        yield folder


@pytest.fixture
def repository(gitops_repo):
    from portal import snapshot

    snapshot.refresh()
    return gitops_repo


def test_a_violation_fails_the_step_naming_the_policy_the_resource_and_why(repository, workspace):
    write_file(workspace, "apps/churn-model/inference-service.yaml", UNLABELLED)

    with pytest.raises(ActionError) as raised:
        run(workspace, "neuroscale:guardrails", {})

    message = str(raised.value)
    assert message.startswith("The guardrails refuse this change (1 fail,")
    assert ("require-standard-labels-inferenceservice/check-owner-and-cost-center-on-isvc on InferenceService "
            "default/churn-model: validation error: InferenceService resources must set metadata.labels.owner") in message


def test_outputs_say_what_passed_and_carry_a_markdown_table(repository, workspace):
    write_file(workspace, "apps/churn-model/inference-service.yaml", COMPLIANT)
    write_file(workspace, "README.md", b"# not a manifest\n")

    ctx = run(workspace, "neuroscale:guardrails", {})

    assert ctx.outputs["passed"] is True
    assert ctx.outputs["summary"]["fail"] == ctx.outputs["summary"]["error"] == 0
    table = ctx.outputs["table"].splitlines()
    assert table[2:4] == ["| Result | Policy | Rule | Resource | Message |", "|---|---|---|---|---|"]
    assert ("| ✅ pass | require-standard-labels-inferenceservice | check-owner-and-cost-center-on-isvc "
            "| InferenceService default/churn-model |") in ctx.outputs["table"]
    assert {row["resource"]["name"] for row in ctx.outputs["rows"]} == {"churn-model"}
    assert ctx.logger.lines[0] == "Checking 1 file against the repository's guardrails"


def test_an_audit_policy_lets_the_change_through_with_a_warning_line(repository, workspace, commit):  # noqa: F811
    commit({"infrastructure/kyverno/policies/recommend-description.yaml": AUDIT_POLICY}, "An Audit policy")
    write_file(workspace, "apps/churn-model/inference-service.yaml", COMPLIANT)

    ctx = run(workspace, "neuroscale:guardrails", {})

    assert ctx.outputs["passed"] is True
    assert ctx.outputs["summary"]["warn"] == 1
    warnings = [line for line in ctx.logger.lines if line.startswith("Warning:")]
    assert warnings == [
        "Warning: recommend-description/check-description-annotation on InferenceService default/churn-model: "
        "validation error: InferenceServices should carry a neuroscale.io/description annotation. rule "
        "check-description-annotation failed at path /metadata/annotations/"
    ]
    assert "| ⚠️ warning | recommend-description | check-description-annotation |" in ctx.outputs["table"]
    assert ctx.outputs["table"].index("⚠️ warning") < ctx.outputs["table"].index("✅ pass")


def test_files_choose_what_is_checked_and_a_pattern_matching_nothing_is_refused(repository, workspace):
    write_file(workspace, "apps/churn-model/inference-service.yaml", COMPLIANT)
    write_file(workspace, "apps/other/inference-service.yaml", UNLABELLED)

    ctx = run(workspace, "neuroscale:guardrails", {"files": ["apps/churn-model/**"]})
    assert ctx.outputs["passed"] is True

    with pytest.raises(ActionError, match="No file in the workspace matches files: apps/missing/\\*\\*"):
        run(workspace, "neuroscale:guardrails", {"files": ["apps/missing/**"]})


def test_the_action_is_listed_with_its_schemas_and_runs_in_a_dry_run():
    described = registry.get("neuroscale:guardrails").describe()
    assert registry.get("neuroscale:guardrails").supports_dry_run
    assert set(described["schema"]["output"]["properties"]) == {"passed", "summary", "rows", "table"}


def test_the_golden_path_checks_before_publishing_and_the_pull_request_carries_the_verdicts(task_catalog, dana):
    task = services.create_task(template(GOLDEN_TEMPLATE), dict(GOLDEN_VALUES), user=dana)

    assert runner.run(task.pk) == TaskStatus.COMPLETED, messages(task)

    steps = step_statuses(task)
    assert list(steps) == ["owner", "render", "guardrails", "publish", "register"]
    assert steps["guardrails"] == StepStatus.COMPLETED
    body = PullRequest.objects.get(task=task.uuid).body
    assert "### Guardrails" in body
    assert "| Result | Policy | Rule | Resource | Message |" in body
    assert ("| ✅ pass | require-standard-labels-inferenceservice | check-owner-and-cost-center-on-isvc "
            "| InferenceService default/card-fraud |") in body
    assert "❌" not in body


def test_the_golden_path_stops_before_publishing_when_the_quota_refuses(task_catalog, dana):
    task = services.create_task(template(GOLDEN_TEMPLATE), {**GOLDEN_VALUES, "cpuRequest": "20", "cpuLimit": "20"},
                                user=dana)

    assert runner.run(task.pk) == TaskStatus.FAILED

    steps = step_statuses(task)
    assert steps["guardrails"] == StepStatus.FAILED and steps["publish"] == StepStatus.OPEN
    assert not PullRequest.objects.filter(task=task.uuid).exists()
    failure = next(line for line in messages(task) if line.startswith("The guardrails refuse this change"))
    assert "requests.cpu would total 20.4, over the quota default-namespace-quota of 4 by 16.4" in failure

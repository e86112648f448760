"""The background guardrail scan: after the default branch moves (or on demand) a worker checks
every app on the snapshot and stores which rule each one breaks."""

from __future__ import annotations

import tempfile
from pathlib import Path

import git
import pytest

from catalog.tests.conftest import AUTHOR, commit, write_files  # noqa: F401 - fixture
from deployments import tasks
from deployments.choices import GuardrailScanStatus
from deployments.guardrails import scan
from deployments.models import GuardrailFinding, GuardrailScan
from portal import snapshot
from portal.tasks import refresh_snapshot
from portal.testing import wait_for

pytestmark = pytest.mark.django_db

UNLABELLED = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: rogue-model
  namespace: default
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      storageUri: gs://models/rogue
      resources:
        requests: {cpu: 100m, memory: 128Mi}
        limits: {cpu: 200m, memory: 256Mi}
"""


def push(repo_path, files: dict[str, str], message: str) -> str:
    """Commit to the repository's default branch without refreshing the snapshot: the refresh
    task does that, as after a merge."""
    with tempfile.TemporaryDirectory() as tmp:
        clone = git.Repo.clone_from(str(repo_path), tmp, branch="main")
        write_files(Path(tmp), files)
        clone.git.add(A=True)
        clone.index.commit(message, author=AUTHOR, committer=AUTHOR)
        clone.remote().push("main:main")
        return clone.head.commit.hexsha


@pytest.fixture
def repository(gitops_repo):
    snapshot.refresh()
    return gitops_repo


def findings(scan_row: GuardrailScan) -> list[tuple]:
    return list(scan_row.findings.filter(result="fail").values_list("app_path", "policy", "rule", "name"))


def test_a_violating_app_committed_to_the_repository_is_found(repository, django_capture_on_commit_callbacks):
    sha = push(repository, {"apps/rogue-model/inference-service.yaml": UNLABELLED}, "An app without labels")
    with django_capture_on_commit_callbacks() as callbacks:
        refresh_snapshot()  # the snapshot moved: a scan is queued
    queued = GuardrailScan.objects.get()
    assert queued.status == GuardrailScanStatus.QUEUED

    finished = scan.run_scan(queued.pk)

    assert finished.status == GuardrailScanStatus.DONE and finished.commit_sha == sha
    assert ("apps/rogue-model", "require-standard-labels-inferenceservice", "check-owner-and-cost-center-on-isvc",
            "rogue-model") in findings(finished)
    finding = finished.findings.get(app_path="apps/rogue-model", policy="require-standard-labels-inferenceservice")
    assert finding.file_path == "apps/rogue-model/inference-service.yaml"
    assert "must set metadata.labels.owner and metadata.labels.cost-center" in finding.message
    assert finished.summary["fail"] >= 1 and finished.files_checked >= 5
    assert not finished.findings.filter(result="pass").exists()
    assert len(callbacks) == 1  # the scan is enqueued once the transaction commits


def test_a_clean_repository_has_no_refusals(repository):
    finished = scan.run_scan(scan.request_scan().pk)

    assert finished.status == GuardrailScanStatus.DONE
    assert not finished.findings.filter(result__in=("fail", "error")).exists()


def test_a_scan_runs_once_even_when_its_message_arrives_twice(repository):
    queued = scan.request_scan()
    assert scan.run_scan(queued.pk) is not None
    assert scan.run_scan(queued.pk) is None
    assert GuardrailScan.objects.get().status == GuardrailScanStatus.DONE


def test_asking_again_while_a_scan_waits_joins_it(repository):
    first = scan.request_scan(reason="manual")
    assert scan.request_scan(reason="manual") == first
    assert GuardrailScan.objects.count() == 1


def test_a_scan_that_cannot_run_is_marked_failed_with_the_reason(repository, monkeypatch):
    def broken(**kwargs):
        raise ValueError("infrastructure/kyverno/policies/a.yaml: line 3: duplicate key 'rules'")

    monkeypatch.setattr(scan, "check_repository", broken)
    finished = scan.run_scan(scan.request_scan().pk)

    assert finished.status == GuardrailScanStatus.FAILED
    assert finished.error == "infrastructure/kyverno/policies/a.yaml: line 3: duplicate key 'rules'"


def test_old_scans_are_pruned_with_their_findings(repository, commit):  # noqa: F811
    commit({"apps/rogue-model/inference-service.yaml": UNLABELLED}, "An app without labels")
    for _ in range(scan.KEEP_SCANS + 2):
        GuardrailScan.objects.filter(status=GuardrailScanStatus.QUEUED).delete()
        scan.run_scan(scan.request_scan().pk)

    assert GuardrailScan.objects.count() == scan.KEEP_SCANS
    assert GuardrailFinding.objects.values("scan").distinct().count() == scan.KEEP_SCANS


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_scans_after_the_snapshot_moves(worker_repo):
    push(worker_repo, {"apps/rogue-model/inference-service.yaml": UNLABELLED}, "An app without labels")

    refresh_snapshot()
    done = wait_for(lambda: GuardrailScan.objects.filter(status=GuardrailScanStatus.DONE).first(), timeout=30,
                    message="the worker's guardrail scan")

    assert ("apps/rogue-model", "require-standard-labels-inferenceservice", "check-owner-and-cost-center-on-isvc",
            "rogue-model") in findings(done)
    assert tasks.scan_guardrails.name == "deployments.scan_guardrails"

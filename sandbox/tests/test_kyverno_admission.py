"""Kyverno admission: the repository's own policies refuse a non-compliant write, and ArgoCD
shows the refusal as a failed sync."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys

import httpx
import pytest
import yaml
from kubernetes.client import ApiException

from sandbox.controllers import Controllers, directory_source
from sandbox.kyverno import KyvernoAdmission, denial_message, read_policies
from sandbox.tests.conftest import APPLICATION, ISVC
from sandbox.tests.test_cli_controllers import ROOT, _wait
from sandbox.tests.test_controllers import HEAD, Repository, endpoint

GITOPS = ROOT / "examples" / "gitops"
POLICY = "infrastructure/kyverno/policies/require-standard-labels-inferenceservice.yaml"
LABEL_POLICY = (GITOPS / POLICY).read_bytes()
DENIAL = (
    'admission webhook "validate.kyverno.svc-fail" denied the request: \n\n'
    "resource InferenceService/default/unlabelled was blocked due to the following policies \n\n"
    "require-standard-labels-inferenceservice:\n"
    "  check-owner-and-cost-center-on-isvc: validation error: InferenceService resources must set "
    "metadata.labels.owner and metadata.labels.cost-center. rule check-owner-and-cost-center-on-isvc "
    "failed at path /metadata/labels/cost-center/"
)


def unlabelled(name: str = "unlabelled") -> bytes:
    return endpoint(name).replace(b"labels: {owner: fraud-detection, cost-center: cc-fraud}", b"labels: {owner: fraud-detection}")


def as_object(manifest: bytes) -> dict:
    return yaml.safe_load(manifest)


@pytest.fixture
def repository() -> Repository:
    return Repository({
        "apps/fraud-scorer/inference-service.yaml": endpoint("fraud-scorer"),
        POLICY: LABEL_POLICY,
        "infrastructure/kyverno/policies/kustomization.yaml": b"resources: [require-standard-labels-inferenceservice.yaml]\n",
    })


def test_a_write_that_breaks_an_enforce_policy_is_refused_with_kyvernos_words(sandbox, custom, repository):
    Controllers(sandbox.store, repository).settle()

    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], as_object(unlabelled()))

    assert caught.value.status == 400
    assert json.loads(caught.value.body)["message"] == DENIAL
    names = [i["metadata"]["name"] for i in custom.list_namespaced_custom_object(*ISVC[:2], "default", ISVC[2])["items"]]
    assert names == ["fraud-scorer"]


def test_an_update_that_drops_a_label_is_refused_but_status_writes_and_deletes_pass(sandbox, custom, repository):
    Controllers(sandbox.store, repository).settle()
    live = custom.get_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "fraud-scorer")
    del live["metadata"]["labels"]["cost-center"]

    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "fraud-scorer", live)
    resource = sandbox.store.resource_for("serving.kserve.io/v1beta1", "InferenceService")
    sandbox.store.put({**as_object(unlabelled("seeded")), "status": {}})  # as if it predates the policy
    sandbox.store.update(resource, "default", "seeded", {**sandbox.store.get(resource, "default", "seeded"),
                                                         "status": {"url": "x"}}, subresource="status")
    assert sandbox.store.get(resource, "default", "seeded")["status"] == {"url": "x"}
    custom.delete_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "seeded")
    listed = custom.list_namespaced_custom_object(*ISVC[:2], "default", ISVC[2])["items"]
    assert "seeded" not in [item["metadata"]["name"] for item in listed]

    assert caught.value.status == 400
    assert "resource InferenceService/default/fraud-scorer was blocked" in json.loads(caught.value.body)["message"]


def test_an_audit_policy_only_logs(sandbox, custom, repository, caplog):
    repository.files[POLICY] = LABEL_POLICY.replace(b"validationFailureAction: Enforce", b"validationFailureAction: Audit")
    Controllers(sandbox.store, repository).settle()

    with caplog.at_level(logging.WARNING, logger="sandbox.kyverno"):
        custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], as_object(unlabelled()))

    assert "kyverno audit: InferenceService/default/unlabelled violates require-standard-labels-inferenceservice" in caplog.text


def test_policies_are_read_again_when_the_head_commit_changes(sandbox, repository):
    admission = KyvernoAdmission(sandbox.store)
    admission.load(*repository())
    repository.files[POLICY] = LABEL_POLICY.replace(b"validationFailureAction: Enforce", b"validationFailureAction: Audit")

    admission.load(*repository())  # same commit: the policies read are kept
    kept = admission.policies[0].spec["validationFailureAction"]
    repository.head = "1" * 40
    admission.load(*repository())

    assert kept == "Enforce"
    assert admission.policies[0].spec["validationFailureAction"] == "Audit"
    assert admission.revision == "1" * 40


def test_a_policy_file_that_does_not_parse_is_skipped():
    policies = read_policies({
        POLICY: LABEL_POLICY,
        "infrastructure/kyverno/policies/broken.yaml": b"kind: ClusterPolicy\nkind: twice\n",
        "apps/x/policy.yaml": LABEL_POLICY,  # outside the policy folder
    })

    assert [p.name for p in policies] == ["require-standard-labels-inferenceservice"]


def test_the_message_lists_every_failing_policy_and_rule_in_order():
    message = denial_message("Deployment", "team-a", "web", {
        "require-standard-labels-deployment": {"check-owner": "owner is required"},
        "disallow-latest-image-tag": {"validate-tags": "use a pinned tag", "a-first-rule": "first"},
    })

    assert message.endswith(
        "resource Deployment/team-a/web was blocked due to the following policies \n\n"
        "disallow-latest-image-tag:\n  a-first-rule: first\n  validate-tags: use a pinned tag\n"
        "require-standard-labels-deployment:\n  check-owner: owner is required"
    )


# --- End to end: the reference repository with one non-compliant app ---------------------------------


def _reference_repo_with_a_bad_app(tmp_path):
    repo = tmp_path / "gitops"
    shutil.copytree(GITOPS, repo)
    (repo / "apps" / "unlabelled").mkdir()
    (repo / "apps" / "unlabelled" / "inference-service.yaml").write_bytes(unlabelled())
    return repo


def test_the_non_compliant_app_fails_its_sync_and_the_others_stay_synced(sandbox, custom, tmp_path):
    repo = _reference_repo_with_a_bad_app(tmp_path)
    Controllers(sandbox.store, directory_source(repo, revision=HEAD)).settle()

    apps = {a["metadata"]["name"]: a["status"] for a in
            custom.list_namespaced_custom_object(*APPLICATION[:2], "argocd", APPLICATION[2])["items"]}

    failed = apps.pop("unlabelled")
    assert failed["operationState"]["phase"] == "Failed"
    assert (failed["sync"]["status"], failed["health"]["status"]) == ("OutOfSync", "Missing")
    assert failed["operationState"]["message"] == "one or more objects failed to apply, reason: " + DENIAL
    assert failed["conditions"][0]["message"] == (
        f"Failed last sync attempt to [{HEAD}]: one or more objects failed to apply, reason: " + DENIAL
    )
    assert sorted(apps) == ["ai-model-alpha", "demo-iris-2", "fraud-scorer", "search-ranker"]
    assert {(s["sync"]["status"], s["operationState"]["phase"]) for s in apps.values()} == {("Synced", "Succeeded")}


def test_without_admission_the_non_compliant_app_syncs(sandbox, tmp_path):
    repo = _reference_repo_with_a_bad_app(tmp_path)
    Controllers(sandbox.store, directory_source(repo), admission=False).settle()

    app = application_status(sandbox, "unlabelled")

    assert app["sync"]["status"] == "Synced"
    assert sandbox.store.admission == []


def application_status(sandbox, name: str) -> dict:
    resource = sandbox.store.resource_for("argoproj.io/v1alpha1", "Application")
    return sandbox.store.get(resource, "argocd", name)["status"]


def test_the_command_line_enforces_the_policies_without_django(tmp_path):
    repo = _reference_repo_with_a_bad_app(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    command = [sys.executable, "-m", "sandbox", "--port", "0", "--controllers", "--repo", str(repo),
               "--app-healthy-delay", "0", "--isvc-ready-delay", "0", "--tick", "0.2"]
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            url = process.stdout.readline().strip()

            def failed():
                found = httpx.get(f"{url}/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/unlabelled", timeout=5)
                status = found.json().get("status") or {} if found.status_code == 200 else {}
                return status if (status.get("operationState") or {}).get("phase") == "Failed" else None

            status = _wait(failed, timeout=15)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=10)

    assert process.returncode == 0, stderr
    assert status, "the non-compliant app did not fail its sync"
    assert "require-standard-labels-inferenceservice:\n  check-owner-and-cost-center-on-isvc" in status["operationState"]["message"]

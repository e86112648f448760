"""Helpers for task tests: the demo catalog on a real repository, templates, git inspection."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scaffolder.models import Task

# The reference template's values and the manifest they render, shared with the fetch tests.
from scaffolder.tests.test_actions_fetch import EXPECTED_MANIFEST, REFERENCE_VALUES  # noqa: F401

#: The reference platform's template, kept unchanged in the demo repository under this name.
REFERENCE_TEMPLATE = "template:default/kserve-model-endpoint"
GOLDEN_TEMPLATE = "template:default/model-endpoint"

GOLDEN_VALUES = {
    "name": "card-fraud",
    "description": "Scores card payments",
    "modelFormat": "sklearn",
    "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
    "minReplicas": 1,
    "maxReplicas": 3,
    "cpuRequest": "500m",
    "cpuLimit": "1",
    "memoryRequest": "1Gi",
    "memoryLimit": "2Gi",
    "gpu": 0,
    "owner": "group:default/fraud-detection",
    "costCenter": "cc-fraud",
}


@pytest.fixture
def task_catalog(gitops_repo, dana, priya):
    """The demo repository (examples/gitops) in the snapshot, every location ingested.

    The personas are created first: ingestion rebuilds their memberships from the catalog.
    """
    from catalog import ingestion
    from portal import snapshot

    snapshot.refresh()
    ingestion.refresh_all()
    return gitops_repo


def template(ref: str = REFERENCE_TEMPLATE):
    from catalog.models import Entity

    return Entity.objects.get(ref=ref)


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def branches(repo: Path) -> list[str]:
    return sorted(filter(None, git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").splitlines()))


def branch_commits(repo: Path, branch: str, base: str = "main") -> list[str]:
    return git(repo, "rev-list", f"{base}..{branch}").splitlines()


def changed_paths(repo: Path, branch: str, base: str = "main") -> list[str]:
    return sorted(git(repo, "diff", "--name-only", f"{base}...{branch}").splitlines())


def show(repo: Path, branch: str, path: str) -> str:
    return git(repo, "show", f"{branch}:{path}") + "\n"


def messages(task: Task) -> list[str]:
    return [event.body.get("message", "") for event in task.events.order_by("id")]


def step_statuses(task: Task) -> dict[str, str]:
    return dict(task.steps.order_by("index").values_list("step_id", "status"))

"""publish:pull-request and its alias publish:github:pull-request, on a real git repository."""

from __future__ import annotations

import uuid

import pytest

from deployments.gitops.base import RepoTarget
from deployments.gitops.local import LocalProvider
from deployments.models import PullRequest
from portal.repository import PermanentError
from scaffolder.actions import publish, registry
from scaffolder.actions.registry import ActionError
from scaffolder.tests.action_context import make_context
from scaffolder.tests.task_helpers import branch_commits, branches, changed_paths, git, show
from scaffolder.workspace import write_file

BASE_INPUT = {
    "repoUrl": "github.com?repo=neuroscale-platform&owner=sodiq-code",
    "branchName": "model-fraud-model",
    "title": "Add model endpoint fraud-model",
    "description": "Adds apps/fraud-model/",
}


def publish_step(workspace, action_input, *, action_id="publish:pull-request", dry_run=False, task_id=None):
    ctx = make_context(workspace, action_id, {**BASE_INPUT, **action_input})
    ctx.task_id = None if dry_run else (task_id or str(uuid.uuid4()))
    ctx.dry_run = dry_run
    registry.get(action_id).run(ctx)
    return ctx


@pytest.fixture
def rendered(workspace):
    write_file(workspace, "out/inference-service.yaml", b"kind: InferenceService\n")
    write_file(workspace, "out/notes/readme.md", b"# notes\n")
    write_file(workspace, "elsewhere.txt", b"not published\n")
    return workspace


def test_opens_a_pull_request_with_the_workspace_files_under_target_path(gitops_repo, db, rendered):
    ctx = publish_step(rendered, {"sourcePath": "out", "targetPath": "apps/fraud-model", "draft": True,
                                  "filesToDelete": ["apps/demo-iris-2/inference-service.yaml"]},
                       action_id="publish:github:pull-request")

    row = PullRequest.objects.get()
    assert changed_paths(gitops_repo, "model-fraud-model") == [
        "apps/demo-iris-2/inference-service.yaml",
        "apps/fraud-model/inference-service.yaml",
        "apps/fraud-model/notes/readme.md",
    ]
    assert show(gitops_repo, "model-fraud-model", "apps/fraud-model/inference-service.yaml") == "kind: InferenceService\n"
    assert "apps/demo-iris-2/inference-service.yaml" not in git(gitops_repo, "ls-tree", "-r", "--name-only", "model-fraud-model")
    assert row.draft and row.title == "Add model endpoint fraud-model" and row.base == "main"
    assert row.body == f"Adds apps/fraud-model/\n\n<!-- portal-task:{ctx.task_id} -->\n"
    assert f"Portal-Task: {ctx.task_id}" in git(gitops_repo, "log", "-1", "--format=%B", "model-fraud-model")
    assert ctx.outputs == {
        "remoteUrl": row.url, "pullRequestUrl": row.url, "pullRequestNumber": row.number,
        "targetBranchName": "main", "commitHash": row.head_sha,
    }
    assert ctx.logger.lines[0] == f"repoUrl {BASE_INPUT['repoUrl']} is mapped onto the local repository"


def test_running_the_step_again_reuses_the_branch_and_the_pull_request(gitops_repo, db, rendered):
    task_id = str(uuid.uuid4())
    first = publish_step(rendered, {"sourcePath": "out"}, task_id=task_id)
    again = publish_step(rendered, {"sourcePath": "out"}, task_id=task_id)

    assert again.outputs == first.outputs
    assert PullRequest.objects.count() == 1
    assert len(branch_commits(gitops_repo, "model-fraud-model")) == 1


def test_a_branch_made_outside_the_portal_fails_the_step_in_words(gitops_repo, db, rendered):
    git(gitops_repo, "branch", "model-fraud-model", "main")

    with pytest.raises(ActionError, match="belongs to someone outside the portal .* Choose another name"):
        publish_step(rendered, {"sourcePath": "out"})

    assert not PullRequest.objects.exists()


def test_a_repo_url_the_provider_refuses_fails_the_step_naming_it(gitops_repo, db, rendered, monkeypatch):
    class GitHubLike(LocalProvider):
        name = "github"

        def resolve_repo_url(self, repo_url):
            if "owner=acme" in repo_url:
                raise PermanentError(f"repoUrl {repo_url} is not the configured repository sodiq-code/neuroscale-platform; templates publish only there.")
            return RepoTarget("sodiq-code/neuroscale-platform", remapped=False)

    monkeypatch.setattr(publish, "get_provider", lambda: GitHubLike(gitops_repo))

    with pytest.raises(ActionError, match="github.com\\?repo=x&owner=acme is not the configured repository"):
        publish_step(rendered, {"sourcePath": "out", "repoUrl": "github.com?repo=x&owner=acme"})
    assert not PullRequest.objects.exists()
    assert branches(gitops_repo) == ["main"]


def test_dry_run_says_what_it_would_do_and_does_nothing(gitops_repo, db, rendered):
    ctx = publish_step(rendered, {"sourcePath": "out", "targetPath": "apps/x"}, dry_run=True)

    assert "Would open a pull request from model-fraud-model into main:" in ctx.logger.lines
    assert "  write apps/x/inference-service.yaml" in ctx.logger.lines
    assert ctx.outputs["targetBranchName"] == "main"
    assert branches(gitops_repo) == ["main"] and not PullRequest.objects.exists()


def test_nothing_to_publish_is_an_error_naming_the_source_path(gitops_repo, db, workspace):
    with pytest.raises(ActionError, match="no files to publish under sourcePath 'missing'"):
        publish_step(workspace, {"sourcePath": "missing"})


def test_a_source_path_outside_the_workspace_is_refused(gitops_repo, db, rendered):
    with pytest.raises(ActionError, match="sourcePath"):
        publish_step(rendered, {"sourcePath": "../.."})

"""The local GitOps provider against a real bare repository: commits, idempotency, merges."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.gitops.base import BranchConflict, MergeConflict, PermanentError
from deployments.models import PullRequest, PullRequestComment, PullRequestEvent
from deployments.tests.conftest import CATALOG_INFO, MANIFEST
from portal import snapshot

pytestmark = pytest.mark.django_db

BRANCH = "portal/churn-model"
OTHER_TASK = "0b7c2a55-1111-4000-8000-000000000002"


# Opening a change ---------------------------------------------------------------------------


def test_opening_a_change_writes_one_commit_with_every_file_and_the_task_trailer(open_churn_change, repo, task_id):
    info = open_churn_change()

    commits = repo.commits_between("main", BRANCH)
    assert len(commits) == 1
    assert commits[0].message.endswith(f"\n\nPortal-Task: {task_id}\n")
    files = repo.files(BRANCH)
    assert files["apps/churn-model/inference-service.yaml"] == MANIFEST
    assert files["apps/churn-model/catalog-info.yaml"] == CATALOG_INFO
    assert "apps/demo-iris-2/inference-service.yaml" not in files
    assert "apps/demo-iris-2/catalog-info.yaml" in files, "only the named file is deleted"
    assert repo.files("main").keys() - {"apps/demo-iris-2/inference-service.yaml"} < files.keys()
    assert info.head_sha == commits[0].hexsha
    assert info.number == 1 and info.state == "open" and info.base == "main"
    assert f"<!-- portal-task:{task_id} -->" in info.body


def test_the_commit_message_is_the_title_unless_one_is_given(open_churn_change, repo, task_id):
    open_churn_change(commit_message="Add churn-model\n\nRequested by dana.")
    message = repo.commits_between("main", BRANCH)[0].message
    assert message == f"Add churn-model\n\nRequested by dana.\n\nPortal-Task: {task_id}\n"


def test_the_pull_request_row_holds_the_diff_the_page_shows(open_churn_change):
    open_churn_change()

    pull_request = PullRequest.objects.get()
    by_path = {entry["path"]: entry for entry in pull_request.files}
    manifest = by_path["apps/churn-model/inference-service.yaml"]
    assert (manifest["status"], manifest["additions"], manifest["deletions"]) == ("added", 12, 0)
    assert "+  name: churn-model" in manifest["patch"]
    deleted = by_path["apps/demo-iris-2/inference-service.yaml"]
    assert deleted["status"] == "deleted" and deleted["additions"] == 0 and deleted["deletions"] > 0
    assert list(by_path) == sorted(by_path)
    assert pull_request.task is not None and str(pull_request.task) == "6f1f0b1e-0000-4000-8000-000000000001"
    assert pull_request.get_absolute_url() == pull_request.url


def test_opening_the_same_change_again_adds_no_commit_and_no_pull_request(open_churn_change, repo):
    first = open_churn_change()
    again = open_churn_change()

    assert again.number == first.number and again.head_sha == first.head_sha
    assert len(repo.commits_between("main", BRANCH)) == 1
    assert PullRequest.objects.count() == 1
    assert list(PullRequestEvent.objects.values_list("kind", flat=True)) == ["opened"]


def test_a_retry_with_different_files_adds_one_commit_to_the_same_pull_request(open_churn_change, repo):
    first = open_churn_change()
    updated = open_churn_change(files={"apps/churn-model/inference-service.yaml": MANIFEST.replace(b"churn", b"churn-v2")})

    assert updated.number == first.number
    assert len(repo.commits_between("main", BRANCH)) == 2
    assert b"churn-v2" in repo.files(BRANCH)["apps/churn-model/inference-service.yaml"]
    pull_request = PullRequest.objects.get()
    assert pull_request.head_sha == updated.head_sha
    assert list(pull_request.events.values_list("kind", flat=True)) == ["opened", "updated"]


def test_a_branch_owned_by_another_task_is_refused_naming_that_task(open_churn_change, repo):
    open_churn_change(marker=OTHER_TASK)
    head_before = repo.git.commit(BRANCH).hexsha

    with pytest.raises(BranchConflict) as refused:
        open_churn_change()

    assert refused.value.other_task == OTHER_TASK
    assert OTHER_TASK in str(refused.value)
    assert repo.git.commit(BRANCH).hexsha == head_before
    assert PullRequest.objects.count() == 1


def test_a_branch_made_outside_the_portal_is_refused(open_churn_change, repo):
    repo.git.create_head(BRANCH, "main")

    with pytest.raises(BranchConflict, match="outside the portal"):
        open_churn_change()
    assert PullRequest.objects.count() == 0


def test_pull_requests_are_numbered_in_order(open_churn_change):
    numbers = [open_churn_change(branch=f"portal/model-{i}", marker=f"task-{i}").number for i in range(3)]
    assert numbers == [1, 2, 3]


@pytest.mark.parametrize("path", ["../escape.yaml", "/etc/passwd", "apps/../../x", ".git/config", "apps//x", "a\nb"])
def test_paths_outside_the_repository_are_refused(open_churn_change, repo, path):
    with pytest.raises(PermanentError, match="not a file path inside the repository"):
        open_churn_change(files={path: b"x"})
    assert repo.branches() == ["main"]


def test_a_missing_base_branch_is_named(open_churn_change):
    with pytest.raises(PermanentError, match="no branch 'release'"):
        open_churn_change(base="release")


# Crashes between steps, then a retry ------------------------------------------------------------


def test_retry_after_a_commit_was_written_but_the_branch_not_created(provider, open_churn_change, repo, task_id):
    tree = provider.write_tree(provider.head("main"), {"apps/churn-model/inference-service.yaml": MANIFEST})
    provider.write_commit(tree, provider.head("main"), f"Create\n\nPortal-Task: {task_id}\n")  # then the worker died

    open_churn_change()

    assert len(repo.commits_between("main", BRANCH)) == 1
    assert PullRequest.objects.count() == 1


def test_retry_after_the_branch_was_written_but_no_pull_request_saved(provider, open_churn_change, repo, task_id):
    provider.write_branch(BRANCH, "main", {"apps/churn-model/inference-service.yaml": MANIFEST}, "Create", task_id)

    open_churn_change(files={"apps/churn-model/inference-service.yaml": MANIFEST})

    assert repo.branches() == ["main", BRANCH]
    assert len(repo.commits_between("main", BRANCH)) == 1
    assert PullRequest.objects.count() == 1


def test_retry_after_saving_the_pull_request_failed_midway(open_churn_change, repo, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    with monkeypatch.context() as patched:
        patched.setattr(PullRequestEvent.objects, "create", crash)
        with pytest.raises(RuntimeError):
            open_churn_change()
    assert PullRequest.objects.count() == 0, "the row and its first event are saved together"

    info = open_churn_change()

    assert len(repo.commits_between("main", BRANCH)) == 1
    assert PullRequest.objects.get().number == info.number
    assert PullRequestEvent.objects.count() == 1


# Reading pull requests and comments ---------------------------------------------------------


def test_comments_are_found_by_their_marker_and_edited_in_place(provider, open_churn_change):
    number = open_churn_change().number

    provider.upsert_comment(number, "portal-cost-delta", "About $40 per month.")
    provider.upsert_comment(number, "portal-cost-delta", "About $55 per month.")
    provider.upsert_comment(number, "portal-guardrails", "All policies pass.")

    comments = dict(PullRequestComment.objects.values_list("marker", "body"))
    assert comments == {"portal-cost-delta": "About $55 per month.", "portal-guardrails": "All policies pass."}


def test_pull_requests_are_listed_by_state_and_update_time(provider, open_churn_change):
    first = open_churn_change(branch="portal/a", marker="task-a")
    second = open_churn_change(branch="portal/b", marker="task-b")
    provider.close(first.number)
    PullRequest.objects.filter(number=second.number).update(updated_at=timezone.now() - timedelta(days=2))

    assert [pr.number for pr in provider.list_pull_requests("open")] == [second.number]
    assert [(pr.number, pr.state) for pr in provider.list_pull_requests("closed")] == [(first.number, "closed")]
    assert [pr.number for pr in provider.list_pull_requests()] == [first.number, second.number]
    recent = provider.list_pull_requests(updated_since=timezone.now() - timedelta(hours=1))
    assert [pr.number for pr in recent] == [first.number]
    assert provider.get_pull_request(second.number).branch == "portal/b"


def test_an_unknown_pull_request_number_is_named(provider):
    with pytest.raises(PermanentError, match="no pull request #42"):
        provider.get_pull_request(42)


def test_any_repo_url_lands_on_the_local_repository(provider):
    target = provider.resolve_repo_url("github.com?owner=acme&repo=elsewhere")
    assert target.repository == provider.repository and target.remapped


# Merging -----------------------------------------------------------------------------------


def test_merge_fast_forwards_when_the_base_has_not_moved(provider, open_churn_change, repo):
    info = open_churn_change()

    commit = provider.merge(info.number, merged_by="priya")

    assert commit == info.head_sha == repo.git.commit("main").hexsha
    pull_request = PullRequest.objects.get()
    assert (pull_request.state, pull_request.merged_by, pull_request.merge_commit_sha) == ("merged", "priya", commit)
    assert pull_request.merged_at is not None
    assert list(pull_request.events.values_list("kind", "actor")) == [("opened", "portal"), ("merged", "priya")]


def test_merge_writes_a_merge_commit_when_the_base_moved(provider, open_churn_change, repo):
    info = open_churn_change()
    other = open_churn_change(branch="portal/other", marker="task-other",
                              files={"apps/other/inference-service.yaml": b"kind: InferenceService\n"})
    provider.merge(other.number)

    commit = provider.merge(info.number)

    merged = repo.git.commit("main")
    assert merged.hexsha == commit
    assert [parent.hexsha for parent in merged.parents] == [other.head_sha, info.head_sha]
    assert merged.message.startswith(f"Merge pull request #{info.number} from {BRANCH}")
    files = repo.files("main")
    assert "apps/other/inference-service.yaml" in files and "apps/churn-model/inference-service.yaml" in files


def test_a_conflict_is_reported_with_its_files_and_changes_nothing(provider, open_churn_change, repo):
    info = open_churn_change()
    rival = open_churn_change(branch="portal/rival", marker="task-rival",
                              files={"apps/churn-model/inference-service.yaml": b"kind: Something else\n"})
    provider.merge(rival.number)
    main_before = repo.git.commit("main").hexsha

    with pytest.raises(MergeConflict) as conflict:
        provider.merge(info.number)

    assert conflict.value.files == ["apps/churn-model/inference-service.yaml"]
    assert "apps/churn-model/inference-service.yaml" in str(conflict.value)
    assert repo.git.commit("main").hexsha == main_before
    assert PullRequest.objects.get(number=info.number).state == "open"


def test_a_merged_pull_request_cannot_be_merged_or_closed_again(provider, open_churn_change):
    info = open_churn_change()
    provider.merge(info.number)

    with pytest.raises(PermanentError, match="already merged"):
        provider.merge(info.number)
    with pytest.raises(PermanentError, match="already merged"):
        provider.close(info.number)


def test_after_a_merge_the_snapshot_holds_the_new_files(provider, open_churn_change):
    snapshot.refresh(provider)
    assert snapshot.read("apps/churn-model/inference-service.yaml") is None
    info = open_churn_change()

    provider.merge(info.number)

    assert snapshot.read("apps/churn-model/inference-service.yaml") == MANIFEST
    assert snapshot.read("apps/demo-iris-2/inference-service.yaml") is None
    assert snapshot.current().commit_sha == provider.head("main")


def test_concurrent_writers_of_one_branch_leave_exactly_one_commit(provider, repo, task_id):
    files = {"apps/churn-model/inference-service.yaml": MANIFEST}
    with ThreadPoolExecutor(max_workers=4) as pool:
        heads = list(pool.map(lambda _: provider.write_branch(BRANCH, "main", files, "Create", task_id), range(4)))

    assert len(set(heads)) == 1
    assert len(repo.commits_between("main", BRANCH)) == 1


def test_of_two_tasks_racing_for_one_branch_exactly_one_wins(provider, repo):
    files = {"apps/churn-model/inference-service.yaml": MANIFEST}

    def write(marker):
        try:
            return provider.write_branch(BRANCH, "main", files, "Create", marker)
        except BranchConflict as conflict:
            return conflict

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(write, ["task-a", "task-b"]))

    conflicts = [outcome for outcome in outcomes if isinstance(outcome, BranchConflict)]
    assert len(conflicts) == 1
    assert len(repo.commits_between("main", BRANCH)) == 1

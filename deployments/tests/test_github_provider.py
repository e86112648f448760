"""The GitHub provider against a local server that answers like GitHub's REST API."""

from __future__ import annotations

import logging
import uuid

import pytest

from deployments.choices import PullRequestEventKind
from deployments.gitops.base import (
    BranchConflict,
    PermanentError,
    TransientError,
    marker_in_message,
)
from deployments.gitops.github import GitHubProvider
from deployments.models import PullRequest, PullRequestComment
from deployments.tests.conftest import CATALOG_INFO, MANIFEST
from deployments.tests.github_fake import serve
from portal import snapshot
from portal.models import SnapshotFile

TASK = "6f1f0b1e-0000-4000-8000-000000000001"
OTHER_TASK = "6f1f0b1e-0000-4000-8000-000000000002"
SEED = {
    "catalog-info.yaml": b"apiVersion: backstage.io/v1alpha1\nkind: Location\n",
    "apps/demo-iris-2/inference-service.yaml": b"kind: InferenceService\nmetadata: {name: demo-iris-2}\n",
    "apps/demo-iris-2/catalog-info.yaml": b"kind: Component\nmetadata: {name: demo-iris-2}\n",
    "infrastructure/namespaces/default/resource-quota.yaml": b"kind: ResourceQuota\n",
}
CHANGE = {
    "apps/churn-model/inference-service.yaml": MANIFEST,
    "apps/churn-model/catalog-info.yaml": CATALOG_INFO,
    "apps/demo-iris-2/inference-service.yaml": None,
}


@pytest.fixture
def github(settings):
    with serve(settings) as fake:
        fake.seed(SEED)
        yield fake


@pytest.fixture
def provider(github, db) -> GitHubProvider:
    return GitHubProvider.from_settings()


def open_churn(provider, marker=TASK, **overrides):
    arguments = {
        "branch": "portal/churn-model", "base": "main", "files": CHANGE,
        "title": "Create model endpoint churn-model", "body": "Adds the churn-model endpoint.",
        "labels": ["portal", "model-endpoint"], "draft": True, "marker": marker,
    }
    return provider.open_change(**(arguments | overrides))


def test_open_change_writes_one_commit_with_every_file_and_the_deletion(provider, github):
    info = open_churn(provider)

    commits = github.commits_between("main", "portal/churn-model")
    assert len(commits) == 1
    assert marker_in_message(commits[0]["message"]) == TASK
    assert commits[0]["message"].startswith("Create model endpoint churn-model")
    files = github.files_at("portal/churn-model")
    assert files["apps/churn-model/inference-service.yaml"] == MANIFEST
    assert files["apps/churn-model/catalog-info.yaml"] == CATALOG_INFO
    assert "apps/demo-iris-2/inference-service.yaml" not in files
    assert files["apps/demo-iris-2/catalog-info.yaml"] == SEED["apps/demo-iris-2/catalog-info.yaml"]

    pull = github.pulls[info.number]
    assert (pull.title, pull.base, pull.draft) == ("Create model endpoint churn-model", "main", True)
    assert f"<!-- portal-task:{TASK} -->" in pull.body
    assert pull.labels == ["portal", "model-endpoint"]
    assert info.url == f"https://github.example/neuroscale/gitops/pull/{info.number}"
    assert info.head_sha == github.head("portal/churn-model")


def test_the_pull_request_row_holds_the_number_the_files_and_the_task(provider, github):
    info = open_churn(provider)

    row = PullRequest.objects.get()
    assert (row.provider, row.repository, row.number) == ("github", "neuroscale/gitops", info.number)
    assert row.url == info.url and row.task == uuid.UUID(TASK)
    assert row.labels == ["portal", "model-endpoint"] and row.draft
    assert {f["path"]: f["status"] for f in row.files} == {
        "apps/churn-model/catalog-info.yaml": "added",
        "apps/churn-model/inference-service.yaml": "added",
        "apps/demo-iris-2/inference-service.yaml": "deleted",
    }
    deleted = next(f for f in row.files if f["status"] == "deleted")
    assert deleted["deletions"] == 2 and deleted["patch"].startswith("@@")
    assert list(row.events.values_list("kind", flat=True)) == [PullRequestEventKind.OPENED]


def test_running_again_makes_no_new_commit_and_no_second_pull_request(provider, github):
    first = open_churn(provider)
    commits_before = github.count("POST", "/git/commits")

    second = open_churn(provider)

    assert second.number == first.number and second.head_sha == first.head_sha
    assert github.count("POST", "/git/commits") == commits_before
    assert github.count("POST", "/pulls") == 1
    assert len(github.pulls) == 1 and PullRequest.objects.count() == 1
    assert len(github.commits_between("main", "portal/churn-model")) == 1


def test_a_changed_file_on_a_retry_adds_a_commit_to_the_same_pull_request(provider, github):
    first = open_churn(provider)

    second = open_churn(provider, files={**CHANGE, "apps/churn-model/inference-service.yaml": MANIFEST + b"# v2\n"})

    assert second.number == first.number and second.head_sha != first.head_sha
    assert len(github.pulls) == 1
    row = PullRequest.objects.get()
    assert row.head_sha == second.head_sha
    assert list(row.events.values_list("kind", flat=True)) == [PullRequestEventKind.OPENED,
                                                               PullRequestEventKind.UPDATED]


def test_github_creating_the_pull_request_but_answering_502_is_found_by_the_retry(provider, github):
    github.fail_after_create_pull = True

    with pytest.raises(TransientError, match="502"):
        open_churn(provider)
    info = open_churn(provider)

    assert len(github.pulls) == 1 and list(github.pulls) == [info.number]
    assert PullRequest.objects.get().number == info.number
    assert github.pulls[info.number].labels == ["portal", "model-endpoint"]


def test_a_pull_request_already_existing_422_is_resolved_by_finding_it(provider, github, monkeypatch):
    open_churn(provider)
    existing = next(iter(github.pulls))
    PullRequest.objects.all().delete()
    # The list has not caught up with the pull request yet: the create answers 422.
    find, misses = provider._find_pull, [None]
    monkeypatch.setattr(provider, "_find_pull", lambda *args: misses.pop() if misses else find(*args))

    info = open_churn(provider)

    assert info.number == existing and len(github.pulls) == 1
    assert github.count("POST", "/pulls") == 2  # the first, and the one GitHub refused with 422
    assert PullRequest.objects.get().number == existing


def test_a_branch_owned_by_another_task_fails_naming_that_task(provider, github):
    open_churn(provider, marker=OTHER_TASK)
    commits = github.count("POST", "/git/commits")

    with pytest.raises(BranchConflict) as raised:
        open_churn(provider)

    assert raised.value.other_task == OTHER_TASK
    assert OTHER_TASK in str(raised.value)
    assert github.count("POST", "/git/commits") == commits and len(github.pulls) == 1


def test_a_branch_pushed_by_a_person_is_not_taken_over(provider, github):
    github.refs["heads/portal/churn-model"] = github.head("main")
    github.push({"README.md": b"mine\n"}, branch="portal/churn-model")

    with pytest.raises(BranchConflict, match="outside the portal"):
        open_churn(provider)

    assert github.files_at("portal/churn-model")["README.md"] == b"mine\n"


def test_a_missing_repository_names_the_setting(provider, github):
    github.exists = False

    with pytest.raises(PermanentError, match="PORTAL_GITHUB_REPOSITORY"):
        open_churn(provider)


def test_a_bad_token_names_the_setting_and_never_the_token(settings, github, db, caplog):
    settings.PORTAL_GITHUB_TOKEN = "ghp_wrong0token0value"
    provider = GitHubProvider.from_settings()

    with caplog.at_level(logging.DEBUG), pytest.raises(PermanentError) as raised:
        open_churn(provider)

    message = str(raised.value)
    assert "PORTAL_GITHUB_TOKEN" in message
    assert "ghp_wrong0token0value" not in message and github.token not in message
    assert "ghp_wrong0token0value" not in caplog.text
    assert not github.pulls


def test_a_rate_limit_is_transient_with_the_wait_github_asked_for(provider, github):
    github.rate_limit_next(reset_in=120)

    with pytest.raises(TransientError) as raised:
        open_churn(provider)

    assert 115 <= raised.value.retry_after <= 122
    assert "rate limit" in str(raised.value)
    assert open_churn(provider).number == 1  # after the wait, it goes through


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_rate_limit_waits_for_retry_after(provider, github, status):
    github.rate_limit_next(retry_after=45, status=status)

    with pytest.raises(TransientError) as raised:
        provider.head("main")

    assert raised.value.retry_after == 45


def test_an_absurd_rate_limit_wait_is_bounded(provider, github):
    github.rate_limit_next(retry_after=86_400)

    with pytest.raises(TransientError) as raised:
        provider.head("main")

    assert raised.value.retry_after == 3600


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_is_transient_and_the_retry_succeeds(provider, github, status):
    github.fail_next(1, status=status)

    with pytest.raises(TransientError, match=str(status)):
        open_churn(provider)
    info = open_churn(provider)

    assert len(github.pulls) == 1 and info.number == 1


def test_github_not_answering_is_transient(settings, db):
    settings.PORTAL_GITOPS_PROVIDER = "github"
    settings.PORTAL_GITHUB_REPOSITORY, settings.PORTAL_GITHUB_TOKEN = "neuroscale/gitops", "ghp_x"
    settings.PORTAL_GITHUB_API_URL = "http://127.0.0.1:9"  # the discard port: nothing listens

    with pytest.raises(TransientError, match="PORTAL_GITHUB_API_URL"):
        GitHubProvider.from_settings().head("main")


def test_comment_upsert_edits_the_portal_comment_in_place(provider, github):
    number = open_churn(provider).number
    github.comments[1] = {"id": 1, "issue": number, "body": "LGTM from a person", "at": github._clock()}

    provider.upsert_comment(number, "portal-cost-delta", "Cost: +$12/month")
    provider.upsert_comment(number, "portal-cost-delta", "Cost: +$15/month")

    portal_comments = [c for c in github.comments.values() if "portal-cost-delta" in c["body"]]
    assert len(portal_comments) == 1
    assert portal_comments[0]["body"].endswith("Cost: +$15/month")
    assert github.comments[1]["body"] == "LGTM from a person"
    assert github.count("PATCH", "/issues/comments/") == 1
    assert PullRequestComment.objects.get().body == "Cost: +$15/month"


def test_an_unchanged_comment_is_not_written_again(provider, github):
    number = open_churn(provider).number
    provider.upsert_comment(number, "portal-cost-delta", "Cost: +$12/month")

    provider.upsert_comment(number, "portal-cost-delta", "Cost: +$12/month")

    assert github.count("PATCH", "/issues/comments/") == 0
    assert github.count("POST", f"/issues/{number}/comments") == 1


def test_the_snapshot_is_filled_from_github_incrementally_by_blob_sha(provider, github):
    first = snapshot.refresh()

    assert first.added == len(SEED) and first.commit_sha == github.head("main")
    assert snapshot.read("apps/demo-iris-2/catalog-info.yaml") == SEED["apps/demo-iris-2/catalog-info.yaml"]
    assert github.count("GET", "/git/blobs/") == len(SEED)

    github.push({"catalog-info.yaml": b"kind: Location\n# moved\n", "apps/demo-iris-2/catalog-info.yaml": None})
    second = snapshot.refresh()

    assert (second.added, second.changed, second.removed) == (0, 1, 1)
    assert github.count("GET", "/git/blobs/") == len(SEED) + 1  # only the changed blob was read
    assert snapshot.read("catalog-info.yaml") == b"kind: Location\n# moved\n"
    assert SnapshotFile.objects.count() == len(SEED) - 1


def test_a_truncated_tree_is_read_folder_by_folder(provider, github):
    github.truncate_trees = True

    assert provider.read_tree("main") == github.files_at("main", shas=True)


def test_a_repo_url_naming_another_repository_is_refused(provider):
    assert provider.resolve_repo_url("github.com?owner=neuroscale&repo=gitops").repository == "neuroscale/gitops"
    assert provider.resolve_repo_url("https://github.com/neuroscale/gitops.git").repository == "neuroscale/gitops"

    with pytest.raises(PermanentError, match="templates can only publish to neuroscale/gitops"):
        provider.resolve_repo_url("github.com?owner=someone&repo=elsewhere")


def test_a_merged_pull_request_reads_as_merged_with_who_merged_it(provider, github):
    number = open_churn(provider).number
    github.merge(number, by="priya")

    info = provider.get_pull_request(number)

    assert (info.state, info.merged_by) == ("merged", "priya") and info.merged_at is not None


def test_the_list_stops_at_updated_since(provider, github):
    older = github.add_pull("Older change", "older")
    newer = github.add_pull("Newer change", "newer")

    listed = provider.list_pull_requests(updated_since=newer.updated_at)

    assert [info.number for info in listed] == [newer.number]
    assert [info.number for info in provider.list_pull_requests()] == [newer.number, older.number]


def test_the_golden_path_on_github_opens_one_pull_request_with_one_commit_despite_a_lost_answer(settings, dana, priya):
    from catalog import ingestion
    from portal.testing import ROOT
    from scaffolder import runner, services
    from scaffolder.choices import TaskStatus
    from scaffolder.tests.task_helpers import GOLDEN_TEMPLATE, GOLDEN_VALUES, messages, template

    seed = ROOT / "examples" / "gitops"
    # The golden-path template publishes to this repository (its repoUrl).
    with serve(settings, repository="sodiq-code/neuroscale-platform") as github:
        github.seed({str(p.relative_to(seed)): p.read_bytes() for p in seed.rglob("*") if p.is_file()})
        snapshot.refresh()
        ingestion.refresh_all()
        task = services.create_task(template(GOLDEN_TEMPLATE), dict(GOLDEN_VALUES), user=dana)
        github.fail_after_create_pull = True

        with pytest.raises(TransientError):
            runner.run(task.pk)
        assert runner.run(task.pk) == TaskStatus.COMPLETED, messages(task)

        assert len(github.pulls) == 1
        pull = next(iter(github.pulls.values()))
        assert len(github.commits_between("main", pull.head)) == 1
        assert "apps/card-fraud/inference-service.yaml" in github.files_at(pull.head)
        row = PullRequest.objects.get(task=task.uuid)
        assert (row.provider, row.repository, row.number) == ("github", "sodiq-code/neuroscale-platform", pull.number)
        assert f"Pull request #{pull.number} is open: {row.url}" in messages(task)


# GitHub App authentication --------------------------------------------------------------------------

APP_ID = "424242"
INSTALLATION = 5150


def _rsa_pem() -> tuple[bytes, bytes]:
    """A throwaway RSA key: (private PEM, public PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture
def app_key(settings, github, tmp_path):
    """The portal configured as a GitHub App installed on the fake's repository, without a token."""
    private, public = _rsa_pem()
    github.install_app(APP_ID, public, INSTALLATION)
    key_file = tmp_path / "portal-app.pem"
    key_file.write_bytes(private)
    settings.PORTAL_GITHUB_TOKEN = ""
    settings.PORTAL_GITHUB_APP_ID = APP_ID
    settings.PORTAL_GITHUB_APP_PRIVATE_KEY_FILE = str(key_file)
    settings.PORTAL_GITHUB_APP_INSTALLATION_ID = str(INSTALLATION)
    return private


def _key_lines(pem: bytes) -> list[str]:
    return [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]


def test_a_github_app_opens_the_pull_request_with_one_installation_token(app_key, github, db, caplog):
    with caplog.at_level(logging.DEBUG):
        provider = GitHubProvider.from_settings()
        info = open_churn(provider)
        provider.upsert_comment(info.number, "portal:delta", "Resources: +1 CPU")

    assert info.number == 1 and github.pulls[1].head == "portal/churn-model"
    assert sum(1 for c in github.calls if c.path == f"/app/installations/{INSTALLATION}/access_tokens") == 1
    assert not any(line in caplog.text for line in _key_lines(app_key))


def test_a_github_app_key_that_is_not_the_apps_names_the_settings_and_never_the_key(settings, app_key, github, db,
                                                                                   caplog, tmp_path):
    other, _ = _rsa_pem()
    (tmp_path / "portal-app.pem").write_bytes(other)
    provider = GitHubProvider.from_settings()

    with caplog.at_level(logging.DEBUG), pytest.raises(PermanentError) as raised:
        open_churn(provider)

    message = str(raised.value)
    assert "PORTAL_GITHUB_APP_PRIVATE_KEY_FILE" in message and "PORTAL_GITHUB_APP_ID" in message
    assert not any(line in message or line in caplog.text for line in _key_lines(other) + _key_lines(app_key))
    assert not github.pulls


def test_a_github_app_installation_that_does_not_exist_names_the_setting(settings, app_key, github, db):
    settings.PORTAL_GITHUB_APP_INSTALLATION_ID = "999"

    with pytest.raises(PermanentError, match="PORTAL_GITHUB_APP_INSTALLATION_ID"):
        open_churn(GitHubProvider.from_settings())


@pytest.mark.parametrize(("content", "expected"), [
    (None, "cannot be read"),
    (b"-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n", "does not hold"),
])
def test_an_unusable_private_key_file_is_refused_before_any_request(settings, app_key, github, tmp_path, content,
                                                                    expected):
    key_file = tmp_path / "other.pem"
    if content is not None:
        key_file.write_bytes(content)
    settings.PORTAL_GITHUB_APP_PRIVATE_KEY_FILE = str(key_file)
    github.calls.clear()

    with pytest.raises(PermanentError, match=f"PORTAL_GITHUB_APP_PRIVATE_KEY_FILE.*{expected}"):
        GitHubProvider.from_settings()
    assert not github.calls


def test_a_github_app_configured_in_part_names_what_is_missing(settings, app_key):
    settings.PORTAL_GITHUB_APP_INSTALLATION_ID = ""

    with pytest.raises(PermanentError, match="set PORTAL_GITHUB_APP_INSTALLATION_ID"):
        GitHubProvider.from_settings()

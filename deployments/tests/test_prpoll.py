"""The pull-request poller: one paginated list per repository, one GET per pull request that closed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from deployments import prpoll, tasks
from deployments.choices import PullRequestEventKind, PullRequestState
from deployments.gitops.base import PermanentError, TransientError, body_marker
from deployments.models import PullRequest, PullRequestPoll
from deployments.pullrequests import pull_request_merged
from deployments.tests.github_fake import serve

TASK = "6f1f0b1e-0000-4000-8000-000000000001"


@pytest.fixture
def github(settings, db):
    with serve(settings) as fake:
        fake.seed({"catalog-info.yaml": b"kind: Location\n"})
        yield fake


@pytest.fixture
def refreshes(monkeypatch) -> list:
    """Snapshot refreshes queued by what the poller saw."""
    queued = []
    monkeypatch.setattr(prpoll, "refresh_snapshot", SimpleNamespace(delay=lambda: queued.append("refresh")))
    return queued


def list_calls(github) -> int:
    return github.count("GET", "/pulls", exact=True)


def get_calls(github) -> int:
    return github.count("GET", "/pulls/")


def test_one_pull_request_opened_then_merged_costs_one_list_and_one_get(github, refreshes,
                                                                       django_capture_on_commit_callbacks):
    pull = github.add_pull("Create model endpoint churn-model", "portal/churn-model", body=body_marker(TASK))

    first = prpoll.poll()

    row = PullRequest.objects.get()
    assert (row.number, row.state, row.provider, str(row.task)) == (pull.number, "open", "github", TASK)
    assert (first.listed, first.fetched, list_calls(github), get_calls(github)) == (1, 0, 1, 0)

    github.merge(pull.number, by="priya")
    with django_capture_on_commit_callbacks(execute=True):
        second = prpoll.poll()

    row.refresh_from_db()
    assert (row.state, row.merged_by) == (PullRequestState.MERGED, "priya")
    assert (second.changed, second.fetched, list_calls(github), get_calls(github)) == (1, 1, 2, 1)
    assert list(row.events.values_list("kind", "actor")) == [
        (PullRequestEventKind.OPENED, "github"), (PullRequestEventKind.MERGED, "priya")]
    assert refreshes == ["refresh"]

    third = prpoll.poll()

    assert (third.changed, list_calls(github), get_calls(github)) == (0, 3, 1)
    assert row.events.count() == 2


def test_150_pull_requests_page_through_once_then_only_what_changed(github, refreshes):
    pulls = [github.add_pull(f"Change {n}", f"change-{n}") for n in range(150)]

    first = prpoll.poll()

    assert (first.listed, list_calls(github), get_calls(github)) == (150, 2, 0)  # 100 per page
    assert PullRequest.objects.filter(state="open").count() == 150

    github.close(pulls[40].number)
    second = prpoll.poll()

    assert (second.changed, second.fetched) == (1, 1)
    assert (list_calls(github), get_calls(github)) == (3, 1)  # the first page held everything new
    closed = PullRequest.objects.get(state=PullRequestState.CLOSED)
    assert closed.number == pulls[40].number
    assert list(closed.events.values_list("kind", flat=True)) == [PullRequestEventKind.OPENED,
                                                                  PullRequestEventKind.CLOSED]
    assert refreshes == []


def test_a_merge_seen_by_the_poller_sends_the_merged_signal_once(github, refreshes):
    pull = github.add_pull("A change", "a-change")
    prpoll.poll()
    heard = []
    pull_request_merged.connect(lambda sender, pull_request, **kw: heard.append(pull_request.number), weak=False,
                                dispatch_uid="test-poll-merged")
    try:
        github.merge(pull.number)
        prpoll.poll()
        prpoll.poll()
    finally:
        pull_request_merged.disconnect(dispatch_uid="test-poll-merged")

    assert heard == [pull.number]


def test_a_rate_limit_holds_the_next_poll_until_the_wait_is_over(github):
    github.add_pull("A change", "a-change")
    github.rate_limit_next(retry_after=120)

    with pytest.raises(TransientError):
        prpoll.poll()
    calls = len(github.calls)
    held = prpoll.poll()

    assert held.skipped and len(github.calls) == calls
    state = PullRequestPoll.objects.get()
    assert "rate limit" in state.last_error and state.cursor is None


def test_the_beat_task_polls_github_and_skips_the_local_provider(github, settings, refreshes):
    github.add_pull("A change", "a-change")

    assert tasks.poll_pull_requests() == "1 changed of 1"

    settings.PORTAL_GITOPS_PROVIDER = "local"
    assert tasks.poll_pull_requests().startswith("skipped")


def test_the_beat_task_defers_on_a_passing_failure(github):
    github.fail_next(1, status=502)

    assert tasks.poll_pull_requests() == "deferred"
    assert "502" in PullRequestPoll.objects.get().last_error


def check_calls(github) -> int:
    return github.count("GET", "/commits/")


def test_checks_are_read_once_per_head_commit_and_again_for_a_new_one(github, refreshes):
    pull = github.add_pull("A change", "a-change")
    github.add_check_run(pull.head_sha, "guardrails")
    github.add_check_run(pull.head_sha, "kubeconform", conclusion="failure")
    github.add_check_run(pull.head_sha, "e2e", status="in_progress")

    first = prpoll.poll()

    row = PullRequest.objects.get()
    assert (first.checks, check_calls(github)) == (1, 1)
    assert {k: row.checks_summary[k] for k in ("total", "passed", "failed", "pending")} == {
        "total": 3, "passed": 1, "failed": 1, "pending": 1}
    assert [(r["name"], r["status"], r["conclusion"]) for r in row.checks_summary["runs"]] == [
        ("e2e", "in_progress", ""), ("guardrails", "completed", "success"), ("kubeconform", "completed", "failure")]
    assert row.checks_summary["runs"][0]["url"].endswith("/runs/e2e")

    github.pulls[pull.number].updated_at = github._tick()  # listed again, same head
    prpoll.poll()
    prpoll.poll()
    assert check_calls(github) == 1

    new_head = github.push({"apps/a/x.yaml": b"x: 2\n"}, branch="a-change")
    github.pulls[pull.number].updated_at = github._tick()
    github.add_check_run(new_head, "guardrails")
    second = prpoll.poll()

    row.refresh_from_db()
    assert (second.checks, check_calls(github)) == (1, 2)
    assert (row.checks_summary["sha"], row.checks_summary["total"], row.checks_summary["passed"]) == (new_head, 1, 1)


def test_checks_the_token_may_not_read_are_noted_once_and_the_poll_goes_on(github, refreshes, monkeypatch):
    from deployments.gitops.github import GitHubProvider

    def refused(self, sha):
        raise PermanentError("GitHub refused access to check runs")

    monkeypatch.setattr(GitHubProvider, "check_runs", refused)
    github.add_pull("A change", "a-change")

    assert prpoll.poll().listed == 1
    row = PullRequest.objects.get()
    assert "refused" in row.checks_summary["error"] and row.checks_summary["sha"] == row.head_sha

"""The pull-request pages: the diff, the merge button for those allowed, conflicts in words."""

import shutil

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deployments import pullrequests
from deployments.models import PullRequest
from deployments.tests.conftest import ENTITY

pytestmark = pytest.mark.django_db


@pytest.fixture
def pull_request(open_churn_change, churn_component, task_id, provider) -> PullRequest:
    number = open_churn_change().number
    pullrequests.link_entity(task_id, ENTITY)
    provider.upsert_comment(number, "portal-cost-delta", "Resource delta: +1 CPU, +2Gi memory.\nAbout $41 per month.")
    return PullRequest.objects.get()


def detail(client, pull_request):
    return client.get(pull_request.get_absolute_url())


def merge_button_shown(response) -> bool:
    return b">Merge into main</button>" in response.content


def test_the_page_shows_the_change_file_by_file(client, dana, pull_request):
    client.force_login(dana)
    response = detail(client, pull_request)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Create model endpoint churn-model" in page and "#1" in page
    assert "portal/churn-model</code>" in page and "Open</span>" in page
    assert "apps/churn-model/inference-service.yaml" in page
    assert '<tr class="diff-add"><td class="diff-ln"></td><td class="diff-ln">4</td><td class="diff-code">+  name: churn-model</td></tr>' in page
    assert 'class="diff-del"' in page, "the deleted file's lines are shown as removed"
    assert "About $41 per month." in page
    assert "portal-task:" not in page, "the hidden marker stays hidden"
    assert 'href="/catalog/default/component/churn-model"' in page


@pytest.mark.parametrize(("persona", "allowed"), [
    ("dana", True), ("priya", True), ("teammate_elsewhere", False), ("outsider", False),
])
def test_the_merge_button_is_shown_only_to_those_who_may_merge(client, pull_request, request, persona, allowed):
    client.force_login(request.getfixturevalue(persona))
    response = detail(client, pull_request)

    assert merge_button_shown(response) is allowed
    if not allowed:
        assert "Waiting for a merge by a member of <code>group:default/fraud-detection</code> or a platform admin" in (
            response.content.decode()
        )


def test_the_page_reads_only_the_database(client, dana, pull_request, gitops_repo):
    shutil.rmtree(gitops_repo)
    client.force_login(dana)

    response = detail(client, pull_request)

    assert response.status_code == 200
    assert "+  name: churn-model" in response.content.decode()


def test_the_query_count_does_not_grow_with_comments_events_or_files(client, priya, pull_request, provider, open_churn_change):
    client.force_login(priya)
    detail(client, pull_request)
    with CaptureQueriesContext(connection) as small:
        detail(client, pull_request)
    for i in range(5):
        provider.upsert_comment(pull_request.number, f"note-{i}", f"Note {i}")
    many_files = {f"apps/churn-model/extra-{i}.yaml": b"a: 1\n" for i in range(10)}
    open_churn_change(files=many_files)  # a second commit: an "updated" event and more files

    with CaptureQueriesContext(connection) as large:
        response = detail(client, pull_request)

    assert "extra-9.yaml" in response.content.decode()
    assert len(large) == len(small)


def test_merging_from_the_page_lands_on_the_merged_pull_request(client, dana, pull_request, repo):
    client.force_login(dana)

    response = client.post(reverse("deployments:pullrequest_merge", args=[pull_request.uuid]), follow=True)

    page = response.content.decode()
    assert response.redirect_chain[-1][0] == pull_request.get_absolute_url()
    assert "Merged #1 into main" in page
    assert "<strong>Merged</strong> by dana into <code>main</code>" in page
    assert not merge_button_shown(response)
    assert repo.git.commit("main").hexsha == PullRequest.objects.get().merge_commit_sha


def test_a_conflict_is_shown_in_words_with_its_files(client, dana, pull_request, provider, open_churn_change, repo):
    rival = open_churn_change(branch="portal/rival", marker="task-rival",
                              files={"apps/churn-model/inference-service.yaml": b"kind: Other\n"})
    provider.merge(rival.number)
    client.force_login(dana)

    response = client.post(reverse("deployments:pullrequest_merge", args=[pull_request.uuid]))

    assert response.status_code == 409
    page = response.content.decode()
    assert "This pull request has conflicts" in page
    assert "<li><code>apps/churn-model/inference-service.yaml</code></li>" in page
    assert "Nothing was merged." in page
    assert PullRequest.objects.get(pk=pull_request.pk).state == "open"


def test_a_merge_by_someone_not_allowed_is_forbidden(client, outsider, pull_request, repo):
    main_before = repo.git.commit("main").hexsha
    client.force_login(outsider)

    response = client.post(reverse("deployments:pullrequest_merge", args=[pull_request.uuid]))

    assert response.status_code == 403
    assert repo.git.commit("main").hexsha == main_before


def test_merge_answers_only_post(client, priya, pull_request):
    client.force_login(priya)
    assert client.get(reverse("deployments:pullrequest_merge", args=[pull_request.uuid])).status_code == 405


def test_closing_from_the_page(client, priya, pull_request):
    client.force_login(priya)

    response = client.post(reverse("deployments:pullrequest_close", args=[pull_request.uuid]), follow=True)

    assert "Closed #1 without merging." in response.content.decode()
    assert PullRequest.objects.get().state == "closed"


def test_the_list_filters_by_state(client, outsider, pull_request, provider, open_churn_change):
    other = open_churn_change(branch="portal/other", marker="task-other")
    provider.merge(other.number)
    client.force_login(outsider)

    everything = client.get(reverse("deployments:pullrequest_list")).content.decode()
    merged = client.get(reverse("deployments:pullrequest_list"), {"state": "merged"}).content.decode()

    assert "portal/churn-model" in everything and "portal/other" in everything
    assert "portal/other" in merged and "portal/churn-model" not in merged


def test_anonymous_visitors_are_sent_to_sign_in(client, pull_request):
    response = detail(client, pull_request)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_pull_request_page_in_a_browser(page, dana, pull_request):
    page.login("dana")
    page.goto(pull_request.get_absolute_url())

    browser = page.page
    assert browser.get_by_role("heading", name="Create model endpoint churn-model").is_visible()
    assert browser.get_by_role("button", name="Merge into main").is_visible()
    assert page.accessibility_violations() == []
    page.screenshot("pullrequest-open")

    browser.get_by_role("button", name="Merge into main").click()
    browser.wait_for_load_state("networkidle")
    assert browser.get_by_text("Merged #1 into main").is_visible()
    assert page.accessibility_violations() == []
    page.screenshot("pullrequest-merged")

    page.goto(reverse("deployments:pullrequest_list"))
    assert page.accessibility_violations() == []
    page.screenshot("pullrequest-list")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_conflict_in_the_browser_names_the_files(page, priya, pull_request, provider, open_churn_change):
    rival = open_churn_change(branch="portal/rival", marker="task-rival",
                              files={"apps/churn-model/inference-service.yaml": b"kind: Other\n"})
    provider.merge(rival.number)
    page.login("priya")
    page.goto(pull_request.get_absolute_url())

    page.page.get_by_role("button", name="Merge into main").click()
    page.page.wait_for_load_state("networkidle")
    # The refused merge answers 409 Conflict, which Chromium logs; that one is expected.
    page.console_errors.remove("Failed to load resource: the server responded with a status of 409 (Conflict)")

    alert = page.page.get_by_role("alert")
    assert "This pull request has conflicts" in alert.inner_text()
    assert "apps/churn-model/inference-service.yaml" in alert.inner_text()
    assert page.accessibility_violations() == []
    page.screenshot("pullrequest-conflict")


def test_the_checks_block_shows_counts_and_each_run(client, dana, pull_request):
    from deployments.gitops.github import checks_summary

    runs = [{"name": "kubeconform", "status": "completed", "conclusion": "failure",
             "html_url": "https://github.example/neuroscale/gitops/runs/1"},
            {"name": "e2e", "status": "in_progress", "conclusion": None, "html_url": "javascript:alert(1)"}]
    PullRequest.objects.filter(pk=pull_request.pk).update(checks_summary=checks_summary(pull_request.head_sha, runs))
    client.force_login(dana)

    page = detail(client, pull_request).content.decode()

    assert "<h2 id=\"checks-heading\">Checks</h2>" in page
    assert "0 passed · 1 failed · 1 pending" in page
    assert '<a href="https://github.example/neuroscale/gitops/runs/1">kubeconform</a>' in page
    assert "javascript:" not in page and "e2e\n" in page and "· running" in page


def test_without_checks_there_is_no_checks_block(client, dana, pull_request):
    client.force_login(dana)

    assert "checks-heading" not in detail(client, pull_request).content.decode()

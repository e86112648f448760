"""Merging and closing from the portal: who may, what is recorded, who is told."""

import pytest
from django.core.exceptions import PermissionDenied

from deployments import pullrequests
from deployments.gitops.base import MergeConflict, PermanentError
from deployments.models import PullRequest
from deployments.tests.conftest import ENTITY
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def pull_request(open_churn_change, churn_component, task_id) -> PullRequest:
    open_churn_change()
    pullrequests.link_entity(task_id, ENTITY)
    return PullRequest.objects.get()


def test_a_member_of_the_owning_group_can_merge(pull_request, dana, repo):
    commit = pullrequests.merge(pull_request, dana)

    assert repo.git.commit("main").hexsha == commit
    pull_request.refresh_from_db()
    assert (pull_request.state, pull_request.merged_by) == ("merged", "dana")


def test_a_platform_admin_can_merge(pull_request, priya):
    pullrequests.merge(pull_request, priya)
    assert PullRequest.objects.get().state == "merged"


@pytest.mark.parametrize("persona", ["teammate_elsewhere", "outsider"])
def test_people_outside_the_owning_group_are_refused_and_nothing_changes(pull_request, repo, request, persona):
    user = request.getfixturevalue(persona)
    main_before = repo.git.commit("main").hexsha

    with pytest.raises(PermissionDenied, match="Only members of group:default/fraud-detection and platform admins"):
        pullrequests.merge(pull_request, user)
    with pytest.raises(PermissionDenied):
        pullrequests.close(pull_request, user)

    assert repo.git.commit("main").hexsha == main_before
    assert PullRequest.objects.get().state == "open"
    assert not AuditEvent.objects.exists()


def test_without_a_catalog_entity_only_admins_may_merge(open_churn_change, dana, priya):
    open_churn_change()
    pull_request = PullRequest.objects.get()

    assert not pullrequests.can_merge(dana, pull_request)
    with pytest.raises(PermissionDenied, match="Only platform admins"):
        pullrequests.merge(pull_request, dana)
    assert pullrequests.can_merge(priya, pull_request)


def test_a_merge_is_audited_and_announced(pull_request, dana):
    heard = []
    pullrequests.pull_request_merged.connect(lambda sender, pull_request, **kw: heard.append(pull_request.state), weak=False,
                                             dispatch_uid="test-merged")
    try:
        commit = pullrequests.merge(pull_request, dana)
    finally:
        pullrequests.pull_request_merged.disconnect(dispatch_uid="test-merged")

    event = AuditEvent.objects.get()
    assert (event.actor_name, event.action, event.target) == ("dana", "pullrequest.merged", f"pullrequest:{pull_request.uuid}")
    assert event.details["commit"] == commit and event.details["number"] == pull_request.number
    assert heard == ["merged"]


def test_closing_keeps_the_branch_and_is_audited(pull_request, dana, repo):
    pullrequests.close(pull_request, dana)

    pull_request.refresh_from_db()
    assert pull_request.state == "closed" and pull_request.closed_at is not None
    assert "portal/churn-model" in repo.branches()
    assert AuditEvent.objects.get().action == "pullrequest.closed"
    assert not pullrequests.can_merge(dana, pull_request)
    with pytest.raises(PermanentError, match="already closed"):
        pullrequests.merge(pull_request, dana)


def test_a_stale_copy_cannot_merge_what_another_request_closed(pull_request, dana, priya):
    stale = PullRequest.objects.get(pk=pull_request.pk)
    pullrequests.close(pull_request, priya)

    with pytest.raises(PermanentError, match="already closed"):
        pullrequests.merge(stale, dana)
    assert PullRequest.objects.get().state == "closed"


def test_a_conflict_reaches_the_caller_with_its_files(pull_request, provider, open_churn_change, dana):
    rival = open_churn_change(branch="portal/rival", marker="task-rival",
                              files={"apps/churn-model/catalog-info.yaml": b"kind: Component\n"})
    provider.merge(rival.number)

    with pytest.raises(MergeConflict) as conflict:
        pullrequests.merge(pull_request, dana)
    assert conflict.value.files == ["apps/churn-model/catalog-info.yaml"]
    assert not AuditEvent.objects.filter(action="pullrequest.merged").exists()

"""A model endpoint's page lists its pull requests (title, state, when opened or merged, a link
to the pull-request page), through the catalog's panel registry, in a constant number of queries."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments import pullrequests
from deployments.models import PullRequest
from deployments.panels import pull_requests_panel
from scaffolder import runner, services
from scaffolder.choices import TaskStatus
from scaffolder.tests import task_helpers
from scaffolder.tests.task_helpers import GOLDEN_TEMPLATE, GOLDEN_VALUES, template

pytestmark = pytest.mark.django_db
task_catalog = task_helpers.task_catalog  # fixture

PAGE = "/catalog/default/component/card-fraud"


def scaffold(user) -> PullRequest:
    task = services.create_task(template(GOLDEN_TEMPLATE), dict(GOLDEN_VALUES), user=user)
    assert runner.run(task.pk) == TaskStatus.COMPLETED, task_helpers.messages(task)
    return PullRequest.objects.get(task=task.uuid)


def panel_html(client, user, path: str = PAGE) -> str:
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    start = html.find('aria-labelledby="pull-requests-title"')
    return html[start:html.find("</section>", start)] if start >= 0 else ""


def test_the_endpoint_page_lists_its_pull_request_with_state_and_link(task_catalog, client, dana):
    pull_request = scaffold(dana)

    html = panel_html(client, dana)

    assert "Add model endpoint card-fraud" in html
    assert f'href="/deployments/pull-requests/{pull_request.uuid}"' in html
    assert ">Open</span>" in html and "opened" in html


def test_a_merged_pull_request_shows_merged_and_by_whom(task_catalog, client, dana, priya):
    pull_request = scaffold(dana)
    pullrequests.merge(pull_request, priya)

    html = panel_html(client, dana)

    assert ">Merged</span>" in html
    assert "merged" in html and "by priya" in html


def test_other_entities_show_no_pull_request_panel(task_catalog, client, dana):
    scaffold(dana)

    assert panel_html(client, dana, "/catalog/default/group/fraud-detection") == ""


def test_the_panel_costs_one_query_whatever_the_number_of_pull_requests(task_catalog, dana):
    first = scaffold(dana)
    entity = type("Entity", (), {"kind": "Component", "ref": "component:default/card-fraud", "type": "model-endpoint"})

    with CaptureQueriesContext(connection) as one:
        panel = pull_requests_panel(entity, None)
    assert len(panel[1]["pull_requests"]) == 1
    for number in range(2, 15):
        PullRequest.objects.create(
            provider=first.provider, repository=first.repository, number=number, branch=f"change/{number}",
            base="main", title=f"Change {number}", state="closed", entity_ref=first.entity_ref,
        )

    with CaptureQueriesContext(connection) as many:
        panel = pull_requests_panel(entity, None)

    assert len(one) == len(many) == 1
    assert len(panel[1]["pull_requests"]) == 10 and panel[1]["full"]


def test_the_entity_page_keeps_its_query_count_with_more_pull_requests(task_catalog, client, dana):
    first = scaffold(dana)
    client.force_login(dana)
    client.get(PAGE)  # the first request after signing in also records the sign-in
    with CaptureQueriesContext(connection) as one:
        client.get(PAGE)
    for number in range(2, 15):
        PullRequest.objects.create(
            provider=first.provider, repository=first.repository, number=number, branch=f"change/{number}",
            base="main", title=f"Change {number}", state="merged", merged_by="priya", entity_ref=first.entity_ref,
        )

    with CaptureQueriesContext(connection) as many:
        response = client.get(PAGE)

    assert len(many) == len(one)
    section = response.content.decode().split('<section class="panel" aria-labelledby="pull-requests-title">', 1)[1]
    section = section.split("</section>", 1)[0]
    assert len(re.findall(r'href="/deployments/pull-requests/[0-9a-f-]{36}"', section)) == 10, "the newest ten"

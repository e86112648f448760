"""Task pages: steps and their states, the live log that stops polling, outputs, Cancel and
Retry for those allowed, and the task list with its filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import PullRequest
from scaffolder.choices import EventType, StepStatus, TaskStatus
from scaffolder.models import Task, TaskEvent, TaskStep


def make_task(user, *, status=TaskStatus.PROCESSING, steps=(), template="template:default/model-endpoint", **fields):
    now = timezone.now()
    task = Task.objects.create(
        template_ref=template, template_title=fields.pop("title", "KServe model endpoint"), spec={"steps": []},
        status=status, created_by=user, claimed_at=now - timedelta(seconds=5) if status != TaskStatus.OPEN else None,
        **fields,
    )
    for index, (step_id, step_status, seconds) in enumerate(steps):
        started = now - timedelta(seconds=seconds) if step_status != StepStatus.OPEN else None
        TaskStep.objects.create(
            task=task, index=index, step_id=step_id, name=step_id.capitalize(), action="debug:log", status=step_status,
            started_at=started,
            finished_at=now if step_status in (StepStatus.COMPLETED, StepStatus.FAILED) else None,
        )
    return task


def log(task, message, **body):
    return TaskEvent.objects.create(task=task, type=EventType.LOG, body={"message": message, **body})


@pytest.fixture
def running(dana):
    task = make_task(dana, steps=[("render", StepStatus.COMPLETED, 2.5), ("publish", StepStatus.PROCESSING, 1),
                                  ("register", StepStatus.OPEN, 0)])
    log(task, "Beginning step Render", stepId="render")
    log(task, "Rendered 2 files", stepId="render")
    return task


def url(task):
    return f"/create/tasks/{task.uuid}"


def test_task_page_shows_steps_with_state_and_duration(client, dana, running):
    client.force_login(dana)
    html = client.get(url(running)).content.decode()
    assert "<h1>KServe model endpoint</h1>" in html
    assert "Started by dana" in html
    assert '<li class="task-step step-completed">' in html
    assert '<span class="step-name">Render</span>' in html
    assert '<span class="badge badge-ok">Done</span>' in html
    assert '<small class="muted step-duration">2.5 s</small>' in html
    assert '<span class="badge badge-info">Running</span>' in html
    assert '<span class="badge badge-muted">Waiting</span>' in html
    assert "Rendered 2 files" in html


def test_live_log_polls_every_second_for_lines_after_the_last(client, dana, running):
    client.force_login(dana)
    html = client.get(url(running)).content.decode()
    last = running.events.order_by("-id").first().id
    assert f'hx-get="/create/tasks/{running.uuid}?after={last}" hx-trigger="every 1s"' in html


def test_poll_fragment_appends_new_lines_and_refreshes_steps(client, dana, running):
    client.force_login(dana)
    last = running.events.order_by("-id").first().id
    new = log(running, "Opened pull request #1", stepId="publish")
    response = client.get(f"{url(running)}?after={last}", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Opened pull request #1" in html
    assert "Rendered 2 files" not in html
    assert 'hx-swap-oob="beforeend:#task-log"' in html
    assert f"?after={new.id}" in html
    assert '<div id="task-steps" hx-swap-oob="true">' in html
    assert "HX-Request" in response["Vary"]
    assert 'id="log-empty"' not in html, "the waiting placeholder went with the first lines"
    first = client.get(f"{url(running)}?after=0", HTTP_HX_REQUEST="true").content.decode()
    assert '<p id="log-empty" hx-swap-oob="delete">' in first


def test_poll_stops_with_286_once_the_task_is_terminal(client, dana, running):
    client.force_login(dana)
    Task.objects.filter(pk=running.pk).update(status=TaskStatus.COMPLETED, finished_at=timezone.now())
    response = client.get(f"{url(running)}?after=0", HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    assert 'hx-trigger="every 1s"' not in response.content.decode()
    full = client.get(url(running)).content.decode()
    assert 'hx-trigger="every 1s"' not in full
    assert "Finished" in full


def test_failed_task_shows_its_error_in_words(client, dana):
    task = make_task(dana, status=TaskStatus.FAILED, steps=[("publish", StepStatus.FAILED, 1)],
                     error="Branch model-endpoint/x belongs to task 1234: finish or close that pull request first.",
                     finished_at=timezone.now())
    client.force_login(dana)
    html = client.get(url(task)).content.decode()
    assert '<p class="error-words">Branch model-endpoint/x belongs to task 1234' in html
    assert '<span class="badge badge-bad">Failed</span>' in html


def test_outputs_link_to_the_local_pull_request_page_and_the_entity(client, dana):
    task = make_task(dana, status=TaskStatus.COMPLETED, finished_at=timezone.now(), output={
        "links": [{"title": "Pull request", "url": "http://git.local/pr/7"},
                  {"title": "Open in catalog", "entityRef": "component:default/card-fraud"},
                  {"title": "Docs", "url": "https://docs.neuroscale.test/x"},
                  {"title": "Bad", "url": "javascript:alert(1)"}],
        "text": [{"title": "Next steps", "content": "Ask priya to merge it."}],
    })
    pull_request = PullRequest.objects.create(provider="local", repository="/r", number=7, url="http://git.local/pr/7",
                                              branch="model-endpoint/card-fraud", base="main", title="Add card-fraud",
                                              task=task.uuid)
    client.force_login(dana)
    html = client.get(url(task)).content.decode()
    assert f'<a href="/deployments/pull-requests/{pull_request.uuid}">Pull request #7: Add card-fraud</a>' in html
    assert "http://git.local/pr/7" not in html
    assert '<a href="/catalog/default/component/card-fraud">Open in catalog</a>' in html
    assert '<a href="https://docs.neuroscale.test/x" rel="noopener noreferrer">Docs</a>' in html
    assert "javascript:" not in html
    assert "Ask priya to merge it." in html


def test_output_url_is_linked_when_there_is_no_pull_request_row(client, dana):
    task = make_task(dana, status=TaskStatus.COMPLETED, finished_at=timezone.now(),
                     output={"links": [{"title": "Pull request", "url": "https://github.com/o/r/pull/3"}]})
    client.force_login(dana)
    assert '<a href="https://github.com/o/r/pull/3" rel="noopener noreferrer">Pull request</a>' in client.get(url(task)).content.decode()


@pytest.mark.parametrize(("persona", "cancel"), [("dana", True), ("priya", True), ("teammate", True), ("outsider", False)])
def test_cancel_button_for_those_allowed(client, make_user, dana, priya, outsider, running, persona, cancel):
    from catalog import store

    store.upsert({"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "card-fraud"},
                  "spec": {"type": "service", "lifecycle": "experimental", "owner": "fraud-detection"}})
    Task.objects.filter(pk=running.pk).update(entity_ref="component:default/card-fraud")
    users = {"dana": dana, "priya": priya, "outsider": outsider}
    users["teammate"] = make_user("tom", groups=["fraud-detection"])
    client.force_login(users[persona])
    response = client.get(url(running))
    if persona == "outsider":
        assert response.status_code == 404  # an outsider cannot see someone else's task
        return
    assert ("Cancel task</button>" in response.content.decode()) is cancel
    assert "Retry</button>" not in response.content.decode()


def test_cancel_posts_and_says_what_happens(client, dana, running):
    client.force_login(dana)
    response = client.post(f"{url(running)}/cancel", follow=True)
    html = response.content.decode()
    assert "Cancel requested: the task stops before its next step." in html
    assert "Cancel task</button>" not in html
    running.refresh_from_db()
    assert running.cancel_requested_at is not None


def test_a_viewer_who_may_not_change_gets_no_buttons_and_a_refusal(client, make_user, running):
    from catalog import store
    from portal.models import Membership

    store.upsert({"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "card-fraud"},
                  "spec": {"type": "service", "lifecycle": "experimental", "owner": "fraud-detection"}})
    Task.objects.filter(pk=running.pk).update(entity_ref="component:default/card-fraud")
    viewer = make_user("vera")
    Membership.objects.create(user_ref="user:default/vera", group_ref="group:default/fraud-detection",
                              direct=False, can_manage=False)
    client.force_login(viewer)
    assert "Cancel task</button>" not in client.get(url(running)).content.decode()
    assert client.post(f"{url(running)}/cancel").status_code == 403
    running.refresh_from_db()
    assert running.cancel_requested_at is None


def test_retry_button_only_on_a_failed_task(client, dana):
    task = make_task(dana, status=TaskStatus.FAILED, steps=[("render", StepStatus.COMPLETED, 1), ("publish", StepStatus.FAILED, 1)],
                     error="The repository did not answer.", finished_at=timezone.now())
    client.force_login(dana)
    html = client.get(url(task)).content.decode()
    assert "Retry</button>" in html and "Cancel task</button>" not in html
    response = client.post(f"{url(task)}/retry", follow=True)
    assert "The task restarts from the step that failed." in response.content.decode()
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    assert task.steps.get(step_id="render").status == StepStatus.COMPLETED


def test_task_actions_need_post(client, dana, running):
    client.force_login(dana)
    assert client.get(f"{url(running)}/cancel").status_code == 405


def test_task_pages_need_sign_in(client, running):
    assert client.get(url(running)).status_code == 302


# --- the task list --------------------------------------------------------------------------


def test_my_tasks_lists_only_mine(client, dana, priya):
    make_task(dana, title="Dana's endpoint")
    make_task(priya, title="Priya's endpoint")
    client.force_login(dana)
    html = client.get("/create/tasks/").content.decode()
    assert "<h1>My tasks</h1>" in html
    assert "Dana&#x27;s endpoint" in html and "Priya&#x27;s endpoint" not in html
    assert 'id="task-filters"' not in html
    # a non-admin asking for everything still gets their own
    assert "Priya&#x27;s endpoint" not in client.get("/create/tasks/?scope=all").content.decode()


def test_admin_sees_all_tasks_with_filters(client, dana, priya):
    make_task(dana, title="Dana running", status=TaskStatus.PROCESSING)
    make_task(dana, title="Dana failed", status=TaskStatus.FAILED, template="template:default/other")
    make_task(priya, title="Priya done", status=TaskStatus.COMPLETED)
    client.force_login(priya)
    assert "Dana running" not in client.get("/create/tasks/").content.decode()
    everything = client.get("/create/tasks/?scope=all").content.decode()
    assert "<h1>All tasks</h1>" in everything
    assert all(title in everything for title in ("Dana running", "Dana failed", "Priya done"))
    assert "Dana failed" in client.get("/create/tasks/?scope=all&status=failed").content.decode()
    assert "Dana running" not in client.get("/create/tasks/?scope=all&status=failed").content.decode()
    by_template = client.get("/create/tasks/?scope=all&template=template:default/other").content.decode()
    assert "Dana failed" in by_template and "Priya done" not in by_template
    by_creator = client.get("/create/tasks/?scope=all&creator=priya").content.decode()
    assert "Priya done" in by_creator and "Dana running" not in by_creator


def test_task_list_htmx_returns_the_results_only(client, priya):
    make_task(priya)
    client.force_login(priya)
    response = client.get("/create/tasks/?scope=all", HTTP_HX_REQUEST="true")
    assert "<!doctype html>" not in response.content.decode()
    assert "<table" in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_task_list_query_count_does_not_grow(client, priya, dana, django_assert_max_num_queries):
    client.force_login(priya)
    for _ in range(3):
        make_task(dana)
    client.get("/create/tasks/?scope=all")  # warm the session and memberships
    with django_assert_max_num_queries(10) as few:
        client.get("/create/tasks/?scope=all")
    for _ in range(20):
        make_task(dana)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/create/tasks/?scope=all")


def test_task_page_query_count_does_not_grow_with_steps_and_events(client, dana, django_assert_max_num_queries):
    task = make_task(dana, steps=[("a", StepStatus.COMPLETED, 1)])
    log(task, "one")
    client.force_login(dana)
    client.get(url(task))
    with django_assert_max_num_queries(14) as few:
        client.get(url(task))
    for index in range(10):
        TaskStep.objects.create(task=task, index=index + 1, step_id=f"s{index}", action="debug:log")
        log(task, f"line {index}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url(task))


def test_action_list_shows_each_action_with_its_schemas(client, dana):
    client.force_login(dana)
    html = client.get("/create/actions").content.decode()
    assert '<h2 id="action-fetchtemplate-title"><code>fetch:template</code></h2>' in html
    assert "<code>targetPath</code>" in html
    assert "<code>debug:log</code>" in html
    assert "<caption class=\"visually-hidden\">Input of fetch:template</caption>" in html

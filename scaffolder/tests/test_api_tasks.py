"""POST/GET tasks, events, cancel and retry answer Backstage's requests with Backstage's shapes."""

from __future__ import annotations

import uuid

import pytest

from catalog import store
from catalog.tests.conftest import api_client, entity_document, token_client  # noqa: F401 - fixtures
from portal.models import AuditEvent
from scaffolder import runner
from scaffolder.choices import EventType, TaskStatus
from scaffolder.models import Task, TaskEvent
from scaffolder.tests.api_helpers import API, create, hello_template

pytestmark = pytest.mark.django_db


@pytest.fixture
def hello(db):
    return hello_template()


@pytest.fixture
def writer(dana, token_client):  # noqa: F811
    return token_client(dana)


def task_of(response) -> Task:
    return Task.objects.get(uuid=response.json()["id"])


# --- create ------------------------------------------------------------------------------------


def test_a_write_token_creates_a_task_and_gets_its_id(writer, hello, dana):
    response = create(writer, {"replicas": 2})
    assert response.status_code == 201
    task = task_of(response)
    assert response["Location"] == f"{API}/tasks/{task.uuid}"
    assert "Idempotent-Replayed" not in response
    assert (task.status, task.created_by, task.template_ref) == (TaskStatus.OPEN, dana, "template:default/hello")
    assert task.values == {"name": "dana-test", "replicas": 2}
    assert AuditEvent.objects.filter(action="task.created", target=f"task:{task.uuid}", actor=dana).exists()


def test_a_short_template_ref_means_a_template_in_the_default_namespace(writer, hello):
    assert create(writer, template="hello").status_code == 201
    missing = create(writer, template="template:default/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["name"] == "NotFoundError"
    assert "nope" in missing.json()["error"]["message"]


def test_the_same_idempotency_key_and_body_answer_the_same_task(writer, hello):
    first = create(writer, key="deploy-42")
    again = create(writer, key="deploy-42")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Task.objects.count() == 1
    # Key order and spacing are not part of the body's identity.
    reordered = writer.generic(
        "POST", f"{API}/tasks", '{"values": {"name": "dana-test"},   "templateRef": "template:default/hello"}',
        content_type="application/json", HTTP_IDEMPOTENCY_KEY="deploy-42",
    )
    assert reordered.json() == first.json()


def test_the_same_idempotency_key_with_another_body_answers_422(writer, hello):
    create(writer, key="deploy-42")
    response = create(writer, {"name": "someone-else"}, key="deploy-42")
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["name"] == "InputError"
    assert "already used with a different request body" in body["error"]["message"]
    assert body["response"] == {"statusCode": 422}
    assert Task.objects.count() == 1


def test_idempotency_keys_belong_to_their_user(writer, hello, priya, token_client):  # noqa: F811
    mine = create(writer, key="deploy-42")
    theirs = create(token_client(priya), {"name": "someone-else"}, key="deploy-42")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]


def test_values_that_do_not_fit_answer_400_naming_each_field(writer, hello):
    response = create(writer, {"name": "Not A Label", "replicas": 9})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["name"] == "InputError"
    details = {detail["field"]: detail["message"] for detail in error["details"]}
    assert details.keys() == {"name", "replicas"}
    assert "lowercase DNS label" in details["name"]
    assert details["replicas"] == "must be at most 5"
    assert "name: " in error["message"] and "replicas: must be at most 5" in error["message"]
    assert not Task.objects.exists()


def test_a_malformed_body_answers_400(writer, hello):
    response = writer.post(f"{API}/tasks", {"values": {}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "templateRef: This field is required."
    assert writer.post(f"{API}/tasks", {"templateRef": "hello", "secrets": {"k": ["x"]}}, format="json").status_code == 400


def test_password_values_are_masked_and_secrets_never_shown(writer, hello):
    task = task_of(create(writer, {"apiKey": "sk-very-secret"}, secrets={"githubToken": "ghp-also-secret"}))
    response = writer.get(f"{API}/tasks/{task.uuid}")
    assert response.json()["spec"]["parameters"] == {"name": "dana-test", "apiKey": "***"}
    assert "secret" not in response.content.decode().replace("secrets", "")
    assert "secrets" not in response.json()


# --- permissions -------------------------------------------------------------------------------


def test_without_credentials_every_endpoint_answers_401_json(api_client, hello):  # noqa: F811
    task_id = uuid.uuid4()
    for method, path in [
        ("get", "tasks"), ("post", "tasks"), ("get", f"tasks/{task_id}"), ("get", f"tasks/{task_id}/events"),
        ("get", f"tasks/{task_id}/eventstream"), ("post", f"tasks/{task_id}/cancel"), ("post", f"tasks/{task_id}/retry"),
        ("post", "dry-run"), ("get", "actions"), ("get", "templates/default/template/hello/parameter-schema"),
    ]:
        response = getattr(api_client, method)(f"{API}/{path}")
        assert response.status_code == 401, path
        assert response["Content-Type"].startswith("application/json"), path
        assert response.json()["error"]["name"] == "AuthenticationError", path


def test_a_read_token_reads_but_may_not_create(dana, token_client, hello):  # noqa: F811
    reader = token_client(dana, scope="read")
    response = create(reader)
    assert response.status_code == 403
    assert response.json()["error"]["name"] == "NotAllowedError"
    assert "write scope" in response.json()["error"]["message"]
    assert reader.get(f"{API}/tasks").status_code == 200


def test_a_session_needs_its_csrf_token_to_create(dana, hello):
    from rest_framework.test import APIClient

    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(dana)
    refused = create(browser)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    token = "csrf0secret0of0thirty0two0chars0"  # a 32-character secret, as Django's cookie holds
    browser.cookies["csrftoken"] = token
    allowed = browser.post(f"{API}/tasks", {"templateRef": "hello", "values": {"name": "x"}}, format="json",
                           HTTP_X_CSRFTOKEN=token)
    assert allowed.status_code == 201


def test_the_creator_teammates_and_admins_see_a_task_and_an_outsider_does_not(
    writer, hello, priya, outsider, make_user, token_client  # noqa: F811
):
    task = task_of(create(writer))
    store.upsert(entity_document("Component", "dana-test", spec={"type": "service", "lifecycle": "experimental",
                                                                 "owner": "fraud-detection"}))
    Task.objects.filter(pk=task.pk).update(entity_ref="component:default/dana-test")
    teammate = make_user("tom", groups=["fraud-detection"])
    for user, visible in [(priya, True), (teammate, True), (outsider, False)]:
        client = token_client(user)
        detail = client.get(f"{API}/tasks/{task.uuid}")
        assert detail.status_code == (200 if visible else 404), user
        assert client.get(f"{API}/tasks/{task.uuid}/events").status_code == (200 if visible else 404)
    refused = token_client(outsider).post(f"{API}/tasks/{task.uuid}/cancel")
    assert refused.status_code == 404
    assert refused.json()["error"]["message"] == f"Task with id {task.uuid} does not exist"
    assert Task.objects.get(pk=task.pk).status == TaskStatus.OPEN


def test_an_unknown_or_malformed_task_id_is_404(writer):
    assert writer.get(f"{API}/tasks/{uuid.uuid4()}").status_code == 404
    assert writer.get(f"{API}/tasks/not-a-uuid").json()["error"]["name"] == "NotFoundError"


# --- list --------------------------------------------------------------------------------------


def test_the_list_shows_my_tasks_newest_first_and_admins_everyones(writer, hello, priya, token_client):  # noqa: F811
    first, second = task_of(create(writer, {"name": "one"})), task_of(create(writer, {"name": "two"}))
    admin = token_client(priya)
    theirs = task_of(create(admin, {"name": "three"}))
    mine = writer.get(f"{API}/tasks").json()
    assert [task["id"] for task in mine["tasks"]] == [str(second.uuid), str(first.uuid)]
    assert mine["totalTasks"] == 2
    item = mine["tasks"][0]
    assert item["createdBy"] == "user:default/dana"
    assert item["status"] == "open"
    assert item["spec"]["templateInfo"]["entityRef"] == "template:default/hello"
    assert [step["id"] for step in item["spec"]["steps"]] == ["greet", "break"]
    everyone = admin.get(f"{API}/tasks").json()
    assert [task["id"] for task in everyone["tasks"]] == [str(theirs.uuid), str(second.uuid), str(first.uuid)]
    by_dana = admin.get(f"{API}/tasks", {"createdBy": "user:default/dana"}).json()
    assert by_dana["totalTasks"] == 2
    # createdBy cannot widen what a user sees.
    assert writer.get(f"{API}/tasks", {"createdBy": "user:default/priya"}).json() == {"tasks": [], "totalTasks": 0}


def test_the_list_filters_by_status_and_pages(writer, hello):
    tasks = [task_of(create(writer, {"name": f"t{i}"})) for i in range(5)]
    Task.objects.filter(pk=tasks[0].pk).update(status=TaskStatus.FAILED)
    failed = writer.get(f"{API}/tasks", {"status": "failed"}).json()
    assert [task["id"] for task in failed["tasks"]] == [str(tasks[0].uuid)]
    page = writer.get(f"{API}/tasks", {"limit": 2, "offset": 2}).json()
    assert [task["id"] for task in page["tasks"]] == [str(tasks[2].uuid), str(tasks[1].uuid)]
    assert page["totalTasks"] == 5
    assert writer.get(f"{API}/tasks", {"status": "done"}).json()["error"]["message"].startswith("Invalid status done")
    assert writer.get(f"{API}/tasks", {"limit": "many"}).status_code == 400


@pytest.mark.parametrize("count", [2, 12])
def test_the_list_makes_the_same_number_of_queries_for_any_number_of_tasks(
    count, writer, hello, django_assert_max_num_queries
):
    for i in range(count):
        create(writer, {"name": f"t{i}"})
    with django_assert_max_num_queries(8):
        assert len(writer.get(f"{API}/tasks").json()["tasks"]) == count


# --- detail, events ----------------------------------------------------------------------------


def test_a_run_task_shows_its_steps_output_and_events_after_a_cursor(writer, hello):
    task = task_of(create(writer))
    assert runner.run(task.pk) == TaskStatus.COMPLETED
    detail = writer.get(f"{API}/tasks/{task.uuid}").json()
    assert detail["status"] == "completed"
    assert detail["lastHeartbeatAt"] is not None
    assert [(step["id"], step["status"]) for step in detail["steps"]] == [("greet", "completed"), ("break", "skipped")]
    assert detail["output"]["text"][0]["content"] == "Said hello to dana-test"
    events = writer.get(f"{API}/tasks/{task.uuid}/events").json()
    assert {"message": "Hello, dana-test!"}.items() <= next(
        e["body"] for e in events if e["body"].get("message") == "Hello, dana-test!"
    ).items()
    assert events[-1]["type"] == "completion"
    assert set(events[0]) == {"id", "taskId", "type", "body", "createdAt"}
    assert events[0]["taskId"] == str(task.uuid)
    middle = events[len(events) // 2]["id"]
    later = writer.get(f"{API}/tasks/{task.uuid}/events", {"after": middle}).json()
    assert [e["id"] for e in later] == [e["id"] for e in events if e["id"] > middle]
    assert writer.get(f"{API}/tasks/{task.uuid}/events", {"after": events[-1]["id"]}).json() == []


# --- cancel, retry -----------------------------------------------------------------------------


def test_cancel_stops_a_waiting_task_and_then_has_nothing_to_cancel(writer, hello, dana):
    task = task_of(create(writer))
    response = writer.post(f"{API}/tasks/{task.uuid}/cancel")
    assert response.status_code == 200
    assert response.json() == {"status": "cancelled"}
    assert TaskEvent.objects.filter(task=task, type=EventType.CANCELLED).exists()
    assert AuditEvent.objects.filter(action="task.cancelled", actor=dana).exists()
    again = writer.post(f"{API}/tasks/{task.uuid}/cancel")
    assert again.status_code == 409
    assert again.json()["error"] == {"name": "ConflictError", "message": "The task is already cancelled; there is nothing to cancel."}


def test_a_teammate_who_can_see_but_not_change_is_refused_with_403(writer, hello, make_user, token_client):  # noqa: F811
    task = task_of(create(writer))
    store.upsert(entity_document("Component", "dana-test", spec={"type": "service", "lifecycle": "experimental",
                                                                 "owner": "fraud-detection"}))
    Task.objects.filter(pk=task.pk).update(entity_ref="component:default/dana-test")
    # A member through a sub-team may read, but only the owning team's direct members may change.
    from portal.models import Membership

    viewer = make_user("vic")
    Membership.objects.create(user_ref="user:default/vic", group_ref="group:default/fraud-detection",
                              direct=False, can_manage=False)
    client = token_client(viewer)
    assert client.get(f"{API}/tasks/{task.uuid}").status_code == 200
    refused = client.post(f"{API}/tasks/{task.uuid}/cancel")
    assert refused.status_code == 403
    assert refused.json()["error"]["name"] == "NotAllowedError"


def test_retry_runs_a_failed_task_again_from_the_failed_step(writer, hello, dana):
    task = task_of(create(writer, {"fail": True}))
    assert runner.run(task.pk) == TaskStatus.FAILED
    response = writer.post(f"{API}/tasks/{task.uuid}/retry")
    assert response.status_code == 201
    assert response.json() == {"id": str(task.uuid)}
    detail = writer.get(f"{API}/tasks/{task.uuid}").json()
    assert detail["status"] == "open"
    assert [(step["id"], step["status"]) for step in detail["steps"]] == [("greet", "completed"), ("break", "open")]
    assert AuditEvent.objects.filter(action="task.retried", actor=dana).exists()
    retried = writer.post(f"{API}/tasks/{task.uuid}/retry")
    assert retried.status_code == 409
    assert "Only a failed or cancelled task can be retried" in retried.json()["error"]["message"]


def test_reading_one_task_costs_the_same_whatever_the_number_of_tasks(writer, hello, django_assert_max_num_queries):
    tasks = [task_of(create(writer, {"name": f"t{i}"})) for i in range(15)]
    with django_assert_max_num_queries(6) as captured:
        assert writer.get(f"{API}/tasks/{tasks[3].uuid}").json()["id"] == str(tasks[3].uuid)
    # Only the one task is read, never the whole table.
    task_reads = [q["sql"] for q in captured.captured_queries if 'FROM "scaffolder_task"' in q["sql"]]
    assert task_reads and all("WHERE" in sql for sql in task_reads)

"""The event stream, read over a real HTTP connection as a browser's EventSource would."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from portal.models import APIToken
from scaffolder.api import views
from scaffolder.choices import EventType, TaskStatus
from scaffolder.models import Task, TaskEvent
from scaffolder.tests.api_helpers import API, hello_template


@pytest.fixture
def task(transactional_db, dana):
    template = hello_template()
    task = Task.objects.create(template_ref=template.ref, spec=template.document, values={"name": "x"}, created_by=dana)
    for message in ("Beginning step Greet", "Hello, x!"):
        TaskEvent.objects.create(task=task, type=EventType.LOG, body={"message": message, "stepId": "greet"})
    return task


@pytest.fixture
def headers(dana):
    _, clear = APIToken.issue(dana, name="stream", scope="read")
    return {"Authorization": f"Bearer {clear}", "Accept": "text/event-stream"}


def read_stream(url: str, headers: dict, timeout: float = 20) -> tuple[list[dict], float]:
    """Every server-sent event until the server closes the stream, and how long that took."""
    started = time.monotonic()
    events, current = [], {}
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        for line in response.iter_lines(decode_unicode=True):
            if not line:
                if "data" in current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = value
    return events, time.monotonic() - started


def finish(task: Task) -> None:
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.COMPLETED)
    TaskEvent.objects.create(task=task, type=EventType.COMPLETION, body={"message": "Run completed with status: completed"})


def test_the_stream_sends_each_event_with_its_id_and_closes_at_completion(live_server, task, headers):
    url = f"{live_server.url}{API}/tasks/{task.uuid}/eventstream"
    threading.Timer(1.0, finish, args=[task]).start()  # completes while the stream is open
    events, took = read_stream(url, headers)
    assert [event["event"] for event in events] == ["log", "log", "completion"]
    stored = list(TaskEvent.objects.filter(task=task).order_by("id"))
    assert [int(event["id"]) for event in events] == [event.id for event in stored]
    first = json.loads(events[0]["data"])
    assert first == {**stored[0].as_backstage(str(task.uuid)), "createdAt": first["createdAt"]}
    assert first["body"]["message"] == "Beginning step Greet"
    assert took < 10  # it ended at the completion event, not at the 30-second limit


def test_a_reconnect_with_last_event_id_or_after_continues_where_it_stopped(live_server, task, headers):
    finish(task)
    url = f"{live_server.url}{API}/tasks/{task.uuid}/eventstream"
    everything, _ = read_stream(url, headers)
    second = everything[1]["id"]
    resumed, _ = read_stream(url, {**headers, "Last-Event-ID": second})
    assert [event["id"] for event in resumed] == [everything[2]["id"]]
    after, _ = read_stream(f"{url}?after={everything[0]['id']}", headers)
    assert [event["event"] for event in after] == ["log", "completion"]


def test_a_quiet_stream_closes_after_its_time_limit(live_server, task, headers, monkeypatch):
    monkeypatch.setattr(views, "STREAM_SECONDS", 1.5)
    events, took = read_stream(f"{live_server.url}{API}/tasks/{task.uuid}/eventstream", headers)
    assert [event["event"] for event in events] == ["log", "log"]
    assert 1.5 <= took < 6


def test_another_users_task_stream_is_not_found(live_server, task, make_user):
    _, clear = APIToken.issue(make_user("olaf"), name="stream", scope="read")
    response = requests.get(f"{live_server.url}{API}/tasks/{task.uuid}/eventstream",
                            headers={"Authorization": f"Bearer {clear}", "Accept": "text/event-stream"}, timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["name"] == "NotFoundError"

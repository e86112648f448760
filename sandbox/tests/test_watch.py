"""Watches through the official client's `watch.Watch().stream(...)`."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, watch
from kubernetes.client import ApiException

from sandbox.tests.conftest import ISVC


def events(stream) -> list[tuple[str, str]]:
    return [(event["type"], event["object"].metadata.name) for event in stream]


def config_map(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}, "data": {"key": name}}


def test_watch_from_a_resource_version_receives_exactly_the_later_events(core):
    core.create_namespaced_config_map("default", config_map("before"))
    since = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", config_map("after"))
    core.patch_namespaced_config_map("after", "default", {"data": {"key": "changed"}})
    core.delete_namespaced_config_map("before", "default")

    stream = watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=since, timeout_seconds=1)

    assert events(stream) == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "before")]


def test_watch_delivers_changes_made_while_it_streams(core):
    since = core.list_namespaced_config_map("default").metadata.resource_version
    received: list[tuple[str, str]] = []
    watcher = watch.Watch()

    def consume():
        for event in watcher.stream(core.list_namespaced_config_map, "default", resource_version=since, timeout_seconds=5):
            received.append((event["type"], event["object"].metadata.name))
            if len(received) == 2:
                watcher.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.2)
    core.create_namespaced_config_map("default", config_map("live"))
    core.delete_namespaced_config_map("live", "default")
    thread.join(timeout=5)

    assert received == [("ADDED", "live"), ("DELETED", "live")]


def test_event_objects_carry_their_resource_version(core):
    since = core.list_namespaced_config_map("default").metadata.resource_version
    created = core.create_namespaced_config_map("default", config_map("a"))

    [event] = list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=since, timeout_seconds=1))

    assert event["object"].metadata.resource_version == created.metadata.resource_version
    assert event["raw_object"]["kind"] == "ConfigMap"


def test_watch_without_a_resource_version_starts_with_the_current_objects(core):
    core.create_namespaced_config_map("default", config_map("one"))
    core.create_namespaced_config_map("default", config_map("two"))

    stream = watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1)

    assert events(stream) == [("ADDED", "one"), ("ADDED", "two")]


def test_watch_honours_timeout_seconds(core):
    started = time.monotonic()

    assert events(watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1)) == []
    assert 0.9 < time.monotonic() - started < 3


def test_watch_is_limited_to_its_namespace(core):
    core.create_namespace({"metadata": {"name": "team-a"}})
    since = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("team-a", config_map("elsewhere"))
    core.create_namespaced_config_map("default", config_map("here"))

    stream = watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=since, timeout_seconds=1)

    assert events(stream) == [("ADDED", "here")]


def test_label_selector_watch_sees_objects_enter_and_leave(core):
    since = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", config_map("a", owner="platform-team"))
    core.create_namespaced_config_map("default", config_map("b", owner="fraud-detection"))
    core.patch_namespaced_config_map("b", "default", {"metadata": {"labels": {"owner": "platform-team"}}})
    core.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"owner": "someone-else"}}})

    stream = watch.Watch().stream(
        core.list_namespaced_config_map, "default",
        label_selector="owner=platform-team", resource_version=since, timeout_seconds=1,
    )

    assert events(stream) == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]


def test_watch_of_custom_objects_across_namespaces(custom, isvc):
    since = custom.list_cluster_custom_object(*ISVC)["metadata"]["resourceVersion"]
    custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)
    custom.patch_namespaced_custom_object_status(
        *ISVC[:2], "default", ISVC[2], "demo-iris-2", {"status": {"url": "http://demo-iris-2.default.example.com"}}
    )

    stream = watch.Watch().stream(custom.list_cluster_custom_object, *ISVC, resource_version=since, timeout_seconds=1)
    received = [(event["type"], event["object"]) for event in stream]

    assert [kind for kind, _ in received] == ["ADDED", "MODIFIED"]
    assert received[1][1]["status"]["url"] == "http://demo-iris-2.default.example.com"


def test_a_compacted_resource_version_is_410_expired(sandbox, core):
    since = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", config_map("a"))
    sandbox.store.compact()

    with pytest.raises(ApiException) as caught:
        list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=since, timeout_seconds=1))

    assert caught.value.status == 410
    assert caught.value.reason.startswith("Expired: too old resource version")


def test_history_is_bounded():
    from sandbox.store import Store

    store = Store(history=3)
    cm = store.resource("", "v1", "configmaps")
    for name in ("a", "b", "c", "d", "e"):
        store.create(cm, "default", {"metadata": {"name": name}})
    since = store.revision - 3

    assert len(store.watch(cm, "default", lambda o: True, since, print).initial) == 3
    with pytest.raises(Exception, match="too old resource version"):
        store.watch(cm, "default", lambda o: True, since - 1, print)


def test_bookmarks_tell_the_resource_version_reached(sandbox, core):
    created = core.create_namespaced_config_map("default", config_map("a"))
    since = created.metadata.resource_version
    core.create_namespaced_config_map("default", config_map("b"))

    stream = watch.Watch().stream(
        core.list_namespaced_config_map, "default",
        resource_version=since, timeout_seconds=1, allow_watch_bookmarks=True,
    )
    received = [(event["type"], event["raw_object"]["metadata"]["resourceVersion"]) for event in stream]

    assert [kind for kind, _ in received] == ["ADDED", "BOOKMARK"]
    assert received[1][1] == received[0][1]


def test_stopping_the_server_ends_open_watches(sandbox):
    from sandbox.runner import SandboxServer

    server = SandboxServer().start()
    api = client.ApiClient(server.configuration())
    finished = threading.Event()

    def consume():
        for _ in watch.Watch().stream(client.CoreV1Api(api).list_namespaced_config_map, "default", timeout_seconds=30):
            pass
        finished.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    server.stop()

    assert finished.wait(5)
    assert time.monotonic() - started < 3
    api.close()

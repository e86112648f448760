"""The request counter: API calls by verb and resource, counted at the server."""

from __future__ import annotations

import json
import urllib.request

import pytest
from kubernetes import client, watch

from sandbox.tests.conftest import APPLICATION, ISVC, manifest


def counts(sandbox) -> dict:
    with urllib.request.urlopen(sandbox.url + "/sandbox/requests") as response:
        return json.load(response)


def reset(sandbox) -> dict:
    request = urllib.request.Request(sandbox.url + "/sandbox/requests/reset", method="POST")
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def poll_cycle(custom, core) -> None:
    """What a status poller does each cycle: one list per kind, whatever the number of objects."""
    custom.list_cluster_custom_object(*APPLICATION)
    custom.list_cluster_custom_object(*ISVC)
    core.list_resource_quota_for_all_namespaces()


def test_calls_are_counted_by_verb_and_resource(sandbox, core, custom, isvc):
    custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)
    custom.get_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2")
    custom.patch_namespaced_custom_object_status(*ISVC[:2], "default", ISVC[2], "demo-iris-2", {"status": {}})
    core.list_namespaced_config_map("default")
    list(watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1))

    assert counts(sandbox) == {
        "total": 5,
        "requests": {
            "create": {"inferenceservices.serving.kserve.io": 1},
            "get": {"inferenceservices.serving.kserve.io": 1},
            "list": {"configmaps": 1},
            "patch": {"inferenceservices.serving.kserve.io/status": 1},
            "watch": {"configmaps": 1},
        },
    }


def test_reset_starts_from_zero(sandbox, core):
    core.list_namespace()

    assert reset(sandbox) == {"total": 0, "requests": {}}
    core.list_namespace()
    assert sandbox.requests.count("list", "namespaces") == 1


def test_failed_calls_count_too(sandbox, core):
    with pytest.raises(client.ApiException):
        core.read_namespace("missing")

    assert sandbox.requests.count("get", "namespaces") == 1


def test_a_poll_cycle_costs_the_same_for_one_and_many_endpoints(sandbox, core, custom, isvc):
    sandbox.store.put(isvc)
    reset(sandbox)
    poll_cycle(custom, core)
    with_one = counts(sandbox)

    for index in range(200):
        sandbox.store.put(manifest(isvc, name=f"endpoint-{index}", namespace="default"))
    reset(sandbox)
    poll_cycle(custom, core)

    assert counts(sandbox) == with_one
    assert with_one["total"] == 3

"""Built-in resources through the official client's CoreV1Api and AppsV1Api."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client import ApiException


def reason(caught: pytest.ExceptionInfo[ApiException]) -> str:
    return json.loads(caught.value.body)["reason"]


def test_the_standard_namespaces_exist_and_are_active(core):
    namespaces = core.list_namespace().items

    assert [ns.metadata.name for ns in namespaces] == ["default", "kube-node-lease", "kube-public", "kube-system"]
    assert {ns.status.phase for ns in namespaces} == {"Active"}


def test_config_map_lifecycle(core):
    created = core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"level": "info"})
    )
    created.data["level"] = "debug"
    replaced = core.replace_namespaced_config_map("settings", "default", created)
    patched = core.patch_namespaced_config_map("settings", "default", {"data": {"extra": "yes"}})
    core.delete_namespaced_config_map("settings", "default")

    assert replaced.data == {"level": "debug"}
    assert patched.data == {"level": "debug", "extra": "yes"}
    assert core.list_namespaced_config_map("default").items == []


def test_json_patch_on_a_built_in_type(core):
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}, "data": {"x": "1"}})

    patched = core.patch_namespaced_config_map("a", "default", [{"op": "remove", "path": "/data/x"}])

    assert patched.data is None or patched.data == {}


def test_update_of_a_built_in_type_without_resource_version_is_unconditional(core):
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}, "data": {"x": "1"}})

    replaced = core.replace_namespaced_config_map("a", "default", {"metadata": {"name": "a"}, "data": {"x": "2"}})

    assert replaced.data == {"x": "2"}


def test_a_name_that_differs_from_the_url_is_a_bad_request(core):
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})

    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("a", "default", {"metadata": {"name": "b"}})

    assert caught.value.status == 400
    assert reason(caught) == "BadRequest"


def test_an_invalid_name_is_invalid(core):
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("default", {"metadata": {"name": "Not_Valid"}})

    assert caught.value.status == 422
    assert reason(caught) == "Invalid"


def test_generate_name(core):
    created = core.create_namespaced_config_map("default", {"metadata": {"generateName": "run-"}})

    assert created.metadata.name.startswith("run-") and len(created.metadata.name) == 9


def test_update_of_a_missing_object_is_not_found(core):
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("ghost", "default", {"metadata": {"name": "ghost"}})

    assert caught.value.status == 404
    assert reason(caught) == "NotFound"


def test_delete_preconditions(core):
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})

    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_config_map(
            "a", "default", body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-its-uid"))
        )

    assert caught.value.status == 409
    assert reason(caught) == "Conflict"


def test_dry_run_stores_nothing(core):
    answer = core.create_namespaced_config_map("default", {"metadata": {"name": "a"}}, dry_run="All")

    assert answer.metadata.name == "a"
    assert core.list_namespaced_config_map("default").items == []


def test_deleting_a_namespace_deletes_what_it_holds(core):
    core.create_namespace({"metadata": {"name": "team-a"}})
    core.create_namespaced_config_map("team-a", {"metadata": {"name": "a"}})

    core.delete_namespace("team-a")

    assert core.list_config_map_for_all_namespaces().items == []
    with pytest.raises(ApiException) as caught:
        core.read_namespace("team-a")
    assert caught.value.status == 404


def test_resource_quota_status_is_written_through_its_subresource(core):
    quota = core.create_namespaced_resource_quota(
        "default",
        {"metadata": {"name": "endpoints"}, "spec": {"hard": {"requests.cpu": "4"}},
         "status": {"used": {"requests.cpu": "9"}}},
    )
    quota.status = client.V1ResourceQuotaStatus(hard={"requests.cpu": "4"}, used={"requests.cpu": "1500m"})
    updated = core.replace_namespaced_resource_quota_status("endpoints", "default", quota)
    relabelled = core.patch_namespaced_resource_quota("endpoints", "default", {"status": {"used": {}}, "metadata": {"labels": {"a": "b"}}})

    assert updated.status.used == {"requests.cpu": "1500m"}
    assert relabelled.status.used == {"requests.cpu": "1500m"}


def test_deployment_generation_follows_its_spec(sandbox):
    apps = client.AppsV1Api(sandbox.api_client)
    body = {
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
        },
    }
    created = apps.create_namespaced_deployment("default", body)
    scaled = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    labelled = apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"tier": "front"}}})

    assert (created.metadata.generation, scaled.metadata.generation, labelled.metadata.generation) == (1, 2, 2)
    assert scaled.spec.replicas == 3


def test_a_no_op_write_keeps_the_resource_version(core):
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "a"}, "data": {"x": "1"}})

    patched = core.patch_namespaced_config_map("a", "default", {"data": {"x": "1"}})

    assert patched.metadata.resource_version == created.metadata.resource_version


def test_events_and_services_are_served(core):
    core.create_namespaced_event(
        "default",
        {"metadata": {"name": "web.1"}, "involvedObject": {"kind": "Pod", "name": "web"}, "reason": "Pulled", "message": "ok"},
    )
    core.create_namespaced_service("default", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})

    assert [e.reason for e in core.list_namespaced_event("default").items] == ["Pulled"]
    assert core.read_namespaced_service("web", "default").spec.ports[0].port == 80

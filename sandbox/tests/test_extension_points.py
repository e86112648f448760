"""The hooks simulated controllers build on: change subscriptions and admission."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from sandbox.errors import ApiError
from sandbox.store import AdmissionRequest
from sandbox.tests.conftest import ISVC, manifest
from sandbox.watches import WatchEvent


def test_subscribers_see_every_change(sandbox, custom, isvc):
    seen: list[WatchEvent] = []
    unsubscribe = sandbox.store.subscribe(seen.append)

    custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)
    custom.delete_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2")
    unsubscribe()
    custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)

    assert [(e.type, e.resource.kind, e.object["metadata"]["name"]) for e in seen] == [
        ("ADDED", "InferenceService", "demo-iris-2"),
        ("DELETED", "InferenceService", "demo-iris-2"),
    ]
    assert seen[1].revision > seen[0].revision


def test_an_admission_hook_can_deny_a_write(sandbox, custom, isvc):
    def require_owner(request: AdmissionRequest) -> None:
        if request.operation != "DELETE" and "owner" not in request.object["metadata"].get("labels", {}):
            raise ApiError(400, "BadRequest", 'admission webhook "validate.kyverno.svc-fail" denied the request: owner is required')

    sandbox.store.admission.append(require_owner)
    custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)

    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], manifest(isvc, name="unowned", labels={}))

    assert caught.value.status == 400
    assert "owner is required" in json.loads(caught.value.body)["message"]
    assert [i["metadata"]["name"] for i in custom.list_namespaced_custom_object(*ISVC[:2], "default", ISVC[2])["items"]] == ["demo-iris-2"]


def test_seeding_skips_admission_and_keeps_the_creation_time(sandbox, custom, isvc):
    def refuse_everything(request: AdmissionRequest) -> None:
        raise ApiError(400, "", "refused")

    sandbox.store.admission.append(refuse_everything)
    seeded = manifest(isvc, creationTimestamp="2026-10-01T08:00:00Z")
    sandbox.store.put(seeded)
    sandbox.store.put({**seeded, "metadata": {**seeded["metadata"], "labels": {"owner": "someone-else"}}})

    live = custom.get_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2")
    assert live["metadata"]["creationTimestamp"] == "2026-10-01T08:00:00Z"
    assert live["metadata"]["labels"] == {"owner": "someone-else"}

"""InferenceServices, Applications and ClusterPolicies through the official client's CustomObjectsApi."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from sandbox.tests.conftest import APPLICATION, CLUSTER_POLICY, ISVC, load_fixture, manifest


def test_create_then_get_returns_the_object_with_server_metadata(custom, isvc):
    created = custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)

    fetched = custom.get_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2")
    assert fetched == created
    assert fetched["spec"] == isvc["spec"]
    assert fetched["metadata"]["labels"] == {"owner": "platform-team", "cost-center": "cc-demo"}
    assert fetched["metadata"]["generation"] == 1
    assert fetched["metadata"]["uid"]
    assert fetched["metadata"]["creationTimestamp"].endswith("Z")
    assert int(fetched["metadata"]["resourceVersion"]) > 0


def test_every_write_takes_a_higher_resource_version(custom, isvc):
    first = custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)
    second = custom.create_namespaced_custom_object(
        *ISVC[:2], "default", ISVC[2], manifest(isvc, name="sklearn-iris")
    )
    patched = custom.patch_namespaced_custom_object(
        *ISVC[:2], "default", ISVC[2], "demo-iris-2", {"metadata": {"labels": {"tier": "gold"}}}
    )

    versions = [int(o["metadata"]["resourceVersion"]) for o in (first, second, patched)]
    assert versions == sorted(versions) and len(set(versions)) == 3


def test_list_carries_a_list_resource_version_and_items_in_name_order(custom, isvc):
    for name in ("zeta", "alpha", "mid"):
        custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], manifest(isvc, name=name))

    listed = custom.list_namespaced_custom_object(*ISVC[:2], "default", ISVC[2])

    assert listed["kind"] == "InferenceServiceList"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["alpha", "mid", "zeta"]
    assert all(item["kind"] == "InferenceService" for item in listed["items"])
    assert int(listed["metadata"]["resourceVersion"]) == max(
        int(item["metadata"]["resourceVersion"]) for item in listed["items"]
    )


def test_list_across_namespaces(custom, core, isvc):
    core.create_namespace({"metadata": {"name": "team-a"}})
    custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)
    custom.create_namespaced_custom_object(*ISVC[:2], "team-a", ISVC[2], manifest(isvc, namespace="team-a"))

    everywhere = custom.list_cluster_custom_object(*ISVC)
    in_team_a = custom.list_namespaced_custom_object(*ISVC[:2], "team-a", ISVC[2])

    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere["items"]] == [
        ("default", "demo-iris-2"), ("team-a", "demo-iris-2"),
    ]
    assert len(in_team_a["items"]) == 1


def test_merge_patch_changes_spec_and_bumps_generation(custom, isvc):
    custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)

    patched = custom.patch_namespaced_custom_object(
        *ISVC[:2], "default", ISVC[2], "demo-iris-2",
        {"spec": {"predictor": {"model": {"storageUri": "gs://kfserving-examples/models/sklearn/2.0/model"}}}},
    )

    assert patched["spec"]["predictor"]["model"] == {
        "modelFormat": {"name": "sklearn"}, "storageUri": "gs://kfserving-examples/models/sklearn/2.0/model",
    }
    assert patched["metadata"]["generation"] == 2


def test_label_change_keeps_the_generation(custom, isvc):
    custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)

    patched = custom.patch_namespaced_custom_object(
        *ISVC[:2], "default", ISVC[2], "demo-iris-2", {"metadata": {"labels": {"cost-center": None}}}
    )

    assert patched["metadata"]["labels"] == {"owner": "platform-team"}
    assert patched["metadata"]["generation"] == 1


def test_json_patch_by_content_type(custom, isvc):
    custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)

    patched = custom.patch_namespaced_custom_object(
        *ISVC[:2], "default", ISVC[2], "demo-iris-2",
        [{"op": "replace", "path": "/metadata/labels/owner", "value": "fraud-detection"},
         {"op": "add", "path": "/spec/predictor/minReplicas", "value": 2}],
        _content_type="application/json-patch+json",
    )

    assert patched["metadata"]["labels"]["owner"] == "fraud-detection"
    assert patched["spec"]["predictor"]["minReplicas"] == 2


def test_a_failing_json_patch_test_operation_is_invalid(custom, isvc):
    custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)

    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(
            *ISVC[:2], "default", ISVC[2], "demo-iris-2",
            [{"op": "test", "path": "/metadata/labels/owner", "value": "someone-else"}],
            _content_type="application/json-patch+json",
        )
    assert caught.value.status == 422
    assert json.loads(caught.value.body)["reason"] == "Invalid"


def test_replace_with_the_current_resource_version(custom, isvc):
    created = custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)
    created["spec"]["predictor"]["minReplicas"] = 3

    replaced = custom.replace_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2", created)

    assert replaced["spec"]["predictor"]["minReplicas"] == 3
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    assert replaced["metadata"]["generation"] == 2


def test_replace_with_a_stale_resource_version_is_a_conflict(custom, isvc):
    created = custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)
    custom.patch_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2", {"metadata": {"labels": {"a": "b"}}})

    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2", created)

    assert caught.value.status == 409
    body = json.loads(caught.value.body)
    assert body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]


def test_replace_of_a_custom_resource_needs_a_resource_version(custom, isvc):
    custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)

    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2", isvc)

    assert caught.value.status == 422
    assert json.loads(caught.value.body)["reason"] == "Invalid"


def test_creating_a_taken_name_is_already_exists(custom, isvc):
    custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)

    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)

    assert caught.value.status == 409
    body = json.loads(caught.value.body)
    assert (body["kind"], body["status"], body["reason"]) == ("Status", "Failure", "AlreadyExists")
    assert body["message"] == 'inferenceservices.serving.kserve.io "demo-iris-2" already exists'
    assert body["details"] == {"name": "demo-iris-2", "group": "serving.kserve.io", "kind": "inferenceservices"}


def test_a_missing_object_is_not_found(custom):
    with pytest.raises(ApiException) as caught:
        custom.get_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "nope")

    assert caught.value.status == 404
    body = json.loads(caught.value.body)
    assert body["reason"] == "NotFound"
    assert body["message"] == 'inferenceservices.serving.kserve.io "nope" not found'


def test_delete_answers_a_success_status_and_the_object_is_gone(custom, isvc):
    created = custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)

    answer = custom.delete_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2")

    assert answer["status"] == "Success"
    assert answer["details"]["uid"] == created["metadata"]["uid"]
    with pytest.raises(ApiException) as caught:
        custom.get_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2")
    assert caught.value.status == 404


def test_delete_waits_for_finalizers(custom, isvc):
    custom.create_namespaced_custom_object(
        *ISVC[:2], "default", ISVC[2], manifest(isvc, finalizers=["inferenceservice.finalizers"])
    )

    custom.delete_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2")
    marked = custom.get_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2")
    custom.patch_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2", {"metadata": {"finalizers": None}})

    assert marked["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiException) as caught:
        custom.get_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2")
    assert caught.value.status == 404


def test_creating_in_a_missing_namespace_is_not_found(custom, isvc):
    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(*ISVC[:2], "nowhere", ISVC[2], manifest(isvc, namespace="nowhere"))

    assert caught.value.status == 404
    assert json.loads(caught.value.body)["message"] == 'namespaces "nowhere" not found'


def test_cluster_scoped_policies_from_the_platform(custom):
    for relative in ("require-standard-labels-inferenceservice.yaml", "disallow-latest-image-tag.yaml"):
        policy = load_fixture(f"neuroscale/infrastructure/kyverno/policies/{relative}")[0]
        custom.create_cluster_custom_object(*CLUSTER_POLICY, policy)

    listed = custom.list_cluster_custom_object(*CLUSTER_POLICY)
    fetched = custom.get_cluster_custom_object(*CLUSTER_POLICY, "disallow-latest-image-tag")

    assert [p["metadata"]["name"] for p in listed["items"]] == ["disallow-latest-image-tag", "require-standard-labels-inferenceservice"]
    assert "namespace" not in fetched["metadata"]


# --- The status subresource ------------------------------------------------------------------

READY = load_fixture("status-examples/kserve-inferenceservice-ready.json")[0]


def test_create_drops_the_status_of_a_resource_with_a_status_subresource(custom):
    created = custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], {**manifest(READY, namespace="default"), "status": READY["status"]})

    assert "status" not in created


def test_status_writes_change_only_the_status(custom, isvc):
    created = custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)

    with_status = custom.patch_namespaced_custom_object_status(
        *ISVC[:2], "default", ISVC[2], "demo-iris-2",
        {"status": READY["status"], "spec": {"predictor": {"minReplicas": 9}}, "metadata": {"labels": {"x": "y"}}},
    )
    read_back = custom.get_namespaced_custom_object_status(*ISVC[:2], "default", ISVC[2], "demo-iris-2")

    assert with_status["status"] == READY["status"]
    assert with_status["spec"] == created["spec"]
    assert with_status["metadata"]["labels"] == created["metadata"]["labels"]
    assert with_status["metadata"]["generation"] == 1
    assert int(with_status["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert read_back == with_status


def test_main_resource_writes_keep_the_status(custom, isvc):
    created = custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)
    custom.replace_namespaced_custom_object_status(
        *ISVC[:2], "default", ISVC[2], "demo-iris-2",
        {**created, "status": READY["status"]},
    )

    patched = custom.patch_namespaced_custom_object(
        *ISVC[:2], "default", ISVC[2], "demo-iris-2", {"status": {"url": "http://elsewhere"}, "metadata": {"labels": {"a": "b"}}}
    )

    assert patched["status"] == READY["status"]
    assert patched["metadata"]["labels"]["a"] == "b"


def test_status_replace_with_a_stale_resource_version_is_a_conflict(custom, isvc):
    created = custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], isvc)
    custom.patch_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], "demo-iris-2", {"metadata": {"labels": {"a": "b"}}})

    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object_status(
            *ISVC[:2], "default", ISVC[2], "demo-iris-2", {**created, "status": READY["status"]}
        )
    assert caught.value.status == 409
    assert json.loads(caught.value.body)["reason"] == "Conflict"


def test_an_application_has_no_status_subresource(custom, core):
    core.create_namespace({"metadata": {"name": "argocd"}})
    recorded = load_fixture("status-examples/argocd-application-synced-healthy-full.yaml")[0]
    app = {**manifest(recorded, namespace="argocd"), "status": recorded["status"]}

    created = custom.create_namespaced_custom_object(*APPLICATION[:2], "argocd", APPLICATION[2], app)
    with pytest.raises(ApiException) as caught:
        custom.get_namespaced_custom_object_status(*APPLICATION[:2], "argocd", APPLICATION[2], recorded["metadata"]["name"])

    # ArgoCD writes an Application's status through the resource itself.
    assert created["status"] == recorded["status"]
    assert caught.value.status == 404

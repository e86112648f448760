"""Discovery documents, as the official client's dynamic client reads them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from kubernetes import dynamic
from kubernetes.client import VersionApi


def get(sandbox, path: str) -> dict:
    with urllib.request.urlopen(sandbox.url + path) as response:
        return json.load(response)


def test_core_group_lists_its_resources_and_status_subresources(sandbox):
    document = get(sandbox, "/api/v1")
    resources = {r["name"]: r for r in document["resources"]}

    assert get(sandbox, "/api")["versions"] == ["v1"]
    assert {"namespaces", "pods", "services", "configmaps", "resourcequotas", "limitranges", "events"} <= set(resources)
    assert resources["configmaps"]["namespaced"] is True
    assert resources["namespaces"]["namespaced"] is False
    assert "watch" in resources["pods"]["verbs"]
    assert resources["resourcequotas/status"]["verbs"] == ["get", "patch", "update"]
    assert "configmaps/status" not in resources


def test_named_groups(sandbox):
    groups = {g["name"]: g for g in get(sandbox, "/apis")["groups"]}

    assert set(groups) == {"apps", "argoproj.io", "serving.kserve.io", "kyverno.io"}
    assert [v["version"] for v in groups["serving.kserve.io"]["versions"]] == ["v1beta1", "v1alpha1"]
    assert get(sandbox, "/apis/argoproj.io")["preferredVersion"]["version"] == "v1alpha1"
    kserve = {r["name"]: r for r in get(sandbox, "/apis/serving.kserve.io/v1beta1")["resources"]}
    assert kserve["inferenceservices"]["shortNames"] == ["isvc"]
    assert "inferenceservices/status" in kserve
    argo = {r["name"] for r in get(sandbox, "/apis/argoproj.io/v1alpha1")["resources"]}
    assert argo == {"applications", "applicationsets", "applicationsets/status"}


def test_the_dynamic_client_finds_and_lists_inference_services(sandbox, isvc):
    client = dynamic.DynamicClient(sandbox.api_client)
    isvcs = client.resources.get(api_version="serving.kserve.io/v1beta1", kind="InferenceService")

    isvcs.create(body=isvc, namespace="default")
    listed = isvcs.get(namespace="default")

    assert [item.metadata.name for item in listed.items] == ["demo-iris-2"]


def test_version(sandbox):
    assert VersionApi(sandbox.api_client).get_code().git_version.startswith("v1.")


@pytest.mark.parametrize("path", ["/apis/unknown.io/v1", "/apis/argoproj.io/v1alpha1/rollouts", "/api/v1/namespaces/default/widgets"])
def test_unknown_paths_answer_a_not_found_status(sandbox, path):
    with pytest.raises(urllib.error.HTTPError) as caught:
        get(sandbox, path)

    body = json.load(caught.value)
    assert caught.value.code == 404
    assert (body["kind"], body["reason"]) == ("Status", "NotFound")


def test_an_unsupported_method_is_method_not_allowed(sandbox):
    request = urllib.request.Request(sandbox.url + "/api/v1/namespaces/default/configmaps", data=b"{}", method="PUT")

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)

    assert caught.value.code == 405
    assert json.load(caught.value)["reason"] == "MethodNotAllowed"

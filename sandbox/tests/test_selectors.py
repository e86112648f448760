"""Label and field selectors, and paging, on list calls."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from sandbox.tests.conftest import ISVC, manifest

ENDPOINTS = {
    "fraud-a": {"owner": "fraud-detection", "cost-center": "cc-fraud"},
    "fraud-b": {"owner": "fraud-detection", "cost-center": "cc-fraud", "tier": "gold"},
    "iris": {"owner": "platform-team", "cost-center": "cc-demo"},
    "orphan": {},
}


@pytest.fixture
def endpoints(custom, isvc):
    for name, labels in ENDPOINTS.items():
        custom.create_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], manifest(isvc, name=name, labels=labels))


def names(custom, **query) -> list[str]:
    listed = custom.list_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], **query)
    return [item["metadata"]["name"] for item in listed["items"]]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("owner=fraud-detection", ["fraud-a", "fraud-b"]),
        ("owner==platform-team", ["iris"]),
        ("owner!=fraud-detection", ["iris", "orphan"]),
        ("owner in (platform-team, fraud-detection)", ["fraud-a", "fraud-b", "iris"]),
        ("owner notin (fraud-detection)", ["iris", "orphan"]),
        ("tier", ["fraud-b"]),
        ("!owner", ["orphan"]),
        ("owner=fraud-detection,!tier", ["fraud-a"]),
        ("cost-center in (cc-fraud),tier=gold", ["fraud-b"]),
        ("", ["fraud-a", "fraud-b", "iris", "orphan"]),
    ],
)
def test_label_selector(custom, endpoints, selector, expected):
    assert names(custom, label_selector=selector) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("metadata.name=iris", ["iris"]),
        ("metadata.name!=iris", ["fraud-a", "fraud-b", "orphan"]),
        ("metadata.namespace=default,metadata.name==orphan", ["orphan"]),
        ("metadata.namespace=elsewhere", []),
    ],
)
def test_field_selector(custom, endpoints, selector, expected):
    assert names(custom, field_selector=selector) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"label_selector": "owner in fraud"}, "unable to parse requirement"),
        ({"field_selector": "spec.predictor=x"}, "field label not supported: spec.predictor"),
    ],
)
def test_an_unusable_selector_is_a_bad_request(custom, endpoints, query, message):
    with pytest.raises(ApiException) as caught:
        names(custom, **query)

    assert caught.value.status == 400
    body = json.loads(caught.value.body)
    assert body["reason"] == "BadRequest"
    assert message in body["message"]


def test_paging_with_limit_and_continue(custom, endpoints):
    first = custom.list_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], limit=3)
    second = custom.list_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], limit=3, _continue=first["metadata"]["continue"])

    assert [i["metadata"]["name"] for i in first["items"]] == ["fraud-a", "fraud-b", "iris"]
    assert first["metadata"]["remainingItemCount"] == 1
    assert [i["metadata"]["name"] for i in second["items"]] == ["orphan"]
    assert "continue" not in second["metadata"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_paging_with_a_selector(custom, endpoints):
    first = custom.list_namespaced_custom_object(
        *ISVC[:2], "default", ISVC[2], limit=1, label_selector="owner=fraud-detection"
    )
    second = custom.list_namespaced_custom_object(
        *ISVC[:2], "default", ISVC[2], limit=1, label_selector="owner=fraud-detection", _continue=first["metadata"]["continue"]
    )

    assert [i["metadata"]["name"] for i in first["items"] + second["items"]] == ["fraud-a", "fraud-b"]
    assert "continue" not in second["metadata"]


def test_a_garbled_continue_token_is_a_bad_request(custom, endpoints):
    with pytest.raises(ApiException) as caught:
        custom.list_namespaced_custom_object(*ISVC[:2], "default", ISVC[2], _continue="not-a-token")

    assert caught.value.status == 400

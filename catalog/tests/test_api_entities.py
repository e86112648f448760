"""The entity endpoints answer Backstage's requests with Backstage's shapes."""

import base64
import json
from unittest import mock

import pytest

from catalog import store
from catalog.models import Entity
from catalog.tests.conftest import entity_document
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db

API = "/api/catalog"


@pytest.fixture
def reader(dana, token_client):
    return token_client(dana, scope="read")


def names(items) -> list[str]:
    return [item["metadata"]["name"] for item in items]


def test_without_credentials_the_api_answers_401_with_a_json_error_body(api_client, api_catalog):
    response = api_client.get(f"{API}/entities")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["name"] == "AuthenticationError"
    assert response.json()["response"] == {"statusCode": 401}


def test_a_session_reads_as_well_as_a_token(api_client, dana, api_catalog):
    api_client.force_login(dana)
    assert api_client.get(f"{API}/entities/by-name/component/default/fraud-model").status_code == 200


def test_entities_is_a_bare_array_with_uid_etag_and_relations(reader, api_catalog):
    response = reader.get(f"{API}/entities", {"filter": "kind=component,relations.ownedBy=group:default/fraud-detection"})
    assert response.status_code == 200
    items = response.json()
    assert names(items) == ["Checkout-Web", "fraud-model"]  # ordered by ref
    model = items[1]
    entity = api_catalog["fraud-model"]
    assert model["metadata"]["uid"] == str(entity.uid)
    assert model["metadata"]["etag"] == entity.etag
    assert {"type": "ownedBy", "targetRef": "group:default/fraud-detection"} in model["relations"]
    assert {"type": "partOf", "targetRef": "system:default/payments"} in model["relations"]


def test_entities_with_fields_order_and_repeated_filters(reader, api_catalog):
    response = reader.get(
        f"{API}/entities",
        {"filter": ["kind=user", "kind=group"], "fields": "kind,metadata.name", "order": ["asc:kind", "desc:metadata.name"]},
    )
    assert response.json() == [
        {"kind": "Group", "metadata": {"name": "platform-team"}},
        {"kind": "Group", "metadata": {"name": "ops"}},
        {"kind": "Group", "metadata": {"name": "fraud-detection"}},
        {"kind": "User", "metadata": {"name": "priya"}},
        {"kind": "User", "metadata": {"name": "olaf"}},
        {"kind": "User", "metadata": {"name": "dana"}},
    ]


def test_entities_order_puts_entities_without_the_field_last(reader, api_catalog):
    for order in ("asc", "desc"):
        items = reader.get(f"{API}/entities", {"order": f"{order}:spec.lifecycle", "fields": "metadata.name,spec.lifecycle"}).json()
        lifecycles = [item.get("spec", {}).get("lifecycle") for item in items]
        present = [value for value in lifecycles if value]
        assert present == sorted(present, reverse=order == "desc")
        assert lifecycles[len(present):] == [None] * (len(items) - len(present))


def test_entities_pages_with_limit_and_the_link_header(reader, api_catalog):
    """Backstage's docs: "Each paginated response that has a next page of data, will have a Link,
    rel="next" header pointing to the query path to the next page"."""
    seen, url, params = [], f"{API}/entities", {"limit": 4, "filter": "kind=component,kind=user,kind=group"}
    while True:
        response = reader.get(url, params)
        seen += names(response.json())
        if "Link" not in response:
            break
        link = response["Link"]
        assert link.endswith('>; rel="next"')
        url, params = link[1 : link.index(">")], None
        assert "after=" in url
    assert len(seen) == 10 and len(set(seen)) == 10
    assert reader.get(f"{API}/entities", {"limit": 3, "offset": 9}).json() != []
    assert reader.get(f"{API}/entities", {"limit": "zero"}).json()["error"]["name"] == "InputError"
    assert reader.get(f"{API}/entities", {"after": "garbage"}).status_code == 400


def test_by_query_pages_through_everything_with_cursors_alone(reader, api_catalog):
    first = reader.get(
        f"{API}/entities/by-query",
        {"filter": "kind=component,kind=user,kind=group", "orderField": "metadata.name,asc", "limit": 3, "fields": "metadata.name"},
    ).json()
    assert first["totalItems"] == 10
    assert names(first["items"]) == ["Checkout-Web", "dana", "fraud-detection"]
    assert "prevCursor" not in first["pageInfo"]
    pages, page = [first], first
    while "nextCursor" in page["pageInfo"]:
        # Only the cursor: it carries the filter and the order.
        page = reader.get(f"{API}/entities/by-query", {"cursor": page["pageInfo"]["nextCursor"], "limit": 3}).json()
        assert page["totalItems"] == 10
        pages.append(page)
    seen = [name for p in pages for name in names(p["items"])]
    assert seen == sorted(seen, key=str.lower)
    assert len(seen) == 10 and len(pages) == 4
    # Going back from the last page gives the page before it.
    back = reader.get(f"{API}/entities/by-query", {"cursor": pages[-1]["pageInfo"]["prevCursor"], "limit": 3}).json()
    assert names(back["items"]) == names(pages[-2]["items"])
    assert "nextCursor" in back["pageInfo"]


def test_by_query_orders_descending_and_by_any_field(reader, api_catalog):
    items = reader.get(
        f"{API}/entities/by-query", {"filter": "kind=component", "orderField": "metadata.name,desc"}
    ).json()["items"]
    assert names(items) == ["ranker", "legacy", "fraud-model", "Checkout-Web"]
    items = reader.get(
        f"{API}/entities/by-query", {"filter": "kind=component", "orderField": ["spec.type,asc"], "limit": 2}
    ).json()
    assert [i["spec"]["type"] for i in items["items"]] == ["model-endpoint", "service"]
    following = reader.get(f"{API}/entities/by-query", {"cursor": items["pageInfo"]["nextCursor"]}).json()
    assert [i["spec"]["type"] for i in following["items"]] == ["service", "website"]


def test_by_query_full_text_searches_the_given_fields(reader, api_catalog):
    params = {"fullTextFilterFields": "metadata.name,metadata.description", "orderField": "metadata.name,asc"}
    search = lambda term: reader.get(f"{API}/entities/by-query", {**params, "fullTextFilterTerm": term}).json()  # noqa: E731
    assert names(search("CARD PAY")["items"]) == ["fraud-model"]  # in the description, any case
    assert names(search("checkout")["items"]) == ["Checkout-Web"]  # in the name
    result = search("r")
    assert result["totalItems"] == len(result["items"]) > 3
    assert search("no-such-text") == {"items": [], "totalItems": 0, "pageInfo": {}}
    # Without fields Backstage searches the order field.
    assert names(reader.get(f"{API}/entities/by-query", {"fullTextFilterTerm": "rank", "orderField": "metadata.name,asc"}).json()["items"]) == ["ranker"]


def test_by_query_refuses_a_tampered_cursor_and_a_bad_order(reader, api_catalog):
    cursor = base64.b64encode(json.dumps({"orderFields": [], "orderFieldValues": ["x"]}).encode()).decode()
    response = reader.get(f"{API}/entities/by-query", {"cursor": cursor})
    assert response.status_code == 400
    assert "Malformed cursor" in response.json()["error"]["message"]
    response = reader.get(f"{API}/entities/by-query", {"orderField": "metadata.name,sideways"})
    assert response.json()["error"] == {"name": "InputError", "message": "Invalid orderField 'metadata.name,sideways': the order must be asc or desc."}


def test_by_name_and_by_uid(reader, api_catalog):
    entity = api_catalog["Checkout-Web"]
    by_name = reader.get(f"{API}/entities/by-name/Component/default/checkout-web")
    assert by_name.status_code == 200
    assert by_name.json()["metadata"]["uid"] == str(entity.uid)
    assert reader.get(f"{API}/entities/by-uid/{entity.uid}").json() == by_name.json()
    missing = reader.get(f"{API}/entities/by-name/component/default/nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "name": "NotFoundError", "message": "No entity named 'nope' found, with kind 'component' in namespace 'default'",
    }
    assert reader.get(f"{API}/entities/by-uid/not-a-uuid").status_code == 404


def test_by_refs_answers_in_the_order_asked_with_null_for_the_missing(reader, api_catalog):
    response = reader.post(
        f"{API}/entities/by-refs",
        {"entityRefs": ["group:default/ops", "component:default/nope", "Component:default/Fraud-Model", "bad ref:"], "fields": ["metadata.name"]},
        format="json",
    )
    assert response.json() == {"items": [{"metadata": {"name": "ops"}}, None, {"metadata": {"name": "fraud-model"}}, None]}
    filtered = reader.post(f"{API}/entities/by-refs?filter=kind=group", {"entityRefs": ["group:default/ops", "component:default/ranker"]}, format="json")
    assert [item and item["metadata"]["name"] for item in filtered.json()["items"]] == ["ops", None]
    assert reader.post(f"{API}/entities/by-refs", {"refs": []}, format="json").json()["error"]["message"] == "entityRefs: This field is required."


def test_facets_count_each_value_within_the_filter(reader, api_catalog):
    response = reader.get(f"{API}/entity-facets", {"facet": ["spec.owner", "metadata.tags"], "filter": "kind=component"})
    facets = response.json()["facets"]
    assert {"value": "fraud-detection", "count": 1} in facets["spec.owner"]
    assert {"value": "java", "count": 2} in facets["metadata.tags"]
    assert sum(f["count"] for f in facets["spec.owner"]) == 4
    assert reader.get(f"{API}/entity-facets").json()["error"]["message"].startswith("Missing facet")


def load_components(count: int) -> None:
    for i in range(count):
        store.upsert(entity_document(
            "Component", f"svc-{i:03}", description=f"Service number {i}", tags=["python"],
            spec={"type": "service", "lifecycle": "production", "owner": f"team-{i % 5}", "system": "payments"},
        ))


@pytest.mark.parametrize("count", [10, 100])
def test_the_number_of_queries_does_not_grow_with_the_entities(count, reader, django_assert_max_num_queries):
    load_components(count)
    assert Entity.objects.count() == count
    with django_assert_max_num_queries(5):  # token, token touch, entities, relations
        items = reader.get(f"{API}/entities", {"filter": "kind=component"}).json()
    assert len(items) == count and all(item["relations"] for item in items)
    with django_assert_max_num_queries(6):  # token, token touch, count, page, relations
        page = reader.get(
            f"{API}/entities/by-query",
            {"filter": "kind=component", "orderField": "spec.owner,asc", "fullTextFilterTerm": "service", "fullTextFilterFields": "metadata.description", "limit": 50},
        ).json()
    assert page["totalItems"] == count and len(page["items"]) == min(count, 50)
    with django_assert_max_num_queries(4):
        reader.get(f"{API}/entity-facets", {"facet": "spec.owner"})


# --- writes ----------------------------------------------------------------------------------


@pytest.fixture
def teammate(make_user):
    """Another member of fraud-detection, the group that owns fraud-model."""
    return make_user("tomas", groups=["fraud-detection"])


@pytest.mark.parametrize(
    ("persona", "status"), [("dana", 204), ("teammate", 204), ("outsider", 403), ("priya", 204)]
)
def test_deleting_an_entity_needs_its_owner_group_or_an_admin(persona, status, request, token_client, api_catalog):
    user = request.getfixturevalue(persona)
    entity = api_catalog["fraud-model"]
    response = token_client(user).delete(f"{API}/entities/by-uid/{entity.uid}")
    assert response.status_code == status
    gone = not Entity.objects.filter(pk=entity.pk).exists()
    assert gone is (status == 204)
    events = AuditEvent.objects.filter(action="catalog.entity.deleted", target=entity.ref)
    assert events.count() == (1 if gone else 0)
    if status == 403:
        assert response.json()["error"]["message"] == (
            "Only members of group:default/fraud-detection (the owner of component:default/fraud-model) and admins may delete it."
        )


def test_a_read_token_cannot_delete_and_deleting_a_missing_entity_is_204(reader, dana, token_client, api_catalog):
    entity = api_catalog["fraud-model"]
    assert reader.delete(f"{API}/entities/by-uid/{entity.uid}").status_code == 403
    assert Entity.objects.filter(pk=entity.pk).exists()
    assert token_client(dana).delete(f"{API}/entities/by-uid/00000000-0000-0000-0000-000000000000").status_code == 204


def test_deleting_an_entity_removes_it_from_its_owners_relations(dana, token_client, api_catalog):
    client = token_client(dana)
    client.delete(f"{API}/entities/by-uid/{api_catalog['fraud-model'].uid}")
    group = client.get(f"{API}/entities/by-name/group/default/fraud-detection").json()
    assert {"type": "ownerOf", "targetRef": "component:default/fraud-model"} not in group["relations"]


def test_refresh_queues_a_location_refresh(dana, token_client, api_catalog, django_capture_on_commit_callbacks):
    client = token_client(dana)
    with mock.patch("catalog.tasks.refresh_locations.delay") as delay, django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{API}/refresh", {"entityRef": "component:default/fraud-model"}, format="json")
    assert response.status_code == 200
    delay.assert_called_once_with()
    assert client.post(f"{API}/refresh", {"entityRef": "component:default/nope"}, format="json").status_code == 404
    assert client.post(f"{API}/refresh", {}, format="json").json()["error"]["message"] == "entityRef: This field is required."


def test_validate_entity_lists_each_problem_with_its_field(reader):
    good = entity_document("Component", "fraud-model", spec={"type": "service", "lifecycle": "production", "owner": "fraud-detection"})
    response = reader.post(f"{API}/validate-entity", {"entity": good, "location": "url:https://example.com/catalog-info.yaml"}, format="json")
    assert (response.status_code, response.json()) == (200, {})
    bad = entity_document("Component", "Fraud Model!", spec={"type": "service", "lifecycle": "production"})
    response = reader.post(f"{API}/validate-entity", {"entity": bad, "location": "url:https://example.com/x.yaml"}, format="json")
    assert response.status_code == 400
    body = response.json()
    fields = {error["field"] for error in body["errors"]}
    assert {"metadata.name", "spec.owner"} <= fields
    assert all(error["name"] == "InputError" and error["message"].startswith(error["field"]) for error in body["errors"])
    assert body["error"]["name"] == "InputError"

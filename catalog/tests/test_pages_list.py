"""The catalog list page: filters with facet counts, sorting, pagination, "my team", htmx."""

import re

import pytest

from catalog import store
from catalog.tests.conftest import entity_document

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def names(response) -> list[str]:
    """The entity names in the results table, in order."""
    return re.findall(r'class="entity-link">([^<]+)</a>', response.content.decode())


def option(response, field: str, value: str) -> str:
    """The text of one option of a filter select ('' when absent)."""
    html = response.content.decode()
    select = re.search(rf'<select id="filter-{field}".*?</select>', html, re.S).group(0)
    match = re.search(rf'<option value="{re.escape(value)}"( selected)?>([^<]*)</option>', select)
    return ("[selected] " if match and match.group(1) else "") + (match.group(2) if match else "")


def test_a_user_in_no_team_sees_the_whole_catalog(reader, pages_catalog):
    response = reader.get("/catalog/")
    assert response.status_code == 200
    # Fourteen entities, plus olaf's own User entity, created when he signed in.
    assert len(names(response)) == 15
    assert "Owned by my team" not in response.content.decode()


def test_a_team_member_lands_on_the_team_view_and_can_remove_it(client, dana, pages_catalog):
    client.force_login(dana)
    response = client.get("/catalog/")
    assert names(response) == ["fraud-features", "fraud-model", "new-endpoint", "payments"]
    body = response.content.decode()
    assert "Owned by my team: <strong>fraud-detection</strong>" in body
    assert option(response, "owner", "mine") == "[selected] My team (4)"
    # The chip's remove link shows everything, and says so in the URL.
    assert 'href="/catalog/?owner=any"' in body
    everything = client.get("/catalog/?owner=any")
    assert len(names(everything)) == 14
    assert "Owned by my team" not in everything.content.decode()


def test_the_team_view_follows_sub_group_membership_only_for_direct_teams(client, make_user, pages_catalog):
    user = make_user("sam", groups=["search-ranking"])
    client.force_login(user)
    assert names(client.get("/catalog/")) == ["legacy", "ranker"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=group", ["Fraud Detection", "ml-org", "platform-team", "search-ranking"]),
        ("kind=Component&type=service", ["broken", "fraud-features", "legacy"]),
        ("owner=search-ranking", ["legacy", "ranker"]),
        ("owner=group:default/Search-Ranking", ["legacy", "ranker"]),
        ("cost_center=cc-fraud", ["Fraud Detection", "fraud-features", "fraud-model", "new-endpoint", "payments"]),
        ("cost_center=cc-demo", ["demo-iris"]),
        ("lifecycle=deprecated", ["legacy"]),
        ("tag=sklearn", ["demo-iris", "fraud-model"]),
        ("tag=SKLEARN", ["demo-iris", "fraud-model"]),
        ("q=fraud", ["Fraud Detection", "fraud-features", "fraud-model"]),
        ("q=FEATURES%20endpoint", ["fraud-features"]),
        ("status=orphaned", ["legacy"]),
        ("status=pending", ["new-endpoint"]),
        ("errors=true", ["broken"]),
        ("kind=component&lifecycle=production&tag=sklearn", ["fraud-model"]),
    ],
)
def test_each_filter_narrows_the_list(reader, pages_catalog, query, expected):
    assert names(reader.get(f"/catalog/?{query}")) == expected


def test_an_unknown_owner_matches_nothing_and_says_so(reader, pages_catalog):
    response = reader.get("/catalog/?owner=nobody")
    assert names(response) == []
    assert "No entities match these filters." in response.content.decode()
    assert option(response, "owner", "group:default/nobody") == "[selected] nobody (0)"


def test_facet_counts_ignore_their_own_filter_and_apply_the_others(reader, pages_catalog):
    response = reader.get("/catalog/?kind=component&owner=fraud-detection")
    # The owner facet counts components of every owner, so another owner can be picked.
    assert option(response, "owner", "group:default/fraud-detection") == "[selected] fraud-detection (3)"
    assert option(response, "owner", "group:default/search-ranking") == "search-ranking (2)"
    # The kind facet counts fraud-detection's entities of every kind.
    assert option(response, "kind", "component") == "[selected] Component (3)"
    assert option(response, "kind", "system") == "System (1)"
    assert option(response, "kind", "group") == ""
    # The other facets count within both filters.
    assert option(response, "lifecycle", "experimental") == "experimental (2)"
    assert option(response, "cost_center", "cc-fraud") == "cc-fraud (3)"
    assert option(response, "tag", "fraud") == "fraud (2)"
    assert option(response, "status", "pending") == "Pending (1)"


def test_the_processing_error_count_links_to_the_entities_with_errors(client, priya, pages_catalog):
    client.force_login(priya)
    body = client.get("/catalog/").content.decode()
    assert '<span class="badge badge-bad">1</span> entity has processing errors' in body
    assert 'href="/catalog/?owner=any&amp;errors=true"' in body
    assert names(client.get("/catalog/?owner=any&errors=true")) == ["broken"]


def test_status_badges_show_pending_and_orphaned(reader, pages_catalog):
    body = reader.get("/catalog/?kind=component").content.decode()
    assert re.search(r'>legacy</a>\s*<span class="badge badge-warn">orphaned</span>', body)
    assert re.search(r'>new-endpoint</a>\s*<span class="badge badge-info">pending</span>', body)
    assert re.search(r'>broken</a>\s*<span class="badge badge-bad">1 error</span>', body)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["broken", "demo-iris", "fraud-features", "fraud-model", "legacy", "new-endpoint", "ranker"]),
        ("-name", ["ranker", "new-endpoint", "legacy", "fraud-model", "fraud-features", "demo-iris", "broken"]),
        ("type", ["demo-iris", "fraud-model", "new-endpoint", "ranker", "broken", "fraud-features", "legacy"]),
        ("-lifecycle", ["broken", "fraud-model", "ranker", "demo-iris", "fraud-features", "new-endpoint", "legacy"]),
        ("cost_center", ["demo-iris", "fraud-features", "fraud-model", "new-endpoint", "broken", "legacy", "ranker"]),
        ("-owner", ["legacy", "ranker", "broken", "demo-iris", "fraud-features", "fraud-model", "new-endpoint"]),
    ],
)
def test_columns_sort_both_ways_with_name_as_tie_break(reader, pages_catalog, sort, expected):
    assert names(reader.get(f"/catalog/?kind=component&sort={sort}")) == expected


def test_kind_sorts_groups_after_components(reader, pages_catalog):
    listed = names(reader.get("/catalog/?sort=kind"))
    assert listed[0] == "broken"
    assert listed.index("ml-org") > listed.index("ranker")


def test_sort_headers_say_which_way_they_sort(reader, pages_catalog):
    body = reader.get("/catalog/?kind=component&sort=-type").content.decode()
    assert 'aria-sort="descending" class="col-type"' in body
    assert 'href="/catalog/?kind=component&amp;sort=type"' in body
    assert 'href="/catalog/?kind=component&amp;sort=name"' in body


def test_pagination_keeps_the_filters(reader, pages_catalog):
    for index in range(30):
        store.upsert(entity_document("Resource", f"bucket-{index:02}", spec={"type": "s3", "owner": "platform-team"}))
    first = reader.get("/catalog/?kind=resource")
    assert len(names(first)) == 25
    assert "30 entities · showing 1–25" in first.content.decode()
    assert 'href="/catalog/?kind=resource&amp;page=2"' in first.content.decode()
    second = reader.get("/catalog/?kind=resource&page=2")
    assert names(second) == [f"bucket-{index:02}" for index in range(25, 30)]
    assert "Page 2 of 2" in second.content.decode()


def test_htmx_gets_the_results_fragment_and_the_same_url_the_full_page(reader, pages_catalog):
    full = reader.get("/catalog/?kind=group")
    fragment = reader.get("/catalog/?kind=group", **HX)
    assert "HX-Request" in full["Vary"]
    assert "HX-Request" in fragment["Vary"]
    assert "<html" in full.content.decode()
    body = fragment.content.decode()
    assert "<html" not in body
    assert names(fragment) == names(full)
    # The filters' counts and the result count are refreshed out of band.
    assert '<div id="catalog-facets" class="filter-facets" hx-swap-oob="true">' in body
    assert '<p id="catalog-count" hx-swap-oob="innerHTML">4 entities' in body


def test_htmx_pushes_a_short_bookmarkable_url(reader, pages_catalog):
    fragment = reader.get("/catalog/?q=&kind=component&type=&owner=any&cost_center=&tag=fraud&page=1", **HX)
    assert fragment["HX-Push-Url"] == "/catalog/?kind=component&tag=fraud"


def test_htmx_keeps_owner_any_in_the_url_for_a_team_member(client, dana, pages_catalog):
    client.force_login(dana)
    fragment = client.get("/catalog/?q=&kind=&owner=any", **HX)
    assert fragment["HX-Push-Url"] == "/catalog/?owner=any"


def test_the_search_box_is_not_replaced_while_the_user_types(reader, pages_catalog):
    typing = reader.get("/catalog/?q=fra", HTTP_HX_TRIGGER_NAME="q", **HX).content.decode()
    assert 'id="catalog-search"' not in typing
    assert 'id="catalog-search" class="filter-field filter-search" hx-swap-oob="true"' in reader.get("/catalog/?q=fra", **HX).content.decode()


def test_a_history_restore_gets_the_full_page(reader, pages_catalog):
    response = reader.get("/catalog/?kind=group", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX)
    assert "<html" in response.content.decode()


def test_the_list_needs_a_reader_user(client, pages_catalog):
    response = client.get("/catalog/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def _grow(count: int) -> None:
    for index in range(count):
        store.upsert(entity_document(
            "Component", f"endpoint-{index:03}", tags=["sklearn", f"t{index}"], labels={"cost-center": f"cc-{index % 7}"},
            spec={"type": "model-endpoint", "lifecycle": "production", "owner": f"team-{index % 9}"},
        ))


@pytest.mark.parametrize("count", [5, 50])
@pytest.mark.parametrize(
    ("headers", "budget"),
    # session, user, memberships, count, rows, owners on the page, 7 facets (+ the error count)
    [({}, 14), (HX, 13)],
    ids=["page", "fragment"],
)
def test_list_query_count_does_not_grow_with_rows(
    client, dana, pages_catalog, django_assert_max_num_queries, count, headers, budget
):
    _grow(count)
    client.force_login(dana)
    with django_assert_max_num_queries(budget):
        response = client.get("/catalog/?owner=any&kind=component", **headers)
    assert len(names(response)) == min(count + 7, 25)

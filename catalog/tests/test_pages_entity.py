"""Entity, group and location pages; removing an orphan; the home page."""

import re

import pytest
import yaml

from catalog import store
from catalog.models import Entity
from catalog.tests.conftest import entity_document
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def section(response, title_id: str) -> str:
    """The HTML of the page section labelled by `title_id`."""
    html = response.content.decode()
    match = re.search(rf'<section[^>]*aria-labelledby="{title_id}".*?</section>', html, re.S)
    assert match, f"no section {title_id}"
    return match.group(0)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_entity_page_shows_the_about_facts(reader, pages_catalog):
    response = reader.get("/catalog/default/component/fraud-model")
    assert response.status_code == 200
    about = section(response, "about-title")
    assert "The fraud-model endpoint" in about
    assert '<dt>Owner</dt>\n      <dd><a href="/catalog/default/group/fraud-detection">Fraud Detection</a>' in about
    assert '<a href="/catalog/default/system/payments">payments</a>' in about
    facts = text(about)
    for fact in ("Cost centre cc-fraud", "Lifecycle production", "Type model-endpoint", "Tags sklearn fraud",
                 "Source apps/fraud-model/catalog-info.yaml", "Location file:./apps/*/catalog-info.yaml"):
        assert fact in facts
    assert f'href="/catalog/locations/{pages_catalog["location"].uuid}"' in about


def test_only_web_links_are_clickable(reader, pages_catalog):
    about = section(reader.get("/catalog/default/component/fraud-model"), "about-title")
    assert '<a href="https://grafana.neuroscale.test/d/fraud" rel="noopener noreferrer">Dashboard</a>' in about
    assert "javascript:" not in about
    assert "<li>Sneaky</li>" in about


def test_lookup_ignores_case(reader, pages_catalog):
    assert reader.get("/catalog/Default/Component/Fraud-Model").status_code == 200


def test_unknown_entity_is_a_404_that_names_it(reader, pages_catalog):
    response = reader.get("/catalog/default/component/nope")
    assert response.status_code == 404


def test_relations_are_grouped_by_type_and_unresolved_targets_are_marked(reader, pages_catalog):
    relations = section(reader.get("/catalog/default/component/fraud-model"), "relations-title")
    groups = re.findall(r'<h3 class="relation-type">([^<]+)</h3>', relations)
    assert groups == ["Depends on", "Owned by", "Part of"]
    assert '<li><span>resource:fraud-db</span> <span class="badge badge-muted"' in relations
    assert "resource:fraud-db" in relations and 'href="/catalog/default/resource/fraud-db"' not in relations
    assert '<a href="/catalog/default/group/fraud-detection">Fraud Detection</a>' in relations


def test_an_unresolved_owner_is_shown_without_a_link(reader, pages_catalog):
    store.upsert(entity_document("Component", "stray", spec={"type": "service", "lifecycle": "production", "owner": "ghosts"}))
    about = section(reader.get("/catalog/default/component/stray"), "about-title")
    assert re.search(r"<dd>ghosts <span class=\"badge badge-muted\"[^>]*>unresolved</span>", about)
    assert 'href="/catalog/default/group/ghosts"' not in about


def test_labels_and_annotations_are_tables(reader, pages_catalog):
    store.upsert(entity_document(
        "Component", "labelled", labels={"cost-center": "cc-x"}, annotations={"argocd/app-name": "labelled"},
        spec={"type": "service", "lifecycle": "production", "owner": "platform-team"},
    ))
    response = reader.get("/catalog/default/component/labelled")
    assert text(section(response, "labels-title")).endswith("Key Value cost-center cc-x")
    assert text(section(response, "annotations-title")).endswith("Key Value argocd/app-name labelled")


def test_the_yaml_is_the_entity_with_uid_etag_and_relations(reader, pages_catalog):
    response = reader.get("/catalog/default/component/fraud-model")
    html = response.content.decode()
    raw = re.search(r'<code id="entity-yaml">(.*?)</code>', html, re.S).group(1)
    document = yaml.safe_load(raw.replace("&#x27;", "'").replace("&quot;", '"').replace("&amp;", "&"))
    entity = pages_catalog["fraud-model"]
    assert document["metadata"]["uid"] == str(entity.uid)
    assert {"type": "dependsOn", "targetRef": "resource:default/fraud-db"} in document["relations"]
    assert 'data-copy="#entity-yaml"' in html
    assert "portal/portal.js" in html


def test_processing_errors_are_shown_first(reader, pages_catalog):
    response = reader.get("/catalog/default/component/broken")
    html = response.content.decode()
    errors = section(response, "errors-title")
    assert "<code>spec.lifecycle</code>: spec.lifecycle must be a string" in errors
    assert "apps/broken/catalog-info.yaml" in errors
    assert html.index('id="errors-title"') < html.index('id="about-title"')
    assert "1 processing error</span>" in html


def test_pending_entities_say_what_they_wait_for(reader, pages_catalog):
    html = reader.get("/catalog/default/component/new-endpoint").content.decode()
    assert '<span class="badge badge-info">pending</span>' in html
    assert "becomes active when its pull request merges" in html


def test_group_page_lists_members_sub_groups_parent_what_it_owns_and_its_cost_centre(reader, pages_catalog):
    response = reader.get("/catalog/default/group/fraud-detection")
    members = section(response, "members-title")
    assert '<a href="/catalog/default/user/dana">dana</a>' in members
    assert "Dana Scully" in members and "mailto:dana@neuroscale.test" in members
    structure = text(section(response, "hierarchy-title"))
    assert "Parent group ml-org" in structure
    assert "Sub-groups None." in structure
    assert "Cost centre cc-fraud" in structure
    owns = section(response, "owns-title")
    assert re.findall(r'<td class="col-name"><a href="[^"]+">([^<]+)</a>', owns) == ["fraud-features", "fraud-model", "new-endpoint", "payments"]
    assert 'href="/catalog/?owner=group%3Adefault%2Ffraud-detection"' in owns


def test_a_parent_group_lists_its_sub_groups(reader, pages_catalog):
    structure = section(reader.get("/catalog/default/group/ml-org"), "hierarchy-title")
    assert '<a href="/catalog/default/group/fraud-detection">Fraud Detection</a>' in structure
    assert '<a href="/catalog/default/group/search-ranking">search-ranking</a>' in structure
    assert "None: a top-level group." in structure


def test_other_kinds_have_no_group_sections(reader, pages_catalog):
    assert 'id="members-title"' not in reader.get("/catalog/default/component/fraud-model").content.decode()


def test_location_page_shows_its_target_refresh_errors_and_entities(reader, pages_catalog):
    location = pages_catalog["location"]
    location.errors = [{"path": "apps/bad/catalog-info.yaml", "message": "duplicate key 'name' on line 4", "field": ""}]
    location.save()
    response = reader.get(f"/catalog/locations/{location.uuid}")
    assert response.status_code == 200
    about = text(section(response, "about-title"))
    assert "Target ./apps/*/catalog-info.yaml" in about
    assert "Last refresh not read yet" in about
    assert "apps/bad/catalog-info.yaml" in section(response, "errors-title")
    listed = re.findall(r'<td class="col-name"><a href="/catalog/default/component/[^"]+">([^<]+)</a>', section(response, "entities-title"))
    assert listed == ["broken", "demo-iris", "fraud-features", "fraud-model", "legacy", "new-endpoint", "ranker"]


def test_unknown_location_is_a_404(reader, pages_catalog):
    assert reader.get("/catalog/locations/00000000-0000-0000-0000-000000000000").status_code == 404


def test_an_admin_removes_an_orphan_after_confirming(client, priya, pages_catalog):
    client.force_login(priya)
    page = client.get("/catalog/default/component/legacy").content.decode()
    assert "Remove from catalog…" in page
    assert 'action="/catalog/default/component/legacy/remove"' in page
    response = client.post("/catalog/default/component/legacy/remove", follow=True)
    assert response.redirect_chain[-1][0] == "/catalog/"
    assert "Component legacy was removed from the catalog." in response.content.decode()
    assert not Entity.objects.filter(name="legacy").exists()
    assert AuditEvent.objects.filter(target="component:default/legacy").exists()


def test_only_admins_see_and_may_use_the_remove_button(client, dana, pages_catalog):
    client.force_login(dana)
    assert "Remove from catalog" not in client.get("/catalog/default/component/legacy").content.decode()
    assert client.post("/catalog/default/component/legacy/remove").status_code == 403
    assert Entity.objects.filter(name="legacy").exists()


def test_an_entity_still_in_its_location_cannot_be_removed(client, priya, pages_catalog):
    client.force_login(priya)
    page = client.get("/catalog/default/component/ranker").content.decode()
    assert "Remove from catalog" not in page
    response = client.post("/catalog/default/component/ranker/remove", follow=True)
    assert "cannot be removed here" in response.content.decode()
    assert Entity.objects.filter(name="ranker").exists()


def test_removal_needs_a_post(client, priya, pages_catalog):
    client.force_login(priya)
    assert client.get("/catalog/default/component/legacy/remove").status_code == 405


def test_home_is_the_team_view(client, dana, pages_catalog):
    client.force_login(dana)
    response = client.get("/", follow=True)
    assert response.redirect_chain == [("/catalog/", 302)]
    assert "Owned by my team" in response.content.decode()


def _grow(count: int) -> None:
    for index in range(count):
        store.upsert(entity_document("User", f"member-{index:03}", spec={"memberOf": ["fraud-detection"]}))
        store.upsert(entity_document(
            "Component", f"endpoint-{index:03}", spec={"type": "service", "lifecycle": "production", "owner": "fraud-detection"},
        ))


@pytest.mark.parametrize("count", [5, 50])
@pytest.mark.parametrize(
    ("path", "budget"),
    # session, user, memberships, entity, relations, their targets (+ owned and their count;
    # + a component's pull requests, from the deployments panel; + the cost panel's figures and
    # their freshness; + a budget or right-sizing panel's lookup)
    [("/catalog/default/component/fraud-model", 10), ("/catalog/default/group/fraud-detection", 11)],
)
def test_entity_page_query_count_does_not_grow_with_relations(
    client, dana, pages_catalog, django_assert_max_num_queries, count, path, budget
):
    _grow(count)
    client.force_login(dana)
    with django_assert_max_num_queries(budget):
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("count", [5, 50])
def test_location_page_query_count_does_not_grow_with_entities(
    client, dana, pages_catalog, django_assert_max_num_queries, count
):
    location = pages_catalog["location"]
    for index in range(count):
        store.upsert(entity_document("Component", f"endpoint-{index:03}", spec={"type": "service", "lifecycle": "production", "owner": "x"}),
                     location=location)
    client.force_login(dana)
    with django_assert_max_num_queries(6):
        assert client.get(f"/catalog/locations/{location.uuid}").status_code == 200


def test_the_yaml_keeps_the_usual_key_order(reader, pages_catalog):
    html = reader.get("/catalog/default/component/fraud-model").content.decode()
    raw = re.search(r'<code id="entity-yaml">(.*?)</code>', html, re.S).group(1)
    top = [line.split(":")[0] for line in raw.splitlines() if line and not line.startswith((" ", "-"))]
    assert top == ["apiVersion", "kind", "metadata", "spec", "relations"]
    assert raw.splitlines()[3] == "  name: fraud-model"


def test_every_entity_of_the_demo_catalog_has_a_page(client, dana, demo_catalog):
    client.force_login(dana)
    entities = list(Entity.objects.all())
    assert len(entities) > 10
    for entity in entities:
        response = client.get(entity.url_path())
        assert response.status_code == 200, entity.ref
    team_view = client.get("/catalog/").content.decode()
    assert "Owned by my team: <strong>fraud-detection</strong>" in team_view
    for location in {entity.location for entity in entities if entity.location}:
        assert client.get(f"/catalog/locations/{location.uuid}").status_code == 200

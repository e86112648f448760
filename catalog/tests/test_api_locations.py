"""Locations through the API: Backstage's shapes, dry runs without side effects, admin-only writes."""

import pytest

from catalog import ingestion
from catalog.models import Entity, Location
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db

API = "/api/catalog"

FILES = {
    "catalog-info.yaml": """
        apiVersion: backstage.io/v1alpha1
        kind: Location
        metadata: {name: root}
        spec:
          targets: [./org/teams.yaml]
    """,
    "org/teams.yaml": """
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: platform-team}
        spec: {type: team, children: [], members: [priya]}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: fraud-detection}
        spec: {type: team, children: [], members: [dana]}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: User
        metadata: {name: priya}
        spec: {memberOf: [platform-team]}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: User
        metadata: {name: dana}
        spec: {memberOf: [fraud-detection]}
    """,
    "extra/catalog-info.yaml": """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: extra-model, description: Registered by hand}
        spec: {type: model-endpoint, lifecycle: experimental, owner: fraud-detection}
    """,
    "broken/catalog-info.yaml": """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: Not A Valid Name}
        spec: {type: service, lifecycle: production, owner: fraud-detection}
    """,
}


@pytest.fixture
def repo(make_repo, dana, priya, outsider):
    make_repo(FILES)
    ingestion.refresh_all()
    return Location.objects.get(is_root=True)


def test_locations_list_and_get_in_backstages_shapes(repo, dana, token_client):
    client = token_client(dana, scope="read")
    assert client.get(f"{API}/locations").json() == [{"data": {"id": str(repo.uuid), "type": "file", "target": repo.target}}]
    assert client.get(f"{API}/locations/{repo.uuid}").json() == {"id": str(repo.uuid), "type": "file", "target": repo.target}
    missing = client.get(f"{API}/locations/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["error"]["name"] == "NotFoundError"
    by_entity = client.get(f"{API}/locations/by-entity/group/default/platform-team")
    assert by_entity.json()["id"] == str(repo.uuid)
    assert client.get(f"{API}/locations/by-entity/component/default/nope").status_code == 404


def test_a_dry_run_shows_the_entities_and_changes_nothing(repo, dana, token_client):
    """Backstage's docs: "Supports the ?dryRun=true query parameter, which will perform validation
    and not write anything to the database"."""
    client = token_client(dana, scope="read")  # a dry run only reads
    response = client.post(f"{API}/locations?dryRun=true", {"type": "file", "target": "./extra/catalog-info.yaml"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["exists"] is False
    assert [e["metadata"]["name"] for e in body["entities"]] == ["extra-model"]
    assert body["location"]["type"] == "file"
    assert Location.objects.count() == 1
    assert not Entity.objects.filter(name="extra-model").exists()
    assert not AuditEvent.objects.filter(action__startswith="catalog.location").exists()


def test_a_dry_run_of_an_invalid_file_names_the_field(repo, dana, token_client):
    response = token_client(dana).post(
        f"{API}/locations?dryRun=true", {"type": "file", "target": "broken/catalog-info.yaml"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["name"] == "InputError"
    assert any(detail["field"] == "metadata.name" for detail in body["error"]["details"])


def test_an_admin_registers_a_location_and_gets_its_entities(repo, priya, token_client):
    client = token_client(priya)
    response = client.post(f"{API}/locations", {"type": "file", "target": "extra/catalog-info.yaml"}, format="json")
    assert response.status_code == 201
    body = response.json()
    location = Location.objects.get(uuid=body["location"]["id"])
    assert body["location"] == {"id": str(location.uuid), "type": "file", "target": location.target}
    assert [e["metadata"]["name"] for e in body["entities"]] == ["extra-model"]
    assert body["entities"][0]["metadata"]["uid"] == str(Entity.objects.get(name="extra-model").uid)
    assert AuditEvent.objects.filter(action="catalog.location.registered", actor=priya).exists()
    again = client.post(f"{API}/locations", {"type": "file", "target": "extra/catalog-info.yaml"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["name"] == "ConflictError"
    dry = client.post(f"{API}/locations?dryRun=true", {"type": "file", "target": "extra/catalog-info.yaml"}, format="json")
    assert dry.json()["exists"] is True and dry.json()["location"]["id"] == str(location.uuid)


@pytest.mark.parametrize("persona", ["dana", "outsider"])
def test_only_admins_register_locations(persona, request, repo, token_client):
    response = token_client(request.getfixturevalue(persona)).post(
        f"{API}/locations", {"type": "file", "target": "extra/catalog-info.yaml"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == {"name": "NotAllowedError", "message": "Only admins may register locations."}
    assert Location.objects.count() == 1


def test_a_read_token_cannot_register_even_for_an_admin(repo, priya, token_client):
    response = token_client(priya, scope="read").post(f"{API}/locations", {"type": "file", "target": "extra/catalog-info.yaml"}, format="json")
    assert response.status_code == 403
    assert "read scope" in response.json()["error"]["message"]


def test_a_bad_location_body_is_refused_with_the_field(repo, priya, token_client):
    response = token_client(priya).post(f"{API}/locations", {"type": "ftp", "target": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("type:")


def test_deleting_a_location_removes_its_entities_admins_only(repo, priya, dana, token_client):
    extra = ingestion.register_location("file", "extra/catalog-info.yaml", priya)
    assert token_client(dana).delete(f"{API}/locations/{extra.uuid}").status_code == 403
    assert token_client(priya).delete(f"{API}/locations/{extra.uuid}").status_code == 204
    assert not Location.objects.filter(pk=extra.pk).exists()
    assert not Entity.objects.filter(name="extra-model").exists()
    assert AuditEvent.objects.filter(action="catalog.location.deleted", actor=priya).exists()
    root = token_client(priya).delete(f"{API}/locations/{repo.uuid}")
    assert root.status_code == 400
    assert "PORTAL_CATALOG_ROOT_LOCATION" in root.json()["error"]["message"]

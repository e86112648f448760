"""Ingestion from the repository snapshot: locations, globs, placeholders, conflicts, orphans."""

import pytest
from django.core.exceptions import PermissionDenied

from catalog import ingestion, store
from catalog.choices import EntityStatus, LocationType
from catalog.models import Entity, Location
from portal.models import AuditEvent
from portal.tasks import refresh_snapshot

pytestmark = pytest.mark.django_db

ROOT = """
    apiVersion: backstage.io/v1alpha1
    kind: Location
    metadata:
      name: root
    spec:
      targets:
        - ./apps/*/catalog-info.yaml
        - ./org/*.yaml
"""
GROUP = """
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata:
      name: fraud-detection
      labels:
        cost-center: cc-fraud
    spec:
      type: team
      children: []
"""


def component(name: str, owner: str = "fraud-detection", extra: str = "") -> str:
    return f"""
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata:
      name: {name}
    spec:
      type: model-endpoint
      lifecycle: production
      owner: {owner}
    {extra}"""


def get(ref: str) -> Entity:
    return Entity.objects.get(ref=ref)


def refresh() -> ingestion.RefreshReport:
    (report,) = [r for r in ingestion.refresh_all() if r.location == "file:catalog-info.yaml"]
    return report


# --- The demo repository ---------------------------------------------------------------------------


def test_the_demo_repository_ingests_without_errors(demo_catalog):
    assert [report.errors for report in demo_catalog] == [[]]
    assert not Location.objects.exclude(errors=[]).exists()
    assert not Entity.objects.exclude(errors=[]).exists()
    groups = set(Entity.objects.filter(kind="Group").values_list("name", flat=True))
    assert groups >= {"platform-team", "fraud-detection", "search-ranking"}
    components = dict(Entity.objects.filter(kind="Component").values_list("name", "cost_center"))
    assert components["demo-iris-2"] == "cc-demo"
    assert components["ai-model-alpha"] == "cc-platform"
    assert components["search-ranker"] == "cc-search"  # inherited from its team
    assert {"fraud-scorer", "search-ranker"} <= set(components)
    assert get("component:default/demo-iris-2").owner_ref == "group:default/platform-team"
    assert get("template:default/kserve-model-endpoint").status == EntityStatus.ACTIVE
    alpha = get("component:default/ai-model-alpha")
    assert alpha.annotations["neuroscale.io/inference-service"] == "default/sklearn-iris"
    assert alpha.annotations["neuroscale.io/gitops-path"] == "apps/ai-model-alpha"


def test_the_api_definition_is_read_from_the_file_next_to_it(demo_catalog):
    definition = get("api:default/fraud-scoring-api").spec["definition"]
    assert definition.startswith("openapi: 3.0.3")
    assert "/v1/models/fraud-scorer:predict" in definition


def test_relations_are_stored_both_ways_after_ingestion(demo_catalog):
    scorer, team = get("component:default/fraud-scorer"), get("group:default/fraud-detection")
    relations = store.relations_of([scorer, team])
    assert {"type": "ownedBy", "targetRef": "group:default/fraud-detection"} in relations[scorer.ref]
    assert {"type": "providesApi", "targetRef": "api:default/fraud-scoring-api"} in relations[scorer.ref]
    assert {"type": "ownerOf", "targetRef": "component:default/fraud-scorer"} in relations[team.ref]
    assert {"type": "childOf", "targetRef": "group:default/ml-org"} in relations[team.ref]
    assert {"type": "hasMember", "targetRef": "user:default/dana"} in relations[team.ref]
    api = get("api:default/fraud-scoring-api")
    assert {"type": "apiProvidedBy", "targetRef": "component:default/fraud-scorer"} in store.relations_of([api])[api.ref]


def test_reingesting_is_idempotent_with_stable_uids_and_etags(demo_catalog):
    before = dict(Entity.objects.values_list("ref", "uid"))
    etags = dict(Entity.objects.values_list("ref", "etag"))
    report = refresh()
    assert (report.added, report.updated, report.orphaned, report.errors) == (0, 0, 0, [])
    assert report.unchanged == len(before)
    assert dict(Entity.objects.values_list("ref", "uid")) == before
    assert dict(Entity.objects.values_list("ref", "etag")) == etags


# --- Files, globs and errors ------------------------------------------------------------------------


def test_globs_find_every_matching_file_and_refs_are_case_insensitive(make_repo):
    make_repo({
        "catalog-info.yaml": ROOT,
        "org/groups.yaml": GROUP,
        "apps/a/catalog-info.yaml": component("model-a", owner="Group:Default/Fraud-Detection"),
        "apps/b/catalog-info.yaml": component("model-b", owner="FRAUD-DETECTION"),
        "apps/b/deeper/catalog-info.yaml": component("not-matched"),
    })
    report = refresh()
    assert report.errors == []
    assert set(Entity.objects.filter(kind="Component").values_list("name", flat=True)) == {"model-a", "model-b"}
    assert get("component:default/model-a").owner_ref == get("component:default/model-b").owner_ref == "group:default/fraud-detection"
    assert get("component:default/model-b").cost_center == "cc-fraud"
    assert get("component:default/model-a").source == "apps/a/catalog-info.yaml"


def test_an_invalid_entity_is_rejected_and_its_valid_neighbours_still_land(make_repo):
    make_repo({
        "catalog-info.yaml": ROOT,
        "apps/a/catalog-info.yaml": component("good-model") + "\n---" + component("bad-model").replace("owner: fraud-detection", ""),
    })
    report = refresh()
    assert get("component:default/good-model").status == EntityStatus.ACTIVE
    assert not Entity.objects.filter(name="bad-model").exists()
    (error,) = report.errors
    assert error["path"] == "apps/a/catalog-info.yaml"
    assert error["document"] == "document 2 (component:default/bad-model)"
    assert error["field"] == "spec.owner"
    assert "a Component needs spec.owner" in error["message"]
    assert Location.objects.get(is_root=True).errors == report.errors


def test_a_file_that_is_not_yaml_is_reported_with_its_line_and_others_still_land(make_repo):
    make_repo({
        "catalog-info.yaml": ROOT,
        "apps/a/catalog-info.yaml": component("good-model"),
        "apps/b/catalog-info.yaml": "kind: Component\nmetadata:\n  name: x\n  name: y\n",
    })
    report = refresh()
    assert Entity.objects.filter(name="good-model").exists()
    (error,) = report.errors
    assert error["path"] == "apps/b/catalog-info.yaml"
    assert "line 4" in error["message"] and "duplicate key 'name'" in error["message"]


def test_a_file_over_the_size_limit_is_refused(make_repo, settings):
    make_repo({"catalog-info.yaml": ROOT, "apps/a/catalog-info.yaml": component("big-model", extra="  description: " + "x" * 1200)})
    settings.PORTAL_YAML_MAX_BYTES = 1024
    (error,) = refresh().errors
    assert "over the limit of 1024 (PORTAL_YAML_MAX_BYTES)" in error["message"]
    assert not Entity.objects.filter(name="big-model").exists()


def test_a_missing_target_file_is_an_error_on_the_location(make_repo):
    make_repo({"catalog-info.yaml": ROOT.replace("./org/*.yaml", "./org/teams.yaml")})
    (error,) = refresh().errors
    assert error["message"].startswith("org/teams.yaml does not exist in the repository")


def test_location_entities_are_followed_relative_to_their_file_and_loops_stop(make_repo):
    make_repo({
        "catalog-info.yaml": ROOT,
        "org/more.yaml": """
            apiVersion: backstage.io/v1alpha1
            kind: Location
            metadata:
              name: more
            spec:
              targets: [./nested/team.yaml, ../catalog-info.yaml, ./more.yaml]
        """,
        "org/nested/team.yaml": GROUP,
    })
    report = refresh()
    assert report.errors == []
    assert get("group:default/fraud-detection").source == "org/nested/team.yaml"
    assert get("location:default/more").location == Location.objects.get(is_root=True)


# --- Placeholders ---------------------------------------------------------------------------------


API = """
    apiVersion: backstage.io/v1alpha1
    kind: API
    metadata:
      name: scoring
    spec:
      type: openapi
      lifecycle: production
      owner: fraud-detection
      definition:
        {placeholder}: {target}
"""


def api_repo(make_repo, placeholder: str, target: str, extra: dict | None = None):
    make_repo({
        "catalog-info.yaml": ROOT,
        "apps/a/catalog-info.yaml": API.format(placeholder=placeholder, target=target),
        "apps/a/openapi.yaml": "openapi: 3.0.3\ninfo: {title: Scoring}\n",
        "secrets.txt": "do not read",
        **(extra or {}),
    })


@pytest.mark.parametrize(
    ("placeholder", "target", "expected"),
    [
        ("$text", "./openapi.yaml", "openapi: 3.0.3\ninfo: {title: Scoring}\n"),
        ("$text", "../../secrets.txt", "do not read"),
    ],
)
def test_text_placeholders_read_files_relative_to_their_file(make_repo, placeholder, target, expected):
    api_repo(make_repo, placeholder, target)
    assert refresh().errors == []
    assert get("api:default/scoring").spec["definition"] == expected


def test_json_and_yaml_placeholders_are_parsed(make_repo):
    make_repo({
        "catalog-info.yaml": ROOT,
        "apps/a/catalog-info.yaml": component("model-a", extra="""
      profile:
        $json: ./profile.json
      settings:
        $yaml: ./settings.yaml"""),
        "apps/a/profile.json": '{"replicas": 2}',
        "apps/a/settings.yaml": "threshold: 0.8\n",
    })
    assert refresh().errors == []
    spec = get("component:default/model-a").spec
    assert spec["profile"] == {"replicas": 2}
    assert spec["settings"] == {"threshold": 0.8}


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("../../../outside.txt", "points outside the repository"),
        ("/etc/passwd", "absolute paths are refused"),
        ("https://evil.example.com/definition.yaml", "The host 'evil.example.com' is not allowed"),
        ("./missing.yaml", "does not exist in the repository"),
    ],
)
def test_placeholders_never_leave_the_repository_or_the_allowed_hosts(make_repo, target, reason):
    api_repo(make_repo, "$text", target)
    (error,) = refresh().errors
    assert error["field"] == "spec.definition"
    assert reason in error["message"]
    assert not Entity.objects.filter(kind="API").exists()


def test_an_unknown_placeholder_is_refused(make_repo):
    api_repo(make_repo, "$include", "./openapi.yaml")
    (error,) = refresh().errors
    assert error["field"] == "spec.definition" and "Unknown placeholder $include" in error["message"]


def test_url_placeholders_and_locations_are_fetched_from_allowed_hosts_only(make_repo, settings, httpserver):
    httpserver.expect_request("/openapi.yaml").respond_with_data("openapi: 3.1.0\n")
    httpserver.expect_request("/catalog-info.yaml").respond_with_data(component("remote-model"))
    settings.PORTAL_CATALOG_ALLOWED_HOSTS = [httpserver.host]
    api_repo(make_repo, "$text", httpserver.url_for("/openapi.yaml"))
    assert refresh().errors == []
    assert get("api:default/scoring").spec["definition"] == "openapi: 3.1.0\n"

    location = ingestion.register_location(LocationType.URL, httpserver.url_for("/catalog-info.yaml"), None)
    assert location.errors == []
    assert get("component:default/remote-model").location == location

    settings.PORTAL_CATALOG_ALLOWED_HOSTS = []
    with pytest.raises(ingestion.IngestionError, match="not allowed: add it to PORTAL_CATALOG_ALLOWED_HOSTS"):
        ingestion.register_location(LocationType.URL, httpserver.url_for("/other.yaml"), None)
    requests = [request.path for request, _ in httpserver.log]
    assert "/other.yaml" not in requests


# --- Conflicts, orphans, pending --------------------------------------------------------------------


def test_the_first_location_keeps_a_ref_and_the_second_records_a_conflict(make_repo):
    make_repo({
        "catalog-info.yaml": ROOT,
        "apps/a/catalog-info.yaml": component("shared-model"),
        "elsewhere/catalog-info.yaml": component("shared-model", owner="search-ranking"),
    })
    refresh()
    second = ingestion.register_location(LocationType.FILE, "./elsewhere/catalog-info.yaml", None)
    entity = get("component:default/shared-model")
    assert entity.owner_ref == "group:default/fraud-detection"
    assert entity.location.is_root
    (error,) = second.errors
    assert "already provided by location file:catalog-info.yaml" in error["message"]
    assert refresh().errors == []  # the first location is not disturbed


def test_an_entity_that_leaves_its_location_is_orphaned_until_an_admin_removes_it(make_repo, commit, make_user):
    make_repo({"catalog-info.yaml": ROOT, "apps/a/catalog-info.yaml": component("old-model")})
    refresh()
    uid = get("component:default/old-model").uid
    commit({"apps/a/catalog-info.yaml": None}, "Decommission old-model")
    report = refresh()
    assert report.orphaned == 1
    orphan = get("component:default/old-model")
    assert (orphan.status, orphan.uid) == (EntityStatus.ORPHANED, uid)
    assert refresh().orphaned == 0  # counted once

    teammate = make_user("dana", groups=["fraud-detection"])
    with pytest.raises(PermissionDenied):
        ingestion.remove_orphan(orphan, teammate)
    assert Entity.objects.filter(pk=orphan.pk).exists()

    admin = make_user("priya", groups=["platform-team"])
    ingestion.remove_orphan(orphan, admin)
    assert not Entity.objects.filter(ref="component:default/old-model").exists()
    event = AuditEvent.objects.get(action="catalog.entity.orphan_removed")
    assert (event.actor, event.target) == (admin, "component:default/old-model")


def test_an_orphan_that_comes_back_is_active_again_with_its_uid(make_repo, commit):
    make_repo({"catalog-info.yaml": ROOT, "apps/a/catalog-info.yaml": component("model-a")})
    refresh()
    uid = get("component:default/model-a").uid
    commit({"apps/a/catalog-info.yaml": None})
    refresh()
    commit({"apps/b/catalog-info.yaml": component("model-a")})
    refresh()
    entity = get("component:default/model-a")
    assert (entity.status, entity.uid, entity.source) == (EntityStatus.ACTIVE, uid, "apps/b/catalog-info.yaml")


def test_an_active_entity_cannot_be_removed_as_an_orphan(make_repo, make_user):
    make_repo({"catalog-info.yaml": ROOT, "apps/a/catalog-info.yaml": component("model-a")})
    refresh()
    with pytest.raises(ingestion.IngestionError, match="is not orphaned"):
        ingestion.remove_orphan(get("component:default/model-a"), make_user("root", superuser=True))


def test_a_broken_new_version_keeps_the_last_good_one_with_the_error_on_it(make_repo, commit):
    make_repo({"catalog-info.yaml": ROOT, "apps/a/catalog-info.yaml": component("model-a")})
    refresh()
    commit({"apps/a/catalog-info.yaml": component("model-a").replace("lifecycle: production", "lifecycle: [1]")})
    report = refresh()
    assert report.orphaned == 0
    entity = get("component:default/model-a")
    assert entity.status == EntityStatus.ACTIVE and entity.lifecycle == "production"
    assert [error["field"] for error in entity.errors] == ["spec.lifecycle"]
    commit({"apps/a/catalog-info.yaml": component("model-a")})
    refresh()
    assert get("component:default/model-a").errors == []


def test_a_pending_entity_becomes_active_when_its_location_emits_it(make_repo, commit):
    make_repo({"catalog-info.yaml": ROOT})
    refresh()
    pending = store.upsert(
        {"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "new-model"},
         "spec": {"type": "model-endpoint", "lifecycle": "experimental", "owner": "fraud-detection"}},
        status=EntityStatus.PENDING,
    ).entity
    refresh()
    assert get("component:default/new-model").status == EntityStatus.PENDING  # not orphaned while its PR is open
    commit({"apps/new-model/catalog-info.yaml": component("new-model")}, "Merge new-model")
    refresh()
    entity = get("component:default/new-model")
    assert (entity.status, entity.uid) == (EntityStatus.ACTIVE, pending.uid)
    assert entity.location.is_root


# --- The snapshot drives ingestion -------------------------------------------------------------------


def test_locations_are_refreshed_from_the_snapshot_after_a_new_commit(gitops_repo, commit):
    refresh_snapshot()  # first snapshot: snapshot_changed runs the ingestion
    assert Entity.objects.filter(ref="component:default/fraud-scorer").exists()
    commit({"apps/fraud-scorer/catalog-info.yaml": None,
            "apps/fraud-scorer/inference-service.yaml": None,
            "apps/risk-model/catalog-info.yaml": component("risk-model")}, "Replace fraud-scorer by risk-model")
    ingestion.refresh_all()
    assert get("component:default/fraud-scorer").status == EntityStatus.ORPHANED
    assert get("component:default/risk-model").cost_center == "cc-fraud"


def test_the_snapshot_task_triggers_ingestion_of_a_new_commit(gitops_repo, settings):
    import tempfile
    from pathlib import Path

    import git

    refresh_snapshot()
    with tempfile.TemporaryDirectory() as tmp:
        clone = git.Repo.clone_from(str(gitops_repo), tmp, branch="main")
        (Path(tmp) / "apps/demo-iris-2/catalog-info.yaml").write_text(
            (Path(tmp) / "apps/demo-iris-2/catalog-info.yaml").read_text().replace("lifecycle: production", "lifecycle: deprecated")
        )
        clone.git.add(A=True)
        clone.index.commit("Deprecate demo-iris-2")
        clone.remote().push("main:main")
    refresh_snapshot()
    assert get("component:default/demo-iris-2").lifecycle == "deprecated"


# --- Registering, dry runs, deleting ------------------------------------------------------------------


def test_a_dry_run_shows_entities_and_errors_without_writing(make_repo):
    make_repo({
        "team/catalog-info.yaml": component("model-a") + "\n---" + component("model-b").replace("type: model-endpoint", ""),
    })
    entities, errors = ingestion.dry_run("file", "./team/catalog-info.yaml")
    assert [e["metadata"]["name"] for e in entities] == ["model-a"]
    assert errors == [{"message": errors[0]["message"], "path": "team/catalog-info.yaml", "field": "spec.type"}]
    assert not Entity.objects.exists() and not Location.objects.exists()


@pytest.mark.parametrize(
    ("type_", "target", "message"),
    [
        ("file", "../outside.yaml", "points outside the repository"),
        ("file", "/etc/catalog.yaml", "absolute paths are refused"),
        ("file", "https://example.com/x.yaml", "register it with type url"),
        ("url", "https://example.com/x.yaml", "The host 'example.com' is not allowed"),
        ("url", "file:///etc/passwd", "not an http(s) URL"),
        ("github", "x", "Unknown location type"),
    ],
)
def test_bad_targets_are_refused_with_a_clear_message(db, type_, target, message):
    with pytest.raises(ingestion.IngestionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ingestion.register_location(type_, target, None)
    entities, errors = ingestion.dry_run(type_, target)
    assert entities == [] and message in errors[0]["message"]
    assert not Location.objects.exists()


def test_registering_and_deleting_a_location_is_audited_and_removes_its_entities(make_repo, make_user):
    make_repo({"team/catalog-info.yaml": component("model-a")})
    admin = make_user("priya", groups=["platform-team"])
    location = ingestion.register_location("file", "./team/catalog-info.yaml", admin)
    assert location.target == "team/catalog-info.yaml"
    assert get("component:default/model-a").location == location
    with pytest.raises(ingestion.LocationExists):
        ingestion.register_location("file", "team/catalog-info.yaml", admin)
    ingestion.delete_location(location, admin)
    assert not Entity.objects.exists()
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "target"))
    assert actions == [
        ("catalog.location.registered", "file:team/catalog-info.yaml"),
        ("catalog.location.deleted", "file:team/catalog-info.yaml"),
    ]


def test_the_root_location_is_registered_once_and_cannot_be_deleted(make_repo):
    make_repo({"catalog-info.yaml": ROOT})
    root = ingestion.ensure_root_location()
    assert ingestion.ensure_root_location() == root
    assert (root.type, root.target, root.is_root) == ("file", "catalog-info.yaml", True)
    with pytest.raises(ingestion.IngestionError, match="PORTAL_CATALOG_ROOT_LOCATION"):
        ingestion.delete_location(root, None)


def test_the_refresh_task_reports_what_it_did(demo_catalog):
    from catalog.tasks import refresh_locations

    summary = refresh_locations()
    assert summary == {"locations": 1, "added": 0, "updated": 0, "orphaned": 0, "errors": 0}


def test_each_demo_endpoint_matches_its_manifest_labels(demo_catalog):
    """The labels OpenCost and Kyverno read agree with the catalog; the namespace quota holds them."""
    from portal import snapshot, yamlsafe

    manifests = snapshot.read_many(snapshot.paths("apps/*/inference-service.yaml"))
    assert 0 < len(manifests) <= 4  # the reference quota allows 5 InferenceServices in default
    for path, content in manifests.items():
        (manifest,) = yamlsafe.load_all(content, source=path)
        labels = manifest["metadata"]["labels"]
        component = Entity.objects.get(kind="Component", name=path.split("/")[1])
        assert component.annotations["neuroscale.io/gitops-path"] == path.rsplit("/", 1)[0]
        assert component.annotations["neuroscale.io/inference-service"] == f"default/{manifest['metadata']['name']}"
        assert component.owner_ref == f"group:default/{labels['owner']}"
        assert component.cost_center == labels["cost-center"]


def test_a_broken_root_file_orphans_nothing_and_says_why(make_repo, commit):
    make_repo({"catalog-info.yaml": ROOT, "apps/a/catalog-info.yaml": component("model-a")})
    refresh()
    commit({"catalog-info.yaml": ROOT + "      targets: [again]\n"}, "Break the root location")
    report = refresh()
    assert report.orphaned == 0
    assert get("component:default/model-a").status == EntityStatus.ACTIVE
    (error,) = report.errors
    assert error["path"] == "catalog-info.yaml" and "duplicate key 'targets'" in error["message"]
    assert "duplicate key 'targets'" in get("location:default/root").errors[0]["message"]


def test_a_location_entity_of_an_unknown_type_is_refused(make_repo):
    make_repo({"catalog-info.yaml": ROOT.replace("spec:\n", "spec:\n      type: github\n")})
    (error,) = refresh().errors
    assert (error["field"], error["message"]) == ("spec.type", "Unknown location type 'github': use file or url.")

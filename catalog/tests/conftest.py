"""Catalog test fixtures: GitOps repositories with chosen files, commits, the demo catalog."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from pathlib import Path

import git
import pytest

AUTHOR = git.Actor("Test Author", "author@neuroscale.test")


def write_files(folder: Path, files: dict[str, str | None]) -> None:
    """Write (or, for None, delete) files under `folder`; text is dedented."""
    for path, text in files.items():
        target = folder / path
        if text is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))


@pytest.fixture
def make_repo(tmp_path, settings, db):
    """A real bare repository holding exactly `files`, configured, with its snapshot refreshed."""
    from portal import snapshot

    def make(files: dict[str, str]) -> Path:
        source = tmp_path / "source"
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir()
        write_files(source, files)
        from deployments.gitops.local import LocalProvider

        path = tmp_path / "repo.git"
        shutil.rmtree(path, ignore_errors=True)
        LocalProvider(path).seed(source)
        settings.PORTAL_GITOPS_PROVIDER = "local"
        settings.PORTAL_GITOPS_REPO_PATH = path
        snapshot.refresh()
        return path

    return make


@pytest.fixture
def commit(settings):
    """Commit changes to the configured bare repository (through a clone) and refresh the snapshot."""
    from portal import snapshot

    def push(files: dict[str, str | None], message: str = "Change the catalog") -> str:
        repo_path = Path(settings.PORTAL_GITOPS_REPO_PATH)
        branch = settings.PORTAL_GITOPS_DEFAULT_BRANCH
        with tempfile.TemporaryDirectory() as tmp:
            clone = git.Repo.clone_from(str(repo_path), tmp, branch=branch)
            write_files(Path(tmp), files)
            clone.git.add(A=True)
            clone.index.commit(message, author=AUTHOR, committer=AUTHOR)
            clone.remote().push(f"{branch}:{branch}")
        return snapshot.refresh().commit_sha

    return push


@pytest.fixture
def demo_catalog(gitops_repo, db):
    """The demo repository (examples/gitops) in the snapshot, every location ingested."""
    from catalog import ingestion
    from portal import snapshot

    snapshot.refresh()
    return ingestion.refresh_all()



# --- Catalog API fixtures -----------------------------------------------------------------


def entity_document(kind: str, name: str, *, spec: dict | None = None, **metadata) -> dict:
    """A Backstage entity document (backstage.io/v1alpha1) with the given metadata and spec."""
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, **metadata},
        "spec": spec or {},
    }


@pytest.fixture
def api_client():
    """A DRF test client; `.credentials(HTTP_AUTHORIZATION=...)` or `.force_login(user)` to sign in."""
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def token_client(db):
    """A client carrying a fresh Bearer token of `user` with `scope` (write by default)."""
    from rest_framework.test import APIClient

    from portal.models import APIToken

    def make(user, scope: str = "write") -> APIClient:
        _, clear = APIToken.issue(user, name="tests", scope=scope)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
        return client

    return make


@pytest.fixture
def api_catalog(db):
    """A small catalog shaped like the examples of Backstage's catalog API documentation.

    Groups fraud-detection, platform-team and ops; users dana, priya and olaf (ops); the
    system payments; components fraud-model (java), Checkout-Web (java, mixed-case name),
    ranker (python) and legacy (orphaned). Returns the entities by name.
    """
    from catalog import store

    documents = [
        entity_document("Group", "fraud-detection", labels={"cost-center": "cc-fraud"},
                        spec={"type": "team", "children": [], "members": ["dana"]}),
        entity_document("Group", "platform-team", spec={"type": "team", "children": [], "members": ["priya"]}),
        entity_document("Group", "ops", spec={"type": "business-unit", "children": []}),
        entity_document("User", "dana", spec={"memberOf": ["fraud-detection"]}),
        entity_document("User", "priya", spec={"memberOf": ["platform-team"]}),
        entity_document("User", "olaf", spec={"memberOf": ["ops"]}),
        entity_document("System", "payments", spec={"owner": "fraud-detection"}),
        entity_document("Component", "fraud-model", description="Scores card payments for fraud",
                        tags=["java", "sklearn"], annotations={"argocd/app-name": "fraud-model"},
                        spec={"type": "model-endpoint", "lifecycle": "production", "owner": "fraud-detection", "system": "payments"}),
        entity_document("Component", "Checkout-Web", description="The checkout pages", tags=["java"],
                        spec={"type": "website", "lifecycle": "production", "owner": "group:default/fraud-detection"}),
        entity_document("Component", "ranker", description="Ranks search results", tags=["python"],
                        spec={"type": "service", "lifecycle": "experimental", "owner": "platform-team"}),
        entity_document("Component", "legacy", description="No longer in any location",
                        annotations={"backstage.io/orphan": "true"},
                        spec={"type": "service", "lifecycle": "deprecated", "owner": "ops"}),
    ]
    return {doc["metadata"]["name"]: store.upsert(doc).entity for doc in documents}


# --- Catalog pages fixtures -----------------------------------------------------------------


@pytest.fixture
def reader(client, outsider):
    """A test client signed in as a user in no team: the catalog list starts with everything."""
    client.force_login(outsider)
    return client


@pytest.fixture
def pages_catalog(db):
    """A small organisation for the catalog pages, written through catalog.store.

    Groups ml-org (parent of fraud-detection and search-ranking), fraud-detection (cc-fraud,
    member dana), search-ranking (cc-search), platform-team (cc-platform, member priya); the
    system payments; components fraud-model (depends on an absent resource), fraud-features,
    ranker, demo-iris (its own cost centre), broken (with a processing error), legacy
    (orphaned) and new-endpoint (pending); the file location ./apps/*/catalog-info.yaml.
    Returns the entities by name.
    """
    from catalog import store
    from catalog.choices import EntityStatus, LocationType
    from catalog.models import Location

    apps = Location.objects.create(type=LocationType.FILE, target="./apps/*/catalog-info.yaml")
    owned = {"location": apps}

    def component(name, owner, type_, lifecycle, *, tags=(), labels=None, **spec):
        return (
            entity_document(
                "Component", name, tags=list(tags), labels=labels or {},
                description=f"The {name} endpoint", spec={"type": type_, "lifecycle": lifecycle, "owner": owner, **spec},
            ),
            {**owned, "source": f"apps/{name}/catalog-info.yaml"},
        )

    entries = [
        (entity_document("Group", "ml-org", spec={"type": "department", "children": ["fraud-detection", "search-ranking"]}), {}),
        (entity_document("Group", "fraud-detection", title="Fraud Detection", labels={"cost-center": "cc-fraud"},
                         spec={"type": "team", "parent": "ml-org", "children": [], "members": ["dana"]}), {}),
        (entity_document("Group", "search-ranking", labels={"cost-center": "cc-search"},
                         spec={"type": "team", "parent": "ml-org", "children": []}), {}),
        (entity_document("Group", "platform-team", labels={"cost-center": "cc-platform"},
                         spec={"type": "team", "children": [], "members": ["priya"]}), {}),
        (entity_document("User", "dana", spec={"memberOf": ["fraud-detection"],
                         "profile": {"displayName": "Dana Scully", "email": "dana@neuroscale.test"}}), {}),
        (entity_document("User", "priya", spec={"memberOf": ["platform-team"]}), {}),
        (entity_document("System", "payments", spec={"owner": "fraud-detection"}), {}),
        component("fraud-model", "fraud-detection", "model-endpoint", "production", tags=["sklearn", "fraud"],
                  system="payments", dependsOn=["resource:fraud-db"]),
        component("fraud-features", "fraud-detection", "service", "experimental", tags=["fraud"]),
        component("ranker", "search-ranking", "model-endpoint", "production", tags=["python"]),
        component("demo-iris", "platform-team", "model-endpoint", "experimental", tags=["sklearn"],
                  labels={"cost-center": "cc-demo"}),
        component("broken", "platform-team", "service", "production"),
        component("legacy", "search-ranking", "service", "deprecated"),
        component("new-endpoint", "fraud-detection", "model-endpoint", "experimental"),
    ]
    extra = {
        "broken": {"errors": [{"message": "spec.lifecycle must be a string", "field": "spec.lifecycle"}]},
        "legacy": {"status": EntityStatus.ORPHANED},
        "new-endpoint": {"status": EntityStatus.PENDING},
    }
    # Groups first, so components inherit their owner's cost centre.
    result = {}
    for document, options in entries:
        name = document["metadata"]["name"]
        result[name] = store.upsert(document, **options, **extra.get(name, {})).entity
    result["fraud-model"].document["metadata"]["links"] = [
        {"url": "https://grafana.neuroscale.test/d/fraud", "title": "Dashboard"},
        {"url": "javascript:alert(1)", "title": "Sneaky"},
    ]
    store.upsert(result["fraud-model"].document, location=apps, source="apps/fraud-model/catalog-info.yaml")
    result["location"] = apps
    return result

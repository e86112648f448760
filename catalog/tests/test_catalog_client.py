"""Backstage's own @backstage/catalog-client (from npm) works against the portal's catalog API."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from catalog import store
from catalog.models import Location
from catalog.tests.conftest import entity_document
from portal.models import APIToken
from portal.testing import ROOT

SCRIPT = Path(__file__).parent / "js" / "catalog_client_check.mjs"
CLIENT = ROOT / "node_modules" / "@backstage" / "catalog-client"


def run_client(live_server, token: str, location: Location) -> dict:
    node = shutil.which("node")
    if node is None or not CLIENT.exists():
        pytest.fail("Node.js and the npm dev dependencies are needed: run `npm ci` (make test does).")
    env = {
        "PATH": "/usr/bin:/bin",
        "CATALOG_BASE_URL": f"{live_server.url}/api/catalog",
        "CATALOG_TOKEN": token,
        "LOCATION_ID": str(location.uuid),
    }
    result = subprocess.run([node, str(SCRIPT)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_backstages_catalog_client_reads_the_portal(live_server, transactional_db, make_user):
    user = make_user("script-user")
    _, token = APIToken.issue(user, name="backstage script", scope="read")
    location = Location.objects.create(type="file", target="apps/*/catalog-info.yaml")
    store.upsert(entity_document("Group", "fraud-detection", spec={"type": "team", "children": []}))
    for name, kind in [("fraud-model", "model-endpoint"), ("ranker", "model-endpoint"), ("checkout", "website"),
                       ("scorer", "model-endpoint"), ("batch-job", "service")]:
        store.upsert(
            entity_document("Component", name, spec={"type": kind, "lifecycle": "production", "owner": "fraud-detection"}),
            location=location,
        )

    got = run_client(live_server, token, location)

    # getEntities with a filter (two filter sets, ORed) and fields.
    assert sorted(got["filtered"], key=lambda e: e["metadata"]["name"]) == [
        {"kind": "Group", "metadata": {"name": "fraud-detection"}},
        {"kind": "Component", "metadata": {"name": "fraud-model"}},
        {"kind": "Component", "metadata": {"name": "ranker"}},
        {"kind": "Component", "metadata": {"name": "scorer"}},
    ]
    # getEntityByRef: the entity with uid, etag and relations; undefined when absent.
    assert got["byRef"]["name"] == "fraud-model" and got["byRef"]["uid"] and got["byRef"]["etag"]
    assert {"type": "ownedBy", "targetRef": "group:default/fraud-detection"} in got["byRef"]["relations"]
    assert got["missing"] is None
    # queryEntities followed through nextCursor to the end.
    assert got["pages"] == [
        {"names": ["batch-job", "checkout"], "totalItems": 5},
        {"names": ["fraud-model", "ranker"], "totalItems": 5},
        {"names": ["scorer"], "totalItems": 5},
    ]
    assert got["facets"] == {"facets": {"spec.owner": [{"value": "fraud-detection", "count": 5}]}}
    assert got["location"] == {"id": str(location.uuid), "type": "file", "target": "apps/*/catalog-info.yaml"}
    assert got["byRefs"] == ["ranker", None]
    # The client turns the portal's error body into its ResponseError.
    assert got["error"] == {"name": "ResponseError", "status": 400, "cause": "InputError"}

"""POST dry-run with the body Backstage's template editor sends; parameter schemas; actions; the
OpenAPI schema."""

from __future__ import annotations

import base64

import pytest
import yaml

from catalog.tests.conftest import api_client, demo_catalog, token_client  # noqa: F401 - fixtures
from portal.testing import ROOT
from scaffolder.models import Task
from scaffolder.tests.api_helpers import API, HELLO_TEMPLATE, hello_template
from scaffolder.tests.test_golden_path import EXPECTED_COMPONENT, EXPECTED_INFERENCE_SERVICE, SAMPLE

pytestmark = pytest.mark.django_db

GOLDEN = ROOT / "examples/gitops/templates/model-endpoint"


def directory_contents(folder) -> list[dict]:
    """The template's folder as Backstage's editor sends it: paths relative to the folder, base64."""
    return [
        {"path": path.relative_to(folder).as_posix(), "base64Content": base64.b64encode(path.read_bytes()).decode()}
        for path in sorted(folder.rglob("*")) if path.is_file()
    ]


@pytest.fixture
def reader(dana, token_client):  # noqa: F811 - a dry run writes nothing: a read token may ask
    return token_client(dana, scope="read")


def test_a_dry_run_of_the_golden_path_sent_inline_renders_its_two_files(reader, demo_catalog):  # noqa: F811
    body = {
        "template": yaml.safe_load((GOLDEN / "template.yaml").read_text()),
        "values": SAMPLE,
        "secrets": {},
        "directoryContents": directory_contents(GOLDEN),
    }
    response = reader.post(f"{API}/dry-run", body, format="json")
    assert response.status_code == 200, response.json()
    result = response.json()
    assert set(result) == {"log", "directoryContents", "output", "steps"}
    files = {entry["path"]: entry for entry in result["directoryContents"]}
    assert sorted(files) == ["apps/fraud-model/catalog-info.yaml", "apps/fraud-model/inference-service.yaml"]
    assert files["apps/fraud-model/catalog-info.yaml"]["executable"] is False
    decoded = {path: yaml.safe_load(base64.b64decode(entry["base64Content"])) for path, entry in files.items()}
    assert decoded["apps/fraud-model/inference-service.yaml"] == EXPECTED_INFERENCE_SERVICE
    assert decoded["apps/fraud-model/catalog-info.yaml"] == EXPECTED_COMPONENT
    assert [step["id"] for step in result["steps"]] == ["owner", "render", "guardrails", "publish", "register"]
    messages = [entry["body"]["message"] for entry in result["log"]]
    assert "Would open a pull request from model-endpoint/fraud-model into main:" in messages
    assert {entry["body"].get("stepId") for entry in result["log"]} >= {"owner", "render", "guardrails", "publish", "register"}
    assert result["output"]["links"][1] == {"title": "Open in catalog", "icon": "catalog", "entityRef": "component:default/fraud-model"}
    assert not Task.objects.exists()


def test_a_dry_run_keeps_secrets_out_of_its_log(reader):
    template = {**HELLO_TEMPLATE, "spec": {**HELLO_TEMPLATE["spec"], "steps": [
        {"id": "say", "action": "debug:log", "input": {"message": "token is ${{ secrets.token }}"}},
    ]}}
    response = reader.post(f"{API}/dry-run", {"template": template, "values": {"name": "x"},
                                              "secrets": {"token": "hunter2-hunter2"}, "directoryContents": []}, format="json")
    assert response.status_code == 200
    assert "hunter2-hunter2" not in response.content.decode()
    assert response.json()["steps"][0]["id"] == "say"


def test_a_dry_run_refuses_bad_values_a_non_template_and_bad_base64(reader):
    bad_values = reader.post(f"{API}/dry-run", {"template": HELLO_TEMPLATE, "values": {"name": "Nope!"},
                                                "directoryContents": []}, format="json")
    assert bad_values.status_code == 400
    assert bad_values.json()["error"]["details"][0]["field"] == "name"
    not_template = reader.post(f"{API}/dry-run", {"template": {"kind": "Component"}, "values": {}, "directoryContents": []},
                               format="json")
    assert not_template.status_code == 400
    assert "Input template is not a template" in not_template.json()["error"]["message"]
    bad_file = reader.post(f"{API}/dry-run", {"template": HELLO_TEMPLATE, "values": {"name": "x"},
                                              "directoryContents": [{"path": "skeleton/a.txt", "base64Content": "%%%"}]},
                           format="json")
    assert bad_file.status_code == 400
    assert "skeleton/a.txt: not valid base64" in bad_file.json()["error"]["message"]


def test_a_failing_step_shows_in_the_dry_run_steps_and_log(reader):
    response = reader.post(f"{API}/dry-run", {"template": HELLO_TEMPLATE, "values": {"name": "x", "fail": True},
                                              "directoryContents": []}, format="json")
    assert response.status_code == 200
    steps = {step["id"]: step["status"] for step in response.json()["steps"]}
    assert steps == {"greet": "completed", "break": "failed"}
    assert any(entry["body"].get("level") == "error" for entry in response.json()["log"])


def test_the_parameter_schema_of_a_template(reader, db):
    hello_template()
    response = reader.get(f"{API}/templates/default/template/hello/parameter-schema")
    assert response.status_code == 200
    schema = response.json()
    assert schema["title"] == "Say hello"
    assert [step["title"] for step in schema["steps"]] == ["Who"]
    assert schema["steps"][0]["schema"]["required"] == ["name"]
    missing = reader.get(f"{API}/templates/default/template/nope/parameter-schema")
    assert missing.status_code == 404
    assert missing.json()["error"]["name"] == "NotFoundError"


def test_the_actions_are_listed_with_their_schemas(reader):
    actions = {action["id"]: action for action in reader.get(f"{API}/actions").json()}
    assert {"fetch:template", "catalog:fetch", "catalog:register", "publish:pull-request", "debug:log"} <= set(actions)
    fetch = actions["catalog:fetch"]
    assert set(fetch) == {"id", "description", "schema", "examples"}
    assert "entityRef" in fetch["schema"]["input"]["properties"]
    assert "entity" in fetch["schema"]["output"]["properties"]


def test_the_openapi_schema_documents_every_scaffolder_endpoint(reader):
    schema = reader.get("/api/schema/").json()
    paths = {path: operations for path, operations in schema["paths"].items() if path.startswith(f"{API}/")}
    assert set(paths) == {
        f"{API}/tasks", f"{API}/tasks/{{task_id}}", f"{API}/tasks/{{task_id}}/events",
        f"{API}/tasks/{{task_id}}/eventstream", f"{API}/tasks/{{task_id}}/cancel", f"{API}/tasks/{{task_id}}/retry",
        f"{API}/dry-run", f"{API}/templates/{{namespace}}/{{kind}}/{{name}}/parameter-schema", f"{API}/actions",
    }
    create = paths[f"{API}/tasks"]["post"]
    assert create["operationId"] == "scaffold"
    assert "Idempotency-Key" in {parameter["name"] for parameter in create["parameters"]}
    assert {"201", "400", "422"} <= set(create["responses"])
    assert "text/event-stream" in paths[f"{API}/tasks/{{task_id}}/eventstream"]["get"]["responses"]["200"]["content"]

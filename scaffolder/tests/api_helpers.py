"""Shared data for the scaffolder API tests: a small template, task creation, the API root."""

from __future__ import annotations

from catalog import store
from catalog.tests.conftest import entity_document

API = "/api/scaffolder/v2"

#: A template that logs a greeting, with a password field, and fails on request.
HELLO_TEMPLATE = {
    "apiVersion": "scaffolder.backstage.io/v1beta3",
    "kind": "Template",
    "metadata": {"name": "hello", "title": "Say hello", "description": "Logs a greeting"},
    "spec": {
        "owner": "group:default/platform-team",
        "type": "service",
        "parameters": [
            {
                "title": "Who",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 20},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 5},
                    "apiKey": {"type": "string", "ui:widget": "password"},
                    "fail": {"type": "boolean"},
                },
            }
        ],
        "steps": [
            {"id": "greet", "name": "Greet", "action": "debug:log", "input": {"message": "Hello, ${{ parameters.name }}!"}},
            {
                "id": "break",
                "name": "Break on request",
                "if": "${{ parameters.fail }}",
                "action": "fs:rename",
                "input": {"files": [{"from": "missing.txt", "to": "found.txt"}]},
            },
        ],
        "output": {"text": [{"title": "Greeting", "content": "Said hello to ${{ parameters.name }}"}]},
    },
}


def hello_template():
    """The hello template in the catalog (as a location would emit it)."""
    document = entity_document("Template", "hello", title="Say hello", description="Logs a greeting")
    document.update(apiVersion=HELLO_TEMPLATE["apiVersion"], spec=HELLO_TEMPLATE["spec"])
    return store.upsert(document, source="templates/hello/template.yaml").entity


def create(client, values: dict | None = None, *, key: str | None = None, template: str = "template:default/hello", **body):
    """POST tasks; returns the response."""
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    payload = {"templateRef": template, "values": {"name": "dana-test", **(values or {})}, **body}
    return client.post(f"{API}/tasks", payload, format="json", **headers)

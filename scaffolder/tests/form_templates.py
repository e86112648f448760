"""Fixtures of the form, preview and page tests: a template that uses every schema feature the
form supports, and a small organisation for its catalog pickers."""

from __future__ import annotations

import pytest

FEATURE_TEMPLATE = {
    "apiVersion": "scaffolder.backstage.io/v1beta3",
    "kind": "Template",
    "metadata": {
        "name": "everything",
        "title": "Every field",
        "description": "A template with one field of each kind.",
        "tags": ["testing", "forms"],
    },
    "spec": {
        "owner": "group:default/platform-team",
        "type": "service",
        "parameters": [
            {
                "title": "Basics",
                "description": "Names and words.",
                "required": ["name", "owner"],
                "properties": {
                    "name": {
                        "title": "Name",
                        "type": "string",
                        "description": "The endpoint's name.",
                        "ui:field": "EntityNamePicker",
                        "ui:autofocus": True,
                    },
                    "owner": {
                        "title": "Owner",
                        "type": "string",
                        "description": "The team that runs it.",
                        "ui:field": "OwnerPicker",
                        "ui:options": {"catalogFilter": {"kind": "Group", "spec.type": "team"}},
                    },
                    "summary": {"title": "Summary", "type": "string", "ui:widget": "textarea", "maxLength": 20},
                    "token": {"title": "API token", "type": "string", "ui:widget": "password", "minLength": 8},
                    "code": {
                        "title": "Code",
                        "type": "string",
                        "pattern": "^[A-Z]{3}$",
                        "ui:help": "Three capital letters",
                        "ui:placeholder": "ABC",
                    },
                    "nickname": {"title": "Nickname", "type": "string", "minLength": 3, "examples": ["ace"]},
                    "region": {
                        "title": "Region",
                        "type": "string",
                        "enum": ["eu", "us"],
                        "enumNames": ["Europe", "United States"],
                        "default": "eu",
                    },
                    "size": {"title": "Size", "type": "string", "enum": ["s", "m", "l"], "ui:widget": "radio"},
                    "frozen": {"title": "Frozen", "type": "string", "default": "fixed", "ui:readonly": True},
                },
            },
            {
                "title": "Numbers",
                "required": ["replicas"],
                "properties": {
                    "replicas": {"title": "Replicas", "type": "integer", "minimum": 1, "maximum": 5, "default": 2},
                    "ratio": {"title": "Ratio", "type": "number", "minimum": 0, "maximum": 1},
                    "public": {"title": "Public", "type": "boolean", "default": False, "description": "Reachable from outside."},
                    "zones": {
                        "title": "Zones",
                        "type": "array",
                        "items": {"type": "string", "enum": ["a", "b", "c"], "enumNames": ["Zone A", "Zone B", "Zone C"]},
                        "uniqueItems": True,
                        "minItems": 1,
                        "default": ["a"],
                    },
                    "runtime": {"title": "Runtime", "type": "string", "enum": ["default", "custom"], "default": "default"},
                    "dependency": {
                        "title": "Depends on",
                        "type": "string",
                        "ui:field": "EntityPicker",
                        "ui:options": {"catalogFilter": {"kind": "Component"}},
                    },
                },
                "dependencies": {
                    "runtime": {
                        "oneOf": [
                            {"properties": {"runtime": {"enum": ["default"]}}},
                            {
                                "properties": {
                                    "runtime": {"enum": ["custom"]},
                                    "image": {"title": "Image", "type": "string", "description": "The runtime image."},
                                },
                                "required": ["image"],
                            },
                        ]
                    }
                },
            },
        ],
        "steps": [
            {"id": "hello", "name": "Say hello", "action": "debug:log", "input": {"message": "Hello ${{ parameters.name }}"}},
        ],
        "output": {"text": [{"title": "Greeting", "content": "Made ${{ parameters.name }}"}]},
    },
}

#: Values that pass every page of FEATURE_TEMPLATE.
FEATURE_VALUES = {
    "name": "fraud-model",
    "owner": "group:default/fraud-detection",
    "token": "s3cret-value-42",
    "region": "eu",
    "size": "m",
    "frozen": "fixed",
    "replicas": 2,
    "public": False,
    "zones": ["a"],
    "runtime": "default",
}


def org_documents() -> list[dict]:
    def document(kind, name, spec, **metadata):
        return {"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": {"name": name, **metadata}, "spec": spec}

    return [
        document("Group", "ml-org", {"type": "department", "children": ["fraud-detection"]}),
        document("Group", "fraud-detection", {"type": "team", "parent": "ml-org", "children": [], "members": ["dana"]},
                 title="Fraud Detection", labels={"cost-center": "cc-fraud"}),
        document("Group", "platform-team", {"type": "team", "children": [], "members": ["priya"]}),
        document("User", "dana", {"memberOf": ["fraud-detection"]}),
        document("Component", "fraud-features", {"type": "service", "lifecycle": "production", "owner": "fraud-detection"}),
        document("Component", "ranker", {"type": "service", "lifecycle": "production", "owner": "platform-team"}),
    ]


@pytest.fixture
def feature_template(db):
    """FEATURE_TEMPLATE in the catalog, with groups (two teams, one department) and components."""
    from catalog import store

    for document in org_documents():
        store.upsert(document)
    return store.upsert(FEATURE_TEMPLATE).entity


#: Values for the golden-path template (examples/gitops/templates/model-endpoint) by form page.
GOLDEN_PAGES = [
    {"name": "card-fraud", "description": "Scores card payments"},
    {"modelFormat": "sklearn", "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model", "runtime": "", "runtimeVersion": ""},
    {"minReplicas": "1", "maxReplicas": "3", "cpuRequest": "500m", "cpuLimit": "1", "memoryRequest": "1Gi",
     "memoryLimit": "2Gi", "gpu": "0"},
    {"owner": "group:default/fraud-detection", "costCenter": ""},
]
GOLDEN_FORM = "/create/templates/default/model-endpoint"


@pytest.fixture
def golden_catalog(gitops_repo, dana, priya):
    """The demo repository in the snapshot and ingested (after the personas, so their
    memberships come from the catalog)."""
    from catalog import ingestion
    from portal import snapshot

    snapshot.refresh()
    ingestion.refresh_all()
    return gitops_repo

"""catalog:write and catalog:register: entity files, and pending Components linked to their pull request."""

from __future__ import annotations

import pytest
import yaml

from catalog import store
from catalog.models import Entity
from deployments.models import PullRequest
from scaffolder.actions.registry import ActionError
from scaffolder.models import Task
from scaffolder.tests.action_context import make_context, run
from scaffolder.workspace import write_file

COMPONENT = {
    "apiVersion": "backstage.io/v1alpha1",
    "kind": "Component",
    "metadata": {"name": "card-fraud", "labels": {"cost-center": "cc-fraud"}},
    "spec": {"type": "model-endpoint", "lifecycle": "experimental", "owner": "group:default/fraud-detection"},
}


def register(workspace, action_input, *, task_id=None, dry_run=False):
    from scaffolder.actions import registry

    ctx = make_context(workspace, "catalog:register", action_input)
    ctx.task_id, ctx.dry_run = task_id, dry_run
    registry.get("catalog:register").run(ctx)
    return ctx


def test_catalog_write_writes_the_entity_as_yaml(workspace):
    run(workspace, "catalog:write", {"entity": COMPONENT, "filePath": "apps/card-fraud/catalog-info.yaml"})

    assert yaml.safe_load((workspace / "apps/card-fraud/catalog-info.yaml").read_text()) == COMPONENT


def test_catalog_write_defaults_to_catalog_info_yaml_and_stays_in_the_workspace(workspace):
    run(workspace, "catalog:write", {"entity": COMPONENT})
    assert (workspace / "catalog-info.yaml").exists()
    with pytest.raises(ActionError, match="refused to write"):
        run(workspace, "catalog:write", {"entity": COMPONENT, "filePath": "../escape.yaml"})


def test_register_adds_a_pending_component_linked_to_the_tasks_pull_request(db, workspace, dana):
    task = Task.objects.create(template_ref="template:default/t", spec={}, created_by=dana)
    PullRequest.objects.create(provider="local", repository="r", number=1, branch="b", base="main", title="t",
                               task=task.uuid)
    write_file(workspace, "apps/card-fraud/catalog-info.yaml", yaml.safe_dump(COMPONENT).encode())

    ctx = register(workspace, {"catalogInfoPath": "/apps/card-fraud/catalog-info.yaml"}, task_id=str(task.uuid))

    entity = Entity.objects.get(ref="component:default/card-fraud")
    assert entity.status == "pending" and entity.source == "apps/card-fraud/catalog-info.yaml"
    assert entity.owner_ref == "group:default/fraud-detection" and entity.cost_center == "cc-fraud"
    assert ctx.outputs == {"entityRef": "component:default/card-fraud", "entityRefs": ["component:default/card-fraud"],
                           "catalogInfoUrl": "apps/card-fraud/catalog-info.yaml"}
    task.refresh_from_db()
    assert task.entity_ref == "component:default/card-fraud"
    assert PullRequest.objects.get().entity_ref == "component:default/card-fraud"


def test_register_finds_the_file_a_catalog_info_url_names(db, workspace):
    write_file(workspace, "apps/card-fraud/catalog-info.yaml", yaml.safe_dump(COMPONENT).encode())

    ctx = register(workspace, {"catalogInfoUrl": "https://github.com/o/r/blob/main/apps/card-fraud/catalog-info.yaml"})

    assert ctx.outputs["entityRef"] == "component:default/card-fraud"
    assert Entity.objects.get(ref="component:default/card-fraud").status == "pending"


def test_register_leaves_an_active_entity_as_it_is(db, workspace):
    store.upsert({**COMPONENT, "metadata": {**COMPONENT["metadata"], "description": "live"}})

    ctx = register(workspace, {"entity": COMPONENT})

    entity = Entity.objects.get(ref="component:default/card-fraud")
    assert entity.status == "active" and entity.document["metadata"]["description"] == "live"
    assert "already in the catalog (active)" in ctx.logger.text()


def test_register_refuses_an_invalid_entity_naming_the_field(db, workspace):
    broken = {**COMPONENT, "spec": {"type": "service", "owner": "fraud-detection"}}
    write_file(workspace, "catalog-info.yaml", yaml.safe_dump(broken).encode())

    with pytest.raises(ActionError, match="catalog-info.yaml is not a valid entity: spec.lifecycle"):
        register(workspace, {})
    assert not Entity.objects.filter(kind__iexact="component").exists()


def test_register_of_a_missing_file_fails_unless_optional(db, workspace):
    with pytest.raises(ActionError, match="no catalog file at /catalog-info.yaml"):
        register(workspace, {})

    ctx = register(workspace, {"optional": True})
    assert ctx.outputs == {}


def test_register_dry_run_reports_and_writes_nothing(db, workspace):
    ctx = register(workspace, {"entity": COMPONENT}, dry_run=True)

    assert ctx.outputs["entityRef"] == "component:default/card-fraud"
    assert "Would register component:default/card-fraud" in ctx.logger.text()
    assert not Entity.objects.exists()

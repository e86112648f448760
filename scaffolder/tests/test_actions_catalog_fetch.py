"""`catalog:fetch`: entities from the catalog for later steps, as Backstage's action returns them."""

from __future__ import annotations

import pytest

from catalog import store
from catalog.tests.conftest import entity_document
from scaffolder.actions.registry import ActionError
from scaffolder.tests.action_context import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def teams(db):
    store.upsert(entity_document("Group", "fraud-detection", labels={"cost-center": "cc-fraud"},
                                 spec={"type": "team", "children": []}))
    store.upsert(entity_document("Group", "search-ranking", spec={"type": "team", "children": []}))


def test_a_short_ref_with_a_default_kind_fetches_the_group_and_its_labels(workspace, teams):
    ctx = run(workspace, "catalog:fetch", {"entityRef": "fraud-detection", "defaultKind": "group"})
    assert ctx.outputs["entityRef"] == "group:default/fraud-detection"
    entity = ctx.outputs["entity"]
    assert entity["kind"] == "Group"
    assert entity["metadata"]["labels"] == {"cost-center": "cc-fraud"}
    assert entity["metadata"]["uid"]
    assert ctx.logger.lines == ["Fetched group:default/fraud-detection from the catalog"]


def test_several_refs_answer_in_order_with_null_for_the_missing_when_optional(workspace, teams):
    ctx = run(workspace, "catalog:fetch", {
        "entityRefs": ["group:default/search-ranking", "group:default/nobody", "Group:default/Fraud-Detection"],
        "optional": True,
    })
    names = [entity and entity["metadata"]["name"] for entity in ctx.outputs["entities"]]
    assert names == ["search-ranking", None, "fraud-detection"]


def test_a_missing_entity_fails_the_step_with_its_ref(workspace, teams):
    with pytest.raises(ActionError, match="no entity group:default/nobody in the catalog"):
        run(workspace, "catalog:fetch", {"entityRef": "group:default/nobody"})


def test_a_ref_without_a_kind_or_an_input_without_a_ref_is_refused(workspace, teams):
    with pytest.raises(ActionError, match="has no kind"):
        run(workspace, "catalog:fetch", {"entityRef": "fraud-detection"})
    with pytest.raises(ActionError, match="Invalid input to catalog:fetch"):
        run(workspace, "catalog:fetch", {"optional": True})

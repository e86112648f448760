"""The write path: uids survive refreshes, relations are stored both ways, search rows follow."""

import pytest

from catalog import store
from catalog.models import Entity, EntitySearch

pytestmark = pytest.mark.django_db


def component(name="fraud-model", owner="fraud-detection", **spec):
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "tags": ["sklearn", "Fraud"], "labels": {"cost-center": "cc-fraud"}},
        "spec": {"type": "model-endpoint", "lifecycle": "production", "owner": owner, **spec},
    }


def test_uid_and_etag_are_stable_when_nothing_changes():
    first = store.upsert(component())
    again = store.upsert(component())
    assert again.entity.uid == first.entity.uid
    assert again.entity.etag == first.entity.etag
    assert not again.changed


def test_a_change_keeps_the_uid_and_changes_the_etag():
    first = store.upsert(component())
    changed = store.upsert(component(lifecycle="experimental"))
    assert changed.entity.uid == first.entity.uid
    assert changed.entity.etag != first.entity.etag
    assert Entity.objects.get().lifecycle == "experimental"


def test_relations_are_stored_both_ways_case_insensitively():
    store.upsert(component(owner="Group:Default/Fraud-Detection", system="payments"))
    model = Entity.objects.get(ref="component:default/fraud-model")
    relations = store.relations_of([model])[model.ref]
    assert {"type": "ownedBy", "targetRef": "group:default/fraud-detection"} in relations
    assert {"type": "partOf", "targetRef": "system:default/payments"} in relations
    group = store.upsert({
        "apiVersion": "backstage.io/v1alpha1", "kind": "Group",
        "metadata": {"name": "fraud-detection"}, "spec": {"type": "team", "children": []},
    }).entity
    assert {"type": "ownerOf", "targetRef": "component:default/fraud-model"} in store.relations_of([group])[group.ref]
    assert EntitySearch.objects.filter(entity=group, key="relations.ownerof", value="component:default/fraud-model").exists()


def test_search_rows_flatten_tags_labels_and_lowercase_values():
    entity = store.upsert(component()).entity
    rows = set(EntitySearch.objects.filter(entity=entity).values_list("key", "value"))
    assert ("metadata.tags", "fraud") in rows
    assert ("metadata.labels.cost-center", "cc-fraud") in rows
    assert ("spec.owner", "fraud-detection") in rows
    assert ("kind", "component") in rows


def test_deleting_an_entity_removes_the_reverse_relation_from_its_owner():
    group = store.upsert({
        "apiVersion": "backstage.io/v1alpha1", "kind": "Group",
        "metadata": {"name": "fraud-detection"}, "spec": {"type": "team", "children": []},
    }).entity
    model = store.upsert(component()).entity
    store.delete(model)
    assert store.relations_of([group])[group.ref] == []
    assert not EntitySearch.objects.filter(entity=group, key="relations.ownerof").exists()


def test_cost_centre_is_inherited_from_the_owner_group():
    store.upsert({
        "apiVersion": "backstage.io/v1alpha1", "kind": "Group",
        "metadata": {"name": "search-ranking", "labels": {"cost-center": "cc-search"}},
        "spec": {"type": "team", "children": []},
    })
    document = component(name="ranker", owner="search-ranking")
    document["metadata"]["labels"] = {}
    assert store.upsert(document).entity.cost_center == "cc-search"


def test_a_batch_stitches_each_entity_once_at_the_end():
    group = {
        "apiVersion": "backstage.io/v1alpha1", "kind": "Group",
        "metadata": {"name": "fraud-detection"}, "spec": {"type": "team", "children": []},
    }
    with store.batch():
        store.upsert(group)
        store.upsert(component(name="a"))
        store.upsert(component(name="b"))
        assert not EntitySearch.objects.exists(), "nothing is stitched before the batch ends"
    owned = EntitySearch.objects.filter(entity__name="fraud-detection", key="relations.ownerof")
    assert sorted(owned.values_list("value", flat=True)) == ["component:default/a", "component:default/b"]

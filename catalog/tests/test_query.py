"""Backstage's `filter=` grammar, checked against the examples of its catalog API documentation.

Reference: https://backstage.io/docs/features/software-catalog/software-catalog-api#filtering
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import query
from catalog.models import Entity
from catalog.query import Condition

pytestmark = pytest.mark.django_db


def names(filters: list[str]) -> list[str]:
    spec = query.parse_filters(filters)
    return sorted(query.apply_filters(Entity.objects.all(), spec).values_list("name", flat=True))


def test_the_documented_example_is_an_or_of_ands(api_catalog):
    """Backstage's docs:

        /entities?filter=kind=user,metadata.namespace=default&filter=kind=group,spec.type

          Return entities that match
            Filter set 1:  Condition 1: kind = user  AND  Condition 2: metadata.namespace = default
            OR
            Filter set 2:  Condition 1: kind = group AND  Condition 2: spec.type exists
    """
    assert query.parse_filters(["kind=user,metadata.namespace=default", "kind=group,spec.type"]) == [
        (Condition("kind", ("user",)), Condition("metadata.namespace", ("default",))),
        (Condition("kind", ("group",)), Condition("spec.type")),
    ]
    assert names(["kind=user,metadata.namespace=default", "kind=group,spec.type"]) == [
        "dana", "fraud-detection", "olaf", "ops", "platform-team", "priya",
    ]


def test_users_and_groups(api_catalog):
    """Backstage's docs: "Return all users and groups: /entities?filter=kind=user&filter=kind=group"."""
    assert names(["kind=user", "kind=group"]) == ["dana", "fraud-detection", "olaf", "ops", "platform-team", "priya"]


def test_service_components(api_catalog):
    """Backstage's docs: "Return all service components: /entities?filter=kind=component,spec.type=service"."""
    assert names(["kind=component,spec.type=service"]) == ["legacy", "ranker"]


def test_entities_with_a_tag(api_catalog):
    """Backstage's docs: "Return all entities with the java tag: /entities?filter=metadata.tags.java"."""
    assert names(["metadata.tags.java"]) == ["Checkout-Web", "fraud-model"]
    assert names(["metadata.tags.java=true"]) == ["Checkout-Web", "fraud-model"]
    assert names(["metadata.tags=java"]) == ["Checkout-Web", "fraud-model"]


def test_members_of_a_group_through_relations(api_catalog):
    """Backstage's docs: "Return all users who are members of the ops group (note that the full
    reference of the group is used): /entities?filter=kind=user,relations.memberof=group:default/ops"."""
    assert names(["kind=user,relations.memberof=group:default/ops"]) == ["olaf"]


def test_orphaned_entities(api_catalog):
    """Backstage's docs: "Return all orphaned entities:
    /entities?filter=metadata.annotations.backstage.io/orphan=true"."""
    assert names(["metadata.annotations.backstage.io/orphan=true"]) == ["legacy"]


def test_matching_is_case_insensitive_for_keys_and_values(api_catalog):
    """Backstage's docs: "All checks are always case _insensitive_"."""
    assert names(["Kind=Component,SPEC.Owner=Group:Default/Fraud-Detection"]) == ["Checkout-Web"]
    assert names(["metadata.name=checkout-web"]) == ["Checkout-Web"]
    assert names(["RELATIONS.OWNEDBY=group:default/FRAUD-DETECTION,kind=component"]) == ["Checkout-Web", "fraud-model"]


def test_a_bare_key_means_the_key_exists(api_catalog):
    """Backstage's docs: "Each condition is either on the form <key>, or on the form <key>=<value>.
    The first form asserts on the existence of a certain key (with any value)"."""
    assert names(["metadata.annotations.argocd/app-name"]) == ["fraud-model"]
    assert names(["spec.system"]) == ["fraud-model"]


def test_a_key_repeated_in_one_filter_set_matches_any_of_its_values(api_catalog):
    """As Backstage's parseEntityFilterString merges a repeated key into one "value in" condition
    (backstage/backstage#13694: `metadata.tags=react,metadata.tags=javascript` is an OR)."""
    assert query.parse_filters(["kind=component,spec.type=service,spec.type=website"]) == [
        (Condition("kind", ("component",)), Condition("spec.type", ("service", "website"))),
    ]
    assert names(["kind=component,spec.type=service,spec.type=website"]) == ["Checkout-Web", "legacy", "ranker"]


def test_an_empty_filter_matches_everything_and_a_keyless_statement_is_refused(api_catalog):
    assert len(names([])) == len(api_catalog)
    assert len(names([",", ""])) == len(api_catalog)
    with pytest.raises(query.QueryError, match="'=value' is not a valid statement"):
        query.parse_filters(["kind=component,=value"])


def test_a_filter_is_one_sql_query_with_a_search_subquery_per_condition(api_catalog):
    spec = query.parse_filters(["kind=component,spec.owner=fraud-detection", "kind=group"])
    with CaptureQueriesContext(connection) as queries:
        list(query.apply_filters(Entity.objects.all(), spec))
    assert len(queries) == 1
    assert queries[0]["sql"].count("catalog_entitysearch") == 3


def test_fields_keep_only_the_requested_parts():
    """Backstage's docs: "specifying ?fields=metadata.name,metadata.annotations,spec retains only the
    name and annotations fields of the metadata of each entity ..., keeps the entire spec unchanged,
    and cuts out all other roots such as relations"."""
    document = {
        "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
        "metadata": {"name": "fraud-model", "uid": "u", "annotations": {"backstage.io/kubernetes-id": "fraud"}},
        "spec": {"type": "service", "owner": "fraud-detection"},
        "relations": [{"type": "ownedBy", "targetRef": "group:default/fraud-detection"}],
    }
    fields = query.parse_fields(["metadata.name,metadata.annotations,spec"])
    assert query.project(document, fields) == {
        "metadata": {"name": "fraud-model", "annotations": {"backstage.io/kubernetes-id": "fraud"}},
        "spec": {"type": "service", "owner": "fraud-detection"},
    }
    # Annotation keys hold dots themselves.
    assert query.project(document, ["metadata.annotations.backstage.io/kubernetes-id"]) == {
        "metadata": {"annotations": {"backstage.io/kubernetes-id": "fraud"}}
    }
    assert query.project(document, ["spec.missing"]) == {}
    with pytest.raises(query.QueryError, match="array fields"):
        query.parse_fields(["relations[0]"])


def test_order_parameters_are_parsed_with_their_errors():
    assert query.parse_order_fields(["metadata.name,desc", "kind"]) == [
        query.OrderField("metadata.name", "desc"), query.OrderField("kind", "asc"),
    ]
    assert query.parse_order(["asc:kind", "desc:metadata.name"]) == [
        query.OrderField("kind", "asc"), query.OrderField("metadata.name", "desc"),
    ]
    with pytest.raises(query.QueryError, match="asc or desc"):
        query.parse_order_fields(["metadata.name,up"])
    with pytest.raises(query.QueryError, match="<asc or desc>:<field name>"):
        query.parse_order(["metadata.name"])


def test_a_cursor_that_was_tampered_with_is_refused():
    with pytest.raises(query.QueryError, match="Malformed cursor"):
        query.decode_cursor("not base64!")
    with pytest.raises(query.QueryError, match="Malformed cursor"):
        query.decode_cursor("eyJmb28iOiAxfQ==")  # {"foo": 1}

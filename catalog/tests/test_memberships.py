"""Memberships come from the catalog: direct, through parent groups, and what a member manages."""

import pytest
from django.contrib.auth import get_user_model

from catalog import memberships, store
from catalog.models import Entity
from portal.identity import can_change, is_admin, managed_refs, member_refs, team_refs
from portal.models import Membership

pytestmark = pytest.mark.django_db


def signed_in(username: str):
    return get_user_model().objects.get_or_create(username=username)[0]


def test_direct_memberships_come_from_member_of_and_group_members(demo_catalog):
    assert team_refs(signed_in("dana")) == ["group:default/fraud-detection"]
    # marco has no memberOf: search-ranking lists him in spec.members.
    assert team_refs(signed_in("marco")) == ["group:default/search-ranking"]


def test_members_of_a_team_are_members_of_its_parent_but_do_not_manage_it(demo_catalog):
    dana = signed_in("dana")
    assert member_refs(dana) == {"group:default/fraud-detection", "group:default/ml-org"}
    assert managed_refs(dana) == {"group:default/fraud-detection"}
    assert can_change(dana, "group:default/fraud-detection")
    assert not can_change(dana, "group:default/ml-org")
    assert not can_change(dana, "group:default/search-ranking")


def test_members_of_a_parent_group_manage_its_sub_groups(demo_catalog):
    store.upsert({
        "apiVersion": "backstage.io/v1alpha1", "kind": "User",
        "metadata": {"name": "hana"}, "spec": {"memberOf": ["ml-org"]},
    })
    memberships.rebuild()
    hana = signed_in("hana")
    row = Membership.objects.get(user_ref="user:default/hana", group_ref="group:default/search-ranking")
    assert (row.direct, row.can_manage) == (False, True)
    assert can_change(hana, "group:default/search-ranking")
    assert team_refs(hana) == ["group:default/ml-org"]


def test_the_admin_group_comes_from_the_catalog(demo_catalog):
    assert is_admin(signed_in("priya"))
    assert not is_admin(signed_in("dana"))


def test_leaving_a_team_in_the_catalog_removes_the_membership(demo_catalog):
    document = Entity.objects.get(ref="user:default/lena").document
    store.upsert({**document, "spec": {"memberOf": []}})
    memberships.rebuild()
    assert team_refs(signed_in("lena")) == []
    assert not Membership.objects.filter(user_ref="user:default/lena").exists()


def test_signing_in_creates_a_user_entity_when_the_catalog_has_none(client, make_user):
    make_user("newcomer")
    assert client.login(username="newcomer", password="correct-horse-battery")
    entity = Entity.objects.get(ref="user:default/newcomer")
    assert entity.kind == "User" and entity.location is None
    assert client.login(username="newcomer", password="correct-horse-battery")
    assert Entity.objects.filter(kind="User").count() == 1


def test_signing_in_keeps_the_catalogs_own_user_entity(demo_catalog, client):
    before = Entity.objects.get(ref="user:default/dana")
    user = signed_in("dana")
    user.set_password("correct-horse-battery")
    user.save()
    assert client.login(username="dana", password="correct-horse-battery")
    after = Entity.objects.get(ref="user:default/dana")
    assert (after.etag, after.location_id) == (before.etag, before.location_id)

"""The audit log: append-only, listed for admins with filters."""

import pytest

from portal import audit
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_events_are_append_only(priya):
    event = audit.record(priya, "entity.deleted", "component:default/fraud-model", reason="test")
    event.details = {}
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()


def test_system_events_have_no_actor():
    event = audit.record(None, "snapshot.refreshed", "repository")
    assert event.actor is None and event.actor_name == "system"


def test_audit_page_filters_by_action_and_actor(client, priya, dana):
    audit.record(dana, "token.created", "user:default/dana")
    audit.record(priya, "entity.deleted", "component:default/old-model")
    client.force_login(priya)
    page = client.get("/admin/audit/", {"action": "entity"}).content.decode()
    assert "component:default/old-model" in page and "user:default/dana" not in page
    page = client.get("/admin/audit/", {"actor": "dana"}).content.decode()
    assert "user:default/dana" in page and "old-model" not in page


def test_audit_fragment_for_htmx(client, priya):
    audit.record(priya, "entity.deleted", "component:default/old-model")
    client.force_login(priya)
    response = client.get("/admin/audit/", HTTP_HX_REQUEST="true")
    assert "HX-Request" in response["Vary"]
    assert b"<html" not in response.content
    assert b"old-model" in response.content


def test_audit_page_query_count_does_not_grow(client, priya, django_assert_max_num_queries):
    for index in range(60):
        audit.record(priya, "entity.deleted", f"component:default/m{index}")
    client.force_login(priya)
    with django_assert_max_num_queries(8):
        assert client.get("/admin/audit/").status_code == 200
    assert AuditEvent.objects.count() == 60

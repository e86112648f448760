"""Service accounts: robot users owned by a group, managed by admins, with their own tokens."""

import pytest

from portal.models import APIToken, AuditEvent, ServiceAccount

pytestmark = pytest.mark.django_db


def test_admin_creates_a_service_account_and_gives_it_a_token(client, priya):
    client.force_login(priya)
    response = client.post(
        "/admin/service-accounts/", {"name": "ci-deployer", "owner": "fraud-detection", "description": "CI"}, follow=True
    )
    account = ServiceAccount.objects.get(user__username="ci-deployer")
    assert account.owner_ref == "group:default/fraud-detection"
    assert not account.user.has_usable_password(), "a robot cannot sign in with a password"
    assert b"Service account ci-deployer created" in response.content

    response = client.post(f"/admin/service-accounts/{account.uuid}/", {"name": "pipeline", "scope": "write"})
    clear = response.context["new_token"]
    client.logout()
    whoami = client.get("/api/portal/whoami", HTTP_AUTHORIZATION=f"Bearer {clear}").json()
    assert whoami["username"] == "ci-deployer"
    assert whoami["tokenScope"] == "write"
    assert AuditEvent.objects.filter(action="service_account.created", target="user:default/ci-deployer").exists()


def test_bad_service_account_name_is_explained_and_input_kept(client, priya):
    client.force_login(priya)
    response = client.post("/admin/service-accounts/", {"name": "CI Deployer", "owner": "fraud-detection"})
    assert response.status_code == 400
    content = response.content.decode()
    assert "Use lowercase letters, digits and dashes" in content
    assert 'value="fraud-detection"' in content


def test_only_admins_manage_service_accounts(client, dana):
    client.force_login(dana)
    assert client.post("/admin/service-accounts/", {"name": "x", "owner": "fraud-detection"}).status_code == 403
    assert not ServiceAccount.objects.exists()
    assert not APIToken.objects.exists()

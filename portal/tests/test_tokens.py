"""API tokens: created on the profile page, shown once, stored hashed, scoped, revocable."""

import base64
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from portal.models import APIToken, AuditEvent

pytestmark = pytest.mark.django_db


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def create_token_in_browser_form(client, user, name="ci", scope="read") -> str:
    client.force_login(user)
    response = client.post("/profile/", {"name": name, "scope": scope})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    return response.context["new_token"]


def test_token_is_shown_once_and_stored_only_as_a_hash(client, dana):
    clear = create_token_in_browser_form(client, dana)
    assert clear.startswith("nsp_")
    token = APIToken.objects.get(user=dana)
    assert token.digest != clear and clear not in token.digest
    assert clear not in client.get("/profile/").content.decode(), "the clear token is never shown again"
    assert token.hint in client.get("/profile/").content.decode()


def test_valid_token_authenticates_and_records_use_at_most_once_a_minute(client, dana):
    token, clear = APIToken.issue(dana, "script", "read")
    response = client.get("/api/portal/whoami", **bearer(clear))
    assert response.status_code == 200
    assert response.json() == {
        "username": "dana",
        "userEntityRef": "user:default/dana",
        "teams": ["group:default/fraud-detection"],
        "admin": False,
        "tokenScope": "read",
    }
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    client.get("/api/portal/whoami", **bearer(clear))
    token.refresh_from_db()
    assert token.last_used_at == first_use, "a second call within the minute writes nothing"
    APIToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    client.get("/api/portal/whoami", **bearer(clear))
    token.refresh_from_db()
    assert token.last_used_at > first_use


def test_revoked_token_is_refused(client, dana):
    clear = create_token_in_browser_form(client, dana)
    token = APIToken.objects.get(user=dana)
    response = client.post(f"/profile/tokens/{token.uuid}/revoke", follow=True)
    assert b"revoked" in response.content
    client.logout()
    response = client.get("/api/portal/whoami", **bearer(clear))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid or revoked token."


def test_wrong_token_is_401_with_json(client, dana):
    response = client.get("/api/portal/whoami", **bearer("nsp_not-a-real-token"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["name"] == "AuthenticationError"


def test_basic_auth_is_refused(client, dana):
    credentials = base64.b64encode(b"dana:correct-horse-battery").decode()
    response = client.get("/api/portal/whoami", HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert response.status_code == 401


def test_read_token_cannot_write(client, dana):
    _, clear = APIToken.issue(dana, "reader", "read")
    response = client.post("/api/portal/whoami", **bearer(clear))
    assert response.status_code == 403
    assert "read scope" in response.json()["error"]["message"]


def test_write_token_passes_the_scope_check(client, dana):
    _, clear = APIToken.issue(dana, "writer", "write")
    # whoami has no POST: a write token gets past authentication and scope to the 405.
    assert client.post("/api/portal/whoami", **bearer(clear)).status_code == 405


def test_cannot_revoke_someone_elses_token(client, dana, outsider):
    token, _ = APIToken.issue(dana, "mine", "read")
    client.force_login(outsider)
    assert client.post(f"/profile/tokens/{token.uuid}/revoke").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_token_form_names_the_missing_field_and_keeps_input(client, dana):
    client.force_login(dana)
    response = client.post("/profile/", {"name": "", "scope": "write"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert response.context["form"]["scope"].value() == "write", "the chosen scope is kept"
    assert 'value="write" id="id_scope_1" required checked' in response.content.decode()


def test_token_creation_and_revocation_are_audited(client, dana):
    create_token_in_browser_form(client, dana, name="deploy")
    token = APIToken.objects.get(user=dana)
    client.post(f"/profile/tokens/{token.uuid}/revoke")
    actions = list(AuditEvent.objects.order_by("created_at", "id").values_list("action", "actor_name", "target"))
    assert actions == [
        ("token.created", "dana", "user:default/dana"),
        ("token.revoked", "dana", "user:default/dana"),
    ]


def test_manage_command_prints_the_token_alone_on_the_last_line(dana, capsys):
    call_command("tokens", "create", "dana", "--name", "automation", "--scope", "write")
    out = capsys.readouterr().out.strip().splitlines()
    clear = out[-1]
    assert clear.startswith("nsp_")
    assert APIToken.objects.get(digest=APIToken.hash(clear)).scope == "write"

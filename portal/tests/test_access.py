"""Login is required everywhere except the health checks, the login page and webhooks."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/profile/", "/admin/", "/admin/audit/", "/admin/service-accounts/"])
def test_pages_redirect_anonymous_users_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("path", ["/healthz", "/login/"])
def test_anonymous_paths(client, path):
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/api/portal/whoami", "/api/schema/"])
def test_api_answers_401_with_json_never_a_redirect(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert "json" in response["Content-Type"]
    body = response.json()
    assert body["error"]["name"] == "AuthenticationError"
    assert body["response"]["statusCode"] == 401


def test_login_through_the_form_lands_on_the_team_view(client, dana):
    response = client.post("/login/", {"username": "dana", "password": "correct-horse-battery"}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith("/catalog/")
    assert "fraud-detection" in response.content.decode()


def test_wrong_password_says_so_and_keeps_the_username(client, dana):
    response = client.post("/login/", {"username": "dana", "password": "nope"})
    assert response.status_code == 200
    assert b"Wrong username or password" in response.content
    assert b'value="dana"' in response.content


def test_admin_pages_are_for_admins(client, dana, priya):
    client.force_login(dana)
    response = client.get("/admin/audit/")
    assert response.status_code == 403
    assert b"Only platform admins" in response.content
    client.force_login(priya)
    assert client.get("/admin/audit/").status_code == 200


def test_admin_link_shows_for_admins_only(client, dana, priya):
    client.force_login(dana)
    assert b'href="/admin/"' not in client.get("/catalog/").content
    client.force_login(priya)
    assert b'href="/admin/"' in client.get("/catalog/").content


def test_unknown_page_is_a_friendly_404(client, dana):
    client.force_login(dana)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Nothing here" in response.content


def test_admin_home_links_every_admin_page(client, priya):
    client.force_login(priya)
    page = client.get("/admin/").content.decode()
    for href in ["/admin/audit/", "/admin/service-accounts/", "/deployments/guardrails/", "/deployments/pull-requests/", "/create/tasks/"]:
        assert f'href="{href}' in page, href


@pytest.mark.parametrize(
    ("path", "section"),
    [("/deployments/", "Deployments"), ("/deployments/costs/", "Costs"), ("/catalog/", "Catalog")],
)
def test_the_header_marks_one_section_as_current(client, dana, path, section):
    client.force_login(dana)
    html = client.get(path).content.decode()
    marked = [label for label in ("Catalog", "Create", "Deployments", "Costs") if f'aria-current="page">{label}<' in html]
    assert marked == [section]

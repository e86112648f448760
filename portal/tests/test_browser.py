"""Signing in through the browser: the form, the navigation, the profile page, accessibility."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_and_create_a_token(page, priya):
    page.goto("/")
    assert "/login/" in page.page.url, "anonymous visitors are sent to the login page"
    assert page.accessibility_violations() == []
    page.screenshot("login")

    page.login("priya")
    navigation = page.page.get_by_role("navigation", name="Main")
    assert navigation.get_by_role("link", name="Admin").is_visible()
    assert navigation.get_by_role("button", name="Sign out").is_visible()

    page.page.get_by_role("link", name="Your profile and API tokens").click()
    page.page.get_by_label("Name").fill("laptop script")
    page.page.get_by_label("Read and write").check()
    page.page.get_by_role("button", name="Create token").click()
    token = page.page.get_by_label("New API token").input_value()
    assert token.startswith("nsp_")
    assert page.page.get_by_role("cell", name="laptop script", exact=True).is_visible()
    assert page.accessibility_violations() == []
    page.screenshot("profile-new-token")


def test_wrong_password_is_explained(page, dana):
    page.login("dana", password="not-it")
    assert page.page.get_by_role("alert").inner_text().startswith("Wrong username or password")
    assert page.page.get_by_label("Username").input_value() == "dana"


def test_admin_pages_render_accessibly(page, priya):
    page.login("priya")
    for path, name in [("/admin/", "admin-home"), ("/admin/audit/", "audit-log"), ("/admin/service-accounts/", "service-accounts")]:
        page.goto(path)
        assert page.accessibility_violations() == [], path
        page.screenshot(name)

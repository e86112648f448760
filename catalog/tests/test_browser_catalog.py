"""Dana's catalog journey in a real browser: team view, filters without reloads, an endpoint's page."""

import re

import pytest

pytestmark = [pytest.mark.browser]


def rows(page) -> list[str]:
    return page.page.locator("#catalog-results .entity-link").all_inner_texts()


def no_horizontal_overflow(page) -> bool:
    """Neither the page nor any table scrolls sideways."""
    return page.page.evaluate(
        """document.documentElement.scrollWidth <= document.documentElement.clientWidth
           && [...document.querySelectorAll('.table-scroll')].every(e => e.scrollWidth <= e.clientWidth)"""
    )


@pytest.fixture
def catalog_journey(transactional_db, pages_catalog, dana, priya):
    return pages_catalog


def test_dana_lands_on_her_team_filters_and_opens_an_endpoint(page, catalog_journey):
    page.login("dana")
    browser = page.page
    assert browser.url.endswith("/catalog/")
    assert browser.get_by_text("Owned by my team: fraud-detection").is_visible()
    assert rows(page) == ["fraud-features", "fraud-model", "new-endpoint", "payments"]
    assert page.accessibility_violations() == []
    assert no_horizontal_overflow(page)
    page.screenshot("catalog-team-view")

    # Filtering swaps the results in place: a marker set on this document survives.
    browser.evaluate("window.__samePage = true")
    browser.get_by_label("Owner", exact=True).select_option("group:default/search-ranking")
    browser.wait_for_url(re.compile(r"owner=group%3Adefault%2Fsearch-ranking"))
    browser.wait_for_function("document.querySelectorAll('#catalog-results .entity-link').length === 2")
    assert rows(page) == ["legacy", "ranker"]
    browser.get_by_label("Cost centre", exact=True).select_option("cc-search")
    browser.wait_for_url(re.compile(r"cost_center=cc-search"))
    assert rows(page) == ["legacy", "ranker"]
    assert browser.get_by_text("Cost centre: cc-search").is_visible()

    browser.get_by_label("Owner", exact=True).select_option("any")
    browser.wait_for_function("document.querySelectorAll('#catalog-results .entity-link').length === 3")
    assert rows(page) == ["legacy", "ranker", "search-ranking"]
    browser.get_by_label("Cost centre", exact=True).select_option("cc-fraud")
    browser.wait_for_function("document.querySelectorAll('#catalog-results .entity-link').length === 5")
    browser.get_by_label("Type", exact=True).select_option("model-endpoint")
    browser.wait_for_function("document.querySelectorAll('#catalog-results .entity-link').length === 2")
    assert rows(page) == ["fraud-model", "new-endpoint"]
    # The counts beside the other filters follow the results.
    assert browser.get_by_label("Lifecycle", exact=True).locator("option").all_inner_texts() == [
        "Any lifecycle", "experimental (1)", "production (1)",
    ]
    assert browser.evaluate("window.__samePage") is True
    page.screenshot("catalog-list-filtered")

    # The URL is a bookmark: reloading shows the same view.
    browser.reload()
    assert rows(page) == ["fraud-model", "new-endpoint"]

    browser.get_by_role("link", name="fraud-model").click()
    browser.wait_for_url("**/catalog/default/component/fraud-model")
    assert browser.get_by_role("heading", name="fraud-model").is_visible()
    assert browser.locator("dl.about").get_by_role("link", name="Fraud Detection").is_visible()
    assert browser.get_by_text("unresolved").first.is_visible()
    assert page.accessibility_violations() == []
    assert no_horizontal_overflow(page)
    page.screenshot("catalog-entity")

    browser.locator("dl.about").get_by_role("link", name="Fraud Detection").click()
    browser.wait_for_url("**/catalog/default/group/fraud-detection")
    assert browser.get_by_role("heading", name="Members").is_visible()
    assert page.accessibility_violations() == []
    assert no_horizontal_overflow(page)
    page.screenshot("catalog-group")


def test_sorting_and_the_search_box_work_from_the_keyboard(page, catalog_journey):
    page.login("dana")
    browser = page.page
    browser.get_by_role("link", name=re.compile(r"Remove filter Owned by my team")).click()
    browser.wait_for_url(re.compile(r"owner=any"))
    assert len(rows(page)) == 14
    search = browser.get_by_label("Search", exact=True)
    search.focus()
    browser.keyboard.type("fraud")
    browser.wait_for_url(re.compile(r"q=fraud"))
    browser.wait_for_function("document.querySelectorAll('#catalog-results .entity-link').length === 3")
    # Typing is never interrupted: the box keeps focus and its text.
    assert browser.evaluate("document.activeElement.id") == "filter-q"
    assert search.input_value() == "fraud"
    browser.get_by_role("link", name=re.compile(r"^Name")).focus()
    browser.keyboard.press("Enter")
    browser.wait_for_url(re.compile(r"sort=-name"))
    assert rows(page) == ["fraud-model", "fraud-features", "Fraud Detection"]


def test_admin_sees_errors_and_removes_an_orphan(page, catalog_journey):
    page.login("priya")
    browser = page.page
    browser.get_by_role("link", name=re.compile("entity has processing errors")).click()
    browser.wait_for_url(re.compile(r"errors=true"))
    assert rows(page) == ["broken"]
    browser.goto(page.base_url + "/catalog/default/component/legacy")
    page.screenshot("catalog-orphan")
    browser.get_by_text("Remove from catalog…").click()
    browser.get_by_role("button", name="Yes, remove legacy").click()
    browser.wait_for_url("**/catalog/")
    assert browser.get_by_text("Component legacy was removed from the catalog.").is_visible()


def test_pages_read_well_on_a_phone(page, catalog_journey):
    page.page.set_viewport_size({"width": 390, "height": 844})
    page.login("dana")
    assert no_horizontal_overflow(page)
    page.screenshot("catalog-list-mobile")
    page.goto("/catalog/default/component/fraud-model")
    assert no_horizontal_overflow(page)
    page.screenshot("catalog-entity-mobile")
    page.goto("/catalog/default/group/fraud-detection")
    page.screenshot("catalog-group-mobile")
    page.goto(f"/catalog/locations/{catalog_journey['location'].uuid}")
    page.screenshot("catalog-location-mobile")


def test_home_opens_the_team_view(page, catalog_journey):
    page.login("dana")
    page.goto("/")
    page.page.wait_for_url("**/catalog/")
    assert page.page.get_by_text("Owned by my team: fraud-detection").is_visible()
    page.screenshot("home")


def test_the_demo_catalog_reads_well(page, transactional_db, demo_catalog, make_user):
    make_user("priya")  # her team comes from the demo catalog's memberships
    page.login("priya")
    page.goto("/catalog/?owner=any")
    assert page.accessibility_violations() == []
    assert no_horizontal_overflow(page)
    page.screenshot("catalog-demo-list")
    page.goto("/catalog/default/component/ai-model-alpha")
    assert page.accessibility_violations() == []
    assert no_horizontal_overflow(page)
    page.screenshot("catalog-demo-endpoint")

"""A template's form, rendered on the server from its JSON Schema: one test per feature."""

from __future__ import annotations

import re

import pytest
from django.http import QueryDict

from scaffolder import forms
from scaffolder.tests.form_templates import FEATURE_TEMPLATE, FEATURE_VALUES, feature_template  # noqa: F401

FORM_URL = "/create/templates/default/everything"


@pytest.fixture
def signed_in(client, dana, feature_template):  # noqa: F811
    client.force_login(dana)
    return client


def field_html(html: str, name: str) -> str:
    """The markup of one field's block."""
    match = re.search(rf'<div class="form-field[^"]*" id="f-{name}-field">(.*?<small id="f-{name}-error".*?</small>)', html, re.S)
    assert match, f"no field {name} in the page"
    return match.group(1)


def draft_of(response) -> str:
    return re.search(r'name="draft" value="([^"]+)"', response.content.decode()).group(1)


def post_page(client, page: int, data: dict, *, draft: str = "", action: str = "next"):
    return client.post(FORM_URL, {"page": page, "draft": draft, "action": action, **data})


def page_one_data(**changes) -> dict:
    data = {"name": "fraud-model", "owner": "group:default/fraud-detection", "token": "s3cret-value-42",
            "region": "eu", "size": "m", "summary": "", "code": "", "nickname": ""}
    data.update(changes)
    return data


def test_string_field_has_label_description_and_autofocus(signed_in):
    html = field_html(signed_in.get(FORM_URL).content.decode(), "name")
    assert '<label for="f-name">Name <span class="required"' in html
    assert '<small id="f-name-description" class="field-description">The endpoint&#x27;s name.</small>' in html
    assert 'aria-describedby="f-name-description f-name-error"' in html
    assert "autofocus" in html
    assert 'aria-required="true"' in html


def test_textarea_widget(signed_in):
    assert '<textarea id="f-summary" name="summary"' in field_html(signed_in.get(FORM_URL).content.decode(), "summary")


def test_password_widget_is_a_password_input(signed_in):
    html = field_html(signed_in.get(FORM_URL).content.decode(), "token")
    assert 'type="password"' in html
    assert 'autocomplete="new-password"' in html


def test_help_and_placeholder(signed_in):
    html = field_html(signed_in.get(FORM_URL).content.decode(), "code")
    assert 'placeholder="ABC"' in html
    assert '<small id="f-code-help" class="field-help">Three capital letters</small>' in html
    assert 'aria-describedby="f-code-help f-code-error"' in html


def test_enum_with_enum_names_is_a_select_with_its_default(signed_in):
    html = field_html(signed_in.get(FORM_URL).content.decode(), "region")
    assert '<select id="f-region" name="region"' in html
    assert '<option value="eu" selected>Europe</option><option value="us">United States</option>' in html


def test_radio_widget(signed_in):
    html = field_html(signed_in.get(FORM_URL).content.decode(), "size")
    assert "<legend>Size</legend>" in html
    assert html.count('type="radio"') == 3


def test_readonly_field_is_shown_and_not_taken_from_the_form(signed_in):
    html = field_html(signed_in.get(FORM_URL).content.decode(), "frozen")
    assert 'value="fixed"' in html and " readonly" in html and "(read only)" in html
    response = post_page(signed_in, 0, page_one_data(frozen="changed"))
    values = forms.load_draft(draft_of(response), response.wsgi_request.user)
    assert values["frozen"] == "fixed"


def test_owner_picker_defaults_to_dana_team_and_honours_catalog_filter(signed_in):
    html = field_html(signed_in.get(FORM_URL).content.decode(), "owner")
    assert '<option value="group:default/fraud-detection" selected>Fraud Detection (fraud-detection)</option>' in html
    assert 'value="group:default/platform-team"' in html
    # catalogFilter spec.type: team leaves the department out
    assert "ml-org" not in html


def test_owner_picker_without_a_team_has_no_default(client, outsider, feature_template):  # noqa: F811
    client.force_login(outsider)
    html = field_html(client.get(FORM_URL).content.decode(), "owner")
    assert '<option value="" selected>Choose…</option>' in html


def test_number_integer_boolean_and_checkboxes_on_the_second_page(signed_in):
    response = post_page(signed_in, 0, page_one_data())
    html = response.content.decode()
    replicas = field_html(html, "replicas")
    assert 'type="number"' in replicas and 'min="1"' in replicas and 'max="5"' in replicas and 'step="1"' in replicas
    assert 'value="2"' in replicas
    assert 'step="any"' in field_html(html, "ratio")
    public = field_html(html, "public")
    assert 'type="checkbox"' in public and " checked" not in public
    assert "Reachable from outside." in public
    zones = field_html(html, "zones")
    assert zones.count('type="checkbox"') == 3
    assert 'value="a" checked' in re.sub(r"\s+", " ", zones)
    assert "Zone B" in zones


def test_entity_picker_offers_the_filtered_entities(signed_in):
    html = field_html(post_page(signed_in, 0, page_one_data()).content.decode(), "dependency")
    assert 'list="f-dependency-options"' in html
    assert '<option value="component:default/fraud-features">fraud-features</option>' in html
    assert "group:default" not in html


def test_conditional_field_appears_when_its_value_selects_it(signed_in):
    html = post_page(signed_in, 0, page_one_data()).content.decode()
    assert 'id="f-runtime-dependents"' in html
    assert 'name="image"' not in html
    draft = draft_of(post_page(signed_in, 0, page_one_data()))
    fragment = signed_in.post(
        "/create/templates/default/everything/dependents?field=runtime",
        {"page": 1, "draft": draft, "runtime": "custom"}, HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'name="image"' in fragment
    assert "The runtime image." in fragment


def test_conditional_required_field_is_checked_on_next(signed_in):
    draft = draft_of(post_page(signed_in, 0, page_one_data()))
    response = post_page(signed_in, 1, {"replicas": "2", "zones": ["a"], "runtime": "custom", "image": ""}, draft=draft)
    assert response.status_code == 400
    assert 'name="image"' in response.content.decode()
    assert "is required" in field_html(response.content.decode(), "image")


def test_errors_sit_beside_their_fields_and_values_are_kept(signed_in):
    response = post_page(signed_in, 0, page_one_data(name="Fraud-Model", code="abc"))
    html = response.content.decode()
    assert response.status_code == 400
    assert "2 things to fix on this page" in html
    assert re.search(r'id="f-name-error"[^>]*data-invalid="true">.*must be a lowercase DNS label, e.g. fraud-model', html)
    assert 'value="Fraud-Model"' in field_html(html, "name")
    assert 'aria-invalid="true"' in field_html(html, "name")
    assert "is not in the expected form: Three capital letters, e.g. ABC" in html
    assert '<a href="#f-name">Name</a>' in html


def test_number_that_is_not_a_number_keeps_what_was_typed(signed_in):
    draft = draft_of(post_page(signed_in, 0, page_one_data()))
    response = post_page(signed_in, 1, {"replicas": "two", "zones": ["a"], "runtime": "default"}, draft=draft)
    html = field_html(response.content.decode(), "replicas")
    assert 'value="two"' in html
    assert "must be a whole number" in response.content.decode()


def test_validate_endpoint_returns_only_the_error_element(signed_in):
    response = signed_in.post(
        "/create/templates/default/everything/validate?field=name",
        {"page": 0, "draft": "", "name": "Fraud"}, HTTP_HX_REQUEST="true",
    )
    html = response.content.decode().strip()
    assert html.startswith('<small id="f-name-error" class="field-error" data-for="f-name" data-invalid="true">')
    assert "must be a lowercase DNS label, e.g. fraud-model" in html
    assert "<input" not in html
    fixed = signed_in.post(
        "/create/templates/default/everything/validate?field=name",
        {"page": 0, "draft": "", "name": "fraud"}, HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'data-invalid="false"></small>' in fixed


def test_text_inputs_validate_as_the_user_types(signed_in):
    html = field_html(signed_in.get(FORM_URL).content.decode(), "name")
    assert 'hx-post="/create/templates/default/everything/validate?field=name"' in html
    assert 'hx-trigger="input changed delay:300ms"' in html
    assert 'hx-target="#f-name-error"' in html


def test_going_back_and_forth_keeps_every_value(signed_in):
    first = post_page(signed_in, 0, page_one_data(summary="Scores cards"))
    second = post_page(signed_in, 1, {"replicas": "4", "zones": ["b", "c"], "runtime": "default"},
                       draft=draft_of(first), action="back")
    html = second.content.decode()
    assert 'value="fraud-model"' in field_html(html, "name")
    assert "Scores cards</textarea>" in field_html(html, "summary")
    again = post_page(signed_in, 0, page_one_data(summary="Scores cards"), draft=draft_of(second))
    replicas = field_html(again.content.decode(), "replicas")
    assert 'value="4"' in replicas
    zones = re.sub(r"\s+", " ", field_html(again.content.decode(), "zones"))
    assert 'value="b" checked' in zones and 'value="c" checked' in zones and 'value="a" checked' not in zones


def test_password_is_carried_but_never_written_into_the_page(signed_in):
    first = post_page(signed_in, 0, page_one_data())
    back = post_page(signed_in, 1, {"replicas": "2", "zones": ["a"], "runtime": "default"}, draft=draft_of(first), action="back")
    html = back.content.decode()
    assert "s3cret-value-42" not in html
    assert "A value is kept: type to replace it" in field_html(html, "token")
    # an empty password input keeps the value given before
    values = forms.load_draft(draft_of(post_page(signed_in, 0, page_one_data(token=""), draft=draft_of(back))), back.wsgi_request.user)
    assert values["token"] == "s3cret-value-42"


def test_review_lists_every_value_and_masks_passwords(signed_in):
    first = post_page(signed_in, 0, page_one_data())
    review = post_page(signed_in, 1, {"replicas": "3", "zones": ["a", "c"], "runtime": "default", "public": "true"}, draft=draft_of(first))
    html = review.content.decode()
    assert review.status_code == 200
    assert '<li class="step step-current" aria-current="step">' in html and "Review" in html
    assert "<dt>API token</dt><dd>••••••••</dd>" in html
    assert "s3cret-value-42" not in html
    assert "<dt>Region</dt><dd>Europe</dd>" in html
    assert "<dt>Zones</dt><dd>Zone A, Zone C</dd>" in html
    assert "<dt>Public</dt><dd>Yes</dd>" in html
    assert "<dt>Replicas</dt><dd>3</dd>" in html
    assert "<dt>Owner</dt><dd>fraud-detection</dd>" in html


def test_a_tampered_draft_is_ignored(signed_in, dana):
    response = post_page(signed_in, 0, page_one_data(), draft="not-a-draft")
    assert response.status_code == 200
    assert forms.load_draft("not-a-draft", dana) == {}


def test_a_draft_is_bound_to_its_user(dana, outsider):
    token = forms.dump_draft({"name": "x"}, dana)
    assert forms.load_draft(token, dana) == {"name": "x"}
    assert forms.load_draft(token, outsider) == {}


def test_read_page_types_values_by_schema():
    page = FEATURE_TEMPLATE["spec"]["parameters"][1]
    data = QueryDict(mutable=True)
    data.update({"replicas": "3", "ratio": "0.5", "public": "true", "runtime": "custom", "image": "img:1"})
    data.setlist("zones", ["a", "b"])
    values = forms.read_page(page, data, {})
    assert values == {"replicas": 3, "ratio": 0.5, "public": True, "zones": ["a", "b"], "runtime": "custom", "image": "img:1"}


def test_feature_values_pass_through_the_pages(signed_in):
    assert set(FEATURE_VALUES) <= set(forms.defaults(FEATURE_TEMPLATE["spec"]["parameters"])) | set(FEATURE_VALUES)

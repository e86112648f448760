"""Template parameters: pages, Backstage's parameter-schema shape, secrets, errors in words."""

from __future__ import annotations

import copy

from scaffolder.parameters import (
    FieldError,
    page_of_field,
    parameter_pages,
    parameter_schema,
    secret_fields,
    validate_values,
    with_defaults,
)
from scaffolder.tests.form_templates import FEATURE_TEMPLATE, FEATURE_VALUES


def messages(values, page=None, document=FEATURE_TEMPLATE) -> dict[str, str]:
    return {error.field: error.message for error in validate_values(document, values, page=page)}


def with_values(**changes):
    values = copy.deepcopy(FEATURE_VALUES)
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return values


def test_one_parameters_object_is_one_page():
    document = {"spec": {"parameters": {"properties": {"a": {"type": "string"}}}}}
    assert parameter_pages(document) == [{"properties": {"a": {"type": "string"}}}]
    assert parameter_pages({"spec": {}}) == []


def test_parameter_schema_has_backstages_shape():
    schema = parameter_schema(FEATURE_TEMPLATE)
    assert schema["title"] == "Every field"
    assert schema["description"] == "A template with one field of each kind."
    assert [step["title"] for step in schema["steps"]] == ["Basics", "Numbers"]
    assert schema["steps"][0]["description"] == "Names and words."
    assert "name" in schema["steps"][0]["schema"]["properties"]
    assert "title" not in schema["steps"][0]["schema"]


def test_password_widgets_are_secret_fields():
    assert secret_fields(FEATURE_TEMPLATE) == {"token"}


def test_valid_values_have_no_errors():
    assert validate_values(FEATURE_TEMPLATE, FEATURE_VALUES) == []


def test_required_field_is_required_on_its_page():
    errors = validate_values(FEATURE_TEMPLATE, with_values(name=None))
    assert errors == [FieldError(field="name", message="is required", page=0)]


def test_dns_name_error_says_what_a_name_looks_like():
    assert messages(with_values(name="Fraud-Model"))["name"] == "must be a lowercase DNS label, e.g. fraud-model"


def test_entity_name_picker_limits_the_length():
    assert messages(with_values(name="a" * 64))["name"].startswith("must be at most 63 characters long")


def test_pattern_error_uses_the_help_line_and_the_placeholder_as_example():
    assert messages(with_values(code="abc"))["code"] == "is not in the expected form: Three capital letters, e.g. ABC"


def test_pattern_without_help_names_the_pattern():
    document = {"spec": {"parameters": [{"properties": {"x": {"type": "string", "pattern": "^x+$"}}}]}}
    assert messages({"x": "y"}, document=document) == {"x": "must match the pattern ^x+$"}


def test_min_length_error_takes_its_example_from_examples():
    assert messages(with_values(nickname="ab"))["nickname"] == "must be at least 3 characters long, e.g. ace"


def test_max_length_error_gives_the_limit():
    assert messages(with_values(summary="x" * 21))["summary"] == "must be at most 20 characters long"


def test_enum_error_lists_the_choices_by_their_names():
    assert messages(with_values(region="asia"))["region"] == "must be one of: Europe, United States"


def test_array_enum_error_lists_the_item_choices():
    assert messages(with_values(zones=["d"]))["zones"] == "must be one of: Zone A, Zone B, Zone C"


def test_minimum_and_maximum_errors_give_the_numbers():
    assert messages(with_values(replicas=0))["replicas"] == "must be at least 1"
    assert messages(with_values(replicas=9))["replicas"] == "must be at most 5"
    assert messages(with_values(ratio=1.5))["ratio"] == "must be at most 1"


def test_type_errors_are_in_words():
    assert messages(with_values(replicas="two"))["replicas"] == "must be a whole number"
    assert messages(with_values(ratio="half"))["ratio"] == "must be a number"


def test_min_items_asks_for_a_choice():
    assert messages(with_values(zones=[]))["zones"] == "choose at least one"


def test_conditional_field_is_required_only_when_selected():
    assert "image" not in messages(with_values(runtime="default"))
    errors = validate_values(FEATURE_TEMPLATE, with_values(runtime="custom"))
    assert errors == [FieldError(field="image", message="is required", page=1)]
    assert validate_values(FEATURE_TEMPLATE, with_values(runtime="custom", image="registry/x:1")) == []


def test_one_page_is_checked_alone():
    values = with_values(name="Bad", replicas=0)
    assert [error.field for error in validate_values(FEATURE_TEMPLATE, values, page=1)] == ["replicas"]
    assert [(error.field, error.page) for error in validate_values(FEATURE_TEMPLATE, values)] == [("name", 0), ("replicas", 1)]


def test_errors_come_in_form_order():
    values = with_values(name=None, owner=None, code="x")
    assert [error.field for error in validate_values(FEATURE_TEMPLATE, values)] == ["name", "owner", "code"]


def test_messages_never_quote_the_value():
    error = messages(with_values(token="short"))["token"]
    assert "short" not in error
    assert error == "must be at least 8 characters long"


def test_page_of_field():
    assert page_of_field(FEATURE_TEMPLATE, "replicas") == 1
    assert page_of_field(FEATURE_TEMPLATE, "image") == 1
    assert page_of_field(FEATURE_TEMPLATE, "name") == 0


def test_fields_left_out_take_the_template_defaults():
    document = {"spec": {"parameters": [
        {"properties": {"name": {"type": "string"}, "replicas": {"type": "integer", "default": 1}}},
        {"properties": {"cpu": {"type": "string", "default": "500m"}}},
    ]}}
    assert with_defaults(document, {"name": "x", "cpu": "1"}) == {"name": "x", "replicas": 1, "cpu": "1"}

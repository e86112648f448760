"""The action registry: one function plus its schemas makes an action, listed in Backstage's shape."""

from __future__ import annotations

import pytest

from scaffolder.actions import registry
from scaffolder.actions.registry import ActionInputError, UnknownActionError, action
from scaffolder.tests.action_context import make_context, run


@pytest.fixture
def greet_action():
    """A new action, registered the way any module adds one, removed afterwards."""

    @action(
        "test:greet",
        input_schema={
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z]+$"},
                "times": {"type": "integer", "minimum": 1},
                "style": {"type": "string", "enum": ["plain", "loud"]},
            },
        },
        output_schema={"type": "object", "properties": {"greeting": {"type": "string"}}},
        supports_dry_run=True,
    )
    def greet(ctx):
        """Greets someone, in the log and as an output."""
        greeting = f"Hello, {ctx.input['name']}" * ctx.input.get("times", 1)
        ctx.logger(greeting)
        ctx.output("greeting", greeting)

    yield greet
    registry._actions.pop("test:greet")


def test_the_builtin_actions_are_listed_in_backstages_shape():
    listed = {item.id: item.describe() for item in registry.all()}
    assert {"fetch:template", "fetch:plain", "debug:log", "fs:delete", "fs:rename"} <= set(listed)
    fetch = listed["fetch:template"]
    assert list(fetch) == ["id", "description", "schema", "examples"]
    assert fetch["schema"]["input"]["required"] == ["url"]
    assert set(fetch["schema"]["input"]["properties"]) == {
        "url",
        "targetPath",
        "values",
        "copyWithoutRender",
        "copyWithoutTemplating",
        "cookiecutterCompat",
        "templateFileExtension",
        "replace",
    }
    assert fetch["examples"][0]["example"].startswith("steps:")
    assert [item.id for item in registry.all()] == sorted(listed)


def test_every_builtin_action_supports_dry_run():
    assert all(registry.get(name).supports_dry_run for name in ["fetch:template", "fetch:plain", "debug:log", "fs:delete", "fs:rename"])


def test_a_new_action_is_one_function_plus_its_schema(greet_action, workspace):
    listed = registry.get("test:greet").describe()
    assert listed["description"] == "Greets someone, in the log and as an output."
    ctx = run(workspace, "test:greet", {"name": "dana"})
    assert ctx.outputs == {"greeting": "Hello, dana"}
    assert ctx.logger.lines == ["Hello, dana"]


@pytest.mark.parametrize(
    ("action_input", "problem"),
    [
        ({}, "name is required"),
        ({"name": 3}, "name must be a string"),
        ({"name": "Dana!"}, "name must match the pattern ^[a-z]+$"),
        ({"name": "dana", "times": 0}, "times must be at least 1"),
        ({"name": "dana", "style": "shouty"}, "style must be one of 'plain', 'loud'"),
    ],
)
def test_input_is_validated_before_the_handler_runs(greet_action, workspace, action_input, problem):
    ctx = make_context(workspace, "test:greet", action_input)
    with pytest.raises(ActionInputError) as error:
        registry.get("test:greet").run(ctx)
    assert str(error.value) == f"Invalid input to test:greet: {problem}"
    assert ctx.logger.lines == []


def test_validation_messages_do_not_quote_the_value(greet_action, workspace):
    with pytest.raises(ActionInputError) as error:
        run(workspace, "test:greet", {"name": "ghp_secret_token_value"})
    assert "ghp_secret_token_value" not in str(error.value)


def test_every_problem_is_reported_at_once(greet_action, workspace):
    with pytest.raises(ActionInputError) as error:
        run(workspace, "test:greet", {"name": 3, "times": "x"})
    assert error.value.problems == ["name must be a string", "times must be an integer"]


def test_an_unknown_action_names_the_available_ones():
    with pytest.raises(UnknownActionError) as error:
        registry.get("publish:gitlab")
    message = str(error.value)
    assert message.startswith("No action named 'publish:gitlab'. Available actions: ")
    listed = message.removeprefix("No action named 'publish:gitlab'. Available actions: ").rstrip(".").split(", ")
    assert listed == sorted(action.id for action in registry.all())
    assert "publish:pull-request" in listed


def test_an_action_id_cannot_be_registered_twice(greet_action):
    with pytest.raises(ValueError, match="The action test:greet is registered twice"):
        action("test:greet", input_schema={"type": "object"})(lambda ctx: None)


def test_an_invalid_input_schema_is_refused_at_registration():
    from jsonschema.exceptions import SchemaError

    with pytest.raises(SchemaError):
        action("test:broken", input_schema={"type": "nonsense"})


"""The action registry: adding an action is one function plus its JSON Schemas.

    @action("debug:log", input_schema={...}, supports_dry_run=True, description="...")
    def debug_log(ctx: ActionContext) -> None: ...

Actions are listed in Backstage's shape (`GET /api/scaffolder/v2/actions`), and a step's input
is validated against the action's input schema before its handler runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from scaffolder.actions.context import ActionContext

Handler = Callable[[ActionContext], None]

# Modules whose import registers actions; another module adds its own line here.
ACTION_MODULES = [
    "scaffolder.actions.fetch",
    "scaffolder.actions.fs",
    "scaffolder.actions.debug",
    "scaffolder.actions.catalog_fetch",
    "scaffolder.actions.catalog",
    "scaffolder.actions.publish",
    "scaffolder.actions.guardrails",
    "scaffolder.actions.manifest",
]


class ActionError(Exception):
    """An action that cannot run as asked; the message says what to change."""


class UnknownActionError(ActionError, LookupError):
    pass


class ActionInputError(ActionError):
    """The step's input does not match the action's input schema."""

    def __init__(self, action_id: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"Invalid input to {action_id}: " + "; ".join(problems))


@dataclass(frozen=True)
class Action:
    """A registered action: its id, handler and schemas."""

    id: str
    handler: Handler
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    supports_dry_run: bool = False
    examples: list[dict[str, str]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """Backstage's listing shape: {id, description, schema: {input, output}, examples}."""
        return {
            "id": self.id,
            "description": self.description,
            "schema": {"input": self.input_schema, "output": self.output_schema},
            "examples": self.examples,
        }

    def validate_input(self, data: Any) -> None:
        """Raise ActionInputError naming each field that does not match the input schema."""
        validator = Draft7Validator(self.input_schema)
        errors = sorted(validator.iter_errors(data), key=lambda error: list(error.absolute_path))
        if errors:
            raise ActionInputError(self.id, [_describe(error) for error in errors])

    def run(self, ctx: ActionContext) -> None:
        """Validate the input, then call the handler."""
        self.validate_input(ctx.input)
        self.handler(ctx)


_actions: dict[str, Action] = {}


def action(
    action_id: str,
    *,
    input_schema: dict[str, Any],
    output_schema: dict[str, Any] | None = None,
    supports_dry_run: bool = False,
    description: str = "",
    examples: Iterable[dict[str, str]] = (),
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of `action_id`."""
    Draft7Validator.check_schema(input_schema)

    def register(handler: Handler) -> Handler:
        if action_id in _actions and _actions[action_id].handler is not handler:
            raise ValueError(f"The action {action_id} is registered twice")
        _actions[action_id] = Action(
            id=action_id,
            handler=handler,
            description=description or (handler.__doc__ or "").strip(),
            input_schema=input_schema,
            output_schema=output_schema or {"type": "object", "properties": {}},
            supports_dry_run=supports_dry_run,
            examples=list(examples),
        )
        return handler

    return register


def get(action_id: str) -> Action:
    """The action registered as `action_id`, or UnknownActionError listing what exists."""
    _load()
    try:
        return _actions[action_id]
    except KeyError:
        known = ", ".join(sorted(_actions))
        raise UnknownActionError(f"No action named {action_id!r}. Available actions: {known}.") from None


def all() -> list[Action]:  # noqa: A001 - the registry's vocabulary, as in Backstage
    """Every registered action, sorted by id."""
    _load()
    return [_actions[action_id] for action_id in sorted(_actions)]


def _load() -> None:
    for module in ACTION_MODULES:
        importlib.import_module(module)


def _describe(error: ValidationError) -> str:
    """A field and what it must be; values are not quoted (an input may carry a secret)."""
    path = _field_path(error.absolute_path)
    expected = error.validator_value
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{_join(path, missing)} is required"
    where = path or "input"
    if error.validator == "type":
        types = expected if isinstance(expected, list) else [expected]
        return f"{where} must be {' or '.join(_TYPE_NAMES.get(name, name) for name in types)}"
    if error.validator == "enum":
        return f"{where} must be one of {', '.join(repr(choice) for choice in expected)}"
    if error.validator == "pattern":
        return f"{where} must match the pattern {expected}"
    if error.validator in _BOUNDS:
        return f"{where} {_BOUNDS[error.validator]} {expected}"
    return f"{where}: {error.message}"


_TYPE_NAMES = {
    "string": "a string",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "number": "a number",
    "integer": "an integer",
    "null": "null",
}
_BOUNDS = {
    "minLength": "must have at least this many characters:",
    "maxLength": "must have at most this many characters:",
    "minItems": "must have at least this many items:",
    "maxItems": "must have at most this many items:",
    "minimum": "must be at least",
    "maximum": "must be at most",
}


def _field_path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text = f"{text}[{part}]" if isinstance(part, int) else _join(text, str(part))
    return text


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name

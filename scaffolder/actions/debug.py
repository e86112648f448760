"""`debug:log`: write a message, and optionally the workspace's files, to the task log."""

from __future__ import annotations

from typing import Any

from scaffolder.actions.context import ActionContext
from scaffolder.actions.registry import action
from scaffolder.workspace import list_files

# Contents longer than this are cut in the log: it is for looking, not for storage.
MAX_LOGGED_BYTES = 10_000

DEBUG_LOG_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "title": "Message to output."},
        "listWorkspace": {
            "title": "List all files in the workspace",
            "description": 'If "with-contents", the file contents are listed too.',
            "oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["with-filenames", "with-contents"]}],
        },
    },
}


@action(
    "debug:log",
    input_schema=DEBUG_LOG_INPUT,
    supports_dry_run=True,
    description="Writes a message into the log and/or lists all files in the workspace.",
    examples=[{"description": "Log a message", "example": "action: debug:log\ninput:\n  message: Hello, ${{ parameters.name }}!\n"}],
)
def debug_log(ctx: ActionContext) -> None:
    if ctx.input.get("message"):
        ctx.logger(ctx.input["message"])
    mode = ctx.input.get("listWorkspace")
    if not mode:
        return
    files = list_files(ctx.workspace)
    ctx.logger(f"Workspace: {len(files)} file(s)")
    for path in files:
        ctx.logger(path if mode != "with-contents" else f"{path}:\n{_printable(ctx.workspace / path)}")


def _printable(path) -> str:
    data = path.read_bytes()
    if b"\0" in data:
        return f"(binary, {len(data)} bytes)"
    text = data[:MAX_LOGGED_BYTES].decode("utf-8", errors="replace")
    return text if len(data) <= MAX_LOGGED_BYTES else f"{text}\n… ({len(data) - MAX_LOGGED_BYTES} more bytes)"

"""`debug:log`: a message and, on request, the workspace's files in the task log."""

from __future__ import annotations

import pytest

from scaffolder.actions.registry import ActionError
from scaffolder.tests.action_context import run
from scaffolder.workspace import write_file


@pytest.fixture
def workspace(workspace):
    write_file(workspace, "apps/m/x.yaml", b"kind: X\n")
    write_file(workspace, "logo.png", b"\x89PNG\x00\x01")
    return workspace


def test_the_message_is_logged(workspace):
    assert run(workspace, "debug:log", {"message": "Hello, dana"}).logger.lines == ["Hello, dana"]


def test_list_workspace_logs_file_names(workspace):
    ctx = run(workspace, "debug:log", {"listWorkspace": True})
    assert ctx.logger.lines == ["Workspace: 2 file(s)", "apps/m/x.yaml", "logo.png"]


def test_list_workspace_with_contents_logs_text_and_describes_binaries(workspace):
    ctx = run(workspace, "debug:log", {"listWorkspace": "with-contents"})
    assert ctx.logger.lines == ["Workspace: 2 file(s)", "apps/m/x.yaml:\nkind: X\n", "logo.png:\n(binary, 6 bytes)"]


def test_an_unknown_list_mode_is_refused(workspace):
    with pytest.raises(ActionError, match="Invalid input to debug:log: listWorkspace: 'everything' is not valid"):
        run(workspace, "debug:log", {"listWorkspace": "everything"})

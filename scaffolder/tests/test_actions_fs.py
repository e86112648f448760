"""`fs:delete` and `fs:rename`: tidy the workspace, never touch anything outside it."""

from __future__ import annotations

import os

import pytest

from scaffolder.actions.registry import ActionError
from scaffolder.tests.action_context import run
from scaffolder.workspace import snapshot, write_file


@pytest.fixture
def workspace(workspace):
    """A workspace holding a README, docs and one app."""
    for path in ("README.md", "docs/index.md", "docs/api/ref.md", "apps/m/x.yaml", "apps/m/notes.txt"):
        write_file(workspace, path, path.encode())
    return workspace


def test_delete_removes_files_folders_and_glob_matches(workspace):
    ctx = run(workspace, "fs:delete", {"files": ["README.md", "docs", "apps/**/*.txt"]})
    assert snapshot(workspace) == {"apps/m/x.yaml": b"apps/m/x.yaml"}
    assert ctx.logger.lines == ["Deleted README.md", "Deleted docs", "Deleted apps/m/notes.txt"]


def test_delete_of_nothing_says_so(workspace):
    ctx = run(workspace, "fs:delete", {"files": ["missing.txt", "*.none"]})
    assert ctx.logger.lines == ["Nothing matches missing.txt", "Nothing matches *.none"]
    assert len(snapshot(workspace)) == 5


def test_delete_removes_a_symlink_and_not_what_it_points_at(workspace, outside):
    os.symlink(outside, workspace / "link")
    run(workspace, "fs:delete", {"files": ["link"]})
    assert not os.path.lexists(workspace / "link")
    assert (outside / "keep.txt").read_text() == "keep"


def test_delete_refuses_to_reach_through_a_symlinked_folder(workspace, outside):
    os.symlink(outside, workspace / "link")
    with pytest.raises(ActionError, match="fs:delete: 'link' leads outside the workspace"):
        run(workspace, "fs:delete", {"files": ["link/keep.txt"]})
    run(workspace, "fs:delete", {"files": ["link/**"]})  # globs never descend into links
    assert (outside / "keep.txt").read_text() == "keep"


@pytest.mark.parametrize("pattern", ["../outside", "/etc/passwd", "docs/../../x", "../**"])
def test_delete_refuses_paths_outside_the_workspace(workspace, outside, pattern):
    with pytest.raises(ActionError, match="outside the workspace|absolute path"):
        run(workspace, "fs:delete", {"files": [pattern]})
    assert (outside / "keep.txt").exists()


def test_delete_needs_at_least_one_file(workspace):
    with pytest.raises(ActionError, match="Invalid input to fs:delete: files must have at least this many items: 1"):
        run(workspace, "fs:delete", {"files": []})


def test_rename_moves_files_and_folders(workspace):
    ctx = run(workspace, "fs:rename", {"files": [{"from": "README.md", "to": "docs/README.md"}, {"from": "apps/m", "to": "apps/n"}]})
    assert sorted(snapshot(workspace)) == ["apps/n/notes.txt", "apps/n/x.yaml", "docs/README.md", "docs/api/ref.md", "docs/index.md"]
    assert ctx.logger.lines == ["Renamed README.md to docs/README.md", "Renamed apps/m to apps/n"]


def test_rename_refuses_to_overwrite_unless_asked(workspace):
    with pytest.raises(ActionError, match=r"fs:rename: docs/index.md already exists \(set overwrite: true to replace it\)"):
        run(workspace, "fs:rename", {"files": [{"from": "README.md", "to": "docs/index.md"}]})
    run(workspace, "fs:rename", {"files": [{"from": "README.md", "to": "docs/index.md", "overwrite": True}]})
    assert (workspace / "docs/index.md").read_bytes() == b"README.md"


def test_rename_of_a_missing_file_says_so(workspace):
    with pytest.raises(ActionError, match="fs:rename: nothing.txt does not exist"):
        run(workspace, "fs:rename", {"files": [{"from": "nothing.txt", "to": "b.txt"}]})


def test_rename_refuses_to_leave_the_workspace_or_follow_links(workspace, outside):
    with pytest.raises(ActionError, match="'../moved.md' leads outside the workspace"):
        run(workspace, "fs:rename", {"files": [{"from": "README.md", "to": "../moved.md"}]})
    os.symlink(outside, workspace / "out")
    with pytest.raises(ActionError, match="'out/README.md' leads outside the workspace"):
        run(workspace, "fs:rename", {"files": [{"from": "README.md", "to": "out/README.md"}]})
    assert sorted(path.name for path in outside.iterdir()) == ["keep.txt"]


def test_rename_names_the_missing_field(workspace):
    with pytest.raises(ActionError, match=r"Invalid input to fs:rename: files\[0\].to is required"):
        run(workspace, "fs:rename", {"files": [{"from": "README.md"}]})

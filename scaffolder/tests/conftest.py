"""Scaffolder test fixtures: a task workspace, and a folder outside it that must stay untouched."""

from __future__ import annotations

import pytest

from scaffolder.workspace import temporary_workspace


@pytest.fixture
def workspace():
    """An empty task workspace, removed afterwards."""
    with temporary_workspace("test") as folder:
        yield folder


@pytest.fixture
def outside(tmp_path):
    """A folder next to the workspace holding keep.txt; tests check nothing reached it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    return folder

"""The task workspace: paths never leave it, and its files survive a round trip to storage."""

from __future__ import annotations

import os

import pytest

from scaffolder.workspace import (
    UnsafePathError,
    list_files,
    restore,
    safe_path,
    snapshot,
    temporary_workspace,
    write_file,
)


def test_a_relative_path_resolves_inside_the_workspace(workspace):
    assert safe_path(workspace, "apps/fraud-model/x.yaml") == workspace / "apps/fraud-model/x.yaml"
    assert safe_path(workspace, "apps/../catalog-info.yaml") == workspace / "catalog-info.yaml"
    assert safe_path(workspace, ".") == workspace


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/etc/passwd", "'/etc/passwd' is an absolute path; paths are relative to the workspace"),
        ("../outside/keep.txt", "'../outside/keep.txt' leads outside the workspace"),
        ("apps/../../x", "'apps/../../x' leads outside the workspace"),
        ("~/x", "'~/x' is an absolute path; paths are relative to the workspace"),
        ("a\0b", "'a\\x00b' is not a usable path"),
    ],
)
def test_paths_that_leave_the_workspace_are_refused(workspace, path, message):
    with pytest.raises(UnsafePathError) as error:
        safe_path(workspace, path)
    assert str(error.value) == message


def test_a_symlink_pointing_outside_is_refused(workspace, outside):
    os.symlink(outside, workspace / "apps")
    with pytest.raises(UnsafePathError, match="'apps/keep.txt' leads outside the workspace"):
        safe_path(workspace, "apps/keep.txt")
    with pytest.raises(UnsafePathError, match="leads outside the workspace"):
        write_file(workspace, "apps/new.txt", b"x")
    assert not (outside / "new.txt").exists()


def test_writing_through_a_symlink_is_refused_even_inside_the_workspace(workspace):
    (workspace / "real.txt").write_text("original")
    os.symlink(workspace / "real.txt", workspace / "link.txt")
    assert safe_path(workspace, "link.txt") == workspace / "real.txt"  # reading may follow it
    with pytest.raises(UnsafePathError, match="'link.txt' is a symlink; it cannot be written through"):
        write_file(workspace, "link.txt", b"changed")
    assert (workspace / "real.txt").read_text() == "original"


def test_snapshot_and_restore_round_trip_every_file(workspace):
    write_file(workspace, "apps/fraud-model/inference-service.yaml", b"kind: InferenceService\n")
    write_file(workspace, "model.bin", bytes(range(256)))
    write_file(workspace, "empty.txt", b"")
    files = snapshot(workspace)
    assert files == {
        "apps/fraud-model/inference-service.yaml": b"kind: InferenceService\n",
        "empty.txt": b"",
        "model.bin": bytes(range(256)),
    }

    with temporary_workspace("retry") as other:
        write_file(other, "stale.txt", b"from an earlier attempt")
        restore(other, files)
        assert snapshot(other) == files
        assert list_files(other) == ["apps/fraud-model/inference-service.yaml", "empty.txt", "model.bin"]


def test_a_snapshot_leaves_symlinks_out(workspace, outside):
    write_file(workspace, "a.txt", b"a")
    os.symlink(outside / "keep.txt", workspace / "leak.txt")
    assert snapshot(workspace) == {"a.txt": b"a"}


def test_restoring_a_tampered_snapshot_is_refused_and_changes_nothing(workspace):
    write_file(workspace, "keep.txt", b"keep")
    with pytest.raises(UnsafePathError, match="leads outside the workspace"):
        restore(workspace, {"ok.txt": b"x", "../escape.txt": b"x"})
    assert snapshot(workspace) == {"keep.txt": b"keep"}
    assert not (workspace.parent / "escape.txt").exists()


def test_the_workspace_is_removed_afterwards():
    with temporary_workspace("gone") as folder:
        write_file(folder, "a/b.txt", b"x")
    assert not folder.exists()

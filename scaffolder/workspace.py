"""A task's workspace: a temporary folder that template paths can never leave.

Every action that touches files resolves its paths with `safe_path`, which refuses absolute
paths, `..` escapes and symlinks that lead outside. `snapshot` and `restore` turn the
workspace into a {path: bytes} dict and back, so the files a step rendered can be stored in
the database and a retry can resume on any worker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath


class UnsafePathError(ValueError):
    """A path that would leave the workspace, or write through a symlink."""


@contextmanager
def temporary_workspace(task_id: object = None) -> Iterator[Path]:
    """A fresh, empty workspace folder, removed with everything in it on exit."""
    prefix = f"portal-task-{task_id}-" if task_id else "portal-task-"
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        yield Path(folder).resolve()


def safe_path(workspace: Path, relative: str, *, for_write: bool = False) -> Path:
    """The absolute path of `relative` inside `workspace`, or UnsafePathError.

    `relative` may contain `..` as long as the result stays inside. Symlinks are followed
    and the destination must be inside too; `for_write` also refuses a path that is itself
    a symlink, so a write never lands somewhere a link points.
    """
    if not isinstance(relative, str) or "\0" in relative:
        raise UnsafePathError(f"{relative!r} is not a usable path")
    if PurePosixPath(relative).is_absolute() or relative.startswith("~"):
        raise UnsafePathError(f"{relative!r} is an absolute path; paths are relative to the workspace")
    root = Path(workspace).resolve()
    candidate = root / relative
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise UnsafePathError(f"{relative!r} leads outside the workspace")
    if for_write and _is_link(root, relative):
        raise UnsafePathError(f"{relative!r} is a symlink; it cannot be written through")
    return resolved


def entry_path(workspace: Path, relative: str) -> Path:
    """The path of an entry itself, a final symlink not followed (to delete it, say).

    Its folder must resolve inside the workspace; the entry may be a link to anywhere.
    """
    normalised = os.path.normpath(relative)
    name = os.path.basename(normalised)
    if name in ("", ".", ".."):
        raise UnsafePathError(f"{relative!r} names no entry inside the workspace")
    folder = safe_path(workspace, os.path.dirname(normalised) or ".")
    return folder / name


def _is_link(root: Path, relative: str) -> bool:
    normalised = os.path.normpath(relative)
    return normalised not in ("", ".") and (root / normalised).is_symlink()


def list_entries(workspace: Path) -> list[str]:
    """Every file and folder in the workspace, relative, with `/` separators, sorted.

    Symlinks are listed but never followed.
    """
    root = Path(workspace).resolve()
    entries: list[str] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        base = Path(folder).relative_to(root)
        entries.extend((base / name).as_posix() for name in [*dirs, *files])
    return sorted(entries)


def list_files(workspace: Path) -> list[str]:
    """Regular files only (no folders, no symlinks), relative and sorted."""
    root = Path(workspace).resolve()
    return [path for path in list_entries(root) if (root / path).is_file() and not (root / path).is_symlink()]


def snapshot(workspace: Path) -> dict[str, bytes]:
    """The workspace's regular files as {relative path: content}.

    Symlinks are left out: they cannot be stored faithfully and must not be replayed.
    """
    root = Path(workspace).resolve()
    return {path: (root / path).read_bytes() for path in list_files(root)}


def restore(workspace: Path, files: Mapping[str, bytes]) -> None:
    """Make the workspace hold exactly `files` (a `snapshot`), checking every path."""
    root = Path(workspace).resolve()
    targets = {path: safe_path(root, path, for_write=True) for path in files}
    clear(root)
    for path, target in targets.items():
        write_file(root, path, files[path], target=target)


def clear(workspace: Path) -> None:
    """Remove everything inside the workspace, keeping the folder itself."""
    root = Path(workspace).resolve()
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def write_file(workspace: Path, relative: str, content: bytes, *, target: Path | None = None) -> Path:
    """Write `content` at `relative`, creating folders; refuses paths that leave the workspace."""
    target = target or safe_path(workspace, relative, for_write=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The folders just created may have been symlinks already: check the final place again.
    safe_path(workspace, relative, for_write=True)
    target.write_bytes(content)
    return target

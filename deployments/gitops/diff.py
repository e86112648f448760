"""The files a change touches, with unified diffs, as the pull-request page shows them.

Sizes are capped: the result is stored on the PullRequest row, and a page must stay readable.
"""

from __future__ import annotations

import git

from deployments.choices import FileStatus

#: Files listed per pull request; the rest are counted in `files_omitted`.
MAX_FILES = 300
#: Characters of patch text kept per file (about 2,000 lines of YAML).
MAX_PATCH_CHARS = 100_000


def changed_files(repo: git.Repo, old_sha: str, new_sha: str) -> tuple[list[dict], int]:
    """The files that differ from `old_sha` to `new_sha`, sorted by path, and how many were left out."""
    diffs = repo.commit(old_sha).diff(repo.commit(new_sha), create_patch=True, no_renames=True)
    files = sorted((_file_entry(d) for d in diffs), key=lambda entry: entry["path"])
    return files[:MAX_FILES], max(0, len(files) - MAX_FILES)


def _file_entry(diff: git.Diff) -> dict:
    raw: bytes = diff.diff if isinstance(diff.diff, bytes) else (diff.diff or "").encode()
    binary = raw.startswith(b"Binary files")
    patch = "" if binary else raw.decode("utf-8", errors="replace")
    additions, deletions = _count_lines(patch)
    if diff.new_file:
        status = FileStatus.ADDED
    elif diff.deleted_file:
        status = FileStatus.DELETED
    else:
        status = FileStatus.MODIFIED
    return {
        "path": diff.b_path or diff.a_path,
        "status": str(status),
        "additions": additions,
        "deletions": deletions,
        "patch": patch[:MAX_PATCH_CHARS],
        "binary": binary,
        "truncated": len(patch) > MAX_PATCH_CHARS,
    }


def _count_lines(patch: str) -> tuple[int, int]:
    additions = deletions = 0
    for line in patch.splitlines():
        if line.startswith("+"):
            additions += 1
        elif line.startswith("-"):
            deletions += 1
    return additions, deletions


def patch_lines(patch: str) -> list[dict]:
    """Lines of a unified diff with their kind (hunk, add, del, context) and line numbers."""
    lines: list[dict] = []
    old = new = 0
    for text in patch.splitlines():
        if text.startswith("@@"):
            old, new = _hunk_start(text)
            lines.append({"kind": "hunk", "old": "", "new": "", "text": text})
        elif text.startswith("+"):
            lines.append({"kind": "add", "old": "", "new": new, "text": text})
            new += 1
        elif text.startswith("-"):
            lines.append({"kind": "del", "old": old, "new": "", "text": text})
            old += 1
        elif text.startswith("\\"):
            lines.append({"kind": "note", "old": "", "new": "", "text": text})
        else:
            lines.append({"kind": "context", "old": old, "new": new, "text": text})
            old += 1
            new += 1
    return lines


def _hunk_start(header: str) -> tuple[int, int]:
    """`@@ -12,3 +12,4 @@` → (12, 12)."""
    old_part, new_part = header.split(" ")[1:3]
    return int(old_part[1:].split(",")[0]), int(new_part[1:].split(",")[0])

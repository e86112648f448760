"""Catalog test fixtures: GitOps repositories with chosen files, commits, the demo catalog."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from pathlib import Path

import git
import pytest

AUTHOR = git.Actor("Test Author", "author@neuroscale.test")


def write_files(folder: Path, files: dict[str, str | None]) -> None:
    """Write (or, for None, delete) files under `folder`; text is dedented."""
    for path, text in files.items():
        target = folder / path
        if text is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))


@pytest.fixture
def make_repo(tmp_path, settings, db):
    """A real bare repository holding exactly `files`, configured, with its snapshot refreshed."""
    from portal import snapshot

    def make(files: dict[str, str]) -> Path:
        source = tmp_path / "source"
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir()
        write_files(source, files)
        from deployments.gitops.local import LocalProvider

        path = tmp_path / "repo.git"
        shutil.rmtree(path, ignore_errors=True)
        LocalProvider(path).seed(source)
        settings.PORTAL_GITOPS_PROVIDER = "local"
        settings.PORTAL_GITOPS_REPO_PATH = path
        snapshot.refresh()
        return path

    return make


@pytest.fixture
def commit(settings):
    """Commit changes to the configured bare repository (through a clone) and refresh the snapshot."""
    from portal import snapshot

    def push(files: dict[str, str | None], message: str = "Change the catalog") -> str:
        repo_path = Path(settings.PORTAL_GITOPS_REPO_PATH)
        branch = settings.PORTAL_GITOPS_DEFAULT_BRANCH
        with tempfile.TemporaryDirectory() as tmp:
            clone = git.Repo.clone_from(str(repo_path), tmp, branch=branch)
            write_files(Path(tmp), files)
            clone.git.add(A=True)
            clone.index.commit(message, author=AUTHOR, committer=AUTHOR)
            clone.remote().push(f"{branch}:{branch}")
        return snapshot.refresh().commit_sha

    return push


@pytest.fixture
def demo_catalog(gitops_repo, db):
    """The demo repository (examples/gitops) in the snapshot, every location ingested."""
    from catalog import ingestion
    from portal import snapshot

    snapshot.refresh()
    return ingestion.refresh_all()


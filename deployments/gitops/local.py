"""The `local` GitOps provider: a bare git repository on disk, the embedded default.

Seeded from `examples/gitops/` on first use. Its pull requests (the write side) are branches
plus rows, merged from the portal.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import git
from django.conf import settings

from portal.repository import PermanentError

SEED_AUTHOR = git.Actor("NeuroScale Portal", "portal@neuroscale.local")


class LocalProvider:
    """A git repository at `path`, read with GitPython."""

    def __init__(self, path: Path, default_branch: str = "main"):
        self.path = Path(path)
        self.default_branch = default_branch
        self.repository = str(self.path)

    @classmethod
    def from_settings(cls) -> LocalProvider:
        provider = cls(settings.PORTAL_GITOPS_REPO_PATH, settings.PORTAL_GITOPS_DEFAULT_BRANCH)
        if not provider.path.exists():
            provider.seed(settings.PORTAL_GITOPS_SEED_PATH)
        return provider

    @property
    def repo(self) -> git.Repo:
        try:
            return git.Repo(self.path)
        except (git.NoSuchPathError, git.InvalidGitRepositoryError):
            raise PermanentError(
                f"No git repository at {self.path}: check PORTAL_GITOPS_REPO_PATH."
            ) from None

    def seed(self, source: Path) -> None:
        """Create the bare repository with one commit holding the files under `source`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            work = git.Repo.init(tmp, initial_branch=self.default_branch)
            if Path(source).is_dir():
                shutil.copytree(source, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
            work.git.add(A=True)
            work.index.commit("Seed the GitOps repository", author=SEED_AUTHOR, committer=SEED_AUTHOR)
            git.Repo.init(self.path, bare=True, initial_branch=self.default_branch)
            work.git.push(str(self.path.resolve()), f"{self.default_branch}:{self.default_branch}")

    # Read side -----------------------------------------------------------------------

    def head(self, ref: str) -> str:
        try:
            return self.repo.commit(ref).hexsha
        except (git.BadName, ValueError):
            raise PermanentError(f"The GitOps repository has no branch {ref!r}.") from None

    def read_tree(self, ref: str) -> dict[str, str]:
        output = self.repo.git.ls_tree("-r", "-z", "--full-tree", ref)
        tree: dict[str, str] = {}
        for entry in filter(None, output.split("\0")):
            meta, path = entry.split("\t", 1)
            _mode, kind, sha = meta.split(" ")
            if kind == "blob":
                tree[path] = sha
        return tree

    def read_blob(self, sha: str) -> bytes:
        # Hold the Repo while reading: when it is collected, its cat-file process closes
        # under the stream ("read of closed file").
        repo = self.repo
        try:
            return repo.odb.stream(bytes.fromhex(sha)).read()
        finally:
            repo.close()

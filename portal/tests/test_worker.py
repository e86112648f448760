"""A real Celery worker process picks up work from the broker and writes to the test database."""

import pytest
from django.conf import settings

from portal import snapshot
from portal.models import RepositorySnapshot, SnapshotFile
from portal.tasks import refresh_snapshot
from portal.testing import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.services]


def test_worker_refreshes_the_repository_snapshot(transactional_db, celery_worker_process, worker_repo):
    refresh_snapshot.delay()

    def refreshed():
        return RepositorySnapshot.objects.exclude(commit_sha="").first()

    row = wait_for(refreshed, timeout=60, message=f"the worker's refresh; worker log:\n{celery_worker_process.log()}")
    from deployments.gitops.local import LocalProvider

    assert row.commit_sha == LocalProvider(worker_repo).head("main")
    assert SnapshotFile.objects.filter(snapshot=row, path="catalog-info.yaml").exists()
    broker = settings.CELERY_BROKER_URL.split(":", 1)[0]
    assert "portal.refresh_snapshot" in celery_worker_process.log(), f"the task ran on the {broker} broker"


def test_snapshot_refresh_reads_only_changed_blobs(db, gitops_repo, tmp_path):
    """A second refresh after one changed file fetches one blob, and removed files disappear."""
    import git

    from deployments.gitops.local import LocalProvider

    first = snapshot.refresh()
    assert first.added > 0 and first.changed == 0
    clone = git.Repo.clone_from(str(gitops_repo), tmp_path / "work")
    (tmp_path / "work" / "catalog-info.yaml").write_text("# changed\n")
    clone.git.rm("-r", "--quiet", "org") if (tmp_path / "work" / "org").exists() else None
    clone.git.add(A=True)
    clone.index.commit("change one file")
    clone.git.push("origin", "HEAD:main")

    reads = []
    provider = LocalProvider(gitops_repo)
    original = provider.read_blobs
    provider.read_blobs = lambda shas: reads.extend(shas) or original(shas)
    second = snapshot.refresh(provider)
    assert second.changed == 1
    assert len(reads) == 1, "only the changed blob is read"
    assert snapshot.read("catalog-info.yaml") == b"# changed\n"
    assert snapshot.paths("org/*") == []
    assert snapshot.refresh(provider).changed_anything is False

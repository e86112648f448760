"""The background guardrail scan: which apps on the default branch violate which rule today.

After every snapshot refresh that moved the branch (and when an admin presses "Scan now") a
`GuardrailScan` row is saved and `deployments.scan_guardrails` is enqueued on commit. The
worker claims the row with a conditional UPDATE, checks every manifest on the snapshot (and
each namespace's total against its quotas) as `guardrails check --repo` does, and stores each
rule they do not pass as a `GuardrailFinding`. The Guardrails page reads only those rows.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from deployments.choices import GuardrailScanStatus
from deployments.guardrails.verdicts import Verdict, check_repository, summary
from deployments.models import GuardrailFinding, GuardrailScan
from portal import snapshot as repository
from portal.tasks import snapshot_changed

log = structlog.get_logger(__name__)

#: A scan running longer than this was lost with its worker; another worker takes it over.
STALE_AFTER = timedelta(minutes=10)
#: Finished scans kept (with their findings); older ones are deleted after each scan.
KEEP_SCANS = 20
NOT_PASSING = ("fail", "error", "warn")


def request_scan(*, user=None, reason: str = "snapshot") -> GuardrailScan:
    """Queue a scan (or return the one already queued) and enqueue it once the transaction commits."""
    from deployments import tasks

    queued = GuardrailScan.objects.filter(status=GuardrailScanStatus.QUEUED).order_by("created_at").first()
    if queued is not None:
        return queued
    scan = GuardrailScan.objects.create(
        reason=reason,
        requested_by=user.get_username() if user is not None and user.is_authenticated else "",
    )
    transaction.on_commit(lambda: tasks.scan_guardrails.delay(scan.pk))
    return scan


def claim(scan_pk: int) -> bool:
    """Take the scan: queued, or running on a worker that stopped long ago. False when someone else has it."""
    now = timezone.now()
    return bool(
        GuardrailScan.objects.filter(pk=scan_pk)
        .filter(Q(status=GuardrailScanStatus.QUEUED)
                | Q(status=GuardrailScanStatus.RUNNING, started_at__lt=now - STALE_AFTER))
        .update(status=GuardrailScanStatus.RUNNING, started_at=now)
    )


def app_path(file_path: str) -> str:
    """`apps/fraud-scorer/inference-service.yaml` → `apps/fraud-scorer`."""
    parts = file_path.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else file_path


def scan_snapshot(snapshot_row=None) -> tuple[str, int, list[Verdict]]:
    """(commit, files checked, every verdict) for the manifests on the snapshot."""
    snapshot_row = snapshot_row or repository.current()
    commit, found = check_repository(snapshot=snapshot_row)
    return commit or snapshot_row.commit_sha, len({item.file for item in found if item.file}), found


def run_scan(scan_pk: int) -> GuardrailScan | None:
    """Run a queued scan and store what it found; None when it is gone or taken."""
    if not claim(scan_pk):
        return None
    scan = GuardrailScan.objects.get(pk=scan_pk)
    try:
        commit, checked, found = scan_snapshot()
    except Exception as error:  # a scan that cannot run says so on the page; it never reads as clean
        log.exception("guardrail scan failed", scan=str(scan.uuid))
        GuardrailScan.objects.filter(pk=scan.pk).update(
            status=GuardrailScanStatus.FAILED, finished_at=timezone.now(), error=str(error) or error.__class__.__name__,
        )
        return GuardrailScan.objects.get(pk=scan.pk)
    findings = [
        GuardrailFinding(
            scan=scan, app_path=app_path(item.file), file_path=item.file, policy=item.policy, rule=item.rule,
            kind=item.kind, namespace=item.namespace, name=item.name, result=item.result, message=item.message,
        )
        for item in found
        if item.result in NOT_PASSING
    ]
    with transaction.atomic():
        # Running twice (a redelivered message) replaces the findings instead of doubling them.
        scan.findings.all().delete()
        GuardrailFinding.objects.bulk_create(findings, batch_size=500)
        GuardrailScan.objects.filter(pk=scan.pk).update(
            status=GuardrailScanStatus.DONE, finished_at=timezone.now(), commit_sha=commit,
            summary=summary(found), files_checked=checked, error="",
        )
    _prune()
    log.info("guardrail scan done", scan=str(scan.uuid), commit=commit, findings=len(findings))
    return GuardrailScan.objects.get(pk=scan.pk)


def _prune() -> None:
    keep = list(
        GuardrailScan.objects.filter(status__in=GuardrailScanStatus.TERMINAL)
        .order_by("-finished_at", "-id").values_list("pk", flat=True)[:KEEP_SCANS]
    )
    GuardrailScan.objects.filter(status__in=GuardrailScanStatus.TERMINAL).exclude(pk__in=keep).delete()


def latest_scan() -> GuardrailScan | None:
    """The most recent finished scan (done or failed)."""
    return (
        GuardrailScan.objects.filter(status__in=GuardrailScanStatus.TERMINAL)
        .order_by("-finished_at", "-id").first()
    )


def pending_scan() -> GuardrailScan | None:
    """A scan waiting or running, if any."""
    return (
        GuardrailScan.objects.filter(status__in=(GuardrailScanStatus.QUEUED, GuardrailScanStatus.RUNNING))
        .order_by("-created_at").first()
    )


@receiver(snapshot_changed, dispatch_uid="deployments.scan_guardrails_on_snapshot_change")
def scan_on_snapshot_change(sender, **kwargs) -> None:
    """The default branch moved: check its apps again in the background."""
    request_scan(reason="snapshot")

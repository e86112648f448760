"""Pull-request pages (the list, one pull request with its diff, merge and close) and the admins'
Guardrails page.

Pages read the database only: the diff was stored on the row when the change was written.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views import View
from django.views.decorators.http import require_POST

from deployments import pullrequests
from deployments.choices import PullRequestState
from deployments.gitops.base import MergeConflict, PermanentError, TransientError
from deployments.gitops.diff import patch_lines
from deployments.guardrails import pages as guardrail_pages
from deployments.guardrails import scan
from deployments.models import PullRequest
from portal import audit, identity

#: Files with more diff lines than this start collapsed.
COLLAPSE_LINES = 300
STATE_BADGES = {
    PullRequestState.OPEN: "badge-ok",
    PullRequestState.MERGED: "badge-merged",
    PullRequestState.CLOSED: "badge-bad",
}


class PullRequestListView(View):
    """Pull requests, newest activity first, filtered by state."""

    def get(self, request: HttpRequest) -> HttpResponse:
        state = request.GET.get("state", "")
        rows = PullRequest.objects.only(
            "uuid", "number", "title", "state", "branch", "base", "entity_ref", "updated_at", "merged_by"
        ).order_by("-updated_at", "-number")
        if state in PullRequestState.values:
            rows = rows.filter(state=state)
        else:
            state = ""
        page = Paginator(rows, 50).get_page(request.GET.get("page"))
        counts = dict(PullRequest.objects.order_by().values_list("state").annotate(n=Count("pk")))
        return render(request, "deployments/pullrequest_list.html", {
            "page_obj": page,
            "state": state,
            "query": f"state={state}" if state else "",
            "states": [(value, label, counts.get(value, 0)) for value, label in PullRequestState.choices],
            "total": sum(counts.values()),
            "badges": STATE_BADGES,
        })


class PullRequestDetailView(View):
    """One pull request: its state, the files it changes, comments, timeline, merge button."""

    def get(self, request: HttpRequest, pr_uuid) -> HttpResponse:
        pull_request = get_object_or_404(PullRequest, uuid=pr_uuid)
        return render_detail(request, pull_request)


def render_detail(request: HttpRequest, pull_request: PullRequest, error: str = "",
                  conflicts: list[str] | None = None, status: int = 200) -> HttpResponse:
    owner = pullrequests.owner_of(pull_request)
    context = {
        "pr": pull_request,
        "badge": STATE_BADGES[pull_request.state],
        "owner_ref": owner,
        "can_merge": pullrequests.can_merge(request.user, pull_request, owner or ""),
        "files": [_file_view(entry) for entry in pull_request.files],
        "comments": list(pull_request.comments.all()),
        "events": list(pull_request.events.all()),
        "entity_url": _entity_url(pull_request.entity_ref),
        "error": error,
        "conflicts": conflicts or [],
    }
    return render(request, "deployments/pullrequest_detail.html", context, status=status)


@require_POST
def merge_pull_request(request: HttpRequest, pr_uuid) -> HttpResponse:
    pull_request = get_object_or_404(PullRequest, uuid=pr_uuid)
    try:
        commit = pullrequests.merge(pull_request, request.user)
    except MergeConflict as exc:
        return render_detail(request, pull_request, str(exc), exc.files, status=409)
    except (PermanentError, TransientError) as exc:
        return render_detail(request, pull_request, str(exc), status=409)
    messages.success(request, f"Merged #{pull_request.number} into {pull_request.base} ({commit[:8]}).")
    return redirect(pull_request)


@require_POST
def close_pull_request(request: HttpRequest, pr_uuid) -> HttpResponse:
    pull_request = get_object_or_404(PullRequest, uuid=pr_uuid)
    try:
        pullrequests.close(pull_request, request.user)
    except (PermanentError, TransientError) as exc:
        return render_detail(request, pull_request, str(exc), status=409)
    messages.success(request, f"Closed #{pull_request.number} without merging.")
    return redirect(pull_request)


def _file_view(entry: dict) -> dict:
    lines = patch_lines(entry.get("patch", ""))
    return {**entry, "lines": lines, "open": len(lines) <= COLLAPSE_LINES}


def _entity_url(entity_ref: str) -> str:
    """`component:default/fraud-model` → `/catalog/default/component/fraud-model`."""
    if ":" not in entity_ref or "/" not in entity_ref:
        return ""
    kind, rest = entity_ref.split(":", 1)
    namespace, name = rest.split("/", 1)
    return f"/catalog/{namespace}/{kind}/{name}"



# --- Guardrails (admins) ------------------------------------------------------------------------

#: htmx stops polling on this status.
HTMX_STOP_POLLING = 286


def _require_admin(request: HttpRequest) -> None:
    if not identity.is_admin(request.user):
        raise PermissionDenied("Only platform admins can open the Guardrails page.")


class GuardrailsView(View):
    """The repository's policies and rules, and the apps the latest background scan found breaking them.

    Reads only the database: the snapshot's policy files and the stored scan. With HX-Request
    it answers the scan fragment, polled while a scan is queued or running (286 once it ended).
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        _require_admin(request)
        latest = scan.latest_scan()
        pending = scan.pending_scan()
        findings = list(latest.findings.all()) if latest is not None else []
        context = {
            "latest": latest,
            "pending": pending,
            "apps": guardrail_pages.findings_by_app(findings),
            "finding_count": len(findings),
        }
        if request.htmx:
            response = render(request, "deployments/partials/guardrails_scan.html", context,
                              status=200 if pending else HTMX_STOP_POLLING)
        else:
            context["policies"], context["policy_errors"] = guardrail_pages.policies_on_snapshot()
            context["quotas"] = guardrail_pages.quotas_on_snapshot()
            context["policy_path"] = settings.PORTAL_POLICY_PATH
            response = render(request, "deployments/guardrails.html", context)
        patch_vary_headers(response, ["HX-Request"])
        return response


@require_POST
def scan_guardrails_now(request: HttpRequest) -> HttpResponse:
    """Queue a scan of the snapshot's apps (or join the one already queued)."""
    _require_admin(request)
    queued = scan.request_scan(user=request.user, reason="manual")
    audit.record(request.user, "guardrails.scan_requested", f"guardrail-scan:{queued.uuid}")
    messages.success(request, "Scan queued: the apps on the default branch are being checked.")
    return redirect("deployments:guardrails")

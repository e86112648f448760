"""The "Platform verify" page: an admin runs the smoke test (deployments.verify) and reads its
results, failures first.

Running it calls the clusters and the model servers, so it happens only on the admin's explicit
POST (CSRF-protected), never while a page renders; the last run's results are kept in the
admin's session and shown again by GET.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views import View

from deployments import verify
from portal import audit, identity

SESSION_KEY = "platform_verify"
ORDER = {verify.FAIL: 0, verify.SKIP: 1, verify.PASS: 2}


def _require_admin(request: HttpRequest) -> None:
    if not identity.is_admin(request.user):
        raise PermissionDenied("Only platform admins can run the platform's checks.")


class VerifyView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        _require_admin(request)
        last = request.session.get(SESSION_KEY)
        context = {"ran": last is not None}
        if last is not None:
            results = [verify.CheckResult(**row) for row in last["results"]]
            context |= {
                "ran_at": parse_datetime(last["ran_at"]),
                "seconds": last.get("seconds"),
                "results": sorted(results, key=lambda result: ORDER.get(result.result, 3)),
                "counts": verify.summary(results),
                "total": len(results),
            }
        response = render(request, "deployments/verify.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def post(self, request: HttpRequest) -> HttpResponse:
        _require_admin(request)
        started = timezone.now()
        results = verify.run()
        request.session[SESSION_KEY] = {
            "ran_at": started.isoformat(),
            "seconds": round((timezone.now() - started).total_seconds(), 1),
            "results": [result.as_dict() for result in results],
        }
        audit.record(request.user, "platform.verified", "platform", **verify.summary(results))
        return redirect("deployments:verify")

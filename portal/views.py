from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from portal import audit, health, identity
from portal.context_processors import first_url
from portal.filtersets import AuditEventFilterSet
from portal.forms import ServiceAccountForm, TokenForm
from portal.models import APIToken, AuditEvent, ServiceAccount


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive."""
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """The database and the broker answer; 503 with what failed otherwise."""
    checks = {"database": health.check_database(), "broker": health.check_broker()}
    failed = {name: error for name, error in checks.items() if error}
    body = {
        "status": "ready" if not failed else "not ready",
        "checks": {name: (error or "ok") for name, error in checks.items()},
    }
    return JsonResponse(body, status=503 if failed else 200)


def home(request: HttpRequest) -> HttpResponse:
    """The landing page is the user's team view: the catalog list, which opens on "my team"."""
    return redirect("catalog:entity_list")


class AdminRequiredMixin:
    def dispatch(self, request, *args, **kwargs):
        if not identity.is_admin(request.user):
            raise PermissionDenied("Only platform admins can open this page.")
        return super().dispatch(request, *args, **kwargs)


def _token_context(request, owner, form=None, new_token: str | None = None) -> dict:
    return {
        "form": form or TokenForm(),
        "tokens": APIToken.objects.filter(user=owner).select_related("created_by"),
        "new_token": new_token,
    }


def _issue_token(request, owner, template: str, context: dict) -> HttpResponse:
    form = TokenForm(request.POST)
    if not form.is_valid():
        context.update(_token_context(request, owner, form))
        return render(request, template, context, status=400)
    token, clear = APIToken.issue(owner, form.cleaned_data["name"], form.cleaned_data["scope"], created_by=request.user)
    audit.record(request.user, "token.created", identity.user_ref(owner), name=token.name, scope=token.scope)
    context.update(_token_context(request, owner, new_token=clear))
    # The clear token is in this response only: never cache it, never put it in the session.
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


def _revoke_token(request, owner, token_uuid) -> None:
    token = get_object_or_404(APIToken, uuid=token_uuid, user=owner)
    changed = APIToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if changed:
        audit.record(request.user, "token.revoked", identity.user_ref(owner), name=token.name)
        messages.success(request, f"Token “{token.name}” revoked: it no longer works.")


class ProfileView(View):
    template = "portal/profile.html"

    def context(self, request) -> dict:
        return {"user_ref": identity.user_ref(request.user), "teams": identity.team_refs(request.user)}

    def get(self, request):
        return render(request, self.template, {**self.context(request), **_token_context(request, request.user)})

    def post(self, request):
        return _issue_token(request, request.user, self.template, self.context(request))


@require_POST
def revoke_token(request, token_uuid):
    _revoke_token(request, request.user, token_uuid)
    return redirect("portal:profile")


# Admin pages of the other apps: (title, URL name, what it is for); shown once served.
ADMIN_SECTIONS = [
    ("Guardrails", "deployments:guardrails", "Which apps in the repository violate which policy today."),
    ("Pull requests", "deployments:pullrequest_list", "Every change the portal opened, open or merged."),
    ("All tasks", "scaffolder:task_list", "Every template run, with its log; filter by status, template or creator."),
    ("Clusters", "deployments:clusters", "Each cluster's connection: last successful poll, last error in words."),
    ("Platform verify", "deployments:verify", "The platform's smoke test: clusters, ArgoCD, KServe, inference, guardrails."),
    ("Budgets", "deployments:budgets", "Monthly budgets per cost centre, and spend against them."),
]


class AdminHomeView(AdminRequiredMixin, View):
    def get(self, request):
        sections = [
            {"title": title, "url": url, "description": description}
            for title, name, description in ADMIN_SECTIONS
            if (url := first_url([name]))
        ]
        return render(
            request,
            "portal/admin_home.html",
            {
                "sections": sections,
                "recent_events": AuditEvent.objects.all()[:10],
                "service_account_count": ServiceAccount.objects.count(),
            },
        )


class AuditEventListView(AdminRequiredMixin, View):
    page_size = 50

    def get(self, request):
        filterset = AuditEventFilterSet(request.GET, queryset=AuditEvent.objects.all())
        page = Paginator(filterset.qs, self.page_size).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        template = "portal/partials/auditevent_table.html" if request.htmx else "portal/auditevent_list.html"
        response = render(request, template, {"filter": filterset, "page": page, "query": query.urlencode()})
        response["Vary"] = "HX-Request"
        return response


class ServiceAccountListView(AdminRequiredMixin, View):
    template = "portal/serviceaccount_list.html"

    def render_list(self, request, form, status=200):
        accounts = ServiceAccount.objects.select_related("user")
        return render(request, self.template, {"accounts": accounts, "form": form}, status=status)

    def get(self, request):
        return self.render_list(request, ServiceAccountForm())

    def post(self, request):
        form = ServiceAccountForm(request.POST)
        if not form.is_valid():
            return self.render_list(request, form, status=400)
        with transaction.atomic():
            user = get_user_model().objects.create_user(username=form.cleaned_data["name"])
            user.set_unusable_password()
            user.save(update_fields=["password"])
            account = ServiceAccount.objects.create(
                user=user, owner_ref=form.cleaned_data["owner"], description=form.cleaned_data["description"]
            )
            audit.record(request.user, "service_account.created", identity.user_ref(user), owner=account.owner_ref)
        messages.success(request, f"Service account {user.username} created: give it a token below.")
        return redirect("portal:serviceaccount_detail", account_uuid=account.uuid)


class ServiceAccountDetailView(AdminRequiredMixin, View):
    template = "portal/serviceaccount_detail.html"

    def get(self, request, account_uuid):
        account = get_object_or_404(ServiceAccount.objects.select_related("user"), uuid=account_uuid)
        return render(request, self.template, {"account": account, **_token_context(request, account.user)})

    def post(self, request, account_uuid):
        account = get_object_or_404(ServiceAccount.objects.select_related("user"), uuid=account_uuid)
        return _issue_token(request, account.user, self.template, {"account": account})


class ServiceAccountTokenRevokeView(AdminRequiredMixin, View):
    def post(self, request, account_uuid, token_uuid):
        account = get_object_or_404(ServiceAccount, uuid=account_uuid)
        _revoke_token(request, account.user, token_uuid)
        return redirect("portal:serviceaccount_detail", account_uuid=account.uuid)


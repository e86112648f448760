from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView

from deployments import webhooks
from portal import views

portal_patterns = (
    [
        path("profile/", views.ProfileView.as_view(), name="profile"),
        path("profile/tokens/<uuid:token_uuid>/revoke", views.revoke_token, name="token_revoke"),
        path("admin/", views.AdminHomeView.as_view(), name="admin_home"),
        path("admin/audit/", views.AuditEventListView.as_view(), name="audit_list"),
        path("admin/service-accounts/", views.ServiceAccountListView.as_view(), name="serviceaccount_list"),
        path(
            "admin/service-accounts/<uuid:account_uuid>/",
            views.ServiceAccountDetailView.as_view(),
            name="serviceaccount_detail",
        ),
        path(
            "admin/service-accounts/<uuid:account_uuid>/tokens/<uuid:token_uuid>/revoke",
            views.ServiceAccountTokenRevokeView.as_view(),
            name="serviceaccount_token_revoke",
        ),
    ],
    "portal",
)

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("hooks/github", webhooks.github, name="github_webhook"),
    path(
        "login/",
        login_not_required(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("", include(portal_patterns)),
    path("catalog/", include("catalog.urls")),
    path("deployments/", include("deployments.urls")),
    path("create/", include("scaffolder.urls")),
    path("django-admin/", admin.site.urls),
    path("api/portal/", include("portal.api.urls")),
    path("api/catalog/", include("catalog.api.urls")),
    path("api/scaffolder/v2/", include("scaffolder.api.urls")),
    path("api/deployments/", include("deployments.api.urls")),
    path("api/schema/", SpectacularJSONAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
]

from django.urls import path

from deployments import views

app_name = "deployments"

urlpatterns = [
    path("pull-requests/", views.PullRequestListView.as_view(), name="pullrequest_list"),
    path("pull-requests/<uuid:pr_uuid>", views.PullRequestDetailView.as_view(), name="pullrequest_detail"),
    path("pull-requests/<uuid:pr_uuid>/merge", views.merge_pull_request, name="pullrequest_merge"),
    path("pull-requests/<uuid:pr_uuid>/close", views.close_pull_request, name="pullrequest_close"),
    path("guardrails/", views.GuardrailsView.as_view(), name="guardrails"),
    path("guardrails/scan", views.scan_guardrails_now, name="guardrails_scan"),
]

from django.urls import path

from deployments import change_views, cost_views, status_views, tryit_views, verify_views, views
from deployments.board_views import BoardView, register_workload
from deployments.budget_views import BudgetListView, remove_budget
from deployments.cluster_views import ClusterListView
from deployments.rightsizing_views import rightsizing_list

app_name = "deployments"

urlpatterns = [
    path("", BoardView.as_view(), name="board"),
    path("register", register_workload, name="register_workload"),
    path("clusters/", ClusterListView.as_view(), name="clusters"),
    path("pull-requests/", views.PullRequestListView.as_view(), name="pullrequest_list"),
    path("pull-requests/<uuid:pr_uuid>", views.PullRequestDetailView.as_view(), name="pullrequest_detail"),
    path("pull-requests/<uuid:pr_uuid>/merge", views.merge_pull_request, name="pullrequest_merge"),
    path("pull-requests/<uuid:pr_uuid>/close", views.close_pull_request, name="pullrequest_close"),
    path("endpoints/<uuid:uid>/status", status_views.endpoint_status, name="endpoint_status"),
    path("endpoints/<uuid:uid>/try", tryit_views.endpoint_try_it, name="try_it"),
    path("costs/", cost_views.costs, name="costs"),
    path("costs.csv", cost_views.costs_csv, name="costs_csv"),
    path("guardrails/", views.GuardrailsView.as_view(), name="guardrails"),
    path("verify/", verify_views.VerifyView.as_view(), name="verify"),
    path("guardrails/scan", views.scan_guardrails_now, name="guardrails_scan"),
    path("changes/<str:namespace>/<str:kind>/<str:name>/<str:flow>", change_views.EndpointChangeView.as_view(),
         name="endpoint_change"),
    path("changes/<str:namespace>/<str:kind>/<str:name>/<str:flow>/validate", change_views.validate_change_field,
         name="endpoint_change_validate"),
    path("costs/budgets/", BudgetListView.as_view(), name="budgets"),
    path("costs/budgets/<str:cost_center>/remove", remove_budget, name="budget_remove"),
    path("costs/right-sizing/", rightsizing_list, name="rightsizing"),
]

"""The deployments API under /api/deployments/."""

from django.urls import path

from deployments.api import costs, views
from deployments.api.budgets import BudgetListView, RightsizingListView

app_name = "deployments-api"

urlpatterns = [
    path("endpoints/", views.EndpointListView.as_view(), name="endpoint_list"),
    path("endpoints/<str:uid>", views.EndpointDetailView.as_view(), name="endpoint_detail"),
    path("unregistered/", views.UnregisteredListView.as_view(), name="unregistered_list"),
    path("costs/cost-centers/", costs.CostCenterTotalsView.as_view(), name="costs_by_cost_center"),
    path("costs/owners/", costs.OwnerTotalsView.as_view(), name="costs_by_owner"),
    path("costs/endpoints/", costs.EndpointTotalsView.as_view(), name="costs_by_endpoint"),
    path("costs/daily/", costs.DailyCostView.as_view(), name="costs_daily"),
    path("budgets/", BudgetListView.as_view(), name="budget_list"),
    path("right-sizing/", RightsizingListView.as_view(), name="rightsizing_list"),
]

"""The deployments API under /api/deployments/."""

from django.urls import path

from deployments.api import views

app_name = "deployments-api"

urlpatterns = [
    path("endpoints/", views.EndpointListView.as_view(), name="endpoint_list"),
    path("endpoints/<str:uid>", views.EndpointDetailView.as_view(), name="endpoint_detail"),
]

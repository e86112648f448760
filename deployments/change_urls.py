"""URLs of the endpoint change flows, included under /deployments/ as `changes/...`."""

from django.urls import path

from deployments import change_views

urlpatterns = [
    path("changes/<str:namespace>/<str:kind>/<str:name>/<str:flow>", change_views.EndpointChangeView.as_view(),
         name="endpoint_change"),
    path("changes/<str:namespace>/<str:kind>/<str:name>/<str:flow>/validate", change_views.validate_change_field,
         name="endpoint_change_validate"),
]

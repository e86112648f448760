from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.EntityListView.as_view(), name="entity_list"),
    path("locations/<uuid:location_uuid>", views.LocationDetailView.as_view(), name="location_detail"),
    path("<str:namespace>/<str:kind>/<str:name>", views.EntityDetailView.as_view(), name="entity_detail"),
    path("<str:namespace>/<str:kind>/<str:name>/remove", views.EntityRemoveView.as_view(), name="entity_remove"),
]

"""The catalog API under /api/catalog/, with Backstage's paths (no trailing slashes)."""

from django.urls import path

from catalog.api import views

app_name = "catalog-api"

urlpatterns = [
    path("entities", views.EntityListView.as_view(), name="entity_list"),
    path("entities/by-query", views.EntityQueryView.as_view(), name="entity_query"),
    path("entities/by-refs", views.EntityByRefsView.as_view(), name="entity_by_refs"),
    path("entities/by-uid/<str:uid>", views.EntityByUidView.as_view(), name="entity_by_uid"),
    path("entities/by-name/<str:kind>/<str:namespace>/<str:name>", views.EntityByNameView.as_view(), name="entity_by_name"),
    path("entity-facets", views.EntityFacetsView.as_view(), name="entity_facets"),
    path("locations", views.LocationListView.as_view(), name="location_list"),
    path("locations/by-entity/<str:kind>/<str:namespace>/<str:name>", views.LocationByEntityView.as_view(), name="location_by_entity"),
    path("locations/<str:location_id>", views.LocationDetailView.as_view(), name="location_detail"),
    path("refresh", views.RefreshView.as_view(), name="refresh"),
    path("validate-entity", views.ValidateEntityView.as_view(), name="validate_entity"),
]

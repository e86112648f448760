"""The portal's URLs with the endpoint change pages under /deployments/ (until deployments/urls.py includes them)."""

from django.urls import include, path

from deployments import change_urls
from deployments import urls as deployments_urls
from portal import urls as portal_urls

urlpatterns = [
    path("deployments/", include(([*deployments_urls.urlpatterns, *change_urls.urlpatterns], "deployments"))),
    *[pattern for pattern in portal_urls.urlpatterns if str(pattern.pattern) != "deployments/"],
]

from django.urls import path

from portal.api import views

app_name = "portal-api"

urlpatterns = [
    path("whoami", views.WhoAmIView.as_view(), name="whoami"),
]

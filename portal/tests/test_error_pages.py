"""A server error shows a friendly page, not a stack trace."""

import pytest
from django.urls import path

pytestmark = pytest.mark.django_db


def broken_view(request):
    raise RuntimeError("boom")


urlpatterns = [path("broken/", broken_view)]


@pytest.mark.urls("portal.tests.test_error_pages")
def test_server_error_is_a_friendly_page(client, dana):
    client.raise_request_exception = False
    client.force_login(dana)
    response = client.get("/broken/")
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b"boom" not in response.content and b"Traceback" not in response.content

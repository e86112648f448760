from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from django.conf import settings

        from portal.api import schema  # noqa: F401 - registers the API's OpenAPI security schemes
        from portal.celery import ensure_broker_folders

        # Web processes enqueue into the filesystem broker too: its folders must exist.
        ensure_broker_folders()
        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from django.conf import settings

        from portal.celery import ensure_broker_folders

        # Web processes enqueue into the filesystem broker too: its folders must exist.
        ensure_broker_folders()
        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)

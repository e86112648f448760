from django.apps import AppConfig


class ScaffolderConfig(AppConfig):
    name = "scaffolder"
    verbose_name = "Scaffolder"

    def ready(self) -> None:
        from portal.celery import app
        from scaffolder import lifecycle  # noqa: F401 - connects the pull-request receivers
        from scaffolder.tasks import BEAT_SCHEDULE

        app.conf.beat_schedule = {**(app.conf.beat_schedule or {}), **BEAT_SCHEDULE}

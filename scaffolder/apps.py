from django.apps import AppConfig


class ScaffolderConfig(AppConfig):
    name = "scaffolder"
    verbose_name = "Scaffolder"

    def ready(self) -> None:
        from scaffolder import lifecycle  # noqa: F401 - connects the pull-request receivers

from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        from deployments.guardrails import preview  # noqa: F401 - registers the preview's Guardrails section

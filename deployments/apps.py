from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        # The preview's Resources and cost section, and the pull-request panel on entity pages.
        from deployments import change_views, delta_preview, panels  # noqa: F401

        # The "Change this endpoint" panel (change resources, decommission, roll back).
        change_views.register_panels()

        # The "Live status" panel: sync, health, readiness and the timeline from request to Ready.
        from deployments import status_views

        status_views.register_panels()

        # The "Cost" panel on model endpoint and team pages (month to date, 30 days, trend).
        from deployments import cost_views

        cost_views.register_panels()

        # The "Try it" panel: an inference request to a Ready endpoint, sent from the server.
        from deployments import tryit_views

        tryit_views.register_panels()

        # The "Budget" panel on a team's page whose cost centre has a budget.
        from deployments import budget_views

        budget_views.register_panels()

        # The "Right-sizing" panel on a model endpoint that asks for far more than it uses.
        from deployments import rightsizing_views

        rightsizing_views.register_panels()

        # The preview's Guardrails section, and the scan after each snapshot refresh.
        from deployments.guardrails import preview, scan  # noqa: F401

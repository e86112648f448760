"""What the deployments app adds to catalog pages: a model endpoint's pull requests."""

from __future__ import annotations

from catalog.panels import register_panel
from deployments.models import PullRequest
from deployments.views import STATE_BADGES

#: The most pull requests the entity page lists; the rest are on the pull-request list.
PANEL_LIMIT = 10
TEMPLATE = "catalog/partials/pullrequests_panel.html"


def pull_requests_panel(entity, request) -> tuple[str, dict] | None:
    """The entity's pull requests, most recently updated first (one query)."""
    if entity.kind.lower() != "component":
        return None
    pull_requests = list(PullRequest.objects.filter(entity_ref=entity.ref.lower())[:PANEL_LIMIT])
    if not pull_requests and entity.type != "model-endpoint":
        return None
    return TEMPLATE, {
        "pull_requests": [(pr, STATE_BADGES.get(pr.state, "")) for pr in pull_requests],
        "limit": PANEL_LIMIT,
        "full": len(pull_requests) == PANEL_LIMIT,
    }


register_panel("pull-requests", 20, pull_requests_panel)

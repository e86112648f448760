"""Panels other apps add to an entity's page, without the catalog importing them.

The catalog imports only `portal` (DESIGN §3), yet an endpoint's page shows what other apps know
about it (its pull requests, later its status and cost). An app registers a function once, from
its `AppConfig.ready()`:

    register_panel("pull-requests", 20, pull_requests_panel)

`fn(entity, request)` returns `(template name, context)` or None to show nothing; the page
renders the panels in order, each template receiving its context as `panel`. A panel reads the
database only, with a constant number of queries, like the rest of the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PanelFunction = Callable[[Any, Any], "tuple[str, dict] | None"]


@dataclass(frozen=True)
class Panel:
    """A panel to render on one entity's page."""

    name: str
    template_name: str
    context: dict


@dataclass(frozen=True)
class _Registered:
    name: str
    order: int
    function: PanelFunction


_panels: dict[str, _Registered] = {}


def register_panel(name: str, order: int, fn: PanelFunction) -> PanelFunction:
    """Show `fn(entity, request)`'s panel on entity pages, sorted by `order` then name."""
    _panels[name] = _Registered(name, order, fn)
    return fn


def unregister_panel(name: str) -> None:
    _panels.pop(name, None)


def panels_for(entity, request) -> list[Panel]:
    """The panels that have something to show for this entity, in order."""
    shown = []
    for registered in sorted(_panels.values(), key=lambda item: (item.order, item.name)):
        found = registered.function(entity, request)
        if found is not None:
            template_name, context = found
            shown.append(Panel(registered.name, template_name, context))
    return shown

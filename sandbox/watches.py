"""Watch events, and what a watch with a namespace and selectors sees of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sandbox.resources import ResourceType
from sandbox.selectors import Matcher

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


@dataclass(frozen=True)
class WatchEvent:
    """One change: the object after it (for DELETED, its last state) and before it."""

    type: str
    resource: ResourceType
    object: dict
    previous: dict | None
    revision: int


@dataclass(frozen=True)
class WatchStart:
    """A started watch: the events to send first, the revision they bring the watcher to
    (later events have higher ones), and how to stop receiving events."""

    initial: list[tuple[str, dict]]
    revision: int
    cancel: Callable[[], None]


def project(event: WatchEvent, resource: ResourceType, namespace: str | None, match: Matcher):
    """The event a watch with these filters sees, or None.

    An object that stops matching the selector leaves the watch with DELETED, one that
    starts matching enters with ADDED, as the API server's filtered watches do.
    """
    if event.resource is not resource:
        return None
    if namespace is not None and event.object["metadata"].get("namespace") != namespace:
        return None
    if event.type == DELETED:
        return (DELETED, event.object) if match(event.object) else None
    now_matches = match(event.object)
    if event.type == ADDED:
        return (ADDED, event.object) if now_matches else None
    before_matched = event.previous is not None and match(event.previous)
    if now_matches:
        return (MODIFIED if before_matched else ADDED), event.object
    return (DELETED, event.object) if before_matched else None

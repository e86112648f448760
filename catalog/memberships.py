"""The membership table (DESIGN §4.0), rebuilt from the catalog's relations.

A user belongs directly to the groups of their `memberOf` (and of the groups' `spec.members`);
through `childOf` they are also members of those groups' ancestors (for "my team" views), and
they manage those groups' descendants (object permissions). portal.identity reads the rows.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction

from catalog.models import Relation
from portal.models import Membership


def _closure(start: str, edges: dict[str, set[str]]) -> set[str]:
    """Every node reachable from `start` along `edges` (cycles in the data are tolerated)."""
    seen: set[str] = set()
    stack = list(edges.get(start, ()))
    while stack:
        node = stack.pop()
        if node in seen or node == start:
            continue
        seen.add(node)
        stack.extend(edges.get(node, ()))
    return seen


def compute() -> dict[tuple[str, str], tuple[bool, bool]]:
    """(user ref, group ref) -> (direct, can_manage), from the stored relations."""
    direct: dict[str, set[str]] = defaultdict(set)
    parents: dict[str, set[str]] = defaultdict(set)
    children: dict[str, set[str]] = defaultdict(set)
    rows = Relation.objects.filter(type__in=["memberOf", "childOf"]).values_list("source_ref", "type", "target_ref")
    for source, relation_type, target in rows.distinct():
        if relation_type == "memberOf" and source.startswith("user:") and target.startswith("group:"):
            direct[source].add(target)
        elif relation_type == "childOf" and source.startswith("group:") and target.startswith("group:"):
            parents[source].add(target)
            children[target].add(source)
    result: dict[tuple[str, str], tuple[bool, bool]] = {}
    for user, groups in direct.items():
        # Weakest first, so a stronger kind of membership overwrites it.
        for group in groups:
            for ancestor in _closure(group, parents):
                result.setdefault((user, ancestor), (False, False))
        for group in groups:
            for descendant in _closure(group, children):
                result[(user, descendant)] = (False, True)
        for group in groups:
            result[(user, group)] = (True, True)
    return result


@transaction.atomic
def rebuild() -> int:
    """Replace the membership table with what the catalog says now; returns the row count."""
    wanted = compute()
    current = {(m.user_ref, m.group_ref): (m.direct, m.can_manage) for m in Membership.objects.all()}
    if current == wanted:
        return len(wanted)
    Membership.objects.all().delete()
    Membership.objects.bulk_create(
        [
            Membership(user_ref=user, group_ref=group, direct=is_direct, can_manage=can_manage)
            for (user, group), (is_direct, can_manage) in sorted(wanted.items())
        ],
        batch_size=1000,
    )
    return len(wanted)

from functools import cache

from django.urls import NoReverseMatch, reverse

from portal import identity

# (label, URL name); a section appears once its app serves that URL.
NAVIGATION = [
    ("Catalog", "catalog:entity_list"),
    ("Create", "scaffolder:template_list"),
    ("Deployments", "deployments:board"),
    ("Costs", "deployments:costs"),
]


@cache
def _sections() -> list[tuple[str, str]]:
    found = []
    for label, name in NAVIGATION:
        try:
            found.append((label, reverse(name)))
        except NoReverseMatch:
            continue
    return found


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    admin = bool(user and identity.is_admin(user))
    items = list(_sections())
    if admin:
        items.append(("Admin", reverse("portal:admin_home")))
    path = request.path
    return {
        "nav_items": [{"label": label, "url": url, "current": path.startswith(url)} for label, url in items],
        "is_portal_admin": admin,
    }

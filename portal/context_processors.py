from functools import cache

from django.urls import NoReverseMatch, reverse

from portal import identity

# (label, URL names): a section appears once its app serves one of the URLs, the first found.
NAVIGATION = [
    ("Catalog", ["catalog:entity_list"]),
    ("Create", ["scaffolder:template_list"]),
    ("Deployments", ["deployments:board", "deployments:pullrequest_list"]),
    ("Costs", ["deployments:costs"]),
]


def first_url(names: list[str]) -> str | None:
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


@cache
def _sections() -> list[tuple[str, str]]:
    return [(label, url) for label, names in NAVIGATION if (url := first_url(names))]


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    admin = bool(user and identity.is_admin(user))
    items = list(_sections())
    if admin:
        items.append(("Admin", reverse("portal:admin_home")))
    path = request.path
    # The longest section URL that the path starts with is the current one (/deployments/costs/
    # is Costs, not Deployments).
    current = max((url for _, url in items if path.startswith(url)), key=len, default=None)
    return {
        "nav_items": [{"label": label, "url": url, "current": url == current} for label, url in items],
        "is_portal_admin": admin,
    }

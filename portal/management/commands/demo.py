"""`manage.py demo`: the demo's users and data, safe to run on every start.

Creates the demo admin and the demo users that the catalog names (their passwords are
generated once and kept in DATA_DIR/demo-logins.txt, readable only by the owner), seeds the
local GitOps repository and refreshes the snapshot. Prints the logins.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from portal import snapshot

DEMO_ADMIN = "admin"
# Demo users named by the demo catalog (examples/gitops/org/).
DEMO_USERS = ["dana", "priya"]


class Command(BaseCommand):
    help = "Create the demo users, seed the GitOps repository and load the demo catalog."

    def handle(self, *args, **options):
        logins = self._logins()
        User = get_user_model()
        for username, password in logins.items():
            user, _ = User.objects.get_or_create(username=username)
            # The file is the demo's source of truth: keep the database in step with it.
            user.set_password(password)
            if username == DEMO_ADMIN:
                user.is_staff = user.is_superuser = True
            user.save()
        result = snapshot.refresh()
        # The demo's cost-centre budgets, once (an admin's own budgets are never replaced).
        from deployments.budgets import seed_demo_budgets

        seed_demo_budgets()
        # A saved "try it" example, so `platform verify` sends a real inference request.
        from deployments.tryit import seed_demo_examples

        seed_demo_examples()
        self.stdout.write(f"GitOps repository at {settings.PORTAL_GITOPS_REPO_PATH} (commit {result.commit_sha[:12]})")
        from portal.tasks import snapshot_changed

        snapshot_changed.send(sender=self.__class__, result=result)
        self.stdout.write(f"Demo logins (kept in {settings.DATA_DIR / 'demo-logins.txt'}):")
        for username, password in logins.items():
            self.stdout.write(f"  {username:<8} {password}")

    def _logins(self) -> dict[str, str]:
        path = settings.DATA_DIR / "demo-logins.txt"
        known: dict[str, str] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if " " in line:
                    username, password = line.split(" ", 1)
                    known[username] = password
        wanted = [DEMO_ADMIN, *DEMO_USERS]
        changed = False
        for username in wanted:
            if username not in known:
                known[username] = f"{username}-{secrets.token_urlsafe(9)}"
                changed = True
        if changed:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text("".join(f"{u} {p}\n" for u, p in known.items()))
        return {u: known[u] for u in wanted}

"""`manage.py tokens create USER --name N [--scope write]`: an API token for automation.

The clear token is printed alone on the last line, so scripts can read it with `tail -n1`.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal import audit, identity
from portal.choices import TokenScope
from portal.models import APIToken


class Command(BaseCommand):
    help = "Create an API token for a user or service account."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token and print it once.")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="What the token is for.")
        create.add_argument("--scope", choices=TokenScope.values, default=TokenScope.READ)

    def handle(self, *args, action, username, name, scope, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}: create the user first.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        token, clear = APIToken.issue(user, name, scope)
        audit.record(None, "token.created", identity.user_ref(user), name=name, scope=scope, via="manage.py tokens")
        self.stderr.write(f"Created {scope} token “{name}” for {username}. It is shown once:")
        self.stdout.write(clear)

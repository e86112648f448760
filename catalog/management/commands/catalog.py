"""`manage.py catalog import PATH_OR_DIR...`: load entity files from the local disk.

For migrations from Backstage and for scripts. Each path becomes a `file` location whose
target is its absolute path; re-importing it updates its entities and orphans those that
left it. Exits non-zero when any document was refused.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from catalog import ingestion
from catalog.choices import LocationType
from catalog.models import Location
from portal import audit


class Command(BaseCommand):
    help = "Catalog maintenance. `import PATH_OR_DIR...` imports Backstage entity YAML files from disk."

    def add_arguments(self, parser):
        subcommands = parser.add_subparsers(dest="action", required=True)
        imports = subcommands.add_parser("import", help="import entity YAML files (or folders of them) from disk")
        imports.add_argument("paths", nargs="+", metavar="PATH_OR_DIR")

    def handle(self, *args, action: str, paths: list[str], **options):
        targets = []
        for raw in paths:
            path = Path(raw).expanduser().resolve()
            if not path.exists():
                raise CommandError(f"{raw}: no such file or folder.")
            targets.append(path)
        failed = 0
        for path in targets:
            with transaction.atomic():
                location, _ = Location.objects.get_or_create(type=LocationType.FILE, target=str(path))
            report = ingestion.refresh_location(location, finish=False)
            audit.record(
                None, "catalog.imported", location.ref, added=report.added, updated=report.updated,
                orphaned=report.orphaned, errors=len(report.errors),
            )
            self.stdout.write(
                f"{path}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
                f"{report.orphaned} orphaned, {len(report.errors)} errors"
            )
            for error in report.errors:
                where = error.get("path", "")
                if error.get("document"):
                    where += f" {error['document']}"
                if error.get("field"):
                    where += f" {error['field']}"
                self.stderr.write(f"  {where}: {error['message']}")
            failed += len(report.errors)
        ingestion.finish_batch()
        if failed:
            raise CommandError(f"{failed} error(s): the documents named above were not imported.")

"""`manage.py guardrails check`: the portal's Kyverno verdicts from the command line.

Exit status: 0 when every row is pass, skip or warn; 1 when any row is fail or error;
2 when the input is unusable (a missing file, text that is not YAML), with the reason on stderr.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from deployments.guardrails import InputError, check

EXIT_OK, EXIT_VIOLATION, EXIT_INPUT = 0, 1, 2


class Command(BaseCommand):
    help = (
        "Evaluate Kyverno policies against Kubernetes resources, as the admission controller would."
    )

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True)
        checker = commands.add_parser(
            "check",
            help="Check resources against policies.",
            description="Each --policy and --resource accepts a multi-document file or a directory.",
        )
        checker.add_argument("--policy", action="append", required=True, metavar="FILE")
        checker.add_argument("--resource", action="append", required=True, metavar="FILE")
        checker.add_argument("--format", choices=("json", "text"), default="json")

    def handle(self, *args, **options):
        code = self.run_check(options)
        if code:
            sys.exit(code)

    def run_check(self, options) -> int:
        try:
            report = check(options["policy"], options["resource"])
        except InputError as exc:
            self.stderr.write(f"guardrails: {exc}")
            return EXIT_INPUT
        if options["format"] == "text":
            self.stdout.write(report.to_text(), ending="")
        else:
            self.stdout.write(report.to_json())
        return EXIT_VIOLATION if report.failed else EXIT_OK

"""`manage.py platform verify`: the platform's smoke test (deployments.verify), one line per check.

    platform verify [--format text|json]

Text: `PASS|FAIL|SKIP  <check>: <detail>`, one per line, then a count. Exit status 1 when any
check failed, 0 otherwise (SKIP is not a failure).
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from deployments import verify

EXIT_OK, EXIT_FAILED = 0, 1


class Command(BaseCommand):
    help = "Platform operations; `verify` runs the smoke test against the live clusters."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True)
        checker = commands.add_parser(
            "verify",
            help="Check clusters, ArgoCD, KServe, inference, guardrails and the ApplicationSet; exit 1 on any FAIL.",
        )
        checker.add_argument("--format", choices=("text", "json"), default="text")

    def handle(self, *args, **options):
        results = verify.run()
        counts = verify.summary(results)
        if options["format"] == "json":
            self.stdout.write(json.dumps(
                {"results": [result.as_dict() for result in results], "summary": counts, "ok": not verify.failed(results)},
                indent=2, ensure_ascii=False,
            ))
        else:
            for result in results:
                self.stdout.write(result.line())
            self.stdout.write(f"\n{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
        if verify.failed(results):
            sys.exit(EXIT_FAILED)

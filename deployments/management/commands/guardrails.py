"""`manage.py guardrails check`: the portal's guardrail verdicts from the command line.

    guardrails check --policy DIR --resource FILE [--namespaces DIR] [--crd FILE]
    guardrails check --repo [DIR]

With `--policy`/`--resource`, the Kyverno policies are evaluated against the resources; add
`--namespaces` (ResourceQuota and LimitRange documents) and `--crd` (CustomResourceDefinitions)
for quota, LimitRange and schema rows, the resources given counting as the whole namespace.
`--repo` checks every manifest under apps/ of the repository snapshot (or of a checkout
directory), with the repository's own policies, namespaces and CRDs.

Exit status: 0 when every row is pass, skip or warn; 1 when any row is fail or error;
2 when the input is unusable (a missing file, text that is not YAML), with the reason on stderr.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

from deployments.guardrails import InputError, check
from deployments.guardrails import quota as quota_checks
from deployments.guardrails import schema as schema_checks
from deployments.guardrails.check import Report, read_documents
from deployments.guardrails.checks import (
    DirectorySource,
    crd_documents,
    evaluate_repository,
    is_manifest,
)
from portal.yamlsafe import YAMLError

EXIT_OK, EXIT_VIOLATION, EXIT_INPUT = 0, 1, 2
GIVEN = "estimated from the resources given"


class Command(BaseCommand):
    help = "Evaluate Kyverno policies, quotas and CRD schemas against Kubernetes resources, as the cluster would."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True)
        checker = commands.add_parser(
            "check",
            help="Check resources against policies, quotas and schemas.",
            description="Each --policy, --resource, --namespaces and --crd accepts a multi-document file or a directory.",
        )
        checker.add_argument("--policy", action="append", default=[], metavar="FILE")
        checker.add_argument("--resource", action="append", default=[], metavar="FILE")
        checker.add_argument(
            "--namespaces",
            action="append",
            default=[],
            metavar="DIR",
            help="ResourceQuota and LimitRange documents: adds quota and LimitRange rows",
        )
        checker.add_argument(
            "--crd",
            action="append",
            default=[],
            metavar="FILE",
            help="CustomResourceDefinitions: adds schema rows",
        )
        checker.add_argument(
            "--repo",
            nargs="?",
            const="",
            default=None,
            metavar="DIR",
            help="check every manifest under apps/ of the repository snapshot, or of the checkout DIR",
        )
        checker.add_argument("--format", choices=("json", "text"), default="json")

    def handle(self, *args, **options):
        code = self.run_check(options)
        if code:
            sys.exit(code)

    def run_check(self, options) -> int:
        try:
            report = self.report(options)
        except (InputError, YAMLError, FileNotFoundError, CommandError) as exc:
            self.stderr.write(f"guardrails: {exc}")
            return EXIT_INPUT
        if options["format"] == "text":
            self.stdout.write(report.to_text(), ending="")
        else:
            self.stdout.write(report.to_json())
        return EXIT_VIOLATION if report.failed else EXIT_OK

    def report(self, options) -> Report:
        if options["repo"] is not None:
            if options["policy"] or options["resource"] or options["namespaces"]:
                raise CommandError(
                    "--repo reads policies, resources and namespaces from the repository; "
                    "leave out --policy, --resource and --namespaces"
                )
            source = DirectorySource(options["repo"]) if options["repo"] else None
            with override_settings(PORTAL_CRD_PATHS=[*settings.PORTAL_CRD_PATHS, *options["crd"]]):
                return evaluate_repository(source=source)
        if not options["policy"] or not options["resource"]:
            raise CommandError("give --policy and --resource (each may repeat), or --repo")
        report = check(options["policy"], options["resource"])
        if not options["namespaces"] and not options["crd"]:
            return report
        rows = list(report.rows)
        resources = [
            (str(file), doc)
            for file, doc in read_documents(options["resource"])
            if is_manifest(doc)
        ]
        if options["crd"]:
            index = schema_checks.CRDIndex(crd_documents(options["crd"]))
            for file, doc in resources:
                rows.extend(schema_checks.validate(doc, index, file))
        if options["namespaces"]:
            rows.extend(_namespace_rows(options["namespaces"], resources))
        rows.sort(key=lambda row: (*row.sort_key, row.file, row.path))
        return Report(rows)


def _namespace_rows(paths: list[str], resources: list[tuple[str, dict]]) -> list:
    quotas: dict[str, list[dict]] = {}
    limit_ranges: dict[str, list[dict]] = {}
    for _file, doc in read_documents(paths):
        if doc.get("kind") == "ResourceQuota":
            quotas.setdefault(quota_checks.namespace_of(doc), []).append(doc)
        elif doc.get("kind") == "LimitRange":
            limit_ranges.setdefault(quota_checks.namespace_of(doc), []).append(doc)
    rows = []
    for file, doc in resources:
        rows.extend(
            quota_checks.check_limit_ranges(
                doc, limit_ranges.get(quota_checks.namespace_of(doc), []), file
            )
        )
    for namespace in sorted({quota_checks.namespace_of(doc) for _f, doc in resources}):
        if namespace not in quotas:
            continue
        change: dict[str, list[dict]] = {}
        for file, doc in resources:
            if quota_checks.namespace_of(doc) == namespace:
                change.setdefault(file, []).append(doc)
        rows.extend(
            quota_checks.check_quotas(
                quota_checks.NamespaceChange(
                    namespace,
                    base={},
                    change=change,
                    quotas=quotas[namespace],
                    limit_ranges=limit_ranges.get(namespace, []),
                ),
                estimate=GIVEN,
            )
        )
    return rows

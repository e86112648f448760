"""`neuroscale:guardrails`: check the workspace's manifests against the repository's guardrails.

The Kyverno policies, namespace quotas and LimitRanges and the CRD schemas of the GitOps
repository judge the files the task is about to publish, as the cluster would. Any fail or error
fails the step (and so the task) with every refusal in words; warnings (Audit policies) pass,
each logged as a warning line. The step's output carries a Markdown verdict table for the pull
request body: `${{ steps['guardrails'].output.table }}`.
"""

from __future__ import annotations

import fnmatch
import posixpath
from typing import Any

from deployments.guardrails.verdicts import check_change, markdown_table, summary, summary_in_words
from scaffolder.actions.context import ActionContext
from scaffolder.actions.registry import ActionError, action
from scaffolder.workspace import list_files

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

GUARDRAILS_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "files": {
            "title": "Files",
            "description": "Workspace paths or globs to check (`*` stays in one folder, `**` crosses folders). Default: every YAML and JSON file in the workspace.",
            "type": "array",
            "items": {"type": "string"},
        },
        "targetPath": {
            "title": "Repository Subdirectory",
            "description": "Where the workspace lands in the repository, as publish's targetPath (default: the root).",
            "type": "string",
        },
    },
}

GUARDRAILS_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "passed": {"type": "boolean", "title": "No rule failed or errored"},
        "summary": {"type": "object", "title": "Rows per result: pass, fail, warn, error, skip"},
        "rows": {"type": "array", "title": "Every verdict: policy, rule, kind, namespace, name, result, message, file, path"},
        "table": {"type": "string", "title": "The verdicts as a Markdown table, for a pull request body"},
    },
}


def _matches(path: str, patterns: list[str]) -> bool:
    from portal.snapshot import glob_match

    for pattern in patterns:
        pattern = posixpath.normpath(pattern.strip()).lstrip("/") if pattern.strip() not in ("", ".") else "**"
        if path == pattern or glob_match(path, pattern) or fnmatch.fnmatchcase(path, pattern):
            return True
    return False


def _selected(ctx: ActionContext) -> dict[str, bytes]:
    patterns = ctx.input.get("files")
    chosen = {}
    for path in list_files(ctx.workspace):
        if patterns is not None and not _matches(path, patterns):
            continue
        if patterns is None and not path.endswith(MANIFEST_SUFFIXES):
            continue
        chosen[path] = ctx.path(path).read_bytes()
    if patterns and not chosen:
        raise ActionError(f"No file in the workspace matches files: {', '.join(patterns)}. Check the paths, or render the files first.")
    return chosen


@action(
    "neuroscale:guardrails",
    input_schema=GUARDRAILS_INPUT,
    output_schema=GUARDRAILS_OUTPUT,
    supports_dry_run=True,
    description=(
        "Checks the workspace's Kubernetes manifests against the GitOps repository's Kyverno policies, "
        "namespace quotas and LimitRanges and CRD schemas. Fails on any fail or error; warnings pass, logged."
    ),
    examples=[{
        "description": "Check the rendered manifests before opening the pull request",
        "example": "id: guardrails\nname: Check guardrails\naction: neuroscale:guardrails\ninput:\n  files: ['apps/**']\n",
    }],
)
def guardrails(ctx: ActionContext) -> None:
    workspace_files = _selected(ctx)
    target = posixpath.normpath(str(ctx.input.get("targetPath") or ".")).strip("/")
    prefix = "" if target in ("", ".") else target + "/"
    files = {prefix + path: data for path, data in workspace_files.items()}
    ctx.logger(f"Checking {len(files)} file{'s' if len(files) != 1 else ''} against the repository's guardrails")
    found = check_change(files) if files else []
    counts = summary(found)
    for item in found:
        if item.result == "warn":
            ctx.logger(f"Warning: {item.in_words()}", level="warning")
        elif item.result in ("fail", "error"):
            ctx.logger(f"{'Refused' if item.result == 'fail' else 'Could not check'}: {item.in_words()}", level="error")
    ctx.output("passed", not any(item.blocking for item in found))
    ctx.output("summary", counts)
    ctx.output("rows", [item.as_dict() for item in found])
    ctx.output("table", markdown_table(found))
    blocking = [item for item in found if item.blocking]
    if blocking:
        listed = "; ".join(
            f"{item.in_words()}" + (" (the rule could not be evaluated)" if item.result == "error" else "")
            for item in blocking
        )
        raise ActionError(
            f"The guardrails refuse this change ({summary_in_words(counts)}): {listed}. "
            "Change the values the messages name and run the task again."
        )
    ctx.logger(f"Guardrails: {summary_in_words(counts)}")

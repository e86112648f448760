"""Guardrail verdicts as the portal shows them: in the preview, the task log, a pull request body
and the admin page.

`verdicts(report)` turns a `GuardrailReport` into plain `Verdict`s ordered worst first (fail,
error, warn, skip, pass), and `markdown_table()` writes them as the table a pull request body
carries. A fail or an error is never shown as a pass: the result is copied, never derived.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .kyverno import Row

#: Worst first: what needs fixing leads every list.
RESULT_ORDER = {"fail": 0, "error": 1, "warn": 2, "skip": 3, "pass": 4}
#: The words shown on each result's badge.
RESULT_LABELS = {"fail": "Fail", "error": "Error", "warn": "Warning", "skip": "Skipped", "pass": "Pass"}
#: The badge class (static/css) for each result.
RESULT_BADGES = {"fail": "bad", "error": "bad", "warn": "warn", "skip": "muted", "pass": "ok"}
BLOCKING = ("fail", "error")

@dataclass(frozen=True, slots=True)
class Verdict(Row):
    """A report row as the portal shows it: its badge, its words, its place in a worst-first list.

    `file` is the changed file the resource came from; `path` the dotted manifest path that
    caused the verdict (spec.predictor.model.resources.requests.cpu), when known.
    """

    @property
    def blocking(self) -> bool:
        return self.result in BLOCKING

    @property
    def label(self) -> str:
        return RESULT_LABELS.get(self.result, self.result)

    @property
    def badge(self) -> str:
        return RESULT_BADGES.get(self.result, "bad")

    @property
    def resource(self) -> str:
        where = "/".join(part for part in (self.namespace, self.name) if part)
        return f"{self.kind} {where}".strip()

    @property
    def sort_key(self) -> tuple:
        return (RESULT_ORDER.get(self.result, 0), self.policy, self.rule, self.kind, self.namespace, self.name)

    def in_words(self) -> str:
        """`require-labels/check-labels on InferenceService default/fraud-model: <message>`."""
        message = " ".join(self.message.split())
        return f"{self.policy}/{self.rule} on {self.resource}: {message}" if message else f"{self.policy}/{self.rule} on {self.resource}"


def _part(row, *names: str, default=""):
    for name in names:
        value = row.get(name) if isinstance(row, dict) else getattr(row, name, None)
        if value not in (None, ""):
            return value
    return default


def verdict_of(row) -> Verdict:
    """A report row (a Row, or its §4.5 JSON shape with `file` and `path`) as a Verdict."""
    resource = _part(row, "resource", default=None)
    if isinstance(resource, dict):
        kind, namespace, name = (str(resource.get(key) or "") for key in ("kind", "namespace", "name"))
    else:
        kind, namespace, name = (str(_part(row, key)) for key in ("kind", "namespace", "name"))
    message = str(_part(row, "message"))
    path = str(_part(row, "path"))
    result = str(_part(row, "result", default="error")).lower()
    return Verdict(
        policy=str(_part(row, "policy")),
        rule=str(_part(row, "rule")),
        kind=kind,
        namespace=namespace,
        name=name,
        result=result if result in RESULT_ORDER else "error",
        message=message,
        file=str(_part(row, "file")),
        path=path.strip("."),
    )


def verdicts(report) -> list[Verdict]:
    """The report's rows as Verdicts, worst first."""
    rows = report.get("results", []) if isinstance(report, dict) else getattr(report, "rows", [])
    return sorted((verdict_of(row) for row in rows), key=lambda verdict: verdict.sort_key)


def summary(items: Iterable[Verdict]) -> dict[str, int]:
    counts = dict.fromkeys(("pass", "fail", "warn", "error", "skip"), 0)
    for item in items:
        counts[item.result] = counts.get(item.result, 0) + 1
    return counts


def summary_in_words(counts: dict[str, int]) -> str:
    """`2 fail, 1 warning, 5 pass`; only the results that occur."""
    words = {"fail": "fail", "error": "error", "warn": "warning", "skip": "skipped", "pass": "pass"}
    parts = []
    for result in ("fail", "error", "warn", "pass", "skip"):
        count = counts.get(result, 0)
        if count:
            noun = words[result]
            parts.append(f"{count} {noun}{'s' if count != 1 and result in ('error', 'warn') else ''}")
    return ", ".join(parts) or "no rule applies"


def _cell(text: str) -> str:
    """Table cell text: one line, pipes escaped, no HTML."""
    text = " ".join(str(text).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


_MARKDOWN_RESULTS = {"fail": "❌ fail", "error": "❌ error", "warn": "⚠️ warning", "skip": "➖ skipped", "pass": "✅ pass"}


def markdown_table(items: list[Verdict]) -> str:
    """The verdicts as a Markdown table for a pull request body, worst first, with a summary line."""
    if not items:
        return "**Guardrails:** no policy, quota or schema rule applies to the files in this change."
    counts = summary(items)
    lines = [
        f"**Guardrails:** {summary_in_words(counts)}",
        "",
        "| Result | Policy | Rule | Resource | Message |",
        "|---|---|---|---|---|",
    ]
    for item in sorted(items, key=lambda verdict: verdict.sort_key):
        lines.append(
            f"| {_MARKDOWN_RESULTS.get(item.result, item.result)} | {_cell(item.policy)} | {_cell(item.rule)} "
            f"| {_cell(item.resource)} | {_cell(item.message) or '—'} |"
        )
    return "\n".join(lines)


def check_change(files: dict[str, bytes | None], *, snapshot=None) -> list[Verdict]:
    """Every guardrail's verdict on a change (files by repository path; None deletes), worst first."""
    from deployments.guardrails.checks import evaluate_change

    return verdicts(evaluate_change(files, snapshot=snapshot))


def check_repository(*, snapshot=None) -> tuple[str, list[Verdict]]:
    """(commit, every verdict) for everything on the default branch's snapshot."""
    from deployments.guardrails.checks import evaluate_repository

    report = evaluate_repository(snapshot=snapshot)
    return report.commit, verdicts(report)

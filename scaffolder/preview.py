"""The dry-run preview of a template, assembled from contributors (DESIGN §4.2).

A contributor is a function registered once with `@contributor(name, order)`; it receives the
dry run's result and returns a section (or None to add nothing). The form's Preview shows the
sections in order, so a later feature (guardrail verdicts, the cost delta) adds its section by
registering a function, without editing the view:

    @contributor("cost", order=30)
    def cost_delta(context: PreviewContext) -> PreviewSection | None: ...
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

from portal import snapshot

logger = logging.getLogger(__name__)

#: Files larger than this are listed without their content or diff.
MAX_SHOWN_BYTES = 200_000


@dataclass
class PreviewContext:
    """What every contributor sees: the template, the values, who asks, and the dry run."""

    template_entity: Any
    template_document: dict
    values: dict
    user: Any
    result: Any  # services.DryRunResult: log, files, output, steps


@dataclass
class PreviewSection:
    """One part of the preview: a heading, a status badge and a template to render it with."""

    name: str
    title: str
    template_name: str
    context: dict = field(default_factory=dict)
    #: "ok", "warn", "bad" or "" (no badge); the summary beside the heading says why.
    status: str = ""
    summary: str = ""
    order: int = 100


Contributor = Callable[[PreviewContext], "PreviewSection | None"]


@dataclass(frozen=True)
class _Registered:
    name: str
    order: int
    function: Contributor


_contributors: dict[str, _Registered] = {}


def contributor(name: str, order: int = 100) -> Callable[[Contributor], Contributor]:
    """Register `fn(context) -> PreviewSection | None` as the preview section `name`."""

    def register(function: Contributor) -> Contributor:
        _contributors[name] = _Registered(name, order, function)
        return function

    return register


def unregister(name: str) -> None:
    _contributors.pop(name, None)


def contributors() -> list[_Registered]:
    return sorted(_contributors.values(), key=lambda item: (item.order, item.name))


def build_preview(template_entity, values: dict, user, *, secrets: dict | None = None) -> list[PreviewSection]:
    """Dry-run the template once and let every contributor add its section.

    A dry run that fails (a template error, an action refusing its input) becomes one section
    saying why, in the words of the error; nothing is written anywhere either way.
    """
    from scaffolder import services

    document = template_entity.document
    try:
        result = services.dry_run(document, values, user=user, secrets=secrets, template_entity=template_entity)
    except services.ParameterError:
        raise
    except Exception as error:
        logger.info("scaffolder.preview_failed", extra={"template": template_entity.ref})
        return [PreviewSection(
            name="error", title="The preview could not run", template_name="scaffolder/partials/preview_error.html",
            context={"message": str(error) or error.__class__.__name__}, status="bad", summary="failed", order=0,
        )]
    context = PreviewContext(template_entity, document, values, user, result)
    sections = []
    for registered in contributors():
        section = registered.function(context)
        if section is not None:
            section.order = registered.order
            sections.append(section)
    return sections


# --- rendering helpers ------------------------------------------------------------------------


def highlighted(path: str, content: bytes) -> SafeString:
    """The file's text as highlighted HTML (YAML, JSON and other known types; else plain)."""
    text = content.decode("utf-8", errors="replace")
    try:
        lexer = get_lexer_for_filename(path, stripnl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False)
    return mark_safe(highlight(text, lexer, HtmlFormatter(cssclass="highlight", wrapcode=True)))  # noqa: S308 - Pygments escapes the text


def diff_html(diff_text: str) -> SafeString:
    if not diff_text:
        return mark_safe("")  # noqa: S308
    return mark_safe(highlight(diff_text, DiffLexer(stripnl=False), HtmlFormatter(cssclass="highlight", wrapcode=True)))  # noqa: S308


def unified_diff(path: str, before: bytes | None, after: bytes) -> str:
    old = [] if before is None else before.decode("utf-8", errors="replace").splitlines(keepends=True)
    new = after.decode("utf-8", errors="replace").splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, fromfile=f"a/{path}" if before is not None else "/dev/null", tofile=f"b/{path}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True)
class PreviewFile:
    path: str
    state: str  # new, changed, unchanged, binary
    size: int
    content_html: SafeString
    diff_html: SafeString
    additions: int
    deletions: int


def _is_binary(content: bytes) -> bool:
    return b"\0" in content[:8000]


def preview_file(path: str, content: bytes, before: bytes | None) -> PreviewFile:
    if _is_binary(content) or len(content) > MAX_SHOWN_BYTES:
        state = "new" if before is None else ("unchanged" if before == content else "changed")
        return PreviewFile(path, state, len(content), mark_safe(""), mark_safe(""), 0, 0)  # noqa: S308
    if before == content:
        return PreviewFile(path, "unchanged", len(content), highlighted(path, content), mark_safe(""), 0, 0)  # noqa: S308
    diff_text = unified_diff(path, before, content)
    additions = sum(1 for line in diff_text.splitlines() if line.startswith("+") and not line.startswith("+++"))
    deletions = sum(1 for line in diff_text.splitlines() if line.startswith("-") and not line.startswith("---"))
    return PreviewFile(
        path, "new" if before is None else "changed", len(content),
        highlighted(path, content), diff_html(diff_text), additions, deletions,
    )


def _result_part(result, name: str, default):
    if isinstance(result, dict):
        return result.get(name, default)
    return getattr(result, name, default)


# --- contributors shipped with the scaffolder -------------------------------------------------


@contributor("files", order=10)
def files_section(context: PreviewContext) -> PreviewSection | None:
    """Every file the task would write, highlighted, with its diff against the repository."""
    files: dict[str, bytes] = _result_part(context.result, "files", {}) or {}
    current = snapshot.read_many(sorted(files)) if files else {}
    shown = [preview_file(path, content, current.get(path)) for path, content in sorted(files.items())]
    changed = sum(1 for item in shown if item.state != "unchanged")
    summary = f"{len(shown)} file{'s' if len(shown) != 1 else ''}, {changed} new or changed" if shown else "no files"
    return PreviewSection(
        name="files", title="Files", template_name="scaffolder/partials/preview_files.html",
        context={"files": shown}, status="ok" if shown else "", summary=summary,
    )


@contributor("log", order=90)
def log_section(context: PreviewContext) -> PreviewSection | None:
    """What each step did or would do, as the dry run logged it."""
    lines = []
    for entry in _result_part(context.result, "log", []) or []:
        body = entry.get("body", entry) if isinstance(entry, dict) else {"message": str(entry)}
        lines.append({
            "message": str(body.get("message", "")),
            "step": str(body.get("stepId") or ""),
            "level": str(body.get("level") or ("error" if body.get("status") == "failed" else "info")),
        })
    steps = []
    for step in _result_part(context.result, "steps", []) or []:
        if isinstance(step, dict):
            steps.append({"id": step.get("id", ""), "name": step.get("name") or step.get("id", ""),
                          "status": step.get("status", ""), "action": step.get("action", "")})
    return PreviewSection(
        name="log", title="Step log", template_name="scaffolder/partials/preview_log.html",
        context={"lines": lines, "steps": steps}, summary=f"{len(lines)} line{'s' if len(lines) != 1 else ''}",
    )

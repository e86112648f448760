"""`fetch:template` and `fetch:plain`: copy a template's skeleton into the workspace.

Inputs and behaviour follow Backstage's actions of the same names. The skeleton comes from
the template's own folder in the repository snapshot (or the files sent inline with a
dry-run); file and folder names and contents are rendered in one sandboxed call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.snapshot import glob_match
from scaffolder.actions.context import ActionContext, TemplateFileError
from scaffolder.actions.registry import ActionError, action
from scaffolder.expressions import TemplateError, render
from scaffolder.workspace import UnsafePathError, write_file

_URL = {
    "title": "Fetch URL",
    "description": "Path of the folder to fetch, relative to the template's own folder (e.g. ./skeleton).",
    "type": "string",
}
_TARGET_PATH = {
    "title": "Target Path",
    "description": "Folder inside the workspace to write to. Defaults to the workspace root.",
    "type": "string",
}

FETCH_TEMPLATE_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["url"],
    "properties": {
        "url": _URL,
        "targetPath": _TARGET_PATH,
        "values": {
            "title": "Template Values",
            "description": "Values available to the skeleton as ${{ values.<name> }}.",
            "type": "object",
        },
        "copyWithoutRender": {
            "title": "[Deprecated] Copy Without Render",
            "description": "Glob patterns; matching files and folders are copied as they are, names included.",
            "type": "array",
            "items": {"type": "string"},
        },
        "copyWithoutTemplating": {
            "title": "Copy Without Templating",
            "description": "Glob patterns; matching files are copied without rendering their contents, but their names are rendered.",
            "type": "array",
            "items": {"type": "string"},
        },
        "cookiecutterCompat": {
            "title": "Cookiecutter compatibility mode",
            "description": "Not supported: write the skeleton with ${{ values.<name> }}.",
            "type": "boolean",
        },
        "templateFileExtension": {
            "title": "Template File Extension",
            "description": "If set, only files with this extension are rendered, and the extension is removed. `true` means `.njk`.",
            "type": ["string", "boolean"],
        },
        "replace": {
            "title": "Replace files",
            "description": "Overwrite files that already exist in the target path instead of keeping them.",
            "type": "boolean",
        },
    },
}

FETCH_PLAIN_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["url"],
    "properties": {"url": _URL, "targetPath": _TARGET_PATH},
}

_EXAMPLE = """\
steps:
  - id: fetch
    name: Render manifests
    action: fetch:template
    input:
      url: ./skeleton
      values:
        name: ${{ parameters.name }}
"""


@dataclass(frozen=True)
class _Options:
    copy_patterns: tuple[str, ...]
    render_copied_names: bool
    extension: str | None


@dataclass(frozen=True)
class _Entry:
    source: str
    name: str
    render_name: bool
    render_content: bool
    content: bytes

    @property
    def text(self) -> str | None:
        """The content as text, or None for a binary file (copied as it is)."""
        if b"\0" in self.content:
            return None
        try:
            return self.content.decode("utf-8")
        except UnicodeDecodeError:
            return None


@action(
    "fetch:template",
    input_schema=FETCH_TEMPLATE_INPUT,
    supports_dry_run=True,
    description=(
        "Reads a skeleton from the template's folder, renders ${{ values.* }} into file and folder "
        "names and contents, and writes the result to the workspace (or to `targetPath` inside it)."
    ),
    examples=[{"description": "Render the skeleton folder next to template.yaml", "example": _EXAMPLE}],
)
def fetch_template(ctx: ActionContext) -> None:
    options = _template_options(ctx)
    files = _fetch(ctx)
    entries = [_entry(source, content, options) for source, content in files.items()]
    names, contents = _render(ctx, entries)
    target_path = ctx.input.get("targetPath") or "."
    replace = bool(ctx.input.get("replace"))
    for entry in entries:
        name = names.get(entry.source, entry.name)
        if not name or name.startswith("/") or "//" in name:
            ctx.logger(f"Skipping {entry.source}: a folder or file name rendered empty")
            continue
        content = contents[entry.source].encode() if entry.source in contents else entry.content
        _write(ctx, _join(target_path, name), content, replace=replace)
    ctx.logger(f"Template result written to {target_path}")


@action(
    "fetch:plain",
    input_schema=FETCH_PLAIN_INPUT,
    supports_dry_run=True,
    description="Copies a folder of the template into the workspace (or `targetPath` inside it), without rendering.",
)
def fetch_plain(ctx: ActionContext) -> None:
    target_path = ctx.input.get("targetPath") or "."
    for source, content in _fetch(ctx).items():
        _write(ctx, _join(target_path, source), content, replace=True)
    ctx.logger(f"Files written to {target_path}")


def _join(target_path: str, name: str) -> str:
    return name if target_path in ("", ".", "./") else f"{target_path.rstrip('/')}/{name}"


def _template_options(ctx: ActionContext) -> _Options:
    data = ctx.input
    if data.get("cookiecutterCompat"):
        raise ActionError(
            "fetch:template: cookiecutterCompat is not supported; write the skeleton with ${{ values.<name> }}"
        )
    if data.get("copyWithoutRender") and data.get("copyWithoutTemplating"):
        raise ActionError("fetch:template: copyWithoutRender and copyWithoutTemplating cannot be used together")
    patterns = data.get("copyWithoutTemplating") or data.get("copyWithoutRender") or []
    extension = data.get("templateFileExtension")
    if extension and patterns:
        raise ActionError(
            "fetch:template: templateFileExtension cannot be combined with copyWithoutRender or copyWithoutTemplating"
        )
    if data.get("copyWithoutRender"):
        ctx.logger("[Deprecated] copyWithoutRender: use copyWithoutTemplating instead")
    if extension is True:
        extension = ".njk"
    if extension and not str(extension).startswith("."):
        extension = f".{extension}"
    return _Options(
        copy_patterns=tuple(pattern.removeprefix("./").rstrip("/") for pattern in patterns),
        render_copied_names=not data.get("copyWithoutRender"),
        extension=extension or None,
    )


def _fetch(ctx: ActionContext) -> dict[str, bytes]:
    url = ctx.input["url"]
    try:
        location = ctx.template_info.resolve(url) or "."
        ctx.logger(f"Fetching template files from {location}")
        files = ctx.read_template_tree(url)
    except TemplateFileError as error:
        raise ActionError(f"{ctx.action_id}: {error}") from None
    if not files:
        raise ActionError(f"{ctx.action_id}: the template has no files under {url!r} (looked in {location})")
    return files


def _entry(source: str, content: bytes, options: _Options) -> _Entry:
    if options.extension:
        templated = source.endswith(options.extension)
        name = source[: -len(options.extension)] if templated else source
        return _Entry(source, name, render_name=True, render_content=templated, content=content)
    copied = any(_matches(source, pattern) for pattern in options.copy_patterns)
    return _Entry(
        source,
        source,
        render_name=not copied or options.render_copied_names,
        render_content=not copied,
        content=content,
    )


def _matches(path: str, pattern: str) -> bool:
    """A file matches a pattern naming it, or naming one of its folders (globby's rule)."""
    return glob_match(path, pattern) or glob_match(path, f"{pattern}/**")


def _render(ctx: ActionContext, entries: list[_Entry]) -> tuple[dict[str, str], dict[str, str]]:
    """Render every name and text content in one sandboxed call."""
    names = {entry.source: entry.name for entry in entries if entry.render_name}
    contents = {
        entry.source: entry.text for entry in entries if entry.render_content and entry.text is not None
    }
    ctx.logger(f"Rendering {len(contents)} file(s) with the template values")
    try:
        result = render({"path": names, "file": contents}, {"values": ctx.input.get("values") or {}}, as_text=True)
    except TemplateError as error:
        raise ActionError(f"{ctx.action_id}: {error}") from None
    for warning in result.warnings:
        ctx.logger(f"Warning: {warning}")
    return result.value["path"], result.value["file"]


def _write(ctx: ActionContext, relative: str, content: bytes, *, replace: bool) -> None:
    try:
        target = ctx.path(relative, for_write=True)
        shown = target.relative_to(ctx.workspace.resolve()).as_posix()
        if target.exists() and not replace:
            ctx.logger(f"Keeping {shown}: it already exists (set replace: true to overwrite it)")
            return
        if target.is_dir():
            raise ActionError(f"{ctx.action_id}: cannot write {shown}: a folder of that name exists")
        write_file(ctx.workspace, relative, content)
    except UnsafePathError as error:
        raise ActionError(f"{ctx.action_id}: refused to write {relative!r}: {error}") from None
    ctx.logger(f"Writing {shown}")

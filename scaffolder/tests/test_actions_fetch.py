"""`fetch:template` and `fetch:plain`: skeletons rendered into the workspace, never outside it."""

from __future__ import annotations

import os

import pytest

from scaffolder.actions.context import TemplateInfo
from scaffolder.actions.registry import ActionError
from scaffolder.tests.action_context import (
    REFERENCE_TEMPLATE,
    commit_to_repository,
    folder_files,
    run,
)
from scaffolder.workspace import snapshot

REFERENCE_VALUES = {
    "name": "fraud-model",
    "modelFormat": "sklearn",
    "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
    "owner": "fraud-detection",
    "costCenter": "cc-fraud",
}

EXPECTED_MANIFEST = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: fraud-model
  namespace: default
  labels:
    cost-center: cc-fraud
    owner: fraud-detection
spec:
  predictor:
    model:
      modelFormat:
        name: sklearn
      storageUri: "gs://kfserving-examples/models/sklearn/1.0/model"
"""


def fetch(workspace, files, **action_input):
    return run(workspace, "fetch:template", {"url": "./skeleton", **action_input}, files=files)


# --- The reference template -----------------------------------------------------------------


def test_the_reference_template_renders_its_manifest_from_inline_files(workspace):
    ctx = fetch(workspace, folder_files(REFERENCE_TEMPLATE), values=REFERENCE_VALUES)
    assert snapshot(workspace) == {"apps/fraud-model/inference-service.yaml": EXPECTED_MANIFEST.encode()}
    assert "Writing apps/fraud-model/inference-service.yaml" in ctx.logger.lines


@pytest.mark.django_db
def test_the_reference_template_renders_from_the_repository_snapshot(gitops_repo, workspace):
    from portal import snapshot as repository_snapshot

    files = {f"templates/reference/{path}": data for path, data in folder_files(REFERENCE_TEMPLATE).items()}
    commit_to_repository(gitops_repo, files)
    repository_snapshot.refresh()

    ctx = run(
        workspace,
        "fetch:template",
        {"url": "./skeleton", "values": REFERENCE_VALUES},
        base_path="templates/reference/",
    )
    assert ctx.template_info == TemplateInfo("template:default/test", base_path="templates/reference/")
    assert snapshot(workspace) == {"apps/fraud-model/inference-service.yaml": EXPECTED_MANIFEST.encode()}
    assert ctx.logger.lines[0] == "Fetching template files from templates/reference/skeleton"


@pytest.mark.django_db
def test_a_template_file_can_be_read_and_listed_from_the_snapshot(gitops_repo, workspace):
    from portal import snapshot as repository_snapshot
    from scaffolder.tests.action_context import make_context

    commit_to_repository(gitops_repo, {"templates/t/template.yaml": b"kind: Template\n", "templates/t/skeleton/a/b.txt": b"b"})
    repository_snapshot.refresh()
    ctx = make_context(workspace, "debug:log", {}, base_path="templates/t/")
    assert ctx.read_template_file("template.yaml") == b"kind: Template\n"
    assert ctx.list_template_files("skeleton") == ["a/b.txt"]
    with pytest.raises(ValueError, match="The template has no file 'missing.yaml'"):
        ctx.read_template_file("missing.yaml")


# --- Rendering names and contents -------------------------------------------------------------


def test_folder_and_file_names_are_rendered(workspace):
    files = {"skeleton/${{ values.team }}/${{ values.name }}.txt": b"hello ${{ values.name }}"}
    fetch(workspace, files, values={"team": "fraud", "name": "model"})
    assert snapshot(workspace) == {"fraud/model.txt": b"hello model"}


def test_target_path_puts_the_result_in_a_sub_folder(workspace):
    fetch(workspace, {"skeleton/a.txt": b"${{ values.x }}"}, values={"x": 1}, targetPath="out/here")
    assert snapshot(workspace) == {"out/here/a.txt": b"1"}


def test_a_name_that_renders_empty_skips_the_file(workspace):
    files = {"skeleton/{% if values.docs %}docs{% endif %}/index.md": b"docs", "skeleton/keep.txt": b"keep"}
    ctx = fetch(workspace, files, values={"docs": False})
    assert snapshot(workspace) == {"keep.txt": b"keep"}
    assert "Skipping {% if values.docs %}docs{% endif %}/index.md: a folder or file name rendered empty" in ctx.logger.lines


def test_copy_without_templating_keeps_contents_but_renders_names(workspace):
    files = {
        "skeleton/static/${{ values.name }}.txt": b"raw ${{ values.name }}",
        "skeleton/rendered.txt": b"${{ values.name }}",
    }
    fetch(workspace, files, values={"name": "m"}, copyWithoutTemplating=["static"])
    assert snapshot(workspace) == {"static/m.txt": b"raw ${{ values.name }}", "rendered.txt": b"m"}


def test_copy_without_render_keeps_contents_and_names(workspace):
    files = {"skeleton/static/${{ values.name }}.txt": b"raw ${{ values.name }}"}
    ctx = fetch(workspace, files, values={"name": "m"}, copyWithoutRender=["static/**"])
    assert snapshot(workspace) == {"static/${{ values.name }}.txt": b"raw ${{ values.name }}"}
    assert "[Deprecated] copyWithoutRender: use copyWithoutTemplating instead" in ctx.logger.lines


@pytest.mark.parametrize(("extension", "suffix"), [(True, ".njk"), (".j2", ".j2"), ("tmpl", ".tmpl")])
def test_template_file_extension_renders_only_those_files_and_strips_it(workspace, extension, suffix):
    files = {f"skeleton/${{{{ values.name }}}}.yaml{suffix}": b"name: ${{ values.name }}", "skeleton/plain.txt": b"${{ values.name }}"}
    fetch(workspace, files, values={"name": "m"}, templateFileExtension=extension)
    assert snapshot(workspace) == {"m.yaml": b"name: m", "plain.txt": b"${{ values.name }}"}


def test_binary_files_are_copied_as_they_are(workspace):
    image = b"\x89PNG\r\n\x1a\n\x00${{ values.name }}\xff"
    fetch(workspace, {"skeleton/logo.png": image}, values={"name": "m"})
    assert snapshot(workspace) == {"logo.png": image}


def test_an_existing_file_is_kept_unless_replace_is_set(workspace):
    (workspace / "a.txt").write_text("mine")
    ctx = fetch(workspace, {"skeleton/a.txt": b"theirs"})
    assert (workspace / "a.txt").read_text() == "mine"
    assert "Keeping a.txt: it already exists (set replace: true to overwrite it)" in ctx.logger.lines
    fetch(workspace, {"skeleton/a.txt": b"theirs"}, replace=True)
    assert (workspace / "a.txt").read_text() == "theirs"


def test_undefined_values_are_logged_as_warnings(workspace):
    ctx = fetch(workspace, {"skeleton/a.yaml": b"owner: ${{ values.ownr }}\n"}, values={"owner": "x"})
    assert snapshot(workspace) == {"a.yaml": b"owner: \n"}
    assert "Warning: file['a.yaml']: `owner: ${{ values.ownr }}`: 'ownr' is undefined; rendered as empty text" in ctx.logger.lines


# --- Refusals ---------------------------------------------------------------------------------


def test_a_value_that_would_leave_the_workspace_is_refused(workspace):
    with pytest.raises(ActionError) as error:
        fetch(workspace, {"skeleton/apps/${{ values.name }}/x.yaml": b"x"}, values={"name": "../../../tmp/escape"})
    assert str(error.value) == (
        "fetch:template: refused to write 'apps/../../../tmp/escape/x.yaml': "
        "'apps/../../../tmp/escape/x.yaml' leads outside the workspace"
    )


def test_a_target_path_outside_the_workspace_is_refused(workspace):
    with pytest.raises(ActionError, match="leads outside the workspace"):
        fetch(workspace, {"skeleton/a.txt": b"a"}, targetPath="../elsewhere")


def test_a_symlink_in_the_workspace_cannot_redirect_writes(workspace, outside):
    os.symlink(outside, workspace / "apps")
    with pytest.raises(ActionError, match="'apps/m/x.yaml' leads outside the workspace"):
        fetch(workspace, {"skeleton/apps/${{ values.name }}/x.yaml": b"x"}, values={"name": "m"})
    assert [path.name for path in outside.iterdir()] == ["keep.txt"]


def test_an_expression_the_sandbox_refuses_fails_the_step_with_its_place(workspace):
    with pytest.raises(ActionError) as error:
        fetch(workspace, {"skeleton/a.txt": b"ok\n${{ values.__class__ }}\n"})
    assert str(error.value) == (
        "fetch:template: file['a.txt'] line 2: `${{ values.__class__ }}` was refused: "
        "access to attribute '__class__' of a dict value is not allowed"
    )


@pytest.mark.parametrize(
    ("action_input", "message"),
    [
        ({"cookiecutterCompat": True}, "cookiecutterCompat is not supported"),
        ({"copyWithoutRender": ["a"], "copyWithoutTemplating": ["b"]}, "copyWithoutRender and copyWithoutTemplating cannot be used together"),
        ({"templateFileExtension": True, "copyWithoutTemplating": ["b"]}, "templateFileExtension cannot be combined"),
        ({"url": "https://github.com/acme/skeleton"}, "is not a path relative to the template"),
        ({"url": "../../../etc"}, "'../../../etc' leads outside the repository"),
        ({"url": "./nothing-here"}, "the template has no files under './nothing-here' (looked in nothing-here)"),
    ],
)
def test_unusable_inputs_fail_with_a_clear_message(workspace, action_input, message):
    with pytest.raises(ActionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fetch(workspace, {"skeleton/a.txt": b"a"}, **action_input)


def test_the_input_is_validated_before_anything_is_fetched(workspace):
    with pytest.raises(ActionError, match="Invalid input to fetch:template: url must be a string"):
        run(workspace, "fetch:template", {"url": 3}, files={})


# --- fetch:plain -----------------------------------------------------------------------------


def test_fetch_plain_copies_without_rendering(workspace):
    files = {"static/${{ values.name }}.txt": b"${{ values.name }}", "static/sub/b.bin": b"\x00\x01"}
    run(workspace, "fetch:plain", {"url": "static", "targetPath": "copied"}, files=files)
    assert snapshot(workspace) == {"copied/${{ values.name }}.txt": b"${{ values.name }}", "copied/sub/b.bin": b"\x00\x01"}

"""The dry-run preview: files with their diff, the step log, and contributors added later."""

from __future__ import annotations

import re

from catalog.models import Entity
from scaffolder import preview
from scaffolder.tests.form_templates import GOLDEN_PAGES, golden_catalog  # noqa: F401

GOLDEN_VALUES = {
    **GOLDEN_PAGES[0], "modelFormat": "sklearn", "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
    "minReplicas": 1, "maxReplicas": 3, "cpuRequest": "500m", "cpuLimit": "1", "memoryRequest": "1Gi",
    "memoryLimit": "2Gi", "gpu": 0, "owner": "group:default/fraud-detection",
}


def golden():
    return Entity.objects.get(ref="template:default/model-endpoint")


def by_name(sections):
    return {section.name: section for section in sections}


def test_files_section_shows_each_new_file_highlighted_with_its_diff(golden_catalog, dana):  # noqa: F811
    sections = by_name(preview.build_preview(golden(), GOLDEN_VALUES, dana))
    files = {item.path: item for item in sections["files"].context["files"]}
    manifest = files["apps/card-fraud/inference-service.yaml"]
    assert manifest.state == "new"
    assert '<div class="highlight">' in manifest.content_html
    assert "InferenceService" in manifest.content_html
    assert "--- /dev/null" in manifest.diff_html and "+++ b/apps/card-fraud/inference-service.yaml" in manifest.diff_html
    assert manifest.additions > 5 and manifest.deletions == 0
    assert "apps/card-fraud/catalog-info.yaml" in files
    assert sections["files"].summary == "2 files, 2 new or changed"


def test_changed_file_shows_a_unified_diff_against_the_repository():
    shown = preview.preview_file("apps/x/a.yaml", b"replicas: 3\nname: x\n", b"replicas: 1\nname: x\n")
    assert shown.state == "changed"
    assert (shown.additions, shown.deletions) == (1, 1)
    text = re.sub(r"<[^>]+>", "", str(shown.diff_html))
    assert "-replicas: 1" in text and "+replicas: 3" in text


def test_unchanged_file_has_no_diff():
    shown = preview.preview_file("a.json", b'{"a": 1}\n', b'{"a": 1}\n')
    assert shown.state == "unchanged" and shown.diff_html == ""
    assert '<span class="p">{</span>' in shown.content_html  # highlighted as JSON


def test_log_section_lists_the_steps_and_what_they_logged(golden_catalog, dana):  # noqa: F811
    log = by_name(preview.build_preview(golden(), GOLDEN_VALUES, dana))["log"]
    assert [step["id"] for step in log.context["steps"]] == ["owner", "render", "guardrails", "publish", "register"]
    assert any("Beginning step Render manifests" in line["message"] for line in log.context["lines"])


def test_a_registered_contributor_adds_its_section_in_order(golden_catalog, dana):  # noqa: F811
    @preview.contributor("replicas", order=50)
    def replicas(context):
        return preview.PreviewSection(
            name="replicas", title="Replicas", template_name="scaffolder/partials/preview_error.html",
            context={"message": f"{context.values['maxReplicas']} at most"}, status="ok", summary="fine",
        )

    try:
        sections = preview.build_preview(golden(), GOLDEN_VALUES, dana)
    finally:
        preview.unregister("replicas")
    assert [section.name for section in sections] == ["files", "guardrails", "delta", "replicas", "log"]
    assert by_name(sections)["replicas"].context == {"message": "3 at most"}


def test_a_contributor_may_add_nothing(golden_catalog, dana):  # noqa: F811
    preview.contributor("nothing", order=20)(lambda context: None)
    try:
        names = [section.name for section in preview.build_preview(golden(), GOLDEN_VALUES, dana)]
    finally:
        preview.unregister("nothing")
    assert names == ["files", "guardrails", "delta", "log"]


def test_preview_writes_nothing(golden_catalog, dana):  # noqa: F811
    from deployments.models import PullRequest
    from scaffolder.models import Task

    preview.build_preview(golden(), GOLDEN_VALUES, dana)
    assert not Task.objects.exists()
    assert not PullRequest.objects.exists()
    assert not Entity.objects.filter(name="card-fraud").exists()


def test_preview_page_fragment_shows_every_section(client, golden_catalog, dana):  # noqa: F811
    from scaffolder import forms

    client.force_login(dana)
    draft = forms.dump_draft(GOLDEN_VALUES, dana)
    response = client.post(
        "/create/templates/default/model-endpoint",
        {"page": 4, "draft": draft, "action": "preview"}, HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<code>apps/card-fraud/inference-service.yaml</code>" in html
    assert '<span class="badge badge-info">new file</span>' in html
    assert "Diff against the repository (new file)" in html
    assert 'id="preview-log-title">Step log</h4>' in html
    assert "<!doctype html>" not in html


def test_preview_without_htmx_renders_the_review_page_with_the_preview(client, golden_catalog, dana):  # noqa: F811
    from scaffolder import forms

    client.force_login(dana)
    draft = forms.dump_draft(GOLDEN_VALUES, dana)
    html = client.post("/create/templates/default/model-endpoint",
                       {"page": 4, "draft": draft, "action": "preview"}).content.decode()
    assert "<dt>Name</dt><dd>card-fraud</dd>" in html
    assert "<code>apps/card-fraud/inference-service.yaml</code>" in html


def test_preview_with_invalid_values_returns_to_the_field(client, golden_catalog, dana):  # noqa: F811
    from scaffolder import forms

    client.force_login(dana)
    draft = forms.dump_draft({**GOLDEN_VALUES, "name": "Card"}, dana)
    response = client.post("/create/templates/default/model-endpoint", {"page": 4, "draft": draft, "action": "preview"})
    assert response.status_code == 400
    assert "must be a lowercase DNS label, e.g. fraud-model" in response.content.decode()
    assert 'value="Card"' in response.content.decode()


def test_a_failing_dry_run_is_one_section_in_words(golden_catalog, dana, monkeypatch):  # noqa: F811
    from scaffolder import services

    def broken(*args, **kwargs):
        raise RuntimeError("The skeleton folder ./skeleton is missing")

    monkeypatch.setattr(services, "dry_run", broken)
    sections = preview.build_preview(golden(), GOLDEN_VALUES, dana)
    assert [(s.name, s.context["message"]) for s in sections] == [("error", "The skeleton folder ./skeleton is missing")]

"""The Create page, and submitting a template's form."""

from __future__ import annotations

import re

from catalog import store
from scaffolder import forms
from scaffolder.models import Task
from scaffolder.tests.form_templates import FEATURE_TEMPLATE, FEATURE_VALUES, feature_template  # noqa: F401


def second_template():
    document = {**FEATURE_TEMPLATE, "metadata": {"name": "batch-job", "title": "Batch job",
                                                 "description": "Runs a job on a schedule.", "tags": ["batch"]}}
    return store.upsert(document).entity


def test_create_page_lists_templates_with_owner_type_and_tags(client, dana, feature_template):  # noqa: F811
    client.force_login(dana)
    html = client.get("/create/").content.decode()
    assert '<a href="/create/templates/default/everything">Every field</a>' in html
    assert "A template with one field of each kind." in html
    assert '<a href="/catalog/default/group/platform-team">platform-team</a>' in html
    assert "<dt>Type</dt><dd>service</dd>" in html
    assert '<a class="tag" href="?tag=testing">testing</a>' in html
    assert '<option value="forms">forms</option>' in html


def test_create_page_filters_by_tag_and_text(client, dana, feature_template):  # noqa: F811
    second_template()
    client.force_login(dana)
    by_tag = client.get("/create/?tag=batch").content.decode()
    assert "Batch job" in by_tag and "Every field" not in by_tag
    by_text = client.get("/create/?q=schedule").content.decode()
    assert "Batch job" in by_text and "Every field" not in by_text
    nothing = client.get("/create/?q=nothing-like-this", HTTP_HX_REQUEST="true").content.decode()
    assert "No template matches these filters." in nothing
    assert "<!doctype html>" not in nothing


def test_create_page_query_count_is_constant(client, dana, feature_template, django_assert_max_num_queries):  # noqa: F811
    client.force_login(dana)
    client.get("/create/")
    with django_assert_max_num_queries(8) as few:
        client.get("/create/")
    second_template()
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/create/")


def test_unknown_template_is_404(client, dana, db):
    client.force_login(dana)
    assert client.get("/create/templates/default/nope").status_code == 404


def test_create_submits_the_task_and_opens_its_page(client, dana, feature_template):  # noqa: F811
    client.force_login(dana)
    response = client.post("/create/templates/default/everything",
                           {"page": 2, "draft": forms.dump_draft(FEATURE_VALUES, dana), "action": "create"})
    task = Task.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/create/tasks/{task.uuid}"
    assert task.created_by == dana
    assert task.values["name"] == "fraud-model"
    assert "s3cret-value-42" not in str(task.values)


def test_create_with_a_problem_returns_to_its_page_with_the_values(client, dana, feature_template):  # noqa: F811
    client.force_login(dana)
    values = {**FEATURE_VALUES, "replicas": 9}
    response = client.post("/create/templates/default/everything",
                           {"page": 2, "draft": forms.dump_draft(values, dana), "action": "create"})
    html = response.content.decode()
    assert response.status_code == 400
    assert not Task.objects.exists()
    assert '<h2 class="page-title">Numbers</h2>' in html
    assert "must be at most 5" in html
    assert 'value="9"' in html


def test_parameter_error_from_the_service_is_shown_beside_the_field(client, dana, feature_template, monkeypatch):  # noqa: F811
    from scaffolder import services
    from scaffolder.parameters import FieldError

    def refuse(*args, **kwargs):
        raise services.ParameterError([FieldError("name", "is already taken by another endpoint", 0)])

    monkeypatch.setattr(services, "create_task", refuse)
    client.force_login(dana)
    response = client.post("/create/templates/default/everything",
                           {"page": 2, "draft": forms.dump_draft(FEATURE_VALUES, dana), "action": "create"})
    html = response.content.decode()
    assert response.status_code == 400
    assert re.search(r'id="f-name-error"[^>]*>.*is already taken by another endpoint', html)
    assert 'value="fraud-model"' in html


def test_edit_from_the_review_step_opens_that_page(client, dana, feature_template):  # noqa: F811
    client.force_login(dana)
    response = client.post("/create/templates/default/everything",
                           {"page": 2, "draft": forms.dump_draft(FEATURE_VALUES, dana), "action": "goto-0"})
    assert '<h2 class="page-title">Basics</h2>' in response.content.decode()

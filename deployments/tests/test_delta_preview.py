"""The preview's "Resources and cost" section (Dana's journey, step 4): after the guardrails,
the golden path's endpoint with its resources and "about $X per month"; a value that does not
parse says so instead of costing nothing. The golden path's pull request carries the same delta
as a comment, edited in place when the task publishes again."""

from __future__ import annotations

import html as html_lib
import re
from decimal import Decimal

import pytest
import yaml

from deployments.delta import DELTA_MARKER
from deployments.models import PullRequest, PullRequestComment
from scaffolder import forms, preview, runner, services
from scaffolder.choices import TaskStatus
from scaffolder.tests import task_helpers
from scaffolder.tests.form_templates import golden_catalog  # noqa: F401 - fixture
from scaffolder.tests.task_helpers import GOLDEN_TEMPLATE, GOLDEN_VALUES, template

pytestmark = pytest.mark.django_db

FORM = "/create/templates/default/model-endpoint"
#: card-fraud at 1 to 3 replicas of 500m and 1Gi: (0.5 × 0.031611 + 1 × 0.004237) × 730 = 14.631025.
ISVC = "apps/card-fraud/inference-service.yaml"
HEADLINE = "about $14.63 per month (was $0.00, +$14.63)"


@pytest.fixture(autouse=True)
def prices(settings):
    settings.PORTAL_PRICE_CPU_HOUR = Decimal("0.031611")
    settings.PORTAL_PRICE_GIB_HOUR = Decimal("0.004237")
    settings.PORTAL_PRICE_GPU_HOUR = Decimal("0.95")


def sections(user, **changes):
    return preview.build_preview(template(GOLDEN_TEMPLATE), {**GOLDEN_VALUES, **changes}, user)


def text_of(html: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_golden_path_preview_shows_resources_and_cost_after_the_guardrails(golden_catalog, dana):  # noqa: F811
    found = sections(dana)

    names = [section.name for section in found]
    assert names.index("delta") == names.index("guardrails") + 1
    section = found[names.index("delta")]
    assert (section.title, section.status, section.summary) == ("Resources and cost", "ok", "about $14.63 per month")
    assert section.context["headline"] == HEADLINE
    [item] = section.context["rows"]
    assert item["row"].label == "InferenceService default/card-fraud"
    assert item["cells"]["replicas"] == "1–3"
    assert any("up to $43.89 per month" in note for note in section.context["notes"])


def test_the_preview_page_says_about_how_much_per_month(golden_catalog, client, dana):  # noqa: F811
    client.force_login(dana)
    draft = forms.dump_draft(dict(GOLDEN_VALUES), dana)

    response = client.post(FORM, {"page": 4, "draft": draft, "action": "preview"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    text = text_of(response.content.decode())
    assert "Resources and cost" in text
    assert "About $14.63 per month (was $0.00, +$14.63)" in text
    assert "InferenceService default/card-fraud added 1–3 500m 1 1Gi 2Gi 0 $14.63" in text


def test_a_gpu_endpoint_is_flagged_for_review(golden_catalog, dana):  # noqa: F811
    section = next(s for s in sections(dana, gpu=1) if s.name == "delta")

    assert section.status == "warn"
    assert section.context["flags"] == [("InferenceService default/card-fraud", "1 GPU per replica")]
    # (0.5 × 0.031611 + 1 × 0.004237 + 0.95) × 730 = 708.131025
    assert section.context["headline"] == "about $708.13 per month (was $0.00, +$708.13)"


def test_the_golden_path_pull_request_carries_the_delta_comment(golden_catalog, dana):  # noqa: F811
    task = services.create_task(template(GOLDEN_TEMPLATE), dict(GOLDEN_VALUES), user=dana)

    assert runner.run(task.pk) == TaskStatus.COMPLETED, task_helpers.messages(task)

    pull_request = PullRequest.objects.get(task=task.uuid)
    comment = PullRequestComment.objects.get(pull_request=pull_request, marker=DELTA_MARKER)
    assert comment.body.startswith(f"<!-- {DELTA_MARKER} -->\n### Resources and cost")
    assert "About $14.63 per month (was $0.00, +$14.63)." in comment.body
    assert "| InferenceService default/card-fraud | added | 1–3 | 500m | 1 | 1Gi | 2Gi | 0 | $14.63 |" in comment.body
    assert f"Resources and cost: {HEADLINE}" in task_helpers.messages(task)


def test_publishing_again_edits_the_one_delta_comment(golden_catalog, dana):  # noqa: F811
    from deployments import delta
    from portal.repository import get_provider

    task = services.create_task(template(GOLDEN_TEMPLATE), dict(GOLDEN_VALUES), user=dana)
    runner.run(task.pk)
    pull_request = PullRequest.objects.get(task=task.uuid)
    manifest = yaml.safe_load(task_helpers.show(golden_catalog, pull_request.branch, ISVC))
    manifest["spec"]["predictor"]["model"]["resources"]["requests"]["cpu"] = "1"
    files = {ISVC: yaml.safe_dump(manifest).encode()}

    delta.comment(get_provider(), pull_request.number, files)

    [comment] = PullRequestComment.objects.filter(pull_request=pull_request, marker=DELTA_MARKER)
    assert "| 1–3 | 1 | 1 | 1Gi | 2Gi | 0 | $26.17 |" in comment.body  # (0.031611 + 0.004237) × 730 = 26.16904

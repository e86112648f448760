"""The preview's Guardrails section: every rule's verdict on what the form would commit, refusals
first, each placed beside the form field that caused it."""

from __future__ import annotations

import copy
import html as html_lib
import re

import pytest

from catalog.models import Entity
from catalog.tests.conftest import commit  # noqa: F401 - fixture
from deployments.guardrails import preview as guardrails_preview
from deployments.guardrails.verdicts import Verdict
from scaffolder import forms, preview
from scaffolder.tests.form_templates import golden_catalog  # noqa: F401 - fixture
from scaffolder.tests.task_helpers import GOLDEN_VALUES

pytestmark = pytest.mark.django_db

FORM = "/create/templates/default/model-endpoint"
#: The golden path's values with the cost centre left to the owner team's label.
VALUES = {key: value for key, value in GOLDEN_VALUES.items() if key != "costCenter"}
FIFTH_ENDPOINT = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: churn-model
  namespace: default
  labels: {owner: fraud-detection, cost-center: cc-fraud}
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      storageUri: gs://models/churn
      resources:
        requests: {cpu: 100m, memory: 128Mi}
        limits: {cpu: 200m, memory: 256Mi}
"""


@pytest.fixture
def template(golden_catalog):  # noqa: F811
    return Entity.objects.get(ref="template:default/model-endpoint")


def section_for(template, user, **changes):
    sections = preview.build_preview(template, {**VALUES, **changes}, user)
    return next(section for section in sections if section.name == "guardrails")


def field_names(section) -> list[str]:
    return [item.name for item in section.context["fields"]]


def preview_html(client, user, **changes) -> str:
    client.force_login(user)
    draft = forms.dump_draft({**VALUES, **changes}, user)
    response = client.post(FORM, {"page": 4, "draft": draft, "action": "preview"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def beside(html: str, field: str) -> str:
    """The text shown beside a form field in the Guardrails section."""
    match = re.search(rf'<div class="guardrail-field" id="guardrail-field-{field}".*?</div>', html, re.S)
    assert match, f"nothing is shown beside {field}"
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", match.group(0))).split())


def test_a_compliant_endpoint_shows_every_rule_passing_and_no_field_to_change(template, dana):
    section = section_for(template, dana)

    assert section.status == "ok"
    assert section.context["fields"] == []
    results = {(row.verdict.policy, row.verdict.rule): row.verdict.result for row in section.context["rows"]}
    assert results[("require-standard-labels-inferenceservice", "check-owner-and-cost-center-on-isvc")] == "pass"
    assert results[("ResourceQuota/default-namespace-quota", "requests.cpu")] == "pass"
    assert results[("ResourceQuota/default-namespace-quota", "count/inferenceservices.serving.kserve.io")] == "pass"
    assert not {"fail", "error"} & set(results.values())


def test_twenty_cpus_are_refused_beside_the_cpu_fields_with_the_quota_and_the_excess(template, dana, client):
    section = section_for(template, dana, cpuRequest="20", cpuLimit="20")

    assert section.status == "bad"
    assert section.summary.endswith("refused: fix before creating")
    cpu = next(item for item in section.context["fields"] if item.name == "cpuRequest")
    assert (cpu.label, cpu.page_title, cpu.value) == ("CPU request", "Resources", "20")
    quota = next(v for v in cpu.verdicts if v.policy == "ResourceQuota/default-namespace-quota")
    assert quota.result == "fail"
    assert "requests.cpu" in quota.message and "over the quota default-namespace-quota of 4 by 16.4" in quota.message
    assert sorted(field_names(section)) == ["cpuLimit", "cpuRequest"]
    # Refusals lead the table; nothing refused reads as a pass.
    results = [row.verdict.result for row in section.context["rows"]]
    assert results == sorted(results, key=["fail", "error", "warn", "skip", "pass"].index)

    text = beside(preview_html(client, dana, cpuRequest="20", cpuLimit="20"), "cpuRequest")
    assert "CPU request" in text and "you entered 20" in text
    assert "Fail" in text and "over the quota default-namespace-quota of 4 by 16.4" in text
    assert "Change CPU request" in text


def test_a_missing_cost_centre_is_explained_beside_the_cost_centre_field(template, priya, client):
    # ml-org has no cost-center label, so leaving the field empty leaves the label empty.
    section = section_for(template, priya, owner="group:default/ml-org")

    assert section.status == "bad"
    assert field_names(section) == ["costCenter"]
    verdict = section.context["fields"][0].verdicts[0]
    assert (verdict.policy, verdict.result) == ("require-standard-labels-inferenceservice", "fail")
    assert section.context["fields"][0].rendered == [("metadata.labels.cost-center", "left empty")]

    text = beside(preview_html(client, priya, owner="group:default/ml-org"), "costCenter")
    assert "Cost centre" in text and "you entered left empty" in text
    assert "InferenceService resources must set metadata.labels.owner and metadata.labels.cost-center" in text
    assert "In the manifest: metadata.labels.cost-center = left empty" in text


def test_a_sixth_endpoint_is_refused_by_the_quota_counting_inference_services(template, dana, commit):  # noqa: F811
    commit({"apps/churn-model/inference-service.yaml": FIFTH_ENDPOINT}, "A fifth endpoint")

    section = section_for(template, dana)

    assert section.status == "bad"
    refused = [row.verdict for row in section.context["rows"] if row.verdict.result == "fail"]
    assert [(v.policy, v.rule) for v in refused] == [
        ("ResourceQuota/default-namespace-quota", "count/inferenceservices.serving.kserve.io")
    ]
    assert "6" in refused[0].message and "5" in refused[0].message


def test_without_a_field_map_a_verdict_is_traced_to_the_parameter_whose_value_it_shows(template):
    document = copy.deepcopy(template.document)
    document["spec"].pop(guardrails_preview.FIELD_MAP_KEY)
    manifest = b"kind: InferenceService\nmetadata: {name: card-fraud}\nspec: {predictor: {model: {resources: {requests: {cpu: '20'}}}}}\n"
    verdict = Verdict("ResourceQuota/q", "requests.cpu", "InferenceService", "default", "card-fraud", "fail",
                      "requests.cpu would total 20", file="a.yaml", path="spec.predictor.model.resources.requests.cpu")

    fields, table = guardrails_preview.place([verdict], document, {**VALUES, "cpuRequest": "20"}, {"a.yaml": manifest})

    assert [item.name for item in fields] == ["cpuRequest"]
    assert table[0].fields == ["CPU request"]


def test_a_value_two_fields_share_is_not_guessed(template):
    document = copy.deepcopy(template.document)
    document["spec"].pop(guardrails_preview.FIELD_MAP_KEY)
    manifest = b"kind: InferenceService\nmetadata: {name: card-fraud}\nspec: {predictor: {model: {resources: {requests: {cpu: '2'}}}}}\n"
    verdict = Verdict("ResourceQuota/q", "requests.cpu", "InferenceService", "default", "card-fraud", "fail",
                      "over", file="a.yaml", path="spec.predictor.model.resources.requests.cpu")

    fields, table = guardrails_preview.place([verdict], document, {**VALUES, "cpuRequest": "2", "cpuLimit": "2"},
                                             {"a.yaml": manifest})

    assert fields == [] and table[0].fields == []


def test_a_check_that_cannot_run_is_shown_as_a_refusal_never_as_a_pass(template, dana, monkeypatch):
    def broken(files, **kwargs):
        raise ValueError("the policy folder could not be read")

    monkeypatch.setattr(guardrails_preview, "check_change", broken)
    section = section_for(template, dana)

    assert (section.status, section.summary) == ("bad", "could not check")
    assert section.context["error"] == "the policy folder could not be read"


def test_an_error_row_makes_the_section_refuse(template, dana, monkeypatch):
    error = Verdict("uses-api-call", "lookup", "InferenceService", "default", "card-fraud", "error",
                    "context.apiCall is not evaluated by the portal", file="apps/card-fraud/inference-service.yaml")
    monkeypatch.setattr(guardrails_preview, "check_change", lambda files, **kwargs: [error])

    section = section_for(template, dana)

    assert section.status == "bad"
    assert section.context["rows"][0].verdict.result == "error"

"""Right-sizing (Priya's journey, step 4): endpoints asking for far more than they use are flagged
with a tidy suggested request and the monthly saving; the owners' button opens a "Change
resources" pull request with it.

The window: the 7 days ending the 20th of November 2026, a 30 % threshold, figures on at least
5 of the 7 days. fraud-scorer sets no resources, so the namespace's LimitRange gives it 100m and
128Mi requested (500m and 512Mi limits) at one replica.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import yaml
from django.urls import reverse

from deployments import budgets, rightsizing
from deployments.models import PullRequest
from deployments.tests.cost_factories import TODAY, cluster, endpoint_day
from deployments.tests.test_change_flows import push_to_main
from scaffolder import runner
from scaffolder.choices import TaskStatus
from scaffolder.models import Task
from scaffolder.tests.task_helpers import messages, show

pytestmark = pytest.mark.django_db

PAGE = "/deployments/costs/right-sizing/"
ENDPOINT_PAGE = "/catalog/default/component/fraud-scorer"
MANIFEST = "apps/fraud-scorer/inference-service.yaml"
WEEK = [TODAY - timedelta(days=n) for n in range(6, -1, -1)]
MIB = 2**20


@pytest.fixture(autouse=True)
def rules(settings, monkeypatch):
    settings.PORTAL_PRICE_CPU_HOUR = Decimal("0.031611")
    settings.PORTAL_PRICE_GIB_HOUR = Decimal("0.004237")
    settings.PORTAL_PRICE_GPU_HOUR = Decimal("0.95")
    settings.PORTAL_RIGHTSIZING_THRESHOLD = 30
    settings.PORTAL_RIGHTSIZING_DAYS = 7
    monkeypatch.setattr(budgets, "today", lambda: TODAY)


@pytest.fixture
def repo(gitops_repo, dana, priya, outsider):
    from catalog import ingestion
    from portal import snapshot

    snapshot.refresh()
    ingestion.refresh_all()
    return gitops_repo


def week(days=WEEK, **figures):
    for day in days:
        endpoint_day(day, **figures)


def text_of(html: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


# --- the suggestion ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("resource", "value", "tidy"), [
    ("cpu", "0.013", "0.05"),      # the floor
    ("cpu", "0.52", "0.55"),       # 50m steps below one core
    ("cpu", "0.55", "0.55"),
    ("cpu", "1.01", "1.1"),        # 100m steps from one core
    ("memory", 16.64 * MIB, 64 * MIB),
    ("memory", 100 * MIB, 128 * MIB),
    ("memory", 1331.2 * MIB, 1408 * MIB),   # 128Mi steps from 1Gi
    ("memory", 1024 * MIB, 1024 * MIB),
])
def test_suggestions_round_up_to_tidy_quantities(resource, value, tidy):
    assert rightsizing.tidy(resource, Decimal(str(value))) == Decimal(str(tidy))


def test_an_endpoint_under_the_threshold_every_day_is_flagged(repo):
    week(cpu_efficiency=0.10, ram_efficiency=0.12)

    [found] = rightsizing.suggestions()

    assert (found.name, found.owner, found.cost_center, found.days, found.replicas) == (
        "fraud-scorer", "fraud-detection", "cc-fraud", 7, 1)
    assert [(r.resource, r.current_text, r.suggested_text) for r in found.resources] == [
        ("cpu", "100m", "50m"), ("memory", "128Mi", "64Mi")]
    # (0.1 × 0.031611 + 0.125 × 0.004237) × 730 = 2.69422925 → $2.69 now;
    # (0.05 × 0.031611 + 0.0625 × 0.004237) × 730 = 1.347114625 → $1.35 suggested: $1.34 saved.
    assert found.monthly_saving == Decimal("1.34")
    assert found.form_values == {"minReplicas": 1, "maxReplicas": 1, "cpuRequest": "50m", "memoryRequest": "64Mi",
                                 "cpuLimit": "500m", "memoryLimit": "512Mi", "gpu": 0}


def test_one_busy_day_clears_the_flag(repo):
    week(WEEK[:-1], cpu_efficiency=0.10, ram_efficiency=0.10)
    week(WEEK[-1:], cpu_efficiency=0.31, ram_efficiency=0.30)  # 30 % is not under 30 %

    assert rightsizing.suggestions() == []


def test_a_busy_day_for_cpu_leaves_the_memory_flag(repo):
    week(WEEK[:-1], cpu_efficiency=0.10, ram_efficiency=0.10)
    week(WEEK[-1:], cpu_efficiency=0.50, ram_efficiency=0.10)

    [found] = rightsizing.suggestions()

    assert [r.resource for r in found.resources] == ["memory"]
    assert found.form_values["cpuRequest"] == "100m"  # as it is


def test_too_few_days_of_figures_are_not_enough(repo):
    week(WEEK[:4], cpu_efficiency=0.05, ram_efficiency=0.05)

    assert rightsizing.suggestions() == []

    week(WEEK[4:5], cpu_efficiency=0.05, ram_efficiency=0.05)  # 5 of 7 days
    assert len(rightsizing.suggestions()) == 1


def test_days_before_the_window_do_not_count(repo):
    week(cpu_efficiency=0.10, ram_efficiency=0.10)
    endpoint_day(WEEK[0] - timedelta(days=1), cpu_efficiency=0.9, ram_efficiency=0.9)

    assert len(rightsizing.suggestions()) == 1


def test_usage_and_request_averages_stand_in_for_missing_efficiencies(repo):
    week(cpu_efficiency=None, ram_efficiency=None, cpu_request=0.2, cpu_usage=0.02, ram_request=256.0 * MIB,
         ram_usage=200.0 * MIB)

    [found] = rightsizing.suggestions()

    assert [r.resource for r in found.resources] == ["cpu"]  # memory runs at 78 %
    assert found.resources[0].peak_percent == Decimal("10.0")


def test_the_saving_counts_the_replicas_and_the_busiest_day_to_the_cent(repo):
    push_to_main(repo, {MANIFEST: yaml.safe_dump({
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "fraud-scorer", "namespace": "default",
                     "labels": {"owner": "fraud-detection", "cost-center": "cc-fraud"}},
        "spec": {"predictor": {"minReplicas": 2, "maxReplicas": 4, "model": {
            "modelFormat": {"name": "sklearn"}, "storageUri": "gs://m/model",
            "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}}}},
    })}, "Bigger fraud-scorer")
    for day, cpu, ram in zip(WEEK, (0.10, 0.12, 0.15, 0.20, 0.10, 0.11, 0.13), (0.2, 0.25, 0.1, 0.1, 0.1, 0.1, 0.1),
                             strict=True):
        endpoint_day(day, cpu_efficiency=cpu, ram_efficiency=ram)

    [found] = rightsizing.suggestions()

    # CPU: 2 × 0.20 × 1.3 = 0.52 → 550m. Memory: 4Gi × 0.25 × 1.3 = 1331.2Mi → 1408Mi (1.375Gi).
    assert [(r.resource, r.suggested_text) for r in found.resources] == [("cpu", "550m"), ("memory", "1.375Gi")]
    # (2 × 0.031611 + 4 × 0.004237) × 2 × 730 = 117.0482 → $117.05 now;
    # (0.55 × 0.031611 + 1.375 × 0.004237) × 2 × 730 = 33.8894105 → $33.89 suggested: $83.16 saved.
    assert (found.replicas, found.monthly_saving) == (2, Decimal("83.16"))
    assert (found.form_values["minReplicas"], found.form_values["maxReplicas"]) == (2, 4)


def test_an_endpoint_on_two_clusters_is_judged_on_each(repo):
    week(cpu_efficiency=0.10, ram_efficiency=0.10)
    week(cpu_efficiency=0.90, ram_efficiency=0.90, on_cluster=cluster("eu-west"))

    assert [found.cluster for found in rightsizing.suggestions()] == ["default"]


# --- the list page -----------------------------------------------------------------------------------------


def test_everyone_sees_the_list_and_only_owners_and_admins_get_the_button(repo, client, outsider, dana, priya):
    week(cpu_efficiency=0.10, ram_efficiency=0.10)
    week(cpu_efficiency=0.10, ram_efficiency=0.10, name="search-ranker", owner="search-ranking",
         cost_center="cc-search")

    client.force_login(outsider)
    text = text_of(client.get(PAGE).content.decode())
    assert "2 endpoints: about $2.68 a month to save." in text
    assert "fraud-scorer default on default · 1 replica fraud-detection cc-fraud CPU : request 100m → 50m per replica" in text
    assert "Open a pull request" not in text
    assert "Flagged when CPU or memory use stays under 30 % of the request on every day from 14 Nov to 20 Nov" in text

    client.force_login(dana)
    html = client.get(PAGE).content.decode()
    assert html.count("Open a pull request</button>") == 1  # her team's, not search-ranking's

    client.force_login(priya)
    assert client.get(PAGE).content.decode().count("Open a pull request</button>") == 2


@pytest.mark.parametrize("query", [{"owner": "fraud-detection"}, {"cost_center": "cc-fraud"}])
def test_the_list_filters_by_owner_and_cost_centre(repo, client, outsider, query):
    week(cpu_efficiency=0.10, ram_efficiency=0.10)
    week(cpu_efficiency=0.10, ram_efficiency=0.10, name="search-ranker", owner="search-ranking",
         cost_center="cc-search")
    client.force_login(outsider)

    text = text_of(client.get(PAGE, query).content.decode())

    assert "1 endpoint (filtered)" in text and "fraud-scorer" in text and "search-ranker default" not in text


def test_the_list_has_a_constant_number_of_queries(repo, client, priya, django_assert_max_num_queries):
    names = ["fraud-scorer", "search-ranker", "demo-iris-2"]
    for name in names:
        week(cpu_efficiency=0.10, ram_efficiency=0.10, name=name)
    client.force_login(priya)
    client.get(PAGE)  # the snapshot's manifests, parsed once per commit

    with django_assert_max_num_queries(10):
        response = client.get(PAGE)

    assert text_of(response.content.decode()).count("Open a pull request") == 3


def test_nothing_flagged_says_why(repo, client, outsider):
    client.force_login(outsider)

    assert "No endpoint is flagged: each one uses at least 30 % of what it asks for" in text_of(client.get(PAGE).content.decode())


# --- the panel and its button ------------------------------------------------------------------------------


def hidden_values(html: str) -> dict:
    form = re.search(r'<form method="post" action="([^"]+)" class="inline-form rightsizing-open">(.*?)</form>', html, re.S)
    assert form, "no right-sizing button"
    return form.group(1), dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(2)))


def test_the_endpoint_page_shows_the_suggestion_to_everyone_and_the_button_to_owners(repo, client, outsider, dana):
    week(cpu_efficiency=0.10, ram_efficiency=0.10)

    client.force_login(outsider)
    text = text_of(client.get(ENDPOINT_PAGE).content.decode())
    assert "Right-sizing All suggestions fraud-scorer asks for far more than it uses: save about $1.34 a month" in text
    assert "Members of fraud-detection and platform admins can open the pull request." in text

    client.force_login(dana)
    action, values = hidden_values(client.get(ENDPOINT_PAGE).content.decode())
    assert action == reverse("deployments:endpoint_change", args=["default", "component", "fraud-scorer", "resources"])
    assert values["cpuRequest"] == "50m" and values["action"] == "preview"


def test_an_endpoint_that_is_not_flagged_has_no_panel(repo, client, dana):
    week(cpu_efficiency=0.50, ram_efficiency=0.50)
    client.force_login(dana)

    assert "Right-sizing" not in text_of(client.get(ENDPOINT_PAGE).content.decode())


def test_the_button_opens_a_change_resources_pull_request_with_the_suggestion(repo, client, dana):
    week(cpu_efficiency=0.10, ram_efficiency=0.10)
    client.force_login(dana)
    action, values = hidden_values(client.get(ENDPOINT_PAGE).content.decode())

    review = client.post(action, values)

    assert review.status_code == 200
    html = review.content.decode()
    assert 'value="50m"' in html and 'value="64Mi"' in html  # the form, filled in
    assert "About $1.35 per month (was $2.69, −$1.34)" in text_of(html)  # the preview of the saving
    started = client.post(action, {**values, "action": "create"})
    assert started.status_code == 302
    task = Task.objects.get()
    assert runner.run(task.pk) == TaskStatus.COMPLETED, messages(task)
    pull_request = PullRequest.objects.get(task=task.uuid)
    assert pull_request.title == "Change resources of fraud-scorer"
    resources = yaml.safe_load(show(repo, pull_request.branch, MANIFEST))["spec"]["predictor"]["model"]["resources"]
    assert resources == {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}


def test_an_outsider_cannot_use_the_button_even_by_posting_it(repo, client, outsider, dana):
    week(cpu_efficiency=0.10, ram_efficiency=0.10)
    client.force_login(dana)
    action, values = hidden_values(client.get(ENDPOINT_PAGE).content.decode())

    client.force_login(outsider)

    assert client.post(action, {**values, "action": "create"}).status_code == 403
    assert not Task.objects.exists()

"""ResourceQuota and LimitRange simulation on the demo repository (four InferenceServices in
`default`, quota default-namespace-quota: 5 InferenceServices, requests.cpu 4; LimitRange
default-namespace-limits: max 2 CPUs per container, min 32Mi)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.guardrails import quota
from deployments.guardrails.checks import DirectorySource, evaluate_change
from deployments.models import Cluster, QuotaUsage
from portal.testing import ROOT

QUOTA = "ResourceQuota/default-namespace-quota"
LIMITS = "LimitRange/default-namespace-limits"
COUNT = "count/inferenceservices.serving.kserve.io"


@pytest.fixture
def demo():
    return DirectorySource(ROOT / "examples" / "gitops")


def isvc(name: str, cpu: str = "500m", memory: str = "1Gi", replicas: int = 1) -> bytes:
    return f"""apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
  namespace: default
  labels: {{owner: fraud-detection, cost-center: cc-fraud}}
spec:
  predictor:
    minReplicas: {replicas}
    model:
      modelFormat: {{name: sklearn}}
      storageUri: gs://models/{name}
      resources:
        requests: {{cpu: "{cpu}", memory: {memory}}}
        limits: {{cpu: "{cpu}", memory: {memory}}}
""".encode()


def row(report, policy: str, rule: str, name: str):
    [found] = [r for r in report.rows if (r.policy, r.rule, r.name) == (policy, rule, name)]
    return found


def test_a_fifth_inference_service_fits(demo):
    report = evaluate_change({"apps/churn/inference-service.yaml": isvc("churn")}, source=demo)
    counted = row(report, QUOTA, COUNT, "churn")
    assert counted.result == "pass"
    assert counted.message.startswith(
        "5 InferenceServices of 5 allowed by the quota default-namespace-quota"
    )
    assert "4 in use, estimated from the repository, + 1 from this change" in counted.message
    assert not report.failed


def test_a_sixth_inference_service_is_denied_with_the_quota_name_and_numbers(demo):
    report = evaluate_change(
        {
            "apps/churn/inference-service.yaml": isvc("churn"),
            "apps/upsell/inference-service.yaml": isvc("upsell"),
        },
        source=demo,
    )
    counted = row(report, QUOTA, COUNT, "upsell")
    assert counted.result == "fail"
    assert counted.message == (
        "6 InferenceServices would exceed the quota default-namespace-quota of 5 "
        "(count/inferenceservices.serving.kserve.io): 4 in use, estimated from the repository, "
        "+ 2 from this change"
    )
    assert counted.file == "apps/upsell/inference-service.yaml"
    assert report.failed


def test_twenty_cpus_are_refused_by_the_quota_and_the_limit_range_with_the_excess(demo):
    report = evaluate_change(
        {"apps/big/inference-service.yaml": isvc("big", cpu="20")}, source=demo
    )
    requests = row(report, QUOTA, "requests.cpu", "big")
    assert requests.result == "fail"
    # four demo endpoints at the LimitRange's defaultRequest of 100m each, plus 20
    assert requests.message.startswith(
        "requests.cpu would total 20.4, over the quota default-namespace-quota of 4 by 16.4"
    )
    assert requests.path == "spec.predictor.model.resources.requests.cpu"
    limit = row(report, LIMITS, "max.cpu", "big")
    assert limit.result == "fail"
    assert (
        "container kserve-container: cpu limit 20 is over the maximum of 2 by 18" in limit.message
    )
    assert limit.path == "spec.predictor.model.resources.limits.cpu"


def test_a_changed_file_replaces_its_old_version(demo):
    # fraud-scorer today: 100m (LimitRange default). 400m - 100m + 2 × 1825m = 3.95 fits in 4;
    # counted as a fifth endpoint it would be 4.05.
    report = evaluate_change(
        {"apps/fraud-scorer/inference-service.yaml": isvc("fraud-scorer", cpu="1825m", replicas=2)},
        source=demo,
    )
    cpu = row(report, QUOTA, "requests.cpu", "fraud-scorer")
    assert cpu.result == "pass"
    assert cpu.message.startswith("3.95 of 4 allowed by the quota default-namespace-quota")
    assert "400m in use, estimated from the repository, + 3.55 from this change" in cpu.message
    assert row(report, QUOTA, COUNT, "fraud-scorer").message.startswith("4 InferenceServices of 5")
    assert row(report, QUOTA, "pods", "fraud-scorer").message.startswith("5 pods of 20")


def test_deleted_files_drop_out_of_the_sum(demo):
    files = {
        "apps/fraud-scorer/inference-service.yaml": None,
        "apps/search-ranker/inference-service.yaml": None,
        **{f"apps/m{i}/inference-service.yaml": isvc(f"m{i}") for i in range(3)},
    }
    report = evaluate_change(files, source=demo)
    counted = row(report, QUOTA, COUNT, "m2")
    assert counted.result == "pass"
    assert counted.message.startswith("5 InferenceServices of 5")
    assert "4 in use, estimated from the repository, + 1 from this change" in counted.message


@pytest.mark.django_db
def test_observed_cluster_usage_replaces_the_estimate_and_says_how_old_it_is(demo):
    cluster = Cluster.objects.get(name="default")
    QuotaUsage.objects.create(
        cluster=cluster,
        namespace="default",
        quota_name="default-namespace-quota",
        used={COUNT: "5", "requests.cpu": "3800m", "pods": "5"},
        hard={COUNT: "5", "requests.cpu": "4", "pods": "20"},
        observed_at=timezone.now() - timedelta(minutes=3),
    )
    report = evaluate_change(
        {"apps/churn/inference-service.yaml": isvc("churn")}, source=demo, cluster=cluster
    )
    counted = row(report, QUOTA, COUNT, "churn")
    assert counted.result == "fail"
    assert counted.message.startswith(
        "6 InferenceServices would exceed the quota default-namespace-quota of 5"
    )
    assert (
        "5 in use, cluster usage observed 3\xa0minutes ago, + 1 from this change" in counted.message
    )
    assert row(report, QUOTA, "requests.cpu", "churn").message.startswith(
        "requests.cpu would total 4.3, over the quota default-namespace-quota of 4 by 300m"
    )


def test_limit_range_minimum_names_the_container_and_the_shortfall(demo):
    report = evaluate_change(
        {"apps/tiny/inference-service.yaml": isvc("tiny", memory="16Mi")}, source=demo
    )
    minimum = row(report, LIMITS, "min.memory", "tiny")
    assert minimum.result == "fail"
    assert "memory request 16Mi is under the minimum of 32Mi by 16Mi" in minimum.message
    assert row(report, LIMITS, "max.memory", "tiny").result == "pass"


def test_without_defaults_a_quota_on_cpu_refuses_a_container_without_a_request():
    change = quota.NamespaceChange(
        namespace="default",
        base={},
        change={
            "apps/x.yaml": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "x"},
                    "spec": {"template": {"spec": {"containers": [{"name": "app"}]}}},
                }
            ]
        },
        quotas=[
            {
                "kind": "ResourceQuota",
                "metadata": {"name": "q"},
                "spec": {"hard": {"requests.cpu": "2"}},
            }
        ],
    )
    [refused] = quota.check_quotas(change)
    assert (refused.policy, refused.rule, refused.result) == (
        "ResourceQuota/q",
        "requests.cpu",
        "fail",
    )
    assert (
        "container app (spec.template.spec.containers[0]) sets no requests.cpu" in refused.message
    )


def test_a_bad_quantity_in_the_change_is_an_error_not_a_zero(demo):
    report = evaluate_change(
        {"apps/bad/inference-service.yaml": isvc("bad", cpu="lots")}, source=demo
    )
    errors = [r for r in report.rows if r.result == "error"]
    assert {r.policy for r in errors} == {QUOTA, LIMITS}
    assert all(
        "spec.predictor.model.resources.requests.cpu: 'lots' is not a Kubernetes quantity"
        in r.message
        for r in errors
    )

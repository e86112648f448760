"""Resource arithmetic per workload: what each kind asks for, with LimitRange defaults."""

from __future__ import annotations

from decimal import Decimal

import pytest

from deployments.resources import NotAWorkload, QuantityError, format_quantity, workload_resources
from portal.testing import FIXTURES
from portal.yamlsafe import load

NEUROSCALE = FIXTURES / "neuroscale"
GI, MI = 2**30, 2**20


def reference(path: str) -> dict:
    return load((NEUROSCALE / path).read_bytes())


@pytest.fixture
def limit_range() -> dict:
    return reference("infrastructure/namespaces/default/limit-range.yaml")


def isvc(predictor: dict) -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "fraud", "namespace": "team-a"},
        "spec": {"predictor": predictor},
    }


def test_inference_service_counts_the_model_container_times_min_replicas():
    workload = workload_resources(
        isvc(
            {
                "minReplicas": 2,
                "model": {
                    "modelFormat": {"name": "sklearn"},
                    "resources": {
                        "requests": {"cpu": "500m", "memory": "1Gi"},
                        "limits": {"cpu": 1, "memory": "1536Mi"},
                    },
                },
            }
        )
    )
    assert (workload.kind, workload.namespace, workload.name, workload.replicas) == (
        "InferenceService",
        "team-a",
        "fraud",
        2,
    )
    [container] = workload.containers
    assert container.name == "kserve-container"
    assert container.requests == {"cpu": Decimal("0.5"), "memory": Decimal(GI)}
    assert workload.requests == {"cpu": Decimal(1), "memory": Decimal(2 * GI)}
    assert workload.limits == {"cpu": Decimal(2), "memory": Decimal(3 * GI)}


def test_reference_inference_service_takes_the_limit_range_defaults(limit_range):
    workload = workload_resources(
        reference("apps/demo-iris-2/inference-service.yaml"), [limit_range]
    )
    assert workload.replicas == 1
    [container] = workload.containers
    # defaultRequest 100m / 128Mi, default 500m / 512Mi in the reference LimitRange
    assert container.requests == {"cpu": Decimal("0.1"), "memory": Decimal(128 * MI)}
    assert container.limits == {"cpu": Decimal("0.5"), "memory": Decimal(512 * MI)}
    assert container.defaulted == {"requests.cpu", "requests.memory", "limits.cpu", "limits.memory"}


def test_a_limit_without_a_request_is_also_the_request(limit_range):
    workload = workload_resources(
        isvc({"model": {"resources": {"limits": {"cpu": "2", "memory": "3Gi"}}}}), [limit_range]
    )
    [container] = workload.containers
    assert container.requests == {"cpu": Decimal(2), "memory": Decimal(3 * GI)}
    assert container.defaulted == {"requests.cpu", "requests.memory"}


def test_scale_to_zero_counts_no_replica_and_says_so():
    workload = workload_resources(
        isvc({"minReplicas": 0, "model": {"resources": {"requests": {"cpu": "1"}}}})
    )
    assert workload.replicas == 0 and workload.scale_to_zero
    assert "scales to zero" in workload.note
    assert workload.requests == {"cpu": Decimal(0)}
    assert workload.per_pod("requests") == {"cpu": Decimal(1)}


def test_custom_predictor_containers_and_gpus():
    workload = workload_resources(
        isvc(
            {
                "containers": [
                    {"name": "server", "resources": {"limits": {"nvidia.com/gpu": 1, "cpu": "4"}}},
                    {"name": "sidecar", "resources": {"requests": {"cpu": "250m"}}},
                ]
            }
        )
    )
    assert [c.name for c in workload.containers] == ["server", "sidecar"]
    assert workload.requests == {"gpu": Decimal(1), "cpu": Decimal("4.25")}
    assert workload.containers[0].value_path("limits", "gpu") == (
        "spec.predictor.containers[0].resources.limits.nvidia.com/gpu"
    )


def test_deployment_counts_every_container_of_its_pod_template():
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api"},
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}},
                        },
                        {
                            "name": "proxy",
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                        },
                    ]
                }
            },
        },
    }
    workload = workload_resources(deployment)
    assert workload.namespace == "default" and workload.replicas == 3
    assert workload.requests == {"cpu": Decimal("0.75"), "memory": Decimal(960 * MI)}
    del deployment["spec"]["replicas"]
    assert workload_resources(deployment).replicas == 1


def test_a_quantity_that_does_not_parse_is_an_error_naming_its_path():
    deployment = {
        "kind": "Deployment",
        "spec": {
            "template": {"spec": {"containers": [{"resources": {"requests": {"cpu": "two"}}}]}}
        },
    }
    with pytest.raises(QuantityError) as caught:
        workload_resources(deployment)
    assert caught.value.path == "spec.template.spec.containers[0].resources.requests.cpu"
    assert "'two' is not a Kubernetes quantity" in str(caught.value)
    with pytest.raises(QuantityError, match="spec.predictor.minReplicas"):
        workload_resources(isvc({"minReplicas": "2"}))


def test_other_kinds_are_not_workloads():
    with pytest.raises(NotAWorkload):
        workload_resources({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}})


@pytest.mark.parametrize(
    ("resource", "value", "text"),
    [
        ("cpu", Decimal("0.4"), "400m"),
        ("cpu", Decimal("20.4"), "20.4"),
        ("memory", Decimal(8 * GI), "8Gi"),
        ("memory", Decimal(640 * MI), "640Mi"),
        ("memory", Decimal(3 * GI // 2), "1.5Gi"),
    ],
)
def test_quantities_read_as_people_write_them(resource, value, text):
    assert format_quantity(resource, value) == text

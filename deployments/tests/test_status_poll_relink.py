"""An entity that enters the catalog after its workloads were seen is linked by the next poll,
and the workloads' earlier events join its timeline."""

from __future__ import annotations

import pytest

from deployments import status
from deployments.live import live_status
from deployments.models import Cluster
from deployments.tests.test_live_status import endpoint
from deployments.tests.test_status_poll import application, inference_service
from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)

pytestmark = pytest.mark.django_db


def test_a_later_entity_gets_the_earlier_events(sandbox):
    cluster = Cluster.default()
    sandbox.store.put(application("card-fraud"))
    sandbox.store.put(inference_service("card-fraud"))
    status.poll(cluster, sandbox.api_client)
    entity = endpoint("card-fraud")

    result = status.poll(cluster, sandbox.api_client)

    assert result.written == 2 and result.events == 0
    labels = [stage.label for stage in live_status(entity).timeline]
    assert labels == ["Application created", "Synced", "Healthy", "InferenceService created", "Ready"]

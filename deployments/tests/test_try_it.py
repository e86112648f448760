""""Try it" on a Ready model endpoint: V1 and V2 requests to the real KServe model server, the
failures a developer meets in words (timeout, connection refused, not JSON, 5xx, oversize), bad
payloads named with their fix, who may send and save, and the first response timed once."""

from __future__ import annotations

import json
import socket
import time

import pytest
from django.test import Client
from werkzeug import Response

from deployments import status, tryit
from deployments.models import (
    Cluster,
    EndpointExample,
    StatusEvent,
    StatusEventKind,
    WorkloadKind,
    WorkloadStatus,
)
from deployments.tasks import probe_first_responses
from deployments.tests.test_live_status import endpoint
from portal.models import AuditEvent
from sandbox.controllers import Controllers
from sandbox.testing import model_server_fixture, sandbox_fixture  # noqa: F401  (provide `model_server`, `sandbox`)

pytestmark = pytest.mark.django_db

V1_BODY = '{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}'


def ready(entity, address: str, name: str | None = None) -> WorkloadStatus:
    """The poller's row for the entity's Ready InferenceService, reachable at `address`."""
    workload = WorkloadStatus.objects.create(
        # transactional tests flush the data migration's default cluster; make it again
        cluster=Cluster.objects.get_or_create(name=Cluster.DEFAULT_NAME, defaults={"is_default": True})[0],
        kind=WorkloadKind.INFERENCE_SERVICE, namespace="default",
        name=name or entity.name, entity=entity, ready="True", url=f"http://{entity.name}.default.example.com",
        address=address, latest_ready_revision=f"{entity.name}-predictor-00001",
    )
    StatusEvent.objects.create(workload=workload, entity=entity, kind=StatusEventKind.READY, to_value="True",
                               message=workload.url)
    return workload


def url_of(entity) -> str:
    return f"/deployments/endpoints/{entity.uid}/try"


def send(client, entity, payload=V1_BODY, protocol="v1", action="send", **extra):
    """POST the form; extra fields go in the body, HTTP_* entries are headers."""
    headers = {key: value for key, value in extra.items() if key.startswith("HTTP_")}
    fields = {key: value for key, value in extra.items() if key not in headers}
    return client.post(url_of(entity), {"protocol": protocol, "payload": payload, "action": action, **fields}, **headers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def card_fraud():
    return endpoint("card-fraud")


# --- Against the real model server -------------------------------------------------------------------


def test_v1_predict_returns_the_iris_predictions(client, dana, card_fraud, model_server):
    ready(card_fraud, model_server.url)
    client.force_login(dana)

    response = send(client, card_fraud)

    text = response.content.decode()
    assert response.status_code == 200
    assert "HTTP 200 OK" in text
    assert "&quot;predictions&quot;: [1, 1]" in text
    assert f'id="try-it-requested">POST {model_server.url}/v1/models/card-fraud:predict<' in text
    latency = text.split('id="try-it-latency">')[1].split(" ms")[0]
    assert 0 <= int(latency) <= 10_000  # within PORTAL_TRY_IT_TIMEOUT (10 s)


def test_v2_infer_returns_the_same_classes_as_tensors(client, dana, card_fraud, model_server):
    ready(card_fraud, model_server.url)
    client.force_login(dana)

    response = send(client, card_fraud, payload=tryit.default_payload("v2"), protocol="v2", HTTP_HX_REQUEST="true")

    text = response.content.decode()
    assert response.status_code == 200
    assert text.lstrip().startswith('<section class="panel try-it" id="try-it"'), "htmx gets the panel alone"
    assert f'id="try-it-requested">POST {model_server.url}/v2/models/card-fraud/infer<' in text
    answer = json.loads(text.split('<code>')[-1].split("</code>")[0].replace("&quot;", '"'))
    assert answer["model_name"] == "card-fraud"
    assert answer["outputs"][0]["data"] == [1, 1]


def test_the_request_goes_to_the_stored_address_under_the_inference_service_name(client, dana, model_server):
    # The folder and the InferenceService need not share a name (apps/ai-model-alpha holds sklearn-iris).
    entity = endpoint("ai-model-alpha")
    ready(entity, model_server.url + "/", name="sklearn-iris")
    client.force_login(dana)

    text = send(client, entity, url="http://169.254.169.254/latest", model="other").content.decode()

    assert f'id="try-it-requested">POST {model_server.url}/v1/models/sklearn-iris:predict<' in text
    assert "169.254.169.254" not in text
    assert "&quot;predictions&quot;: [1, 1]" in text


# --- Failures in words -------------------------------------------------------------------------------


def test_a_model_server_slower_than_the_timeout(client, dana, card_fraud, httpserver, settings):
    settings.PORTAL_TRY_IT_TIMEOUT = 1

    def slow(request):
        time.sleep(1.6)
        return Response('{"predictions": [1]}', content_type="application/json")

    httpserver.expect_request("/v1/models/card-fraud:predict", method="POST").respond_with_handler(slow)
    ready(card_fraud, httpserver.url_for("/").rstrip("/"))
    client.force_login(dana)

    started = time.monotonic()
    text = send(client, card_fraud).content.decode()

    assert time.monotonic() - started < 1.5
    assert "Timed out after 1 s (PORTAL_TRY_IT_TIMEOUT)" in text
    assert "may still be loading the model" in text


def test_an_oversized_response_is_cut_and_says_so(client, dana, card_fraud, httpserver, settings):
    settings.PORTAL_TRY_IT_MAX_BYTES = 1024
    big = json.dumps({"predictions": list(range(3000))})
    httpserver.expect_request("/v1/models/card-fraud:predict").respond_with_data(big, content_type="application/json")
    ready(card_fraud, httpserver.url_for("/").rstrip("/"))
    client.force_login(dana)

    text = send(client, card_fraud, payload='{"instances": [[1, 2, 3, 4]]}').content.decode()

    assert "The response is larger than 1 KiB (PORTAL_TRY_IT_MAX_BYTES): only the first 1 KiB is shown." in text
    shown = text.split('id="try-it-response"')[1].split("<code>")[1].split("</code>")[0]
    assert len(shown.replace("&quot;", '"')) == 1024
    assert "HTTP 200" in text


def test_oversize_is_read_as_a_stream_not_whole(httpserver):
    big = b"x" * (5 * 1024 * 1024)
    httpserver.expect_request("/big").respond_with_data(big)

    outcome = tryit.send(httpserver.url_for("/big"), None, timeout=5, max_bytes=1024)

    assert outcome.truncated and len(outcome.body) == 1024
    assert outcome.summary.startswith("HTTP 200 in ")


def test_connection_refused_in_words(client, dana, card_fraud):
    ready(card_fraud, f"http://127.0.0.1:{free_port()}")
    client.force_login(dana)

    text = send(client, card_fraud).content.decode()

    assert "Connection refused by 127.0.0.1:" in text
    assert "nothing listens there; check the InferenceService&#x27;s pods." in text


def test_an_error_page_that_is_not_json(client, dana, card_fraud, httpserver):
    httpserver.expect_request("/v1/models/card-fraud:predict").respond_with_data(
        "<html><body>upstream connect error</body></html>", status=503, content_type="text/html")
    ready(card_fraud, httpserver.url_for("/").rstrip("/"))
    client.force_login(dana)

    text = send(client, card_fraud).content.decode()

    assert "HTTP 503 Service Unavailable" in text
    assert "The model server answered 503 Service Unavailable. The response is not JSON (text/html)." in text
    assert "upstream connect error" in text


def test_a_4xx_shows_the_model_servers_explanation(client, dana, card_fraud, model_server):
    ready(card_fraud, model_server.url)
    client.force_login(dana)

    text = send(client, card_fraud, payload='{"instances": [[1, 2]]}').content.decode()

    assert "HTTP 400 Bad Request" in text
    assert "The model server answered 400 Bad Request." in text
    assert "4 numbers" in text  # the model server's own message, shown as it came


# --- The payload -------------------------------------------------------------------------------------


def test_a_payload_that_is_not_json_is_named_and_kept(client, dana, card_fraud, httpserver):
    ready(card_fraud, httpserver.url_for("/").rstrip("/"))
    client.force_login(dana)

    response = send(client, card_fraud, payload='{"instances": [[1, 2, 3, 4]')

    text = response.content.decode()
    assert response.status_code == 400
    assert "Payload: not valid JSON (Expecting &#x27;,&#x27; delimiter at line 1, column 28)" in text
    assert "check the quotes, commas and brackets there." in text
    assert '{&quot;instances&quot;: [[1, 2, 3, 4]</textarea>' in text
    assert 'aria-invalid="true" aria-describedby="try-it-error"' in text
    assert len(httpserver.log) == 0, "nothing was sent"


def test_a_payload_over_the_cap_or_not_an_object(client, dana, card_fraud, httpserver, settings):
    settings.PORTAL_TRY_IT_MAX_BYTES = 1024
    ready(card_fraud, httpserver.url_for("/").rstrip("/"))
    client.force_login(dana)

    too_big = send(client, card_fraud, payload=json.dumps({"instances": [[1.0, 2.0, 3.0, 4.0]] * 100}))
    a_list = send(client, card_fraud, payload="[[1, 2, 3, 4]]", protocol="v2")
    empty = send(client, card_fraud, payload="  ")
    odd = send(client, card_fraud, protocol="v3")

    assert too_big.status_code == 400
    assert "is more than the 1 KiB a request may carry (PORTAL_TRY_IT_MAX_BYTES); send fewer rows." in too_big.content.decode()
    assert "Payload: must be a JSON object, e.g. {&quot;inputs&quot;: [...]}." in a_list.content.decode()
    assert "Payload: enter a JSON request body" in empty.content.decode()
    assert "Protocol: choose KServe V1 (predict) or Open Inference Protocol V2 (infer)." in odd.content.decode()
    assert len(httpserver.log) == 0


def test_load_the_example_switches_the_body_to_the_protocol(client, dana, card_fraud, httpserver):
    ready(card_fraud, httpserver.url_for("/").rstrip("/"))
    client.force_login(dana)

    text = send(client, card_fraud, payload="", protocol="v2", action="example").content.decode()

    assert "&quot;datatype&quot;: &quot;FP32&quot;" in text
    assert '<option value="v2" selected>' in text
    assert len(httpserver.log) == 0


# --- Who may send and save ----------------------------------------------------------------------------


def test_the_owning_groups_member_saves_the_example_and_the_panel_starts_from_it(client, dana, card_fraud, httpserver):
    ready(card_fraud, httpserver.url_for("/").rstrip("/"))
    client.force_login(dana)
    body = tryit.default_payload("v2")

    text = send(client, card_fraud, payload=body, protocol="v2", action="save").content.decode()

    assert "Saved as card-fraud's example" in text
    example = EndpointExample.objects.get(entity_ref="component:default/card-fraud")
    assert (example.protocol, example.payload, example.updated_by) == ("v2", body, "dana")
    event = AuditEvent.objects.get(action="endpoint.example_saved")
    assert event.target == "component:default/card-fraud" and event.details == {"protocol": "v2", "size": len(body)}
    panel = client.get(url_of(card_fraud), HTTP_HX_REQUEST="true").content.decode()
    assert '<option value="v2" selected>' in panel and "&quot;datatype&quot;: &quot;FP32&quot;" in panel
    assert len(httpserver.log) == 0, "saving sends nothing"


def test_an_admin_may_send_too(client, priya, card_fraud, model_server):
    ready(card_fraud, model_server.url)
    client.force_login(priya)

    assert "HTTP 200 OK" in send(client, card_fraud).content.decode()
    event = AuditEvent.objects.get(action="endpoint.tried")
    assert event.actor_name == "priya" and event.details["status"] == 200
    assert "payload" not in event.details and V1_BODY not in json.dumps(event.details)


def test_an_outsider_sees_the_example_read_only_and_cannot_send_or_save(client, outsider, card_fraud, httpserver):
    ready(card_fraud, httpserver.url_for("/").rstrip("/"))
    EndpointExample.objects.create(entity_ref="component:default/card-fraud", protocol="v1", payload=V1_BODY,
                                   updated_by="dana")
    client.force_login(outsider)

    panel = client.get(url_of(card_fraud), HTTP_HX_REQUEST="true").content.decode()
    sent = send(client, card_fraud)
    saved = send(client, card_fraud, payload='{"instances": []}', action="save")

    assert "Only members of fraud-detection and platform admins can send requests to card-fraud" in panel
    assert "<form" not in panel and "{&quot;instances&quot;: [[6.8" in panel
    assert sent.status_code == 403 and saved.status_code == 403
    assert EndpointExample.objects.get().payload == V1_BODY
    assert len(httpserver.log) == 0


def test_login_and_csrf_are_required(dana, card_fraud, httpserver):
    ready(card_fraud, httpserver.url_for("/").rstrip("/"))
    anonymous = Client()
    assert anonymous.get(url_of(card_fraud)).status_code == 302
    assert send(anonymous, card_fraud).status_code == 302

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(dana)
    assert send(strict, card_fraud).status_code == 403
    assert len(httpserver.log) == 0


# --- The panel on the entity page ---------------------------------------------------------------------


def test_the_entity_page_loads_the_panel_without_a_query_of_its_own(client, dana, card_fraud, model_server,
                                                                    django_assert_max_num_queries):
    ready(card_fraud, model_server.url)
    client.force_login(dana)

    page = client.get(card_fraud.url_path()).content.decode()
    assert f'<div id="try-it" hx-get="{url_of(card_fraud)}" hx-trigger="load"' in page
    assert page.index('id="live-status"') < page.index('id="try-it"') < page.index("Pull requests")
    # session, user, memberships, entity, InferenceService, example
    with django_assert_max_num_queries(6):
        panel = client.get(url_of(card_fraud), HTTP_HX_REQUEST="true").content.decode()
    assert 'id="try-it-send"' in panel and 'name="csrfmiddlewaretoken"' in panel
    assert "&quot;instances&quot;: [\n    [6.8, 2.8, 4.8, 1.4]" in panel


def test_an_endpoint_not_ready_keeps_the_panel_hidden_until_it_is(client, dana, card_fraud):
    client.force_login(dana)

    fragment = client.get(url_of(card_fraud), HTTP_HX_REQUEST="true").content.decode()
    page = client.get(url_of(card_fraud)).content.decode()
    sent = send(client, card_fraud)

    assert fragment.startswith('<div id="try-it" hidden') and 'hx-trigger="every 10s"' in fragment
    assert "card-fraud is not Ready yet" in page
    assert sent.status_code == 409
    assert "card-fraud is not Ready (or has no URL yet): there is nothing to send the request to." in sent.content.decode()


def test_a_service_component_has_no_try_it(client, dana):
    from catalog import store as catalog

    catalog.upsert({"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "billing"},
                    "spec": {"type": "service", "owner": "fraud-detection", "lifecycle": "production"}})
    client.force_login(dana)
    from catalog.models import Entity

    entity = Entity.objects.get(name="billing")
    assert 'id="try-it"' not in client.get(entity.url_path()).content.decode()
    assert client.get(url_of(entity)).status_code == 404


# --- The first response -------------------------------------------------------------------------------


def test_the_first_response_is_timed_once_after_the_first_ready(sandbox, card_fraud, model_server, client, dana):
    cluster = Cluster.default()
    sandbox.store.put({
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "card-fraud", "namespace": "default"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                         "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}},
    })
    Controllers(sandbox.store, model_server_url=model_server.url).settle()
    status.poll(cluster, sandbox.api_client)
    assert WorkloadStatus.objects.get(name="card-fraud").address == model_server.url

    assert probe_first_responses() == "1 first response recorded"
    assert probe_first_responses() == "0 first responses recorded"
    status.poll(cluster, sandbox.api_client)
    assert probe_first_responses() == "0 first responses recorded"

    event = StatusEvent.objects.get(kind=StatusEventKind.FIRST_RESPONSE)
    assert event.entity == card_fraud and event.to_value == "200"
    assert event.message.startswith("First response in ") and event.message.endswith(" ms (HTTP 200) to a health probe")
    client.force_login(dana)
    timeline = client.get(f"/deployments/endpoints/{card_fraud.uid}/status").content.decode()
    stages = [part.split("<")[0] for part in timeline.split('class="live-stage">')[1:]]
    assert stages[-1] == "First response"
    assert event.message in timeline


def test_the_first_response_sends_the_saved_example(card_fraud, httpserver):
    httpserver.expect_request("/v1/models/card-fraud:predict", method="POST", json={"instances": [[1, 2, 3, 4]]}
                              ).respond_with_json({"predictions": [0]})
    ready(card_fraud, httpserver.url_for("/").rstrip("/"))
    EndpointExample.objects.create(entity_ref="component:default/card-fraud", protocol="v1",
                                   payload='{"instances": [[1, 2, 3, 4]]}')

    assert tryit.probe_first_responses() == 1

    assert len(httpserver.log) == 1
    message = StatusEvent.objects.get(kind=StatusEventKind.FIRST_RESPONSE).message
    assert message.startswith("First response in ") and message.endswith("(HTTP 200) to the saved example")


def test_no_answer_is_recorded_once_in_words(card_fraud):
    ready(card_fraud, f"http://127.0.0.1:{free_port()}")

    assert tryit.probe_first_responses() == 1
    assert tryit.probe_first_responses() == 0

    event = StatusEvent.objects.get(kind=StatusEventKind.FIRST_RESPONSE)
    assert event.to_value == "error"
    assert event.message.startswith("No first response to a health probe: Connection refused by 127.0.0.1:")


def test_unlinked_or_long_ready_services_are_not_probed(card_fraud, httpserver):
    from datetime import timedelta

    from django.utils import timezone

    workload = ready(card_fraud, httpserver.url_for("/").rstrip("/"))
    StatusEvent.objects.filter(workload=workload).update(created_at=timezone.now() - timedelta(hours=2))
    other = ready(endpoint("churn"), httpserver.url_for("/").rstrip("/"))
    WorkloadStatus.objects.filter(pk=other.pk).update(entity=None)

    assert tryit.probe_first_responses() == 0
    assert len(httpserver.log) == 0


def test_the_status_poll_enqueues_the_probe_only_while_one_is_due(sandbox, card_fraud, settings, tmp_path,
                                                                   monkeypatch):
    from deployments.tasks import poll_status
    from deployments.tests.test_status_poll import inference_service

    settings.PORTAL_KUBECONFIG = str(sandbox.server.write_kubeconfig(tmp_path / "kubeconfig"))
    enqueued = []
    monkeypatch.setattr(probe_first_responses, "delay", lambda: enqueued.append("probe"))
    sandbox.store.put(inference_service("card-fraud", ready="Unknown"))
    poll_status()
    assert enqueued == []

    sandbox.store.put(inference_service("card-fraud"))
    poll_status()
    assert enqueued == ["probe"]

    workload = WorkloadStatus.objects.get(name="card-fraud")
    StatusEvent.objects.create(workload=workload, entity=card_fraud, kind=StatusEventKind.FIRST_RESPONSE,
                               to_value="200", message="First response in 5 ms (HTTP 200) to a health probe")
    poll_status()
    assert enqueued == ["probe"], "once recorded, never again"

"""`manage.py platform verify` against the sandbox: every check PASS on a healthy platform, and a
FAIL for each way of breaking it (the API server stopped, an InferenceService not Ready, an
Application OutOfSync, guardrails that let a bad manifest through, a missing ApplicationSet
child, an endpoint that does not answer its example), with the exit codes; the admin page."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command

from catalog import ingestion
from deployments import verify
from deployments.models import EndpointExample
from deployments.tests.test_live_status import failed_isvc
from deployments.tests.test_status_poll import application
from portal import snapshot
from portal.models import AuditEvent
from sandbox.controllers import Controllers, snapshot_source
from sandbox.testing import model_server_fixture, sandbox_fixture  # noqa: F401  (provide `model_server`, `sandbox`)

pytestmark = pytest.mark.django_db
LINE = re.compile(r"^(PASS|FAIL|SKIP)  (.+?): (.+)$")
EXAMPLE = '{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}'


@pytest.fixture
def platform(gitops_repo, sandbox, model_server, settings, tmp_path):
    """The demo repository deployed on the sandbox by its controllers, the portal pointed at it,
    and one endpoint with a saved example."""
    snapshot.refresh()
    ingestion.refresh_all()
    settings.PORTAL_KUBECONFIG = str(sandbox.server.write_kubeconfig(tmp_path / "kubeconfig"))
    settings.PORTAL_CLUSTERS = []
    controllers = Controllers(sandbox.store, snapshot_source(), model_server_url=model_server.url)
    controllers.settle()
    EndpointExample.objects.create(entity_ref="component:default/demo-iris-2", protocol="v1", payload=EXAMPLE)
    return controllers


def run(*args) -> tuple[int, list[tuple[str, str, str]]]:
    """(exit code, [(result, check, detail)]) of the command."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("platform", "verify", *args, stdout=out)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    lines = [line for line in out.getvalue().splitlines() if line]
    rows = [LINE.match(line).groups() for line in lines[:-1]]
    assert re.match(r"^\d+ passed, \d+ failed, \d+ skipped$", lines[-1])
    return code, rows


def results(rows) -> dict[str, tuple[str, str]]:
    return {check: (result, detail) for result, check, detail in rows}


def test_a_healthy_platform_passes_every_check(platform):
    code, rows = run()

    assert code == 0
    found = results(rows)
    assert [result for result, _, _ in rows] == ["PASS"] * len(rows)
    assert list(found) == [
        "cluster default reachable",
        "ArgoCD Applications on default",
        "InferenceServices on default",
        "inference component:default/demo-iris-2",
        "guardrails reject a non-compliant manifest",
        "ApplicationSet children match apps/*",
    ]
    assert found["ArgoCD Applications on default"][1] == "4 Applications, all Synced and Healthy"
    assert found["InferenceServices on default"][1] == "4 InferenceServices, all Ready"
    assert found["inference component:default/demo-iris-2"][1].startswith(
        "default/demo-iris-2 on default answered the saved V1 example: HTTP 200 in ")
    assert "require-standard-labels-inferenceservice/" in found["guardrails reject a non-compliant manifest"][1]
    assert found["ApplicationSet children match apps/*"][1].startswith("4 folders under apps/ on main at ")


def test_json_output(platform):
    from io import StringIO

    out = StringIO()
    call_command("platform", "verify", "--format", "json", stdout=out)

    document = json.loads(out.getvalue())
    assert document["ok"] is True
    assert document["summary"] == {"PASS": 6, "FAIL": 0, "SKIP": 0}
    first = document["results"][0]
    assert (first["result"], first["check"]) == ("PASS", "cluster default reachable") and set(first) == {"result", "check", "detail"}
    assert first["detail"].startswith("the API server answered a list call in ") and first["detail"].endswith(" ms")


def test_no_example_is_a_skip_not_a_failure(platform):
    EndpointExample.objects.all().delete()

    code, rows = run()

    assert code == 0
    assert ("SKIP", "inference requests", "no endpoint has a saved example (save one with Try it on its page)") in rows


def test_the_example_of_an_endpoint_no_longer_in_the_catalog_is_history(platform):
    EndpointExample.objects.create(entity_ref="component:default/decommissioned", protocol="v1", payload=EXAMPLE)

    code, rows = run()

    assert code == 0
    assert "inference component:default/decommissioned" not in results(rows)


def test_the_api_server_stopped(platform, sandbox):
    sandbox.server.stop()

    code, rows = run()

    assert code == 1
    found = results(rows)
    assert found["cluster default reachable"] == ("FAIL", "cannot reach the cluster: connection refused")
    assert found["Applications and InferenceServices on default"] == ("SKIP", "the cluster did not answer")
    assert found["inference component:default/demo-iris-2"][0] == "SKIP"
    assert found["ApplicationSet children match apps/*"] == ("SKIP", "the default cluster did not answer")
    assert found["guardrails reject a non-compliant manifest"][0] == "PASS"  # the repository still speaks


def test_an_inference_service_not_ready(platform, sandbox):
    sandbox.store.put(failed_isvc("demo-iris-2"))

    code, rows = run()

    assert code == 1
    result, detail = results(rows)["InferenceServices on default"]
    assert result == "FAIL"
    assert detail.startswith("1 of 4 InferenceServices not Ready: default/demo-iris-2: KServe cannot download the model:")
    assert results(rows)["inference component:default/demo-iris-2"] == (
        "FAIL", "default/demo-iris-2 on default is not Ready: nothing to send the example to")


def test_an_application_out_of_sync(platform, sandbox):
    sandbox.store.put(application("fraud-scorer", sync="OutOfSync"))

    code, rows = run()

    assert code == 1
    assert results(rows)["ArgoCD Applications on default"] == (
        "FAIL", "1 of 4 Applications not Synced and Healthy: fraud-scorer is OutOfSync and Healthy")


def test_an_application_with_unknown_sync_and_degraded(platform, sandbox):
    sandbox.store.put(application("fraud-scorer", sync="Unknown", health="Degraded"))

    code, rows = run()

    assert code == 1
    result, detail = results(rows)["ArgoCD Applications on default"]
    assert result == "FAIL" and "fraud-scorer is Unknown and Degraded (" in detail


def test_guardrails_that_accept_a_bad_manifest(platform, settings):
    settings.PORTAL_POLICY_PATH = "infrastructure/no-policies-here"

    code, rows = run()

    assert code == 1
    assert results(rows)["guardrails reject a non-compliant manifest"] == (
        "FAIL", "accepted: no Kyverno policy under infrastructure/no-policies-here applies to an InferenceService "
                "without owner and cost-center labels")


def test_a_missing_applicationset_child(platform, sandbox):
    applications = sandbox.store.resource_for("argoproj.io/v1alpha1", "Application")
    sandbox.store.delete(applications, "argocd", "search-ranker")

    code, rows = run()

    assert code == 1
    result, detail = results(rows)["ApplicationSet children match apps/*"]
    assert result == "FAIL"
    assert detail.startswith("no Application for apps/search-ranker (4 folders on main at ")


def test_an_application_left_over_after_its_folder_went(platform, sandbox):
    leftover = application("retired-model")
    leftover["metadata"]["labels"] = {verify.APPLICATIONSET_LABEL: "neuroscale-model-endpoints"}
    sandbox.store.put(leftover)

    code, rows = run()

    assert code == 1
    assert "Application retired-model has no folder apps/retired-model" in results(rows)["ApplicationSet children match apps/*"][1]


def test_an_endpoint_that_does_not_answer_its_example(platform, sandbox, settings):
    EndpointExample.objects.filter().update(payload='{"instances": [[1, 2]]}')

    code, rows = run()

    assert code == 1
    result, detail = results(rows)["inference component:default/demo-iris-2"]
    assert result == "FAIL"
    assert detail.startswith("default/demo-iris-2 on default: HTTP 400 in ") and "The model server answered 400 Bad Request." in detail


def test_no_cluster_configuration_at_all(db, settings):
    settings.PORTAL_CLUSTERS = ["Bad_Name=ctx"]

    found = verify.run()

    assert found[0].result == "FAIL" and found[0].check == "clusters configured"
    assert "Bad_Name" in found[0].detail


# --- The page ------------------------------------------------------------------------------------------


def test_the_page_is_for_admins_and_runs_on_post(client, dana, priya, platform):
    client.force_login(dana)
    assert client.get("/deployments/verify/").status_code == 403
    assert client.post("/deployments/verify/").status_code == 403

    client.force_login(priya)
    empty = client.get("/deployments/verify/").content.decode()
    assert "Run the checks" in empty and "Not run yet" in empty

    response = client.post("/deployments/verify/", follow=True)
    text = response.content.decode()
    assert response.status_code == 200
    assert text.count('class="badge badge-ok">PASS<') == 6
    assert "ApplicationSet children match apps/*" in text
    assert "All 6 checks passed" in text
    event = AuditEvent.objects.get(action="platform.verified")
    assert event.actor_name == "priya" and event.details == {"PASS": 6, "FAIL": 0, "SKIP": 0}


def test_the_page_shows_failures_first_in_words(client, priya, platform, sandbox, django_assert_max_num_queries):
    sandbox.store.put(application("fraud-scorer", sync="OutOfSync"))
    client.force_login(priya)
    client.post("/deployments/verify/")

    with django_assert_max_num_queries(4):
        text = client.get("/deployments/verify/").content.decode()

    assert "1 check failed" in text
    assert "fraud-scorer is OutOfSync and Healthy" in text
    assert text.index("badge-bad") < text.index("badge-ok")

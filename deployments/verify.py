"""`platform verify`: the reference platform's smoke test, run by the portal against the live clusters.

Each check gives PASS, FAIL or SKIP with its detail in words:

- each configured cluster answers one list call within a short timeout;
- its ArgoCD Applications are Synced and Healthy (none OutOfSync, none with Unknown sync);
- its InferenceServices are Ready;
- each endpoint with a saved example answers it (the "Try it" sender: timeout, size cap);
- the guardrails refuse a non-compliant InferenceService (no owner or cost-center label) under
  the repository's own Kyverno policies, as admission would;
- the ApplicationSet's children match the `apps/*` folders of the default branch (the
  repository snapshot) on the default cluster: none missing, none left over.

Unlike the pages, this calls the clusters and the model servers while it runs: that is what a
smoke test is for. It is an explicit action (the command, or an admin's button), and every call
has a timeout, so a dead cluster makes a FAIL line, not a hang.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

import structlog
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from kubernetes import client

from deployments import argocd, kserve, status, tryit
from deployments.models import Cluster, EndpointExample, WorkloadKind

log = structlog.get_logger(__name__)

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
#: (connect, read) seconds for the reachability call: a smoke test should not wait long.
REACH_TIMEOUT = (3, 10)
APPLICATIONSET_LABEL = "argocd.argoproj.io/application-set-name"
#: Kyverno's own rows; quota, LimitRange and schema rows depend on the namespace's state instead.
_NOT_POLICIES = ("ResourceQuota/", "LimitRange/", "schema/", "repository")
NONCOMPLIANT_PATH = "apps/platform-verify-noncompliant/inference-service.yaml"
#: An InferenceService without the owner and cost-center labels every endpoint must carry.
NONCOMPLIANT = b"""apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: platform-verify-noncompliant
  namespace: default
spec:
  predictor:
    model:
      modelFormat:
        name: sklearn
      storageUri: gs://kfserving-examples/models/sklearn/1.0/model
"""


@dataclass(frozen=True)
class CheckResult:
    result: str  # PASS, FAIL or SKIP
    check: str
    detail: str

    def line(self) -> str:
        return f"{self.result}  {self.check}: {self.detail}"

    def as_dict(self) -> dict:
        return asdict(self)


def summary(results: list[CheckResult]) -> dict[str, int]:
    counts = dict.fromkeys((PASS, FAIL, SKIP), 0)
    for result in results:
        counts[result.result] += 1
    return counts


def failed(results: list[CheckResult]) -> bool:
    return any(result.result == FAIL for result in results)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _listing(items: list[str], limit: int = 5) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


# --- Per cluster -------------------------------------------------------------------------------------


@dataclass
class Live:
    """What one reachable cluster listed."""

    cluster: Cluster
    applications: list[argocd.Application]
    inference_services: list[kserve.InferenceService]


def _reach(cluster: Cluster, api_client: client.ApiClient) -> CheckResult:
    # Made before the clock starts: the client imports its API modules lazily (seconds, once).
    core = client.CoreV1Api(api_client)
    started = time.perf_counter()
    # Reference: https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/namespace-v1/#list-list-or-watch-objects-of-kind-namespace
    # The raw answer: nothing to deserialize, so the time is the API server's.
    response = core.list_namespace(limit=1, _request_timeout=REACH_TIMEOUT, _preload_content=False)
    response.release_conn()
    elapsed = round((time.perf_counter() - started) * 1000)
    return CheckResult(PASS, f"cluster {cluster.name} reachable", f"the API server answered a list call in {elapsed} ms")


def _applications(live: Live) -> CheckResult:
    check = f"ArgoCD Applications on {live.cluster.name}"
    apps = live.applications
    if not apps:
        return CheckResult(SKIP, check, f"no Applications in namespace {live.cluster.argocd_namespace}")
    bad = [
        f"{app.name} is {app.sync_status or 'Unknown'} and {app.health_status or 'Unknown'}"
        + (f" ({argocd.in_words(app)})" if app.health_status != "Healthy" or app.operation_phase in ("Failed", "Error") else "")
        for app in apps
        if app.sync_status != "Synced" or app.health_status != "Healthy"
    ]
    if bad:
        return CheckResult(FAIL, check, f"{len(bad)} of {_plural(len(apps), 'Application')} not Synced and Healthy: {_listing(bad)}")
    return CheckResult(PASS, check, f"{_plural(len(apps), 'Application')}, all Synced and Healthy")


def _inference_services(live: Live) -> CheckResult:
    check = f"InferenceServices on {live.cluster.name}"
    services = live.inference_services
    if not services:
        return CheckResult(SKIP, check, "no InferenceServices in the watched namespaces")
    bad = [f"{isvc.namespace}/{isvc.name}: {kserve.in_words(isvc)}" for isvc in services if isvc.ready != "True"]
    if bad:
        return CheckResult(FAIL, check, f"{len(bad)} of {_plural(len(services), 'InferenceService')} not Ready: {_listing(bad)}")
    return CheckResult(PASS, check, f"{_plural(len(services), 'InferenceService')}, all Ready")


def _list(cluster: Cluster, api_client: client.ApiClient) -> Live:
    apps = argocd.list_applications(api_client, cluster.argocd_namespace).items
    services: list[kserve.InferenceService] = []
    for namespace in list(cluster.watched_namespaces) or [None]:
        services += kserve.list_inference_services(api_client, namespace).items
    return Live(cluster, apps, services)


# --- Inference -----------------------------------------------------------------------------------------


def _inference(lives: list[Live], unreachable: list[str]) -> list[CheckResult]:
    from catalog.models import Entity

    # Examples of endpoints still in the catalog: a decommissioned endpoint's example is history.
    examples = {example.entity_ref: example
                for example in EndpointExample.objects.filter(entity_ref__in=Entity.objects.values("ref"))}
    if not examples:
        return [CheckResult(SKIP, "inference requests", "no endpoint has a saved example (save one with Try it on its page)")]
    found: dict[str, list[tuple[Live, kserve.InferenceService]]] = {}
    for live in lives:
        index = status.EntityIndex(live.cluster)
        for isvc in live.inference_services:
            entity_id = index.match_object(WorkloadKind.INFERENCE_SERVICE, isvc.namespace, isvc.name, "", isvc.labels)
            if entity_id is not None:
                found.setdefault(entity_id, []).append((live, isvc))
    refs = dict(Entity.objects.filter(pk__in=list(found)).values_list("pk", "ref"))
    by_ref = {refs[pk].lower(): services for pk, services in found.items() if pk in refs}

    results = []
    for ref, example in sorted(examples.items()):
        check = f"inference {ref}"
        services = by_ref.get(ref)
        if not services:
            if unreachable:
                results.append(CheckResult(SKIP, check, f"not found on the clusters that answered ({', '.join(unreachable)} did not)"))
            else:
                results.append(CheckResult(FAIL, check, "its InferenceService is not on any cluster"))
            continue
        for live, isvc in services:
            where = f"{isvc.namespace}/{isvc.name} on {live.cluster.name}"
            base = tryit.base_url(isvc)
            if isvc.ready != "True" or not base:
                results.append(CheckResult(FAIL, check, f"{where} is not Ready: nothing to send the example to"))
                continue
            outcome = tryit.send(tryit.Target(isvc, base).url(example.protocol), example.payload)
            if outcome.ok:
                results.append(CheckResult(PASS, check, f"{where} answered the saved {example.protocol.upper()} example: {outcome.summary}"))
            else:
                words = outcome.error or f"{outcome.summary}. {outcome.note}"
                results.append(CheckResult(FAIL, check, f"{where}: {words}"))
    return results


# --- The repository --------------------------------------------------------------------------------


def _guardrails() -> CheckResult:
    from deployments.guardrails.checks import evaluate_change

    check = "guardrails reject a non-compliant manifest"
    report = evaluate_change({NONCOMPLIANT_PATH: NONCOMPLIANT})
    policy_rows = [row for row in report.rows if not row.policy.startswith(_NOT_POLICIES)]
    errors = [row for row in report.rows if row.result == "error"]
    refusals = [row for row in policy_rows if row.result == "fail"]
    if refusals:
        names = sorted({f"{row.policy}/{row.rule}" for row in refusals})
        return CheckResult(PASS, check, f"an InferenceService without owner and cost-center labels is refused by {_listing(names)}")
    if errors:
        return CheckResult(FAIL, check, f"the policies cannot be evaluated: {_listing([f'{row.policy}: {row.message}' for row in errors], 3)}")
    if not policy_rows:
        return CheckResult(FAIL, check, f"accepted: no Kyverno policy under {settings.PORTAL_POLICY_PATH} applies to an "
                                        "InferenceService without owner and cost-center labels")
    warned = [row for row in policy_rows if row.result == "warn"]
    if warned:
        return CheckResult(FAIL, check, "accepted with warnings only (Audit): set validationFailureAction to Enforce")
    return CheckResult(FAIL, check, "accepted: every policy passed an InferenceService without owner and cost-center labels")


def _applicationset(live: Live | None) -> CheckResult:
    from portal import snapshot

    check = "ApplicationSet children match apps/*"
    if live is None:
        return CheckResult(SKIP, check, "the default cluster did not answer")
    current = snapshot.current()
    if not current.commit_sha:
        return CheckResult(SKIP, check, "the repository snapshot has not been read yet")
    folders = {PurePosixPath(path).parts[1] for path in snapshot.paths("apps/**", current) if len(PurePosixPath(path).parts) > 2}
    children = {
        app.name for app in live.applications
        if (app.labels or {}).get(APPLICATIONSET_LABEL)
        or (app.source_path.startswith("apps/") and app.source_path.count("/") == 1)
    }
    missing, extra = sorted(folders - children), sorted(children - folders)
    at = f"{settings.PORTAL_GITOPS_DEFAULT_BRANCH} at {current.commit_sha[:7]}"
    if missing or extra:
        problems = [f"no Application for apps/{name}" for name in missing]
        problems += [f"Application {name} has no folder apps/{name}" for name in extra]
        return CheckResult(FAIL, check, f"{_listing(problems)} ({_plural(len(folders), 'folder')} on {at})")
    return CheckResult(PASS, check, f"{_plural(len(folders), 'folder')} under apps/ on {at}, one Application each")


# --- The run -----------------------------------------------------------------------------------------


def run(client_for: Callable[[Cluster], client.ApiClient | None] = lambda cluster: None) -> list[CheckResult]:
    """Every check, in order. Never raises for a cluster or a model server that misbehaves."""
    from deployments.clusters import sync_clusters

    results: list[CheckResult] = []
    try:
        clusters = sync_clusters()
    except ImproperlyConfigured as exc:
        results.append(CheckResult(FAIL, "clusters configured", str(exc)))
        clusters = []
    if not clusters and not results:
        results.append(CheckResult(FAIL, "clusters configured", "no cluster: set PORTAL_KUBECONFIG or PORTAL_CLUSTERS"))

    lives: list[Live] = []
    unreachable: list[str] = []
    for cluster in clusters:
        api_client = client_for(cluster)
        owned = api_client is None
        try:
            if api_client is None:
                api_client = status.api_client_for(cluster)
            results.append(_reach(cluster, api_client))
            live = _list(cluster, api_client)
        except status.UNREACHABLE as exc:
            unreachable.append(cluster.name)
            if results and results[-1].check == f"cluster {cluster.name} reachable":
                # It answered the first call but not the lists (a missing CRD, a permission).
                results.append(CheckResult(FAIL, f"Applications and InferenceServices on {cluster.name}",
                                           f"cannot list them: {status.describe_error(exc)}"))
            else:
                results.append(CheckResult(FAIL, f"cluster {cluster.name} reachable", status.describe_error(exc)))
                results.append(CheckResult(SKIP, f"Applications and InferenceServices on {cluster.name}",
                                           "the cluster did not answer"))
            continue
        finally:
            if owned and api_client is not None:
                api_client.close()
        lives.append(live)
        results.append(_applications(live))
        results.append(_inference_services(live))

    results.extend(_inference(lives, unreachable))
    results.append(_guardrails())
    default_cluster = next((cluster for cluster in clusters if cluster.is_default), clusters[0] if clusters else None)
    results.append(_applicationset(next((live for live in lives if live.cluster == default_cluster), None)))
    log.info("platform verify", **{key.lower(): value for key, value in summary(results).items()})
    return results

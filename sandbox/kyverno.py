"""Kyverno admission for the sandbox: the repository's own policies, run by the portal's engine.

In the reference platform Kyverno's validating webhook refuses a write that breaks an
`Enforce` policy, and ArgoCD shows the refusal as a failed sync. Here an admission hook
(`Store.admission`) does the same with the portal's guardrails engine
(`deployments.guardrails.kyverno`, pure Python: no Django needed) over the ClusterPolicies
under `infrastructure/kyverno/policies/` of the repository source the ArgoCD controller
reads, so the form's verdict, the cluster's refusal and the sync failure all come from one
set of policy files.

- Creates and updates of namespaced objects are checked; subresource writes (`/status`)
  and deletes are not, as Kyverno's resource webhook.
- A `fail` in an `Enforce` policy refuses the write with Kyverno's webhook message; an
  `Audit` policy's failure is logged only. Rules the engine cannot evaluate (an `error` row)
  are logged and do not block: the sandbox never refuses what it cannot judge.
- Policies are parsed again only when the source's head commit changes.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping

from deployments.guardrails.kyverno import Policy, Resource, evaluate, is_policy
from portal.yamlsafe import YAMLError, load_all
from sandbox.errors import ApiError
from sandbox.store import AdmissionRequest, Store

logger = logging.getLogger(__name__)

POLICY_FOLDER = "infrastructure/kyverno/policies"
WEBHOOK = "validate.kyverno.svc-fail"
#: A policy file larger than this is not read (Kyverno's own policies are a few kilobytes).
MAX_POLICY_BYTES = 1_000_000
_SUFFIXES = (".yaml", ".yml", ".json")


def read_policies(files: Mapping[str, bytes], folder: str = POLICY_FOLDER) -> list[Policy]:
    """The Kyverno policies in a folder's files (kustomizations and other documents skipped).

    A file that does not parse is logged and skipped: the cluster would never have accepted
    that policy either.
    """
    policies: list[Policy] = []
    prefix = folder.rstrip("/") + "/"
    for path in sorted(p for p in files if p.startswith(prefix) and p.endswith(_SUFFIXES)):
        try:
            documents = load_all(files[path], max_bytes=MAX_POLICY_BYTES, source=path)
        except YAMLError as exc:
            logger.warning("kyverno: policy file skipped: %s", exc)
            continue
        policies.extend(Policy(document) for document in documents if is_policy(document))
    return policies


def denial_message(kind: str, namespace: str, name: str, failures: Mapping[str, Mapping[str, str]]) -> str:
    """Kyverno's webhook refusal, as the API server returns it, for {policy: {rule: message}}."""
    blocks = []
    for policy in sorted(failures):
        rules = "\n".join(f"  {rule}: {message}" for rule, message in sorted(failures[policy].items()))
        blocks.append(f"{policy}:\n{rules}")
    return (
        f'admission webhook "{WEBHOOK}" denied the request: \n\n'
        f"resource {kind}/{namespace}/{name} was blocked due to the following policies \n\n"
        + "\n".join(blocks)
    )


class _AdmittedResource(Resource):
    """A resource as the admission request presents it: the operation and the old object too."""

    def __init__(self, document: dict, namespace_labels: dict, operation: str, old: dict | None):
        super().__init__(document, namespace_labels)
        self.subject = dataclasses.replace(self.subject, operation=operation)
        self._operation = operation
        self._old = old

    def context(self) -> dict:
        context = super().context()
        context["request"]["operation"] = self._operation
        context["request"]["oldObject"] = self._old
        return context


class KyvernoAdmission:
    """An admission hook (append it to `store.admission`) enforcing the repository's policies.

    `load(revision, files)` takes the default branch as the ArgoCD controller reads it (the
    controllers call it at the start of every pass, before they apply anything). The hook
    itself never reads the repository: it runs inside API requests, on the server's event
    loop, where a snapshot read (the portal's database) must not happen.
    """

    def __init__(self, store: Store, *, folder: str = POLICY_FOLDER):
        self.store = store
        self.folder = folder
        self.revision: str | None = None
        self.policies: list[Policy] = []
        self._lock = threading.Lock()

    def load(self, revision: str, files: Mapping[str, bytes]) -> None:
        """Use the policies of this commit (parsed again only when the commit changes)."""
        with self._lock:
            if revision == self.revision:
                return
            self.policies = read_policies(files, self.folder)
            self.revision = revision
        logger.info("kyverno: %d policies at %s: %s", len(self.policies), revision,
                    ", ".join(p.name for p in self.policies) or "none")

    def __call__(self, request: AdmissionRequest) -> None:
        if request.operation not in ("CREATE", "UPDATE") or request.subresource or not request.resource.namespaced:
            return
        policies = self.policies
        if not policies or not isinstance(request.object, dict):
            return
        document = {**request.object, "apiVersion": request.resource.api_version, "kind": request.resource.kind}
        metadata = document.get("metadata") or {}
        namespace = str(metadata.get("namespace") or "default")
        resource = _AdmittedResource(document, self._namespace_labels(namespace), request.operation, request.old_object)
        failures: dict[str, dict[str, str]] = {}
        for row in evaluate(policies, [resource]):
            if row.result == "fail":
                failures.setdefault(row.policy, {})[row.rule] = row.message
            elif row.result == "warn":
                logger.warning("kyverno audit: %s/%s/%s violates %s (%s): %s", resource.kind, resource.namespace,
                               resource.name, row.policy, row.rule, row.message)
            elif row.result == "error":
                logger.warning("kyverno: %s/%s/%s not judged by %s (%s): %s", resource.kind, resource.namespace,
                               resource.name, row.policy, row.rule, row.message)
        if failures:
            # The API server turns a webhook's refusal into a 400 with no reason.
            raise ApiError(400, "", denial_message(resource.kind, resource.namespace, resource.name, failures))

    def _namespace_labels(self, namespace: str) -> dict:
        try:
            found = self.store.get(self.store.namespaces, None, namespace)
        except ApiError:
            return {}
        return dict((found.get("metadata") or {}).get("labels") or {})

"""The API resources the sandbox serves, and the discovery documents that describe them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OBJECT_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the API and how the server treats it."""

    group: str  # "" for the core API
    version: str
    kind: str
    plural: str
    namespaced: bool
    # A status subresource: main-resource writes keep the stored status, `/status` writes
    # change nothing else. Without one (ArgoCD's Application), status is an ordinary field.
    status: bool = False
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Built-in types accept an update without metadata.resourceVersion; custom resources
    # answer 422 Invalid, as the real API server does.
    unconditional_update: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """The name kubectl and error messages use: `configmaps`, `deployments.apps`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def builtin(self) -> bool:
        """Built-in types, as opposed to resources defined by a CustomResourceDefinition."""
        return self.group in ("", "apps")


def _core(kind: str, plural: str, *, namespaced: bool = True, status: bool = False, short=()):
    return ResourceType("", "v1", kind, plural, namespaced, status, tuple(short), unconditional_update=True)


# The CRD entries mirror the CustomResourceDefinitions of the reference platform
# (names, scope, short names and whether a status subresource is declared).
RESOURCES: tuple[ResourceType, ...] = (
    _core("Namespace", "namespaces", namespaced=False, status=True, short=("ns",)),
    _core("Pod", "pods", status=True, short=("po",)),
    _core("Service", "services", status=True, short=("svc",)),
    _core("ConfigMap", "configmaps", short=("cm",)),
    _core("ResourceQuota", "resourcequotas", status=True, short=("quota",)),
    _core("LimitRange", "limitranges", short=("limits",)),
    _core("Event", "events", short=("ev",)),
    ResourceType("apps", "v1", "Deployment", "deployments", True, True, ("deploy",), unconditional_update=True),
    ResourceType("argoproj.io", "v1alpha1", "Application", "applications", True, False, ("app", "apps")),
    ResourceType("argoproj.io", "v1alpha1", "ApplicationSet", "applicationsets", True, True, ("appset", "appsets")),
    ResourceType("serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices", True, True, ("isvc",)),
    ResourceType("serving.kserve.io", "v1alpha1", "ClusterServingRuntime", "clusterservingruntimes", False),
    ResourceType("kyverno.io", "v1", "ClusterPolicy", "clusterpolicies", False, True, ("cpol",), ("kyverno",)),
)


def api_resource_list(group: str, version: str, resources: Iterable[ResourceType]) -> dict:
    """`/api/v1` or `/apis/<group>/<version>`: the resources of one group version."""
    entries = []
    for resource in resources:
        if (resource.group, resource.version) != (group, version):
            continue
        entry = {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(OBJECT_VERBS),
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = list(resource.categories)
        entries.append(entry)
        if resource.status:
            entries.append({
                "name": f"{resource.plural}/status",
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": list(STATUS_VERBS),
            })
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}


def _group_document(name: str, versions: list[str]) -> dict:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def group_versions(resources: Iterable[ResourceType]) -> dict[str, list[str]]:
    """Named groups and their versions, in the order the resources list them."""
    groups: dict[str, list[str]] = {}
    for resource in resources:
        if resource.group and resource.version not in groups.setdefault(resource.group, []):
            groups[resource.group].append(resource.version)
    return groups


def api_group_list(resources: Iterable[ResourceType]) -> dict:
    """`/apis`: every named group."""
    groups = [_group_document(name, versions) for name, versions in group_versions(resources).items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(name: str, resources: Iterable[ResourceType]) -> dict | None:
    """`/apis/<group>`: one named group, or None when the server does not serve it."""
    versions = group_versions(resources).get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_document(name, versions)}

"""Guardrails for a change to the GitOps repository, before any pull request exists.

`evaluate_change(files)` checks the files a template rendered (or a developer edited) the way
the cluster will: the repository's own Kyverno policies, the namespace's ResourceQuota and
LimitRange, and the CRD schemas. Everything it reads comes from the repository snapshot; what it
derives from a snapshot (parsed policies, quotas, compiled CRD schemas, the manifests already on
the branch) is kept per commit, so previews of the same commit only parse the change.
`evaluate_repository()` checks everything on the branch (`guardrails check --repo`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils.timesince import timesince

from portal.yamlsafe import YAMLError, load_all

from . import quota as quota_checks
from . import schema as schema_checks
from .check import Report
from .kyverno import Policy, Resource, Row, evaluate, is_policy

YAML_SUFFIXES = (".yaml", ".yml", ".json")
#: Where the workloads ArgoCD deploys live in the repository (summed for quotas, `--repo`).
MANIFEST_GLOBS = ("apps/**/*.yaml", "apps/**/*.yml", "apps/**/*.json")
#: CRD files can be several megabytes (KServe's is about 2 MB): read with a higher cap.
CRD_MAX_BYTES = 32 * 1024 * 1024
#: Groups of documents that are not Kubernetes objects applied to the cluster.
_NOT_APPLIED = ("backstage.io/", "kustomize.config.k8s.io/")
_NOT_CRD_SOURCES = ("apps/", "templates/")


@dataclass
class GuardrailReport(Report):
    """The verdict on a change: rows in DESIGN §4.5's shape plus file and manifest path."""

    commit: str = ""

    def rows_for(self, file: str) -> list[Row]:
        return [row for row in self.rows if row.file == file]


# --- sources -------------------------------------------------------------------------------


class SnapshotSource:
    """The repository snapshot in the database (portal.snapshot)."""

    def __init__(self, snapshot=None):
        from portal import snapshot as snapshots

        self._snapshots = snapshots
        self.snapshot = snapshot or snapshots.current()
        self.commit = self.snapshot.commit_sha or ""
        self.key = ("snapshot", self.snapshot.pk, self.commit)

    def paths(self, pattern: str) -> list[str]:
        return self._snapshots.paths(pattern, snapshot=self.snapshot)

    def read_many(self, paths: list[str]) -> dict[str, bytes]:
        return self._snapshots.read_many(paths, snapshot=self.snapshot) if paths else {}


class DirectorySource:
    """A checkout on disk (the GitOps repository's CI runs `guardrails check --repo DIR`)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{root}: no such directory")
        self.commit = ""
        self.key = None  # never cached: the files may change between calls

    def paths(self, pattern: str) -> list[str]:
        from portal.snapshot import glob_match

        found = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
        return sorted(p for p in found if not p.startswith(".git/") and glob_match(p, pattern))

    def read_many(self, paths: list[str]) -> dict[str, bytes]:
        return {path: (self.root / path).read_bytes() for path in paths}


# --- what a commit says ------------------------------------------------------------------------


@dataclass
class Namespace:
    labels: dict = field(default_factory=dict)
    quotas: list[dict] = field(default_factory=list)
    limit_ranges: list[dict] = field(default_factory=list)


@dataclass
class RepositoryContext:
    """Policies, namespaces, CRDs and deployed manifests of one commit, parsed once."""

    commit: str
    policies: list[Policy]
    namespaces: dict[str, Namespace]
    crds: schema_checks.CRDIndex
    manifests: dict[str, list[dict]]  # file → Kubernetes documents, for every file under apps/
    problems: list[Row]  # files the checks need but cannot read: error rows in every report

    def namespace(self, name: str) -> Namespace:
        return self.namespaces.get(name) or Namespace()

    def namespace_labels(self) -> dict[str, dict]:
        return {name: ns.labels for name, ns in self.namespaces.items()}


_CONTEXTS: dict[tuple, RepositoryContext] = {}
_CONTEXTS_LOCK = threading.Lock()
_CONTEXTS_KEPT = 4
_CRD_FILES: dict[tuple, list[dict]] = {}


def repository_context(source) -> RepositoryContext:
    """The parsed repository for a source, cached per snapshot commit and settings."""
    key = None
    if source.key is not None:
        key = (
            source.key,
            settings.PORTAL_POLICY_PATH,
            settings.PORTAL_NAMESPACES_PATH,
            tuple(settings.PORTAL_CRD_PATHS),
        )
        cached = _CONTEXTS.get(key)
        if cached is not None:
            return cached
    context = _build_context(source)
    if key is not None:
        with _CONTEXTS_LOCK:
            while len(_CONTEXTS) >= _CONTEXTS_KEPT:
                _CONTEXTS.pop(next(iter(_CONTEXTS)))
            _CONTEXTS[key] = context
    return context


def clear_cache() -> None:
    with _CONTEXTS_LOCK:
        _CONTEXTS.clear()


def _folder_glob(folder: str) -> str:
    return f"{folder.strip('/')}/**" if folder.strip("/") else "**"


def _yaml_paths(source, folder: str) -> list[str]:
    return [p for p in source.paths(_folder_glob(folder)) if p.endswith(YAML_SUFFIXES)]


def _problem(file: str, message: str, policy: str = "repository") -> Row:
    return Row(policy, "yaml", "", "", file, "error", message, file=file)


def _parse(
    files: dict[str, bytes], problems: list[Row], max_bytes: int | None = None
) -> dict[str, list[dict]]:
    parsed = {}
    for path, content in sorted(files.items()):
        try:
            documents = load_all(content, max_bytes=max_bytes, source=path)
        except YAMLError as exc:
            problems.append(_problem(path, str(exc)))
            continue
        parsed[path] = [d for d in documents if isinstance(d, dict)]
    return parsed


def _build_context(source) -> RepositoryContext:
    problems: list[Row] = []
    policy_files = _parse(
        source.read_many(_yaml_paths(source, settings.PORTAL_POLICY_PATH)), problems
    )
    policies = [Policy(doc) for docs in policy_files.values() for doc in docs if is_policy(doc)]

    namespaces: dict[str, Namespace] = {}
    namespace_files = _parse(
        source.read_many(_yaml_paths(source, settings.PORTAL_NAMESPACES_PATH)), problems
    )
    for documents in namespace_files.values():
        for doc in documents:
            kind = doc.get("kind")
            metadata = doc.get("metadata") or {}
            if kind == "Namespace":
                namespaces.setdefault(str(metadata.get("name", "")), Namespace()).labels = (
                    metadata.get("labels") or {}
                )
            elif kind == "ResourceQuota":
                namespaces.setdefault(quota_checks.namespace_of(doc), Namespace()).quotas.append(
                    doc
                )
            elif kind == "LimitRange":
                namespaces.setdefault(
                    quota_checks.namespace_of(doc), Namespace()
                ).limit_ranges.append(doc)

    manifest_paths = sorted({p for pattern in MANIFEST_GLOBS for p in source.paths(pattern)})
    manifests = {
        path: [doc for doc in docs if is_manifest(doc)]
        for path, docs in _parse(source.read_many(manifest_paths), problems).items()
    }
    return RepositoryContext(
        commit=source.commit,
        policies=policies,
        namespaces=namespaces,
        crds=_crd_index(source, problems),
        manifests=manifests,
        problems=problems,
    )


def _crd_index(source, problems: list[Row]) -> schema_checks.CRDIndex:
    index = schema_checks.CRDIndex()
    candidates = [p for p in _yaml_paths(source, "") if not p.startswith(_NOT_CRD_SOURCES)]
    contents = {
        p: c for p, c in source.read_many(candidates).items() if b"CustomResourceDefinition" in c
    }
    for path, documents in _parse(contents, problems, max_bytes=CRD_MAX_BYTES).items():
        for doc in documents:
            index.add(doc, path)
    for path, doc in crd_documents(settings.PORTAL_CRD_PATHS):
        index.add(doc, path)
    return index


def crd_documents(paths: Iterable[str | Path]) -> list[tuple[str, dict]]:
    """CRD documents in files or directories on disk, parsed once per file version."""
    found = []
    for given in paths:
        given = Path(given)
        files = (
            sorted(p for p in given.rglob("*") if p.suffix in YAML_SUFFIXES)
            if given.is_dir()
            else [given]
        )
        for file in files:
            try:
                stat = file.stat()
            except OSError as exc:
                raise YAMLError(f"{file}: cannot read: {exc.strerror}") from exc
            key = (str(file), stat.st_mtime_ns, stat.st_size)
            documents = _CRD_FILES.get(key)
            if documents is None:
                documents = [
                    d
                    for d in load_all(file.read_bytes(), max_bytes=CRD_MAX_BYTES, source=str(file))
                    if schema_checks.is_crd(d)
                ]
                _CRD_FILES[key] = documents
            found.extend((str(file), doc) for doc in documents)
    return found


def is_manifest(document) -> bool:
    """A Kubernetes object the cluster would be given (not a Backstage entity or kustomization)."""
    if not isinstance(document, dict) or not document.get("kind"):
        return False
    api_version = str(document.get("apiVersion") or "")
    return bool(api_version) and not api_version.startswith(_NOT_APPLIED)


# --- the checks -------------------------------------------------------------------------------

_KYVERNO_PATH = re.compile(r"failed at path (/\S*)")


def _kyverno_path(message: str) -> str:
    """`spec.template.spec.containers[0].image` for Kyverno's `/spec/template/spec/containers/0/image/`."""
    match = _KYVERNO_PATH.search(message)
    if not match:
        return ""
    text = ""
    for part in (p for p in match.group(1).split("/") if p):
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text


def manifest_rows(
    file: str, documents: list[dict], context: RepositoryContext, namespace_labels: dict
) -> list[Row]:
    """Kyverno, schema and LimitRange rows for the documents of one file."""
    rows: list[Row] = []
    for document in documents:
        resource = Resource(document, namespace_labels.get(quota_checks.namespace_of(document)))
        for row in evaluate(context.policies, [resource]):
            path = _kyverno_path(row.message) if row.result in ("fail", "warn") else ""
            rows.append(_with(row, file, path))
        rows.extend(schema_checks.validate(document, context.crds, file))
        limit_ranges = context.namespace(quota_checks.namespace_of(document)).limit_ranges
        rows.extend(quota_checks.check_limit_ranges(document, limit_ranges, file))
    return rows


def _with(row: Row, file: str, path: str) -> Row:
    return Row(
        row.policy,
        row.rule,
        row.kind,
        row.namespace,
        row.name,
        row.result,
        row.message,
        file=file,
        path=path,
    )


def parse_change(files: dict[str, bytes | None]) -> tuple[dict[str, list[dict] | None], list[Row]]:
    """The changed files as documents (None for a deletion), and error rows for unusable ones."""
    change: dict[str, list[dict] | None] = {}
    problems: list[Row] = []
    for path, content in sorted(files.items()):
        if content is None:
            change[path] = None
            continue
        if not path.endswith(YAML_SUFFIXES):
            continue
        try:
            documents = load_all(content, source=path)
        except YAMLError as exc:
            problems.append(_problem(path, str(exc), policy="manifest"))
            continue
        kept = []
        for number, document in enumerate(documents, start=1):
            if not isinstance(document, dict):
                problems.append(
                    _problem(
                        path,
                        f"{path}: document {number} is a {type(document).__name__}, not a mapping",
                        policy="manifest",
                    )
                )
            elif is_manifest(document):
                kept.append(document)
        change[path] = kept
    return change, problems


def _observations(cluster, namespace: str) -> dict[str, quota_checks.Observation]:
    if cluster is None:
        return {}
    observations = {}
    for usage in cluster.quota_usages.filter(namespace=namespace):
        where = f"QuotaUsage {cluster.name}/{namespace}/{usage.quota_name}"
        try:
            observations[usage.quota_name] = quota_checks.Observation(
                used=quota_checks.parse_amounts(usage.used, f"{where} used"),
                hard=quota_checks.parse_amounts(usage.hard, f"{where} hard"),
                age=timesince(usage.observed_at),
            )
        except quota_checks.QuantityError:
            continue  # an unreadable observation: the repository estimate stands in
    return observations


def evaluate_change(
    files: dict[str, bytes | None], *, snapshot=None, cluster=None, source=None
) -> GuardrailReport:
    """Every guardrail verdict on a change to the default branch.

    `files` maps repository paths to their new content (None deletes the file). Kyverno
    policies, LimitRanges and CRD schemas are checked for each Kubernetes document of the
    change; ResourceQuotas for each namespace the change touches, with the usage of the branch
    (or the cluster's observed usage, when `cluster` — by default the default Cluster — has
    polled it) plus the change. `source` replaces the snapshot (a DirectorySource, say).
    """
    if source is None:
        source = SnapshotSource(snapshot)
        if cluster is None:
            from deployments.models import Cluster

            cluster = Cluster.default()
    context = repository_context(source)
    change, problems = parse_change(files)
    rows = [*context.problems, *problems]
    labels = context.namespace_labels()
    for file, documents in change.items():
        rows.extend(manifest_rows(file, documents or [], context, labels))
    rows.extend(_quota_rows(change, context, cluster))
    return GuardrailReport(sorted(rows, key=_order), commit=context.commit)


def _in_namespace(documents, namespace: str) -> list[dict]:
    return [d for d in documents or () if quota_checks.namespace_of(d) == namespace]


def _quota_rows(
    change: dict[str, list[dict] | None], context: RepositoryContext, cluster
) -> list[Row]:
    touched: set[str] = set()
    for file, documents in change.items():
        touched.update(quota_checks.namespace_of(d) for d in documents or ())
        touched.update(quota_checks.namespace_of(d) for d in context.manifests.get(file, ()))
    rows: list[Row] = []
    for name in sorted(touched):
        namespace = context.namespace(name)
        if not namespace.quotas:
            continue
        rows.extend(
            quota_checks.check_quotas(
                quota_checks.NamespaceChange(
                    namespace=name,
                    base={f: _in_namespace(docs, name) for f, docs in context.manifests.items()},
                    change={
                        f: _in_namespace(docs, name) if docs is not None else None
                        for f, docs in change.items()
                    },
                    quotas=namespace.quotas,
                    limit_ranges=namespace.limit_ranges,
                ),
                _observations(cluster, name),
            )
        )
    return rows


def evaluate_repository(*, snapshot=None, source=None) -> GuardrailReport:
    """Every manifest on the branch against the policies, LimitRanges and schemas, and each
    namespace's total against its ResourceQuotas."""
    source = source or SnapshotSource(snapshot)
    context = repository_context(source)
    rows = list(context.problems)
    labels = context.namespace_labels()
    by_namespace: dict[str, list[dict]] = {}
    for file, documents in context.manifests.items():
        rows.extend(manifest_rows(file, documents, context, labels))
        for document in documents:
            by_namespace.setdefault(quota_checks.namespace_of(document), []).append(document)
    for name, namespace in sorted(context.namespaces.items()):
        if namespace.quotas:
            rows.extend(
                quota_checks.check_repository_quotas(
                    name, by_namespace.get(name, []), namespace.quotas, namespace.limit_ranges
                )
            )
    return GuardrailReport(sorted(rows, key=_order), commit=context.commit)


def _order(row: Row) -> tuple:
    return (*row.sort_key, row.file, row.path)

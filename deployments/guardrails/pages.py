"""What the admins' Guardrails page shows, read from the database: the policies and quotas on
the repository snapshot, and the latest scan's findings grouped by app."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from deployments.guardrails.kyverno import is_policy
from deployments.guardrails.verdicts import RESULT_BADGES, RESULT_LABELS, RESULT_ORDER
from portal import snapshot as repository
from portal.yamlsafe import YAMLError, load_all

_YAML = (".yaml", ".yml")


@dataclass
class RuleRow:
    name: str
    action: str
    kinds: str
    message: str


@dataclass
class PolicyRow:
    name: str
    kind: str
    path: str
    action: str
    rules: list[RuleRow] = field(default_factory=list)


@dataclass
class AppFindings:
    app_path: str
    findings: list = field(default_factory=list)

    @property
    def worst(self) -> str:
        return self.findings[0].result if self.findings else "pass"

    @property
    def blocking(self) -> int:
        return sum(1 for finding in self.findings if finding.result in ("fail", "error"))


def _documents(prefix: str) -> tuple[list[tuple[str, dict]], list[str]]:
    found, errors = [], []
    paths = [path for path in repository.paths(prefix.strip("/") + "/**") if path.endswith(_YAML)]
    for path, data in sorted(repository.read_many(paths).items()):
        try:
            found += [(path, doc) for doc in load_all(data, source=path) if isinstance(doc, dict)]
        except YAMLError as error:
            errors.append(str(error))
    return found, errors


def _kinds(rule: dict) -> str:
    kinds: list[str] = []
    match = rule.get("match") or {}
    blocks = [match] + list(match.get("any") or []) + list(match.get("all") or [])
    for block in blocks:
        for kind in ((block or {}).get("resources") or {}).get("kinds") or []:
            if str(kind) not in kinds:
                kinds.append(str(kind))
    return ", ".join(kinds)


def _rule_message(rule: dict) -> str:
    validate = rule.get("validate") or {}
    if validate.get("message"):
        return " ".join(str(validate["message"]).split())
    for feature in ("mutate", "generate", "verifyImages"):
        if rule.get(feature):
            return f"A {feature} rule: the portal does not evaluate it, so it reports an error, never a pass."
    return ""


def policies_on_snapshot() -> tuple[list[PolicyRow], list[str]]:
    """The Kyverno policies at PORTAL_POLICY_PATH with their rules, and files that do not parse."""
    documents, errors = _documents(settings.PORTAL_POLICY_PATH)
    policies = []
    for path, document in documents:
        if not is_policy(document):
            continue
        spec = document.get("spec") or {}
        policy_action = str(spec.get("validationFailureAction") or "Audit")
        row = PolicyRow(str((document.get("metadata") or {}).get("name") or ""), str(document.get("kind")), path,
                        policy_action)
        for rule in spec.get("rules") or []:
            if not isinstance(rule, dict):
                continue
            rule_action = str((rule.get("validate") or {}).get("failureAction") or policy_action)
            row.rules.append(RuleRow(str(rule.get("name") or ""), rule_action, _kinds(rule), _rule_message(rule)))
        policies.append(row)
    return sorted(policies, key=lambda policy: policy.name), errors


def quotas_on_snapshot() -> list[dict]:
    """The ResourceQuotas and LimitRanges at PORTAL_NAMESPACES_PATH, as label/value pairs."""
    documents, _errors = _documents(settings.PORTAL_NAMESPACES_PATH)
    shown = []
    for path, document in documents:
        metadata = document.get("metadata") or {}
        spec = document.get("spec") or {}
        if document.get("kind") == "ResourceQuota":
            limits = [f"{key} {value}" for key, value in (spec.get("hard") or {}).items()]
        elif document.get("kind") == "LimitRange":
            limits = []
            for item in spec.get("limits") or []:
                for bound in ("min", "max"):
                    for key, value in ((item or {}).get(bound) or {}).items():
                        limits.append(f"{item.get('type', 'Container')} {bound} {key} {value}")
        else:
            continue
        shown.append({"kind": document["kind"], "name": str(metadata.get("name") or ""),
                      "namespace": str(metadata.get("namespace") or "default"), "path": path, "limits": limits})
    return shown


def findings_by_app(findings: list) -> list[AppFindings]:
    """Findings grouped by app, apps with refusals first, each app's worst finding first."""
    apps: dict[str, AppFindings] = {}
    for finding in findings:
        finding.badge = RESULT_BADGES.get(finding.result, "bad")
        finding.label = RESULT_LABELS.get(finding.result, finding.result)
        apps.setdefault(finding.app_path, AppFindings(finding.app_path)).findings.append(finding)
    for app in apps.values():
        app.findings.sort(key=lambda f: (RESULT_ORDER.get(f.result, 0), f.policy, f.rule, f.name))
    return sorted(apps.values(), key=lambda app: (RESULT_ORDER.get(app.worst, 0), app.app_path))

"""Upstream Kyverno CLI tests, reproduced through `manage.py guardrails check`.

Each case of ../shared/fixtures/kyverno-tests holds policies, resources and the results
`kyverno test` expects per policy, rule, resource and kind. A Pod rule is reported on
controllers as `autogen-<rule>` / `autogen-cronjob-<rule>`; an expected `skip` is also met by
no row. An expected `fail` of an Audit rule is met by `warn`: the portal reports Audit
violations as warnings (the upstream CLI calls them fail).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
CASES = FIXTURES / "kyverno-tests" / "cases"


def run_check(policies: list[Path], resources: list[Path]) -> tuple[int, dict]:
    args = ["guardrails", "check", "--format", "json"]
    for path in policies:
        args += ["--policy", str(path)]
    for path in resources:
        args += ["--resource", str(path)]
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    assert err.getvalue() == ""
    return code, json.loads(out.getvalue())


def _actions(policy_files: list[Path]) -> dict[tuple[str, str], str]:
    """(policy, rule) -> "enforce" / "audit", as the policy files declare."""
    actions = {}
    for file in policy_files:
        for doc in yaml.safe_load_all(file.read_text()):
            if not doc:
                continue
            spec = doc.get("spec") or {}
            for rule in spec.get("rules") or []:
                action = (rule.get("validate") or {}).get("failureAction") or spec.get(
                    "validationFailureAction", "Audit"
                )
                actions[(doc["metadata"]["name"], rule["name"])] = str(action).lower()
    return actions


def expectations(case: Path) -> list[dict]:
    test = yaml.safe_load((case / "kyverno-test.yaml").read_text())
    expanded = []
    for result in test["results"]:
        for resource in result["resources"]:
            namespace, _, name = resource.rpartition("/")
            expanded.append(
                {
                    "policy": result["policy"],
                    "rule": result["rule"],
                    "kind": result["kind"].split("/")[-1],
                    "namespace": namespace or None,
                    "name": name,
                    "result": result["result"],
                }
            )
    return expanded


def unmet(case: Path) -> tuple[list[str], int]:
    """The expectations of a case that the check does not reproduce, and how many there are."""
    test = yaml.safe_load((case / "kyverno-test.yaml").read_text())
    policies = [case / p for p in test["policies"]]
    resources = [case / r for r in test["resources"]]
    _code, output = run_check(policies, resources)
    actions = _actions(policies)
    rows = output["results"]
    problems = []
    expected = expectations(case)
    for exp in expected:
        names = {exp["rule"], f"autogen-{exp['rule']}", f"autogen-cronjob-{exp['rule']}"}
        found = [
            row
            for row in rows
            if row["policy"] == exp["policy"]
            and row["rule"] in names
            and row["resource"]["kind"] == exp["kind"]
            and row["resource"]["name"] == exp["name"]
            and (exp["namespace"] is None or row["resource"]["namespace"] == exp["namespace"])
        ]
        wanted = {exp["result"]}
        if exp["result"] == "fail" and actions.get((exp["policy"], exp["rule"])) != "enforce":
            wanted = {"warn"}
        if exp["result"] == "skip" and not found:
            continue
        if found and all(row["result"] in wanted for row in found):
            continue
        got = [(row["rule"], row["result"], row["message"]) for row in found] or "no row"
        problems.append(
            f"{exp['policy']}/{exp['rule']} on {exp['kind']} {exp['name']}: "
            f"expected {exp['result']}, got {got}"
        )
    return problems, len(expected)


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_upstream_kyverno_case_is_reproduced(case):
    problems, _total = unmet(CASES / case)
    assert problems == []


def test_every_upstream_expectation_is_counted():
    total = sum(len(expectations(case)) for case in CASES.iterdir() if case.is_dir())
    assert total == 859

"""The Kyverno engine feature by feature: patterns, anchors, operators, foreach, variables,
auto-generated rules, failure actions, unsupported features, and the CLI's exit codes."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from deployments.guardrails import Policy, Resource, evaluate
from deployments.guardrails.conditions import evaluate_operator
from deployments.guardrails.patterns import match_pattern, validate_value
from deployments.guardrails.variables import query, substitute


def pod(name="web", labels=None, **spec):
    spec.setdefault("containers", [{"name": "app", "image": "nginx:1.25"}])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
        "spec": spec,
    }


def policy(*rules, action="Enforce", annotations=None):
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": "p", "annotations": annotations or {}},
        "spec": {"validationFailureAction": action, "rules": list(rules)},
    }


def rule(validate, name="r", kinds=("Pod",), **extra):
    return {
        "name": name,
        "match": {"any": [{"resources": {"kinds": list(kinds)}}]},
        "validate": validate,
        **extra,
    }


def verdicts(pol, *resources):
    rows = evaluate([Policy(pol)], [Resource(r) for r in resources])
    return [(row.rule, row.kind, row.name, row.result) for row in rows]


def results(pol, resource):
    return [row[3] for row in verdicts(pol, resource)]


# --- scalar pattern values --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("nginx:1.25", "nginx:*", True),
        ("nginx", "nginx:*", False),
        ("a", "?", True),
        ("", "?*", False),
        ("x", "?*", True),
        ("latest", "!latest", False),
        ("v1", "!latest", True),
        ("Always", "IfNotPresent | Always", True),
        ("Never", "IfNotPresent | Always", False),
        ("abc", "a* & *c", True),
        ("abd", "a* & *c", False),
        (5, ">3", True),
        (3, ">3", False),
        (3, ">=3", True),
        (2, "<3", True),
        (3, "<=3", True),
        (80, "1-1024", True),
        (2000, "1-1024", False),
        (2000, "1!-1024", True),
        (80, "1!-1024", False),
        ("500m", "<1", True),
        ("2", "<=1500m", False),
        ("4Gi", ">2Gi", True),
        ("1Gi", ">=1024Mi", True),
        ("90s", ">1m", True),
        ("30s", ">1m", False),
        ("1h", "<=60m", True),
        (True, True, True),
        ("true", True, False),
        (1000, 1000, True),
        ("1000", 1000, True),
        (None, None, True),
        ("", None, True),
        ({}, {}, True),
    ],
)
def test_pattern_values_compare_as_kyverno_does(value, pattern, expected):
    assert validate_value(value, pattern) is expected


# --- anchors and structure ----------------------------------------------------------------


def test_missing_field_fails_at_its_path():
    outcome = match_pattern({"metadata": {"labels": {}}}, {"metadata": {"labels": {"team": "?*"}}})
    assert (outcome.status, outcome.path) == ("fail", "/metadata/labels/team/")


def test_wildcard_star_only_requires_presence():
    assert match_pattern({"a": {"b": 1}}, {"a": "*"}).status == "pass"
    assert match_pattern({}, {"a": "*"}).status == "fail"


def test_conditional_anchor_skips_when_it_does_not_hold():
    pattern = {"spec": {"(type)": "ExternalName", "externalName": "!localhost"}}
    assert match_pattern({"spec": {"type": "ClusterIP"}}, pattern).status == "skip"
    assert (
        match_pattern(
            {"spec": {"type": "ExternalName", "externalName": "localhost"}}, pattern
        ).status
        == "fail"
    )
    assert (
        match_pattern({"spec": {"type": "ExternalName", "externalName": "a.b"}}, pattern).status
        == "pass"
    )


def test_conditional_anchor_in_list_checks_only_matching_elements():
    pattern = {"spec": {"containers": [{"(name)": "db*", "image": "postgres:*"}]}}
    resource = {
        "spec": {
            "containers": [
                {"name": "web", "image": "nginx"},
                {"name": "db", "image": "postgres:16"},
            ]
        }
    }
    assert match_pattern(resource, pattern).status == "pass"
    resource["spec"]["containers"][1]["image"] = "mysql:8"
    assert match_pattern(resource, pattern).status == "fail"


def test_equality_anchor_checks_only_present_keys():
    pattern = {"spec": {"=(hostNetwork)": False}}
    assert match_pattern({"spec": {}}, pattern).status == "pass"
    assert match_pattern({"spec": {"hostNetwork": False}}, pattern).status == "pass"
    assert match_pattern({"spec": {"hostNetwork": True}}, pattern).status == "fail"


def test_negation_anchor_fails_when_key_present():
    pattern = {"spec": {"X(hostPID)": "null"}}
    assert match_pattern({"spec": {}}, pattern).status == "pass"
    assert match_pattern({"spec": {"hostPID": False}}, pattern).status == "fail"


def test_existence_anchor_needs_one_matching_element():
    pattern = {"spec": {"^(containers)": [{"image": "nginx:*"}]}}
    assert (
        match_pattern(
            {"spec": {"containers": [{"image": "redis"}, {"image": "nginx:1"}]}}, pattern
        ).status
        == "pass"
    )
    assert match_pattern({"spec": {"containers": [{"image": "redis"}]}}, pattern).status == "fail"


def test_global_anchor_skips_the_whole_resource():
    pattern = {"spec": {"containers": [{"<(image)": "*:latest", "imagePullPolicy": "Always"}]}}
    assert match_pattern({"spec": {"containers": [{"image": "nginx:1"}]}}, pattern).status == "skip"
    latest = {"spec": {"containers": [{"image": "nginx:latest", "imagePullPolicy": "Never"}]}}
    assert match_pattern(latest, pattern).status == "fail"


def test_every_list_element_must_match_a_map_pattern():
    pattern = {"spec": {"containers": [{"securityContext": {"runAsNonRoot": True}}]}}
    ok = {"securityContext": {"runAsNonRoot": True}}
    assert match_pattern({"spec": {"containers": [ok, ok]}}, pattern).status == "pass"
    outcome = match_pattern({"spec": {"containers": [ok, {}]}}, pattern)
    assert (outcome.status, outcome.path) == ("fail", "/spec/containers/1/securityContext/")


def test_scalar_pattern_applies_to_each_list_element():
    assert match_pattern({"ips": ["10.0.0.1", "10.0.0.2"]}, {"ips": "10.*"}).status == "pass"
    assert match_pattern({"ips": ["10.0.0.1", "8.8.8.8"]}, {"ips": "10.*"}).status == "fail"


def test_wildcard_label_keys_are_expanded():
    pattern = {"metadata": {"labels": {"app.kubernetes.io/*": "?*"}}}
    assert (
        match_pattern({"metadata": {"labels": {"app.kubernetes.io/name": "x"}}}, pattern).status
        == "pass"
    )
    assert match_pattern({"metadata": {"labels": {"team": "x"}}}, pattern).status == "fail"


# --- condition operators ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "key", "value", "expected"),
    [
        ("Equals", "nginx:latest", "*:latest", True),
        ("Equals", "1Gi", "1024Mi", True),
        ("Equals", "1h", "60m", True),
        ("Equals", 3, 3.0, True),
        ("NotEquals", "a", "b", True),
        ("NotEquals", {"a": 1}, {"a": 1}, False),
        ("In", "b", ["a", "b"], True),
        ("NotIn", "c", ["a", "b"], True),
        ("AnyIn", ["a", "z"], ["a", "b"], True),
        ("AnyIn", ["x", "z"], ["a", "b"], False),
        ("AnyIn", 8080, "8000-9000", True),
        ("AllIn", ["a", "b"], ["a", "b", "c"], True),
        ("AllIn", ["a", "z"], ["a", "b"], False),
        ("AnyNotIn", ["a", "z"], ["a", "b"], True),
        ("AnyNotIn", ["NET_BIND_SERVICE"], ["NET_BIND_SERVICE"], False),
        ("AllNotIn", ["x", "z"], ["a", "b"], True),
        ("AllNotIn", ["a", "z"], ["a", "b"], False),
        ("GreaterThan", 5, 3, True),
        ("GreaterThan", "4Gi", "2Gi", True),
        ("GreaterThanOrEquals", "1.2.3", "1.2.3", True),
        ("LessThan", "500m", "1", True),
        ("LessThanOrEquals", "2h", "3h", True),
        ("DurationGreaterThan", "2h", "90m", True),
        ("DurationGreaterThanOrEquals", "1h", 3600, True),
        ("DurationLessThan", "1m", "30s", False),
        ("DurationLessThanOrEquals", "30s", "30s", True),
    ],
)
def test_condition_operators_follow_kyverno(operator, key, value, expected):
    assert evaluate_operator(operator, key, value) is expected


def test_unknown_operator_is_an_error_row():
    pol = policy(
        rule({"deny": {"conditions": {"any": [{"key": "a", "operator": "Bigger", "value": "b"}]}}})
    )
    assert results(pol, pod()) == ["error"]


# --- variables and JMESPath functions -------------------------------------------------------


def test_lone_variable_keeps_its_type_and_embedded_ones_are_text():
    context = {"request": {"object": {"spec": {"replicas": 3, "ports": [80, 443]}}}}
    assert substitute("{{ request.object.spec.ports }}", context) == [80, 443]
    assert substitute("replicas={{request.object.spec.replicas}}", context) == "replicas=3"
    assert substitute("\\{{ literal }}", context) == "{{ literal }}"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("to_upper('abc')", "ABC"),
        ("to_lower('ABC')", "abc"),
        ("split('a,b', ',')", ["a", "b"]),
        ("regex_match('^v[0-9]+$', 'v12')", True),
        ("length('abcd')", 4),
        ("divide(`10`, `4`)", 2.5),
        ("divide('1Gi', '512Mi')", 2.0),
        ("multiply('500m', `2`)", "1"),
        ("add('1Gi', '1Gi')", "2Gi"),
        ("subtract('2h', '30s')", "1h59m30s"),
        ("truncate('abcdef', `3`)", "abc"),
        ("parse_json('{\"a\": [1]}').a", [1]),
        ("label_match({app: 'x'}, {app: 'x', team: 'y'})", True),
        ("pattern_match('nginx:*', 'nginx:1')", True),
        ("replace_all('a-b-c', '-', '.')", "a.b.c"),
        ("trim_prefix('v1.2', 'v')", "1.2"),
        ("base64_decode(base64_encode('hi'))", "hi"),
        ("to_boolean('True')", True),
        ("semver_compare('1.5.0', '>=1.2.0 <2.0.0')", True),
    ],
)
def test_kyverno_jmespath_functions(expression, expected):
    assert query(expression, {}) == expected


def test_message_variables_are_substituted():
    pol = policy(rule({"message": "{{ request.object.metadata.name }} is not allowed", "deny": {}}))
    rows = evaluate([Policy(pol)], [Resource(pod("blocked"))])
    assert rows[0].message == "blocked is not allowed"


def test_preconditions_false_gives_skip():
    pre = {
        "all": [
            {
                "key": "{{ request.object.metadata.labels.tier || '' }}",
                "operator": "Equals",
                "value": "db",
            }
        ]
    }
    pol = policy(rule({"deny": {}}, preconditions=pre))
    assert results(pol, pod(labels={"tier": "web"})) == ["skip"]
    assert results(pol, pod(labels={"tier": "db"})) == ["fail"]


# --- foreach -------------------------------------------------------------------------------


def test_foreach_deny_fails_if_any_element_fails():
    validate = {
        "foreach": [
            {
                "list": "request.object.spec.containers",
                "deny": {
                    "conditions": {
                        "any": [
                            {
                                "key": "{{ element.image }}",
                                "operator": "Equals",
                                "value": "*:latest",
                            }
                        ]
                    }
                },
            }
        ]
    }
    pol = policy(rule(validate))
    ok = pod(containers=[{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "redis:7"}])
    bad = pod(
        containers=[{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "redis:latest"}]
    )
    assert results(pol, ok) == ["pass"]
    assert results(pol, bad) == ["fail"]


def test_foreach_pattern_uses_the_element_and_preconditions_and_index():
    validate = {
        "foreach": [
            {
                "list": "request.object.spec.containers",
                "preconditions": {
                    "all": [{"key": "{{ elementIndex }}", "operator": "GreaterThan", "value": 0}]
                },
                "pattern": {"image": "!*:latest"},
            }
        ]
    }
    pol = policy(rule(validate))
    first_latest = pod(
        containers=[{"name": "a", "image": "nginx:latest"}, {"name": "b", "image": "redis:7"}]
    )
    second_latest = pod(
        containers=[{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "redis:latest"}]
    )
    assert results(pol, first_latest) == ["pass"]
    assert results(pol, second_latest) == ["fail"]


def test_nested_foreach_reaches_inner_lists():
    validate = {
        "foreach": [
            {
                "list": "request.object.spec.containers",
                "foreach": [
                    {
                        "list": "element.ports",
                        "deny": {
                            "conditions": {
                                "any": [
                                    {
                                        "key": "{{ element.containerPort }}",
                                        "operator": "LessThan",
                                        "value": 1024,
                                    }
                                ]
                            }
                        },
                    }
                ],
            }
        ]
    }
    pol = policy(rule(validate))
    low = pod(
        containers=[
            {"name": "a", "image": "x:1", "ports": [{"containerPort": 8080}, {"containerPort": 80}]}
        ]
    )
    high = pod(containers=[{"name": "a", "image": "x:1", "ports": [{"containerPort": 8080}]}])
    assert results(pol, low) == ["fail"]
    assert results(pol, high) == ["pass"]


# --- auto-generated rules -------------------------------------------------------------------


def _workload(kind, api_version, template_path):
    template = {
        "metadata": {"labels": {}},
        "spec": {
            "containers": [{"name": "a", "image": "x:1", "securityContext": {"privileged": True}}]
        },
    }
    spec: dict = {"template": template}
    if template_path == "cron":
        spec = {"jobTemplate": {"spec": {"template": template}}}
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": kind.lower()},
        "spec": spec,
    }


PRIVILEGED = rule(
    {"pattern": {"spec": {"containers": [{"=(securityContext)": {"=(privileged)": False}}]}}},
    name="no-privileged",
)


def test_pod_rules_are_generated_for_controllers_and_cronjobs():
    resources = [
        _workload("Deployment", "apps/v1", "template"),
        _workload("StatefulSet", "apps/v1", "template"),
        _workload("DaemonSet", "apps/v1", "template"),
        _workload("Job", "batch/v1", "template"),
        _workload("ReplicaSet", "apps/v1", "template"),
        _workload("CronJob", "batch/v1", "cron"),
    ]
    got = {
        (rule_name, kind, result)
        for rule_name, kind, _name, result in verdicts(policy(PRIVILEGED), *resources)
    }
    assert got == {
        ("autogen-no-privileged", "DaemonSet", "fail"),
        ("autogen-no-privileged", "Deployment", "fail"),
        ("autogen-no-privileged", "Job", "fail"),
        ("autogen-no-privileged", "ReplicaSet", "fail"),
        ("autogen-no-privileged", "StatefulSet", "fail"),
        ("autogen-cronjob-no-privileged", "CronJob", "fail"),
    }


def test_autogen_controllers_annotation_limits_generation():
    limited = policy(
        PRIVILEGED, annotations={"pod-policies.kyverno.io/autogen-controllers": "Deployment"}
    )
    deployment = _workload("Deployment", "apps/v1", "template")
    cronjob = _workload("CronJob", "batch/v1", "cron")
    assert verdicts(limited, deployment, cronjob) == [
        ("autogen-no-privileged", "Deployment", "deployment", "fail")
    ]
    none = policy(PRIVILEGED, annotations={"pod-policies.kyverno.io/autogen-controllers": "none"})
    assert verdicts(none, deployment, cronjob) == []


def test_autogen_rewrites_variables_to_the_template():
    validate = {
        "deny": {
            "conditions": {
                "any": [
                    {
                        "key": "{{ request.object.spec.hostNetwork || `false` }}",
                        "operator": "Equals",
                        "value": True,
                    }
                ]
            }
        }
    }
    pol = policy(rule(validate, name="no-host-network"))
    deployment = _workload("Deployment", "apps/v1", "template")
    deployment["spec"]["template"]["spec"]["hostNetwork"] = True
    assert verdicts(pol, deployment) == [
        ("autogen-no-host-network", "Deployment", "deployment", "fail")
    ]


# --- failure actions, unsupported features ----------------------------------------------------


def test_enforce_fails_and_audit_warns():
    deny = rule({"deny": {}})
    assert results(policy(deny, action="Enforce"), pod()) == ["fail"]
    assert results(policy(deny, action="Audit"), pod()) == ["warn"]
    per_rule = rule({"deny": {}, "failureAction": "Enforce"})
    assert results(policy(per_rule, action="Audit"), pod()) == ["fail"]


@pytest.mark.parametrize(
    ("extra", "feature"),
    [
        ({"mutate": {"patchStrategicMerge": {"metadata": {"labels": {"a": "b"}}}}}, "mutate"),
        ({"generate": {"kind": "ConfigMap", "name": "x"}}, "generate"),
        ({"verifyImages": [{"imageReferences": ["*"]}]}, "verifyImages"),
        (
            {"context": [{"name": "cm", "configMap": {"name": "x", "namespace": "y"}}]},
            "context.configMap",
        ),
        (
            {"context": [{"name": "api", "apiCall": {"urlPath": "/api/v1/namespaces"}}]},
            "context.apiCall",
        ),
    ],
)
def test_unsupported_features_give_an_error_naming_them(extra, feature):
    pol = policy({**rule({"pattern": {"metadata": {"name": "*"}}}, name="uses-it"), **extra})
    rows = evaluate([Policy(pol)], [Resource(pod())])
    assert [(r.result, r.rule) for r in rows] == [("error", "uses-it")]
    assert feature in rows[0].message and "p" in rows[0].message


@pytest.mark.parametrize(
    ("validate", "feature"),
    [
        ({"deny": {"conditions": {"any": [{"key": "{{ images.containers.*.registry }}", "operator": "AnyIn",
                                            "value": ["docker.io"]}]}}}, "the images variable"),
        ({"deny": {"conditions": {"any": [{"key": "{{ @ }}", "operator": "Equals", "value": "x"}]}}}, "the {{@}} variable"),
        ({"pattern": {"spec": {"containers": [{"name": "$(./../../metadata/name)"}]}}}, "pattern references $(...)"),
    ],
)
def test_variables_the_engine_does_not_resolve_give_an_error_never_a_verdict(validate, feature):
    rows = evaluate([Policy(policy(rule(validate, name="uses-it")))], [Resource(pod())])
    assert [(r.result, r.rule) for r in rows] == [("error", "uses-it")]
    assert feature in rows[0].message


def test_pod_security_subrule_is_an_error_never_a_pass():
    pol = policy(rule({"podSecurity": {"level": "baseline", "version": "latest"}}))
    assert results(pol, pod()) == ["error"]


def test_variable_context_entries_are_supported():
    pol = policy(
        rule(
            {
                "deny": {
                    "conditions": {
                        "any": [{"key": "{{ team }}", "operator": "Equals", "value": "none"}]
                    }
                }
            },
            context=[
                {
                    "name": "team",
                    "variable": {
                        "jmesPath": "request.object.metadata.labels.team",
                        "default": "none",
                    },
                }
            ],
        )
    )
    assert results(pol, pod()) == ["fail"]
    assert results(pol, pod(labels={"team": "ml"})) == ["pass"]


# --- the command --------------------------------------------------------------------------


POLICY_YAML = """
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: require-team}
spec:
  validationFailureAction: {action}
  rules:
    - name: team-label
      match: {any: [{resources: {kinds: [Pod]}}]}
      validate:
        message: pods need a team label
        pattern: {metadata: {labels: {team: "?*"}}}
"""

POD_YAML = """
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {team: ml}}
spec: {containers: [{name: a, image: nginx:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: %s}
spec: {containers: [{name: a, image: nginx:1}]}
"""


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("guardrails", "check", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def files(tmp_path):
    def write(name, text):
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def test_exit_code_0_when_everything_passes(files):
    pol = files("p.yaml", POLICY_YAML.replace("{action}", "Enforce"))
    res = files("r.yaml", POD_YAML.split("---")[0])
    assert run("--policy", pol, "--resource", res)[0] == 0


def test_exit_code_0_when_violations_are_only_warnings(files):
    pol = files("p.yaml", POLICY_YAML.replace("{action}", "Audit"))
    res = files("r.yaml", POD_YAML % "no-team")
    code, out, _err = run("--policy", pol, "--resource", res)
    assert code == 0
    assert '"warn": 1' in out


def test_exit_code_1_on_a_violation_and_text_table(files):
    pol = files("p.yaml", POLICY_YAML.replace("{action}", "Enforce"))
    res = files("r.yaml", POD_YAML % "no-team")
    code, out, _err = run("--policy", pol, "--resource", res, "--format", "text")
    assert code == 1
    assert ["FAIL", "require-team", "team-label", "Pod/default/no-team"] in [
        line.split()[:4] for line in out.splitlines()
    ]
    assert "1 pass, 1 fail, 0 skip, 0 error, 0 warn" in out


def test_repeated_options_and_directories_are_read(files, tmp_path):
    pol = files("p.yaml", POLICY_YAML.replace("{action}", "Enforce"))
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "a.yaml").write_text(POD_YAML % "one")
    res = files("r.yaml", POD_YAML % "two")
    code, out, _err = run("--policy", pol, "--resource", str(tmp_path / "more"), "--resource", res)
    assert code == 1
    assert out.count('"result"') == 4


def test_exit_code_2_for_a_missing_file(files):
    pol = files("p.yaml", POLICY_YAML.replace("{action}", "Enforce"))
    code, out, err = run("--policy", pol, "--resource", "/nonexistent/r.yaml")
    assert (code, out) == (2, "")
    assert "/nonexistent/r.yaml: no such file or directory" in err


def test_exit_code_2_for_malformed_yaml_names_the_line(files):
    pol = files("p.yaml", POLICY_YAML.replace("{action}", "Enforce"))
    res = files("r.yaml", "kind: Pod\nmetadata: {name: [unclosed\n")
    code, _out, err = run("--policy", pol, "--resource", res)
    assert code == 2
    assert "r.yaml: line 3" in err


def test_exit_code_2_for_duplicate_keys(files):
    pol = files("p.yaml", POLICY_YAML.replace("{action}", "Enforce"))
    res = files("r.yaml", "kind: Pod\nmetadata:\n  name: a\n  name: b\n")
    code, _out, err = run("--policy", pol, "--resource", res)
    assert code == 2
    assert "found duplicate key 'name' (first defined on line 3)" in err


def test_exit_code_2_for_a_file_over_the_size_limit(files, settings):
    settings.PORTAL_YAML_MAX_BYTES = 2048
    pol = files("p.yaml", POLICY_YAML.replace("{action}", "Enforce"))
    res = files("r.yaml", POD_YAML % "x" + "#" * 4096 + "\n")
    code, _out, err = run("--policy", pol, "--resource", res)
    assert code == 2
    assert "over the limit of 2048" in err

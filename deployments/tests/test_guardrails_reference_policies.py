"""The reference platform's five Kyverno policies against compliant and violating manifests.

The whole result list is compared with an exact table (manifest x policy x rule -> verdict),
so a rule that silently stops matching, or starts matching too much, fails the test.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
from django.core.management import call_command

from deployments.guardrails.check import SCHEMA_PATH

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
POLICIES = FIXTURES / "neuroscale" / "infrastructure" / "kyverno" / "policies"

MANIFESTS = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: good-api
  namespace: default
  labels: {owner: team-ml, cost-center: cc-1234}
spec:
  template:
    spec:
      containers:
        - name: api
          image: ghcr.io/neuroscale/api:1.4.2
          securityContext: {runAsNonRoot: true}
          resources:
            requests: {cpu: 250m, memory: 256Mi}
            limits: {cpu: 500m, memory: 512Mi}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad-api
  labels: {owner: team-ml}
spec:
  template:
    spec:
      containers:
        - name: api
          image: nginx:latest
          resources:
            requests: {cpu: 250m}
        - name: sidecar
          image: busybox
          securityContext: {runAsNonRoot: true}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: iris-predictor-00001-deployment
  namespace: default
  labels: {serving.knative.dev/configuration: iris-predictor}
spec:
  template:
    spec:
      containers:
        - name: kserve-container
          image: kserve/sklearnserver:v0.11.0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: elsewhere
  namespace: team-a
spec:
  template:
    spec:
      containers:
        - name: api
          image: nginx:latest
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris
  namespace: default
  labels: {owner: team-ml, cost-center: cc-1234}
spec:
  predictor:
    sklearn: {storageUri: "gs://kfserving-examples/models/sklearn/1.0/model"}
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: no-cost-centre
  namespace: default
  labels: {owner: team-ml}
spec:
  predictor:
    sklearn: {storageUri: "gs://kfserving-examples/models/sklearn/1.0/model"}
"""

LATEST = ("disallow-latest-image-tag", "validate-deployment-container-tags")
ROOT = ("disallow-root-containers", "check-runAsNonRoot-on-deployment")
LIMITS = ("require-resource-requests-limits", "validate-deployment-container-resources")
DEPLOY_LABELS = ("require-standard-labels-deployment", "check-owner-and-cost-center-on-deployment")
ISVC_LABELS = ("require-standard-labels-inferenceservice", "check-owner-and-cost-center-on-isvc")

EXPECTED = {
    # (policy, rule, kind, name): result
    (*LATEST, "Deployment", "bad-api"): "fail",
    (*LATEST, "Deployment", "good-api"): "pass",
    (*LATEST, "Deployment", "iris-predictor-00001-deployment"): "pass",
    (*ROOT, "Deployment", "bad-api"): "fail",
    (*ROOT, "Deployment", "good-api"): "pass",
    (*LIMITS, "Deployment", "bad-api"): "fail",
    (*LIMITS, "Deployment", "good-api"): "pass",
    (*DEPLOY_LABELS, "Deployment", "bad-api"): "fail",
    (*DEPLOY_LABELS, "Deployment", "good-api"): "pass",
    (*ISVC_LABELS, "InferenceService", "iris"): "pass",
    (*ISVC_LABELS, "InferenceService", "no-cost-centre"): "fail",
}


def _check(tmp_path) -> tuple[int, dict]:
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(MANIFESTS)
    out = io.StringIO()
    try:
        call_command(
            "guardrails",
            "check",
            "--policy",
            str(POLICIES),
            "--resource",
            str(manifests),
            stdout=out,
            stderr=io.StringIO(),
        )
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue())


def test_reference_policies_give_exactly_the_expected_verdicts(tmp_path):
    code, output = _check(tmp_path)

    table = {
        (r["policy"], r["rule"], r["resource"]["kind"], r["resource"]["name"]): r["result"]
        for r in output["results"]
    }
    assert table == EXPECTED
    assert len(output["results"]) == len(EXPECTED)
    assert code == 1
    assert output["summary"] == {"pass": 6, "fail": 5, "skip": 0, "error": 0, "warn": 0}


def test_reference_rows_are_sorted_and_carry_the_default_namespace(tmp_path):
    _code, output = _check(tmp_path)

    keys = [
        (
            r["policy"],
            r["rule"],
            r["resource"]["kind"],
            r["resource"]["namespace"],
            r["resource"]["name"],
        )
        for r in output["results"]
    ]
    assert keys == sorted(keys)
    assert {r["resource"]["namespace"] for r in output["results"]} == {"default"}


def test_reference_violation_messages_name_the_policy_message(tmp_path):
    _code, output = _check(tmp_path)

    messages = {
        (r["policy"], r["resource"]["name"]): r["message"]
        for r in output["results"]
        if r["result"] == "fail"
    }
    assert "metadata.labels.cost-center" in messages[(ISVC_LABELS[0], "no-cost-centre")]
    assert "/metadata/labels/cost-center/" in messages[(ISVC_LABELS[0], "no-cost-centre")]
    assert "non-latest tag" in messages[(LATEST[0], "bad-api")]


def test_check_output_matches_the_published_json_schema(tmp_path):
    _code, output = _check(tmp_path)

    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validate(output, schema)

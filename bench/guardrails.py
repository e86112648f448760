"""Guardrails benchmark: N InferenceService and Deployment manifests through the Kyverno engine.

    .venv/bin/python bench/guardrails.py --count 1000 --repeat 5

Half InferenceServices, half Deployments (one in five Deployments violating), as one YAML
stream: the time covers parsing it and evaluating every manifest against the reference
platform's policies plus the pod-security policies of ../shared/fixtures/kyverno-tests (whose
Pod rules reach Deployments as auto-generated rules). Policies are loaded before the clock
starts, as the portal keeps them. `seconds` is the median of `--repeat` runs (`min_seconds` the
fastest; `parse_seconds` the YAML part of the median run). Prints one JSON line;
docs/performance.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
REFERENCE_POLICIES = FIXTURES / "neuroscale" / "infrastructure" / "kyverno" / "policies"
KYVERNO_CASES = FIXTURES / "kyverno-tests" / "cases"
POD_SECURITY_CASES = [
    "01-disallow-host-ports",
    "02-disallow-host-ports-range",
    "03-disallow-host-process",
    "04-disallow-proc-mount",
    "05-disallow-selinux",
    "06-restrict-apparmor-profiles",
    "07-restrict-seccomp",
    "08-restrict-sysctls",
    "09-disallow-capabilities-strict",
    "10-restrict-seccomp-strict",
    "11-restrict-volume-types",
]

ISVC = """apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: model-{i:05d}
  namespace: default
  labels:
    owner: team-{team:02d}
    cost-center: cc-{team:04d}
spec:
  predictor:
    minReplicas: 1
    sklearn:
      storageUri: gs://models/model-{i:05d}
      resources:
        requests: {{cpu: 500m, memory: 1Gi}}
        limits: {{cpu: "1", memory: 2Gi}}
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i:05d}
  namespace: default
  labels:
    owner: team-{team:02d}
{cost_center}spec:
  replicas: 2
  selector:
    matchLabels: {{app: app-{i:05d}}}
  template:
    metadata:
      labels: {{app: app-{i:05d}}}
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile: {{type: RuntimeDefault}}
      containers:
        - name: app
          image: ghcr.io/neuroscale/app:{tag}
          ports:
            - containerPort: 8080
          securityContext:
            allowPrivilegeEscalation: false
            runAsNonRoot: true
            capabilities: {{drop: [ALL]}}
          resources:
            requests: {{cpu: 250m, memory: 256Mi}}
            limits: {{cpu: 500m, memory: 512Mi}}
"""


def manifests(count: int) -> str:
    documents = []
    for i in range(count):
        team = i % 40
        if i % 2 == 0:
            documents.append(ISVC.format(i=i, team=team))
        else:
            violating = i % 10 == 1
            documents.append(
                DEPLOYMENT.format(
                    i=i,
                    team=team,
                    tag="latest" if violating else "1.4.2",
                    cost_center="" if violating else f"    cost-center: cc-{team:04d}\n",
                )
            )
    return "---\n".join(documents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="manifests to check")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the median is reported")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("PORTAL_LOG_LEVEL", "warning")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from deployments.guardrails.check import load_policies
    from deployments.guardrails.kyverno import Resource, evaluate
    from portal.yamlsafe import load_all

    policy_paths = [REFERENCE_POLICIES] + [
        KYVERNO_CASES / c / "policies" for c in POD_SECURITY_CASES
    ]
    policies = load_policies(policy_paths)
    text = manifests(args.count)

    runs = []
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        documents = load_all(text, max_bytes=len(text.encode()) + 1)
        parsed = time.perf_counter()
        rows = evaluate(policies, [Resource(doc) for doc in documents])
        runs.append((time.perf_counter() - start, parsed - start))
    runs.sort()
    seconds, parse_seconds = runs[len(runs) // 2]

    results: dict[str, int] = {}
    for row in rows:
        results[row.result] = results.get(row.result, 0) + 1
    print(
        json.dumps(
            {
                "bench": "guardrails",
                "manifests": len(documents),
                "policies": len(policies),
                "rows": len(rows),
                "results": dict(sorted(results.items())),
                "seconds": round(seconds, 3),
                "min_seconds": round(runs[0][0], 3),
                "parse_seconds": round(parse_seconds, 3),
                "repeat": len(runs),
                "yaml_bytes": len(text.encode()),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()

"""Guardrails: the GitOps repository's own Kyverno policies, evaluated in Python.

`check()` reads policy and resource files and returns a `Report`; `kyverno.evaluate()` works
on documents already loaded.
"""

from .check import InputError, Report, check
from .kyverno import Policy, Resource, Row, evaluate

__all__ = ["InputError", "Policy", "Report", "Resource", "Row", "check", "evaluate"]

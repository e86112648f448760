"""`manage.py demo`, which `make run` calls on every start: the demo's users, its catalog, its
budgets and its saved inference example, made once and never duplicated or overwritten."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import Entity
from deployments.models import Budget, EndpointExample

pytestmark = pytest.mark.django_db


def run_demo() -> str:
    out = StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def test_demo_prints_logins_and_loads_catalog_budgets_and_an_example(gitops_repo, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    printed = run_demo()
    assert "dana" in printed and "priya" in printed and "admin" in printed
    assert get_user_model().objects.get(username="admin").is_superuser
    assert Entity.objects.filter(ref="component:default/demo-iris-2").exists()
    assert set(Budget.objects.values_list("cost_center", flat=True)) >= {"cc-fraud", "cc-search", "cc-platform"}
    example = EndpointExample.objects.get(entity_ref="component:default/demo-iris-2")
    assert '"instances"' in example.payload


def test_a_second_start_keeps_what_an_admin_changed(gitops_repo, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    run_demo()
    Budget.objects.filter(cost_center="cc-fraud").update(amount=500)
    EndpointExample.objects.filter(entity_ref="component:default/demo-iris-2").update(payload='{"instances": [[1, 2, 3, 4]]}')
    first_password = (tmp_path / "demo-logins.txt").read_text()
    run_demo()
    assert Budget.objects.get(cost_center="cc-fraud").amount == 500
    assert EndpointExample.objects.get(entity_ref="component:default/demo-iris-2").payload == '{"instances": [[1, 2, 3, 4]]}'
    assert (tmp_path / "demo-logins.txt").read_text() == first_password

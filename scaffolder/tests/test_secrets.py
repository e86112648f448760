"""Secrets: encrypted at rest, used by expressions, never in events or logs, wiped at the end."""

from __future__ import annotations

import json
import stat

import pytest
from cryptography.fernet import Fernet

from portal import crypto
from scaffolder import runner, services
from scaffolder.choices import TaskStatus
from scaffolder.models import Task
from scaffolder.tests import task_helpers
from scaffolder.tests.task_helpers import REFERENCE_VALUES, template

task_catalog = task_helpers.task_catalog  # fixture

API_KEY = "sk-live-8f3a9c2b"
PASSWORD = "hunter2-correct-horse"


def test_values_round_trip_and_a_damaged_token_is_refused(settings):
    settings.PORTAL_SECRETS_KEY = Fernet.generate_key().decode()
    token = crypto.encrypt_json({"token": API_KEY})

    assert API_KEY.encode() not in token
    assert crypto.decrypt_json(token) == {"token": API_KEY}
    assert crypto.encrypt_json({}) == b"" and crypto.decrypt_json(b"", {}) == {}
    settings.PORTAL_SECRETS_KEY = Fernet.generate_key().decode()
    with pytest.raises(crypto.DecryptionError, match="PORTAL_SECRETS_KEY"):
        crypto.decrypt_json(token)


def test_development_key_is_generated_once_readable_by_its_owner_only(settings, tmp_path):
    settings.PORTAL_SECRETS_KEY = ""
    settings.DATA_DIR = tmp_path
    token = crypto.encrypt_json({"a": 1})

    key_file = tmp_path / crypto.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert crypto.decrypt_json(token) == {"a": 1}, "the next use reads the same key"


def test_a_bad_configured_key_says_what_a_key_looks_like(settings):
    settings.PORTAL_SECRETS_KEY = "not-a-key"
    with pytest.raises(ValueError, match="32 url-safe base64-encoded bytes"):
        crypto.encrypt_json({"a": 1})


@pytest.fixture
def secret_template(task_catalog):
    """The reference template with a password field and steps that use the secrets."""
    entity = template()
    page = entity.document["spec"]["parameters"][0]
    page["properties"]["registryPassword"] = {"type": "string", "title": "Registry password", "ui:widget": "password"}
    entity.document["spec"]["steps"].insert(1, {
        "id": "use", "name": "Use the secrets", "action": "debug:log",
        "input": {"message": "Logging in with ${{ parameters.registryPassword }} and ${{ secrets.apiKey }}"},
    })
    entity.document["spec"]["steps"].insert(2, {
        "id": "write", "name": "Write a file", "action": "catalog:write",
        "input": {"filePath": "secret-check.yaml", "entity": {"password": "${{ parameters.registryPassword }}"}},
    })
    entity.save()
    return entity


def test_secrets_are_encrypted_at_rest_masked_in_values_and_events_and_wiped(secret_template, dana):
    values = {**REFERENCE_VALUES, "registryPassword": PASSWORD}
    task = services.create_task(secret_template, values, user=dana, secrets={"apiKey": API_KEY})

    stored = Task.objects.get(pk=task.pk)
    assert stored.values["registryPassword"] == "***"
    raw = bytes(stored.secrets_encrypted)
    assert raw and PASSWORD.encode() not in raw and API_KEY.encode() not in raw

    assert runner.run(task.pk) == TaskStatus.COMPLETED

    task.refresh_from_db()
    assert bytes(task.secrets_encrypted) == b"", "wiped when the task ended"
    events = json.dumps([event.body for event in task.events.all()])
    assert PASSWORD not in events and API_KEY not in events
    assert "Logging in with *** and ***" in task_helpers.messages(task)
    # The expressions saw the real value: it reached the step that wrote it.
    written = runner.decode_files(task.steps.get(step_id="write").files)["secret-check.yaml"]
    assert PASSWORD.encode() in written
    assert PASSWORD not in json.dumps(task.values) + json.dumps(task.output)


def test_an_error_quoting_a_secret_is_masked(secret_template, dana):
    secret_template.document["spec"]["steps"].insert(0, {
        "id": "boom", "action": "fs:rename", "input": {"files": [{"from": "${{ secrets.apiKey }}.txt", "to": "x"}]},
    })
    secret_template.save()
    task = services.create_task(secret_template, {**REFERENCE_VALUES, "registryPassword": PASSWORD}, user=dana,
                                secrets={"apiKey": API_KEY})

    assert runner.run(task.pk) == TaskStatus.FAILED

    task.refresh_from_db()
    assert "***.txt" in task.error and API_KEY not in task.error
    assert API_KEY not in json.dumps([event.body for event in task.events.all()])
    assert bytes(task.secrets_encrypted) == b""


def test_retry_asks_for_wiped_secret_values_again(secret_template, dana, monkeypatch):
    from deployments.gitops.local import LocalProvider
    from portal.repository import PermanentError

    task = services.create_task(secret_template, {**REFERENCE_VALUES, "registryPassword": PASSWORD}, user=dana)
    original = LocalProvider.open_change
    monkeypatch.setattr(LocalProvider, "open_change", lambda self, **kw: (_ for _ in ()).throw(PermanentError("no")))
    runner.run(task.pk)
    monkeypatch.setattr(LocalProvider, "open_change", original)

    with pytest.raises(services.TaskStateError, match="give them again to retry: registryPassword"):
        services.retry_task(task, dana)
    services.retry_task(task, dana, secrets={"registryPassword": PASSWORD})

    assert runner.run(task.pk) == TaskStatus.COMPLETED

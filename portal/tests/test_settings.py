"""Settings come from the environment, strictly: junk and unsafe production setups stop the process."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal import env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_settings(tmp_path, **variables) -> subprocess.CompletedProcess:
    """Import the settings module in a fresh interpreter with exactly these variables."""
    environment = {"PATH": os.environ["PATH"], "PORTAL_DATA_DIR": str(tmp_path), **variables}
    code = "import portal.settings as s; print(s.DATABASES['default']['ENGINE'], s.DEBUG, s.PORTAL_POLL_SECONDS)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)


@pytest.mark.parametrize(("raw", "expected"), [("False", False), ("true", True), ("0", False), ("YES", True), ("off", False)])
def test_booleans_accept_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("PORTAL_FLAG", raw)
    assert env.boolean("PORTAL_FLAG", default=not expected) is expected


def test_a_misspelt_boolean_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("PORTAL_FLAG", "flase")
    with pytest.raises(ImproperlyConfigured, match="PORTAL_FLAG='flase' is not a boolean"):
        env.boolean("PORTAL_FLAG", default=False)


def test_numbers_are_checked(monkeypatch):
    monkeypatch.setenv("PORTAL_POLL_SECONDS", "ten")
    with pytest.raises(ImproperlyConfigured, match="PORTAL_POLL_SECONDS='ten' is not a whole number"):
        env.integer("PORTAL_POLL_SECONDS", 10)
    monkeypatch.setenv("PORTAL_POLL_SECONDS", "0")
    with pytest.raises(ImproperlyConfigured, match="below the minimum of 1"):
        env.integer("PORTAL_POLL_SECONDS", 10, minimum=1)


def test_secrets_come_from_a_file_too(monkeypatch, tmp_path):
    secret_file = tmp_path / "token"
    secret_file.write_text("s3cret\n")
    monkeypatch.setenv("PORTAL_GITHUB_TOKEN_FILE", str(secret_file))
    assert env.secret("PORTAL_GITHUB_TOKEN") == "s3cret"
    monkeypatch.setenv("PORTAL_GITHUB_TOKEN", "other")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env.secret("PORTAL_GITHUB_TOKEN")


def test_defaults_run_on_one_machine(tmp_path):
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "False", "10"]
    assert (tmp_path / "secret_key").exists(), "a development secret key is generated into the data folder"


def test_a_bad_value_stops_the_process_with_its_name(tmp_path):
    result = load_settings(tmp_path, PORTAL_DEBUG="maybe")
    assert result.returncode != 0
    assert "PORTAL_DEBUG='maybe' is not a boolean" in result.stderr


@pytest.mark.parametrize(
    ("variables", "missing"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "x" * 50}, "ALLOWED_HOSTS"),
        ({"SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "portal.example.com"}, "DATABASE_URL"),
        (
            {"SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "portal.example.com", "DATABASE_URL": "postgres://db/portal"},
            "PORTAL_SECRETS_KEY",
        ),
    ],
)
def test_production_refuses_to_start_without_what_it_needs(tmp_path, variables, missing):
    result = load_settings(tmp_path, PORTAL_ENV="production", **variables)
    assert result.returncode != 0
    assert f"PORTAL_ENV=production needs {missing}" in result.stderr


def test_production_starts_when_everything_is_set(tmp_path):
    result = load_settings(
        tmp_path,
        PORTAL_ENV="production",
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="portal.example.com",
        DATABASE_URL="postgres://db/portal",
        PORTAL_SECRETS_KEY="k" * 44,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "django.db.backends.postgresql"

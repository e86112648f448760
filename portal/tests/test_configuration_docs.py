"""Every variable the settings read is documented and listed in the example environment file."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r'"((?:PORTAL_[A-Z_]+)|DATABASE_URL|CELERY_BROKER_URL|SECRET_KEY|ALLOWED_HOSTS)"')


def settings_variables() -> set[str]:
    return set(VARIABLE.findall((ROOT / "portal" / "settings.py").read_text())) - {"PORTAL_GITOPS_PROVIDERS"}


def test_every_setting_is_in_the_configuration_docs():
    documented = (ROOT / "docs" / "configuration.md").read_text()
    missing = sorted(name for name in settings_variables() if f"`{name}`" not in documented)
    assert missing == []


def test_every_setting_is_in_the_example_environment_file():
    example = (ROOT / "docker" / ".env.example").read_text()
    missing = sorted(name for name in settings_variables() if not re.search(rf"^#? ?{name}(_FILE)?=", example, re.M))
    assert missing == []

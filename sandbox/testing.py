"""pytest fixtures for tests that need a cluster; import them into a conftest.py:

    from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.runner import Sandbox, running_sandbox


@pytest.fixture(name="sandbox")
def sandbox_fixture() -> Iterator[Sandbox]:
    """A fresh, empty sandbox cluster for one test: `.url`, `.api_client`, `.store`, `.requests`."""
    with running_sandbox() as running:
        yield running

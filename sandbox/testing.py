"""pytest fixtures for tests that need a cluster or a model server; import them into a conftest.py:

    from sandbox.testing import model_server_fixture, sandbox_fixture  # noqa: F401
    # provides `sandbox` (a fresh cluster per test) and `model_server` (one per session)
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.runner import Sandbox, running_sandbox

ROOT = Path(__file__).resolve().parent.parent
#: Training the classifier and importing kserve take a few seconds; on a busy machine more.
MODEL_SERVER_START_TIMEOUT = 120.0


@pytest.fixture(name="sandbox")
def sandbox_fixture() -> Iterator[Sandbox]:
    """A fresh, empty sandbox cluster for one test: `.url`, `.api_client`, `.store`, `.requests`."""
    with running_sandbox() as running:
        yield running


@dataclass
class ModelServerProcess:
    """A running `python -m sandbox.modelserver`: `.url` answers for every model name."""

    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_model_server(timeout: float = MODEL_SERVER_START_TIMEOUT) -> ModelServerProcess:
    """Start the shared model server on a free port; return once it answers (it prints its URL then)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.modelserver", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    first_line: list[str] = []
    reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    url = first_line[0].strip() if first_line else ""
    if not url.startswith("http://"):
        process.kill()
        _, errors = process.communicate(timeout=10)
        raise RuntimeError(f"the sandbox model server did not start within {timeout:g} s:\n{errors[-3000:]}")
    # Keep reading both pipes so a chatty server never blocks on a full pipe.
    for stream in (process.stdout, process.stderr):
        threading.Thread(target=lambda s=stream: [None for _ in s], daemon=True).start()
    return ModelServerProcess(url, process)


@pytest.fixture(name="model_server", scope="session")
def model_server_fixture() -> Iterator[ModelServerProcess]:
    """The shared KServe model server (iris SVC, every model name) for the whole test session."""
    server = start_model_server()
    try:
        yield server
    finally:
        server.stop()

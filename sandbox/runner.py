"""Running the sandbox API server: on a background thread, with a client and a kubeconfig."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from aiohttp import web
from kubernetes import client

from sandbox import opencost
from sandbox.apiserver import DEFAULT_WATCH_TIMEOUT, RequestCounter, create_app
from sandbox.store import Store


class SandboxServer:
    """The sandbox API server on its own thread and event loop, bound to 127.0.0.1.

    Routes, startup hooks and cleanup contexts added to `app` before `start()` run with it.
    OpenCost's allocation API is served too (`opencost`: its prices, clock and repository
    source can be set at any time; see sandbox/opencost.py).
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        watch_timeout: float = DEFAULT_WATCH_TIMEOUT,
    ):
        self.store = store if store is not None else Store()
        self.requests = RequestCounter()
        self.app = create_app(self.store, self.requests, watch_timeout=watch_timeout)
        self.opencost = opencost.install(self.app, self.store)
        self.host = host
        self.port = port  # 0 until started: then the port the system picked
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        ready = threading.Event()
        failures: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failures), name="sandbox-apiserver", daemon=True)
        self._thread.start()
        ready.wait()
        if failures:
            raise failures[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _run(self, ready: threading.Event, failures: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # Open watches end at once on shutdown (the app's on_shutdown hook), so a short
        # grace period is enough.
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self.port)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]
        except BaseException as exc:
            failures.append(exc)
            ready.set()
            loop.close()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    # --- Clients -----------------------------------------------------------------------------

    def configuration(self) -> client.Configuration:
        configuration = client.Configuration()
        configuration.host = self.url
        return configuration

    def api_client(self) -> client.ApiClient:
        """A `kubernetes` client for this server (close it when done)."""
        return client.ApiClient(self.configuration())

    def write_kubeconfig(self, path: str | Path, *, context: str = "sandbox", namespace: str = "default") -> Path:
        return write_kubeconfig(path, self.url, context=context, namespace=namespace)


def write_kubeconfig(path: str | Path, server: str, *, context: str = "sandbox", namespace: str = "default") -> Path:
    """A kubeconfig with one context for `server`, for `kubernetes.config.load_kube_config`.

    The sandbox needs no credentials, so the user entry is empty.
    """
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server}}],
        "users": [{"name": context, "user": {}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
        "current-context": context,
        "preferences": {},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside then renamed: a client polling for the file never reads half of it.
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(yaml.safe_dump(document, sort_keys=False))
    partial.replace(path)
    return path


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox: its base URL, a client configured for it, and the server itself."""

    url: str
    api_client: client.ApiClient
    server: SandboxServer

    @property
    def store(self) -> Store:
        return self.server.store

    @property
    def requests(self) -> RequestCounter:
        return self.server.requests


@contextmanager
def running_sandbox(store: Store | None = None, **options) -> Iterator[Sandbox]:
    """Start a sandbox for the length of a `with` block."""
    with SandboxServer(store, **options) as server:
        api_client = server.api_client()
        try:
            yield Sandbox(server.url, api_client, server)
        finally:
            api_client.close()

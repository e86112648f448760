"""Shared test fixtures: personas, a real GitOps repository, a real Celery worker, a browser."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portal.testing import wait_for  # noqa: F401  (re-exported for tests)

ROOT = Path(__file__).resolve().parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
EXAMPLES = ROOT / "examples" / "gitops"

# Playwright's sync API runs an event loop in the test thread; the ORM calls made by the same
# tests are still synchronous, so Django's async-safety guard is relaxed for the test run.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# --- Database ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """SQLite tests use a file (not memory), so a worker process can open the same database."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        folder = settings.DATA_DIR / "test-db"
        folder.mkdir(parents=True, exist_ok=True)
        db.setdefault("TEST", {})["NAME"] = str(folder / f"test-{os.getpid()}.sqlite3")


# --- Personas ------------------------------------------------------------------------------


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    def make(username: str, *, password: str = "correct-horse-battery", groups=(), superuser=False):
        from portal.models import Membership

        user = get_user_model().objects.create_user(username=username, password=password)
        if superuser:
            user.is_superuser = user.is_staff = True
            user.save()
        for group in groups:
            Membership.objects.create(
                user_ref=f"user:default/{username}", group_ref=f"group:default/{group}", direct=True, can_manage=True
            )
        return user

    return make


@pytest.fixture
def dana(make_user):
    """An ML engineer on the fraud-detection team."""
    return make_user("dana", groups=["fraud-detection"])


@pytest.fixture
def priya(make_user):
    """A platform admin (member of PORTAL_ADMIN_GROUP)."""
    return make_user("priya", groups=["platform-team"])


@pytest.fixture
def outsider(make_user):
    """A signed-in user in no team."""
    return make_user("olaf")


# --- GitOps repository ---------------------------------------------------------------------


def seed_repository(path: Path, source: Path) -> None:
    from deployments.gitops.local import LocalProvider

    if path.exists():
        shutil.rmtree(path)
    LocalProvider(path).seed(source)


@pytest.fixture
def gitops_repo(tmp_path, settings):
    """A real bare git repository seeded from examples/gitops/, configured as the local provider."""
    path = tmp_path / "gitops.git"
    seed_repository(path, EXAMPLES)
    settings.PORTAL_GITOPS_PROVIDER = "local"
    settings.PORTAL_GITOPS_REPO_PATH = path
    return path


# --- A real Celery worker --------------------------------------------------------------------


class WorkerProcess:
    def __init__(self, process: subprocess.Popen, env: dict[str, str], log_path: Path, broker_url: str, options: dict):
        self.process = process
        self.env = env
        self.log_path = log_path
        self.broker = (broker_url, options)

    @contextlib.contextmanager
    def attached(self):
        """While open, the test process enqueues to this worker's broker; elsewhere tasks stay
        queued where nothing consumes them, as the tests without a worker expect."""
        from portal.celery import app

        saved = (app.conf.broker_url, app.conf.broker_write_url, app.conf.broker_read_url,
                 app.conf.broker_transport_options)
        _use_broker(app, *self.broker)
        try:
            yield self
        finally:
            _use_broker(app, saved[0], saved[3], write_url=saved[1], read_url=saved[2])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_idle(self, timeout: float = 60.0, quiet: float = 0.5) -> None:
        """Wait until every task the worker received has finished and none came for `quiet` s.

        A test's teardown empties the database; a task still writing to it then (e.g. catalog
        ingestion after a snapshot refresh) would block the flush or leave rows behind.
        """
        deadline = time.monotonic() + timeout
        settled_since = None
        while time.monotonic() < deadline:
            log = self.log()
            received = set(TASK_RECEIVED.findall(log))
            finished = set(TASK_FINISHED.findall(log))
            if received <= finished:
                settled_since = settled_since or time.monotonic()
                if time.monotonic() - settled_since >= quiet:
                    return
            else:
                settled_since = None
            time.sleep(0.1)
        raise AssertionError(f"The worker was still busy after {timeout}s:\n{self.log()[-3000:]}")


TASK_RECEIVED = re.compile(r"Task [\w.]+\[([0-9a-f-]+)\] received")
TASK_FINISHED = re.compile(r"Task [\w.]+\[([0-9a-f-]+)\] (?:succeeded|failed|raised|retry)")


def _use_broker(app, url: str, options: dict, *, write_url=None, read_url=None) -> None:
    """Point the Celery app at a broker. The app's pools are dropped (kombu keeps one pool per
    broker URL and hands it back when the app switches back), so producers follow the switch."""
    app.conf.broker_url = url
    app.conf.broker_write_url = write_url if write_url is not None else url
    app.conf.broker_read_url = read_url if read_url is not None else url
    app.conf.broker_transport_options = options
    app._pool = None
    app.amqp._producer_pool = None


def _test_database_url(db: dict) -> str:
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}{port}/{db['NAME']}"


def _secrets_key() -> str:
    from django.conf import settings

    from portal import crypto

    crypto.fernet()  # creates the development key when there is none yet
    if settings.PORTAL_SECRETS_KEY:
        return settings.PORTAL_SECRETS_KEY
    return (Path(settings.DATA_DIR) / "secrets.key").read_text().strip()


def _isolated_broker(base_url: str, folder: Path, worker_index: int) -> tuple[str, dict]:
    """A broker of this test session's own: a fresh folder, or a Redis database by xdist worker."""
    if base_url.startswith("redis://"):
        stem = base_url.rsplit("/", 1)[0] if base_url.count("/") > 2 else base_url
        return f"{stem}/{10 + worker_index}", {"visibility_timeout": 3600}
    options = {
        "data_folder_in": str(folder / "broker" / "queue"),
        "data_folder_out": str(folder / "broker" / "queue"),
        "processed_folder": str(folder / "broker" / "processed"),
        "control_folder": str(folder / "broker" / "control"),
        "store_processed": False,
    }
    for key in ("data_folder_in", "processed_folder", "control_folder"):
        Path(options[key]).mkdir(parents=True, exist_ok=True)
    return "filesystem://", options


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory, worker_id):
    """A `celery worker` subprocess against the test database and a broker of its own.

    Tests that use it need `transactional_db` (the worker reads committed rows) and the
    `worker_repo` fixture when they touch the GitOps repository.
    """
    from django.conf import settings


    folder = tmp_path_factory.mktemp("worker")
    index = 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))
    broker_url, options = _isolated_broker(settings.CELERY_BROKER_URL, folder, index)
    if broker_url.startswith("redis://"):
        import redis

        redis.Redis.from_url(broker_url).flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(settings.DATABASES["default"]),
        "CELERY_BROKER_URL": broker_url,
        "PORTAL_DATA_DIR": str(folder),
        "PORTAL_GITOPS_REPO_PATH": str(folder / "gitops.git"),
        "PORTAL_LOG_JSON": "false",
        # The worker decrypts the secrets the test process stored: the same key.
        "PORTAL_SECRETS_KEY": _secrets_key(),
    }
    log_path = folder / "worker.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo",
             "--queues", "default,scaffolder,poll", "--without-heartbeat", "--without-mingle",
             "--without-gossip", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    worker = WorkerProcess(process, env, log_path, broker_url, options)
    deadline = time.monotonic() + 60
    while "ready." not in worker.log():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"Celery worker did not start:\n{worker.log()}")
        time.sleep(0.2)
    yield worker
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def worker_repo(celery_worker_process, settings):
    """The GitOps repository the worker reads, freshly seeded from examples/gitops/."""
    path = Path(celery_worker_process.env["PORTAL_GITOPS_REPO_PATH"])
    seed_repository(path, EXAMPLES)
    settings.PORTAL_GITOPS_PROVIDER = "local"
    settings.PORTAL_GITOPS_REPO_PATH = path
    with celery_worker_process.attached():
        yield path
        celery_worker_process.wait_idle()


# --- Browser ---------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
    "--disable-quic",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run `make test` (it installs chromium and chromium-driver).")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


#: The two widths every page is looked at: a laptop and a phone.
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


class BrowserPage:
    """A Playwright page that records console errors and can run axe-core."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.console_errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))

    def goto(self, path: str):
        return self.page.goto(self.base_url + path)

    def login(self, username: str, password: str = "correct-horse-battery"):
        self.goto("/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state("networkidle")

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def fits(self) -> bool:
        """Nothing on the page is wider than the window (no sideways scrolling)."""
        return self.page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")

    def check(self, name: str) -> None:
        """A look at the current page as a user would take it: no serious accessibility problem,
        nothing wider than a desktop or a phone screen, and a screenshot at both widths."""
        assert self.accessibility_violations() == [], name
        assert self.fits(), f"{name} scrolls sideways at 1280px"
        self.screenshot(name)
        self.page.set_viewport_size(PHONE)
        assert self.fits(), f"{name} scrolls sideways at 390px"
        self.screenshot(f"{name}-phone")
        self.page.set_viewport_size(DESKTOP)

    def accessibility_violations(self, impacts=("serious", "critical")) -> list[dict]:
        """axe-core's serious and critical violations on the current page."""
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate("async () => await axe.run(document)")
        return [
            {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"]
            if v["impact"] in impacts
        ]


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    browser_page = BrowserPage(context.new_page(), live_server.url)
    yield browser_page
    context.close()
    assert browser_page.console_errors == [], f"browser console errors: {browser_page.console_errors}"

"""NeuroScale Portal settings.

Every setting comes from an environment variable (prefix PORTAL_, except the conventional
DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY and ALLOWED_HOSTS) with a default that runs on
one machine. `docs/configuration.md` and `docker/.env.example` list them all.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from portal import env, logs

BASE_DIR = Path(__file__).resolve().parent.parent

# development | production; production refuses unsafe defaults.
PORTAL_ENV = env.choice("PORTAL_ENV", "development", ("development", "production"))
PRODUCTION = PORTAL_ENV == "production"
# Folder for SQLite, the filesystem broker, the local GitOps repository and generated keys.
DATA_DIR = Path(env.string("PORTAL_DATA_DIR", str(BASE_DIR / "var"))).resolve()


def _require(name: str) -> None:
    raise ImproperlyConfigured(f"PORTAL_ENV=production needs {name}: set it in the environment.")


def _generated_secret(filename: str) -> str:
    """A random secret kept in DATA_DIR, so development restarts keep sessions and keys."""
    path = DATA_DIR / filename
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(50)
    path.touch(mode=0o600)
    path.write_text(value)
    return value


# Django's signing key; generated into DATA_DIR in development, required in production.
SECRET_KEY = env.secret("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        _require("SECRET_KEY")
    SECRET_KEY = _generated_secret("secret_key")

# Detailed error pages; never in production.
DEBUG = env.boolean("PORTAL_DEBUG", False)
if DEBUG and PRODUCTION:
    raise ImproperlyConfigured("PORTAL_DEBUG=true is refused with PORTAL_ENV=production.")

# Host names this portal answers to (comma-separated).
ALLOWED_HOSTS = env.string_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    _require("ALLOWED_HOSTS")
# Origins trusted for CSRF when behind a TLS-terminating proxy (comma-separated URLs).
CSRF_TRUSTED_ORIGINS = env.string_list("PORTAL_CSRF_TRUSTED_ORIGINS")

# The database; SQLite under DATA_DIR by default, PostgreSQL in production.
DATABASE_URL = env.string("DATABASE_URL", f"sqlite:///{DATA_DIR / 'portal.sqlite3'}")
if PRODUCTION and DATABASE_URL.startswith("sqlite"):
    _require("DATABASE_URL (PostgreSQL; SQLite is for one machine)")
DATABASES = {"default": environ.Env.db_url_config(DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = env.integer("PORTAL_DB_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the worker write while the web process reads; the busy timeout waits for locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "django_htmx",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_structlog",
    "portal",
    "catalog",
    "scaffolder",
    "deployments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
# Development serves static files straight from the source folders; production from STATIC_ROOT.
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Cookies and transport: strict in production (TLS terminates in front of the portal).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Portal ---------------------------------------------------------------------------

# Members of this catalog Group (and superusers) are platform admins.
PORTAL_ADMIN_GROUP = env.string("PORTAL_ADMIN_GROUP", "platform-team")
# Fernet key for task secrets; generated into DATA_DIR in development, required in production.
PORTAL_SECRETS_KEY = env.secret("PORTAL_SECRETS_KEY")
if not PORTAL_SECRETS_KEY:
    if PRODUCTION:
        _require("PORTAL_SECRETS_KEY")
    PORTAL_SECRETS_KEY = ""  # generated on first use by portal.crypto, in DATA_DIR
# Seconds after which an API token's last use is recorded again (at most once a minute).
PORTAL_TOKEN_TOUCH_SECONDS = 60

# GitOps repository: `local` (a git repository on disk) or `github`.
PORTAL_GITOPS_PROVIDER = env.choice("PORTAL_GITOPS_PROVIDER", "local", ("local", "github"))
# Path of the local provider's bare repository, seeded from examples/gitops/ on first run.
PORTAL_GITOPS_REPO_PATH = Path(env.string("PORTAL_GITOPS_REPO_PATH", str(DATA_DIR / "gitops.git")))
# Folder the local repository is seeded from on first run.
PORTAL_GITOPS_SEED_PATH = Path(env.string("PORTAL_GITOPS_SEED_PATH", str(BASE_DIR / "examples" / "gitops")))
# Default branch of the GitOps repository.
PORTAL_GITOPS_DEFAULT_BRANCH = env.string("PORTAL_GITOPS_DEFAULT_BRANCH", "main")
# The root catalog location: a path inside the GitOps repository.
PORTAL_CATALOG_ROOT_LOCATION = env.string("PORTAL_CATALOG_ROOT_LOCATION", "catalog-info.yaml")
# Hosts that `url` catalog locations may fetch from (comma-separated); empty = none.
PORTAL_CATALOG_ALLOWED_HOSTS = env.string_list("PORTAL_CATALOG_ALLOWED_HOSTS")
# Largest YAML document the portal parses, in bytes.
PORTAL_YAML_MAX_BYTES = env.integer("PORTAL_YAML_MAX_BYTES", 1_048_576, minimum=1024)
# A processing task whose heartbeat is older than this many seconds is taken over.
PORTAL_TASK_STALE_SECONDS = env.integer("PORTAL_TASK_STALE_SECONDS", 60, minimum=5)
# Kyverno policies inside the GitOps repository.
PORTAL_POLICY_PATH = env.string("PORTAL_POLICY_PATH", "infrastructure/kyverno/policies")
# Namespace quotas and limit ranges inside the GitOps repository.
PORTAL_NAMESPACES_PATH = env.string("PORTAL_NAMESPACES_PATH", "infrastructure/namespaces")
# Extra CRD files or folders for schema checks (comma-separated paths).
PORTAL_CRD_PATHS = env.string_list("PORTAL_CRD_PATHS")
# GitHub provider: repository (owner/name), token, API URL and webhook secret.
PORTAL_GITHUB_REPOSITORY = env.string("PORTAL_GITHUB_REPOSITORY")
PORTAL_GITHUB_TOKEN = env.secret("PORTAL_GITHUB_TOKEN")
PORTAL_GITHUB_API_URL = env.string("PORTAL_GITHUB_API_URL", "https://api.github.com")
PORTAL_GITHUB_WEBHOOK_SECRET = env.secret("PORTAL_GITHUB_WEBHOOK_SECRET")
# A GitHub App instead of a token: its id, its private key (a PEM file) and the installation id.
PORTAL_GITHUB_APP_ID = env.string("PORTAL_GITHUB_APP_ID")
PORTAL_GITHUB_APP_PRIVATE_KEY_FILE = env.string("PORTAL_GITHUB_APP_PRIVATE_KEY_FILE")
PORTAL_GITHUB_APP_INSTALLATION_ID = env.string("PORTAL_GITHUB_APP_INSTALLATION_ID")
_GITHUB_APP = PORTAL_GITHUB_APP_ID and PORTAL_GITHUB_APP_PRIVATE_KEY_FILE and PORTAL_GITHUB_APP_INSTALLATION_ID
if PORTAL_GITOPS_PROVIDER == "github" and not (PORTAL_GITHUB_REPOSITORY and (PORTAL_GITHUB_TOKEN or _GITHUB_APP)):
    raise ImproperlyConfigured(
        "PORTAL_GITOPS_PROVIDER=github needs PORTAL_GITHUB_REPOSITORY and either PORTAL_GITHUB_TOKEN (or _FILE) "
        "or the three PORTAL_GITHUB_APP_ID, PORTAL_GITHUB_APP_PRIVATE_KEY_FILE and PORTAL_GITHUB_APP_INSTALLATION_ID."
    )
# Unit prices (USD) for cost estimates: per CPU hour, per GiB of memory hour, per GPU hour.
PORTAL_PRICE_CPU_HOUR = env.decimal("PORTAL_PRICE_CPU_HOUR", 0.031611)
PORTAL_PRICE_GIB_HOUR = env.decimal("PORTAL_PRICE_GIB_HOUR", 0.004237)
PORTAL_PRICE_GPU_HOUR = env.decimal("PORTAL_PRICE_GPU_HOUR", 0.95)
# Cluster access: a kubeconfig file and the clusters (contexts) to read; none = the sandbox.
# In development, unset means the sandbox's kubeconfig, which `make run` writes into DATA_DIR
# (so manage.py commands in another shell read the same cluster as the running portal).
PORTAL_KUBECONFIG = env.string("PORTAL_KUBECONFIG") or ("" if PRODUCTION else str(DATA_DIR / "sandbox.kubeconfig"))
PORTAL_CLUSTERS = env.string_list("PORTAL_CLUSTERS")
# Seconds between status polls.
PORTAL_POLL_SECONDS = env.integer("PORTAL_POLL_SECONDS", 10, minimum=1)
# OpenCost base URL for the default cluster; none = the sandbox's in development.
PORTAL_OPENCOST_URL = env.string("PORTAL_OPENCOST_URL")
# Seconds between cost fetches from OpenCost (yesterday's and today's figures, replaced).
PORTAL_COST_POLL_SECONDS = env.integer("PORTAL_COST_POLL_SECONDS", 900, minimum=10)
# When on, an endpoint that would take its cost centre over budget is refused unless an admin overrides.
PORTAL_BUDGET_HARD_STOP = env.boolean("PORTAL_BUDGET_HARD_STOP", False)
# Right-sizing: flag endpoints whose CPU or memory efficiency stays under this percentage ...
PORTAL_RIGHTSIZING_THRESHOLD = env.integer("PORTAL_RIGHTSIZING_THRESHOLD", 30, minimum=1)
# ... over this many days.
PORTAL_RIGHTSIZING_DAYS = env.integer("PORTAL_RIGHTSIZING_DAYS", 7, minimum=1)
# "Try it": seconds before an inference request is abandoned, and the largest response kept (bytes).
PORTAL_TRY_IT_TIMEOUT = env.integer("PORTAL_TRY_IT_TIMEOUT", 10, minimum=1)
PORTAL_TRY_IT_MAX_BYTES = env.integer("PORTAL_TRY_IT_MAX_BYTES", 1_048_576, minimum=1024)
# Days kept for task events, status events and cost snapshots (the audit log is kept).
PORTAL_RETENTION_DAYS = env.integer("PORTAL_RETENTION_DAYS", 90, minimum=1)
# Seconds between scheduled refreshes of the repository snapshot.
PORTAL_SNAPSHOT_SECONDS = env.integer("PORTAL_SNAPSHOT_SECONDS", 60, minimum=5)
# Import paths of the GitOps providers (the portal app loads them by name, it imports no app).
PORTAL_GITOPS_PROVIDERS = {
    "local": "deployments.gitops.local.LocalProvider",
    "github": "deployments.gitops.github.GitHubProvider",
}

# --- Celery ---------------------------------------------------------------------------

# Broker: Redis in production; the filesystem transport (a real worker, no server) by default.
CELERY_BROKER_URL = env.string("CELERY_BROKER_URL", "filesystem://")
BROKER_DIR = DATA_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Redis redelivers an unacknowledged task after this many seconds; longer than any task.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Nothing reads task results: run records live in the database.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# Tasks are acknowledged after they finish, so a worker that dies mid-task does not lose it.
CELERY_TASK_ACKS_LATE = True
# A worker that is killed re-queues its task instead of acknowledging it.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One task at a time per worker process: side-effecting tasks are not hoarded.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Default limits; tasks that need more say so themselves.
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 360
# Queues: `default` for quick housekeeping, `scaffolder` for tasks with side effects, `poll` for pollers.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "scaffolder.*": {"queue": "scaffolder"},
    "deployments.poll_*": {"queue": "poll"},
}
CELERY_WORKER_QUEUES = "default,scaffolder,poll"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The worker logs through the portal's structured logging instead of replacing it.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = TIME_ZONE
# Beat schedule, in plain words; apps add their own entries in their tasks module.
CELERY_BEAT_SCHEDULE = {
    "refresh the repository snapshot": {
        "task": "portal.refresh_snapshot",
        "schedule": float(PORTAL_SNAPSHOT_SECONDS),
    },
    # Installations without the GitHub webhook learn pull-request states from this poll.
    "poll GitHub pull requests": {
        "task": "deployments.poll_pull_requests",
        "schedule": float(PORTAL_POLL_SECONDS),
    },
    # Live status of every cluster: Applications, InferenceServices and quotas.
    "poll cluster status": {
        "task": "deployments.poll_status",
        "schedule": float(PORTAL_POLL_SECONDS),
    },
    # Daily cost figures from each cluster's OpenCost (yesterday and today, replaced).
    "fetch costs from OpenCost": {
        "task": "deployments.poll_costs",
        "schedule": float(PORTAL_COST_POLL_SECONDS),
    },
    # Cost snapshots past PORTAL_RETENTION_DAYS, rolled up by month first.
    "roll up and prune cost snapshots": {
        "task": "deployments.rollup_costs",
        "schedule": 86400.0,
    },
    # Status and task events past PORTAL_RETENTION_DAYS.
    "prune status events": {
        "task": "deployments.prune_status_events",
        "schedule": 86400.0,
    },
    # The filesystem broker never redelivers, Redis only after its visibility timeout.
    "re-queue stale scaffolder tasks": {
        "task": "scaffolder.reap_stale_tasks",
        "schedule": 30.0,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- API ------------------------------------------------------------------------------

REST_FRAMEWORK = {
    # Bearer first: its WWW-Authenticate header makes DRF answer 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.auth.BearerTokenAuthentication",
        "portal.auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.permissions.IsAuthenticatedWithScope"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NeuroScale Portal API",
    "DESCRIPTION": "Catalog (Backstage-compatible), scaffolder, deployments and costs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["portal.permissions.IsAuthenticatedWithScope"],
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Logging --------------------------------------------------------------------------

# Log level of the portal's own loggers.
LOG_LEVEL = env.choice("PORTAL_LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
# JSON log lines (true) or human-readable console lines (false).
LOG_JSON = env.boolean("PORTAL_LOG_JSON", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": "structlog.stdlib.ProcessorFormatter",
            "processors": logs.formatter_processors(json=LOG_JSON),
            "foreign_pre_chain": logs.PRE_CHAIN,
        },
    },
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": "structured"},
    },
    "root": {"handlers": ["stdout"], "level": "WARNING"},
    "loggers": {
        "portal": {"level": LOG_LEVEL},
        "catalog": {"level": LOG_LEVEL},
        "scaffolder": {"level": LOG_LEVEL},
        "deployments": {"level": LOG_LEVEL},
        "django_structlog": {"level": LOG_LEVEL},
        "celery": {"level": "INFO"},
    },
}
DJANGO_STRUCTLOG_CELERY_ENABLED = True
logs.configure()

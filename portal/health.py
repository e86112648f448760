"""Readiness checks: is the database answering, can tasks be enqueued."""

from __future__ import annotations

import os

from django.conf import settings
from django.db import connection
from kombu import Connection

TIMEOUT_SECONDS = 2


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        return f"database unreachable: {exc.__class__.__name__}"
    return None


def check_broker() -> str | None:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            return f"broker folder {folder} is missing or not writable"
        return None
    try:
        with Connection(url, connect_timeout=TIMEOUT_SECONDS, transport_options={"socket_timeout": TIMEOUT_SECONDS}) as conn:
            conn.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)
    except Exception as exc:  # kombu raises the transport's own errors
        return f"broker unreachable: {exc.__class__.__name__}"
    return None

"""Structured logging: JSON lines on stdout, with secrets scrubbed before rendering."""

from __future__ import annotations

import re
from typing import Any

import structlog

# Portal API tokens carry this prefix, so a token that reaches a log line by mistake is masked.
TOKEN_PATTERN = re.compile(r"nsp_[A-Za-z0-9_\-]{8,}")
SECRET_KEYS = re.compile(r"(token|secret|password|authorization|cookie|api[_-]?key|private[_-]?key)", re.I)
MASK = "[redacted]"


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return TOKEN_PATTERN.sub(MASK, value)
    if isinstance(value, dict):
        return {k: MASK if SECRET_KEYS.search(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def scrub_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Mask values under secret-looking keys and anything shaped like a portal token."""
    return _scrub(event_dict)


PRE_CHAIN = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def formatter_processors(json: bool) -> list:
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,
        scrub_secrets,
        renderer,
    ]


def configure() -> None:
    structlog.configure(
        processors=[
            *PRE_CHAIN,
            structlog.stdlib.filter_by_level,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

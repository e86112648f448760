"""No secret in a log line: tokens and secret-looking keys are masked before rendering."""

import io
import json
import logging

import structlog

from portal.logs import scrub_secrets


def test_scrubber_masks_tokens_and_secret_keys():
    event = scrub_secrets(None, "info", {
        "event": "called with nsp_abcdefghijklmnop1234",
        "authorization": "Bearer something",
        "nested": {"github_token": "ghp_x", "name": "fine"},
    })
    assert event == {
        "event": "called with [redacted]",
        "authorization": "[redacted]",
        "nested": {"github_token": "[redacted]", "name": "fine"},
    }


def test_log_lines_are_json_with_the_token_masked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logger = logging.getLogger("portal")
    logger.addHandler(handler)
    try:
        structlog.get_logger("portal.test").warning("token used", token="nsp_abcdefghijklmnop1234", user="dana")
    finally:
        logger.removeHandler(handler)
    record = json.loads(stream.getvalue().splitlines()[-1])
    assert record["event"] == "token used"
    assert record["token"] == "[redacted]"
    assert record["user"] == "dana"
    assert record["level"] == "warning"

"""JSON-lines logging with the request id of whatever caused the line, and the redaction
that keeps card numbers, emails, keys, tokens and passwords out of every line."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# The job a line was logged in, when its request id names what caused the work instead.
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
JOB_PREFIX = "job:"  # a job run's own request id: job:<job id>:<HHMMSS> (jobs.runner)


def job_of(request_id: str) -> str | None:
    """The job id in a job run's request id, or None for a request's."""
    if not request_id.startswith(JOB_PREFIX):
        return None
    return request_id[len(JOB_PREFIX) :].split(":", 1)[0] or None


def line_ids(record: logging.LogRecord) -> tuple[str, str | None]:
    """(request id, job id) of a line, read in the thread that logged it."""
    request_id = getattr(record, "request_id", None) or request_id_var.get()
    job_id = getattr(record, "job_id", None) or job_id_var.get() or job_of(request_id)
    return str(request_id), job_id


@contextmanager
def caused_by(request_id: str) -> Iterator[None]:
    """Log the block's lines under `request_id`, the request whose work a job is doing (an
    outbox message's), keeping the job's id on them: filtering by the request's id then
    shows the request's lines and the later job lines its work caused. An empty id changes
    nothing."""
    current = request_id_var.get()
    job_token = job_id_var.set(job_id_var.get() or job_of(current))
    request_token = request_id_var.set(request_id or current)
    try:
        yield
    finally:
        request_id_var.reset(request_token)
        job_id_var.reset(job_token)


MASK = "***"
# 13 to 19 digits, single spaces or dashes between them, not inside a longer word or number.
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){8,14}[ -]?(\d{4})(?![\w-])")
_EMAIL = re.compile(
    r"(?<![\w.%+-])([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)
_PARTNER_KEY = re.compile(r"\bbk_[A-Za-z0-9_-]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
# `pass` only as a word of its own or after `_`/`-` (`pass`, `db_pass`), never inside one
# (`bypass`, `passed`, `compass`).
_HIDDEN_NAMES = (
    r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|authorization"
    r"|(?<![a-z0-9])pass(?![a-z0-9])"
)
# A name, then `=` or `:`, then the value: a quoted one up to its closing quote (or the end
# of the line), so a passphrase with spaces goes whole; a bare one up to a space, `&`, `,`
# or `;`.
_SECRET_VALUE = re.compile(
    rf"(?i)\b((?:\w*(?:{_HIDDEN_NAMES}))[\"']?\s*[=:]\s*)"
    r"(?:(?P<quote>[\"'])(?:\\.|(?!(?P=quote))[^\\\n])*(?P<closed>(?P=quote))?"
    r"|(?:(?:bearer|basic|token)\s+)?[^\s&\"',;}]+)"
)
SECRET_FIELD = re.compile(rf"(?i){_HIDDEN_NAMES}")


def _mask_value(found: re.Match[str]) -> str:
    quote = found["quote"] or ""
    return f"{found[1]}{quote}{MASK}{found['closed'] or ''}"


def redact(text: str) -> str:
    """`text` with what looks like a card number (last four kept), an email address (first
    letter and domain kept), a partner API key, a bearer token or a `password=` value
    masked (a quoted value up to its closing quote). Masking too much is the safe side: a
    long order number may lose its digits."""
    text = _SECRET_VALUE.sub(_mask_value, text)
    text = _BEARER.sub(rf"\g<1>{MASK}", text)  # what no `name=` announced
    text = _PARTNER_KEY.sub(f"bk_{MASK}", text)
    text = _EMAIL.sub(rf"\g<1>{MASK}@\g<2>", text)
    return _CARD.sub(rf"{MASK}\g<1>", text)


def redact_value(key: str, value: Any) -> Any:
    """A structured field's value, redacted: all of it under a secret-sounding name."""
    if SECRET_FIELD.search(key):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, v) for v in value]
    return value


# The structured fields a line may carry (`extra=`), besides its ids.
FIELDS = ("method", "path", "status", "duration_ms", "user_id")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        request_id, job_id = line_ids(record)
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
            "request_id": request_id,
        }
        if job_id is not None:
            line["job_id"] = job_id
        for key in FIELDS:
            if hasattr(record, key):
                line[key] = redact_value(key, getattr(record, key))
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Send every logger's lines to stderr as JSON; safe to call more than once."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level)
    for noisy in (
        "werkzeug",
        "granian",
        "_granian",
        "apscheduler.executors.default",
        "apscheduler.scheduler",
        "transitions",  # a line per state callback of every workflow step
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)

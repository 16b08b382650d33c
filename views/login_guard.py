"""Failed sign-ins per username: after too many within the window, refuse with 429.

Counted in the limiter's storage (memory, or Redis when shared), in a moving window, so
the refusal lasts exactly until the oldest failure leaves the window. If the storage is
unreachable the guard fails open (logged): a Redis outage must not lock everyone out.
"""

from __future__ import annotations

import logging
import math
import time

from limits import parse

from app import current_config
from app.errors import RateLimited
from app.extensions import limiter

log = logging.getLogger(__name__)
NAMESPACE = "login-failures"


def _key(username: str) -> str:
    # The deployment's prefix keeps two deployments that share one Redis apart.
    return f"{current_config().redis_key_prefix}:{username.strip().lower()[:64] or '-'}"


def refuse_if_locked(username: str) -> None:
    limit = parse(current_config().login_failure_limit)
    try:
        if limiter.limiter.test(limit, NAMESPACE, _key(username)):
            return
        reset_time = limiter.limiter.get_window_stats(limit, NAMESPACE, _key(username)).reset_time
    except Exception:
        log.exception("login limiter storage unavailable; allowing the attempt")
        return
    retry = max(1, math.ceil(reset_time - time.time()))
    raise RateLimited(
        "too many failed sign-ins for this username; try again later",
        retry_after=retry,
        details={"retry_after": retry},
    )


def record_failure(username: str) -> None:
    try:
        limiter.limiter.hit(parse(current_config().login_failure_limit), NAMESPACE, _key(username))
    except Exception:
        log.exception("login limiter storage unavailable; failure not counted")

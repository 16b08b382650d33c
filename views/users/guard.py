"""Signing in with a password, throttled on failures only (CONTRACT §3.1).

Two budgets count failed sign-ins, in the limiter's storage (memory, the serve process, or
Redis when shared) and in moving windows, so a refusal lasts exactly until the oldest
failure leaves its window:

- per username (`LOGIN_FAILURE_LIMIT`): guessing one account's password stops there;
- per client address (`LOGIN_ADDRESS_FAILURE_LIMIT`): one address trying many usernames
  stops there. The address is the socket's, or what `TRUSTED_PROXIES` vouch for.

A correct sign-in is never counted, so any number of customers behind one proxy or NAT
sign in at once. When the storage is unreachable the guard fails open (logged): a Redis
outage must not lock everyone out.
"""

from __future__ import annotations

import logging
import math
import time

from flask import request
from limits import RateLimitItem, parse

from app.current import current_config, db_session
from app.errors import RateLimited
from app.extensions import current_limiter
from app.models.users import User
from app.services.users import authenticate

log = logging.getLogger(__name__)
USERNAMES = "login-failures"
ADDRESSES = "login-address-failures"


def sign_in(username: str, password: str) -> User | None:
    """The active user with this name and password, or None (a failure, now counted).

    Raises RateLimited (429) before checking the password when the username or the
    client's address has failed too often within its window."""
    budgets = _budgets(username)
    _refuse_if_spent(budgets)
    user = authenticate(db_session(), username, password) if username and password else None
    if user is None:
        _count_failure(budgets)
    return user


Budget = tuple[RateLimitItem, str, str, str]


def _budgets(username: str) -> list[Budget]:
    config = current_config()
    # The deployment's prefix keeps two deployments that share one Redis apart.
    prefix = config.redis_key_prefix
    name = username.strip().lower()[:64] or "-"
    address = request.remote_addr or "-"
    return [
        (
            parse(config.login_failure_limit),
            USERNAMES,
            f"{prefix}:{name}",
            "Too many failed sign-ins for this username",
        ),
        (
            parse(config.login_address_failure_limit),
            ADDRESSES,
            f"{prefix}:{address}",
            "Too many failed sign-ins from your address",
        ),
    ]


def _refuse_if_spent(budgets: list[Budget]) -> None:
    counts = current_limiter().limiter
    for limit, namespace, key, reason in budgets:
        try:
            if counts.test(limit, namespace, key):
                continue
            reset_time = counts.get_window_stats(limit, namespace, key).reset_time
        except Exception:
            log.exception("login limiter storage unavailable; allowing the attempt")
            return
        retry = max(1, math.ceil(reset_time - time.time()))
        raise RateLimited(
            f"{reason}. Try again in {_wait_words(retry)}.",
            retry_after=retry,
            details={"retry_after": retry},
        )


def forgive(username: str) -> None:
    """Forget the username's failed sign-ins (an admin just gave it a new password)."""
    limit, namespace, key, _reason = _budgets(username)[0]
    try:
        current_limiter().limiter.clear(limit, namespace, key)
    except Exception:
        log.exception("login limiter storage unavailable; the lock stays until it expires")


def _wait_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    if seconds < 90 * 60:
        return f"about {math.ceil(seconds / 60)} minutes"
    return f"about {math.ceil(seconds / 3600)} hours"


def _count_failure(budgets: list[Budget]) -> None:
    counts = current_limiter().limiter
    for limit, namespace, key, _reason in budgets:
        try:
            counts.hit(limit, namespace, key)
        except Exception:
            log.exception("login limiter storage unavailable; failure not counted")
            return

"""What a request (or an app context) works with: its database session, the configuration
and the payments. Views and the app's own hooks take them from here; this module imports
nothing of the web layer, so `views` never needs `app/__init__` (which registers them)."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from app.config import Config
from app.payments import Payments

# The key in the cookie session holding the user's session epoch when the session began.
SESSION_EPOCH = "epoch"


def db_session() -> Session:
    """The request's (or app context's) session, opened on first use, closed at teardown."""
    session: Session | None = g.get("db_session")
    if session is None:
        session = current_app.extensions["backroom.db"].session()
        g.db_session = session
    return session


def close_db_session() -> None:
    """Close the request's session, if it opened one (the app's teardown)."""
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


def current_config() -> Config:
    config: Config = current_app.config["BACKROOM"]
    return config


def current_payments() -> Payments:
    payments: Payments = current_app.extensions["backroom.payments"]
    return payments

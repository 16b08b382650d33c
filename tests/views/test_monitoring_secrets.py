"""No monitoring page, download or stored log line leaks a secret or personal data (issue 13).

One run uses every secret a shop handles: a customer registers with an email and a
password, signs in wrongly and rightly, pays with a card and is declined with another, an
admin onboards a partner whose API key uploads a feed and is then sent wrong, a bearer
token is refused, a job fails with an error quoting an email and a card (the dashboard
shows job errors), and code logs a careless line holding all of them. Then every monitoring
page, their downloads, /metrics and every row of the log store are scanned.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import select

from app.models.monitoring import LogEvent
from app.services.monitoring import flush_log_store
from jobs import Job, JobContext
from jobs.runner import run_job
from tests.builders import make_product, make_user, work_feed_imports
from tests.conftest import bearer, csrf_token, sign_in

EMAIL = "jane.doe.private@example.org"
PASSWORD = "Tr0ub4dor&3-horse"
CARD, DECLINED = "4242424242424242", "4000000000000002"
SPACED_CARD = "4242 4242 4242 4242"


def forbidden_in(text: str, secrets: list[str]) -> list[str]:
    """The secrets found in `text`. A card number counts only standing alone: request ids
    are hex and may hold its digits by chance ("...4" + "000000000000002d")."""
    found = []
    for secret in secrets:
        if secret.replace(" ", "").isdigit():
            pattern = rf"(?<![0-9a-fA-F]){re.escape(secret)}(?![0-9a-fA-F])"
            if re.search(pattern, text):
                found.append(secret)
        elif secret in text:
            found.append(secret)
    return found


def test_monitoring_shows_no_secret_or_personal_data_after_a_run_that_used_them(app, session):
    product = make_product(session, price_cents=2500, stock=50)
    admin = make_user(session, "admin")

    shopper = app.test_client()
    token = csrf_token(shopper, "/register")
    registered = shopper.post(
        "/register",
        data={
            "username": "jane",
            "email": EMAIL,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "csrf_token": token,
        },
    )
    assert registered.status_code == 302
    wrong = app.test_client()
    wrong.post("/api/v1/auth/token", json={"username": "jane", "password": PASSWORD + "x"})
    signed = app.test_client().post(
        "/api/v1/auth/token", json={"username": "jane", "password": PASSWORD}
    )
    jane = {"Authorization": f"Bearer {signed.get_json()['token']}"}
    for card in (CARD, DECLINED):
        shopper.post(
            "/api/v1/orders",
            json={
                "lines": [{"product_id": product.id, "quantity": 1}],
                "payment": {"card_number": card},
            },
            headers=jane,
        )

    operator = app.test_client()
    admin_headers = bearer(operator, admin)
    partner = operator.post(
        "/api/v1/partners", json={"name": "Kitchen Co", "format": "standard"}, headers=admin_headers
    ).get_json()
    api_key = partner["api_key"]
    feed = b"sku,name,price,stock\nK-1,Kettle,24.99,3\n"
    uploaded = operator.post(
        "/api/v1/feeds", data=feed, content_type="text/csv", headers={"X-API-Key": api_key}
    )
    assert uploaded.status_code == 202
    work_feed_imports(session, app.config["BACKROOM"].upload_dir)
    operator.get("/api/v1/feeds", headers={"X-API-Key": api_key + "-revoked"})
    operator.get("/api/v1/orders", headers={"Authorization": "Bearer not-a-real-token-123456"})
    logging.getLogger("backroom.careless").warning(
        "debug dump: card=%s (%s) email=%s password=%s key=%s auth=Bearer %s",
        CARD,
        SPACED_CARD,
        EMAIL,
        PASSWORD,
        api_key,
        admin_headers["Authorization"].removeprefix("Bearer "),
    )

    def choke(session, now, ctx):  # a driver's error quoting the row it choked on
        raise RuntimeError(f"duplicate key (email)=({EMAIL}) card {CARD}")

    ctx = JobContext(
        config=app.config["BACKROOM"],
        db=app.extensions["backroom.db"],
        payments=app.extensions["backroom.payments"],
        holder="test",
    )
    run_job(ctx, Job("users.import", choke, 60))
    assert flush_log_store() > 0

    secrets = [
        PASSWORD,
        api_key,
        api_key[:20],
        CARD,
        SPACED_CARD,
        DECLINED,
        EMAIL,
        "jane.doe.private",
        admin_headers["Authorization"].removeprefix("Bearer "),
    ]
    session.expire_all()
    stored = session.scalars(select(LogEvent)).all()
    assert stored, "the run logged nothing: the scan would prove nothing"
    for event in stored:
        line = f"{event.message} {event.fields or ''} {event.request_id} {event.job_id or ''}"
        assert forbidden_in(line, secrets) == [], line
    careless = [e for e in stored if e.logger == "backroom.careless"]
    assert careless
    assert "4242" in careless[0].message  # the last four stay, for people to match
    assert "@example.org" in careless[0].message

    viewer = app.test_client()
    sign_in(viewer, admin)
    for path in (
        "/monitoring/dashboard",
        "/monitoring/logs",
        "/monitoring/logs?level=debug",
        "/monitoring/logs.csv",
        "/monitoring/logs.jsonl",
        "/monitoring/returns",
        "/monitoring/returns.csv",
        "/metrics",
    ):
        response = viewer.get(path)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        assert forbidden_in(body, secrets) == [], path
        if path.startswith("/monitoring/logs"):
            assert "debug dump" in body, path  # the careless line is there, masked
        if path == "/monitoring/dashboard":
            assert "RuntimeError: duplicate key" in body  # the job's error is there, masked

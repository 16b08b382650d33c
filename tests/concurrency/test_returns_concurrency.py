"""Returns under real concurrency: one transition per race, one refund per message, each
unit returned once, each notice delivered once (fresh SQLite and PostgreSQL databases)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from app import create_app
from app.config import Config
from app.db import Database, transaction, utcnow
from app.errors import DomainError
from app.models.payments import GatewayCharge
from app.models.returns import Notice, OutboxMessage, ReturnEvent, ReturnRequest
from app.models.users import User
from app.services.orders import LineRequest as OrderLine
from app.services.orders import place_order
from app.services.returns import (
    LineRequest,
    complete_settled_returns,
    create_return,
    deliver_notices,
    execute_refunds,
    fire_return_trigger,
)
from tests.concurrency.test_api_threads import SECRET, tokens
from tests.concurrency.test_orders_threads import race
from tests.concurrency.workers import payments_for, seed
from tests.conftest import app_settings

STAFF = ("support", "warehouse", "finance")


@pytest.fixture
def database(fresh_url: str) -> Iterator[Database]:
    db = Database(fresh_url, pool_size=10)
    yield db
    db.dispose()


def staff_users(database: Database, count: int = 2) -> dict[str, list[int]]:
    """`count` users per staff role, straight into the table."""
    with database.session() as session, transaction(session):
        users = {
            role: [
                User(username=f"{role}{i}", password_hash="-", role=role, email="")
                for i in range(count)
            ]
            for role in STAFF
        }
        session.add_all([u for group in users.values() for u in group])
        session.flush()
        return {role: [u.id for u in group] for role, group in users.items()}


def paid_order(database: Database, customer_id: int, product_id: int, quantity: int) -> Any:
    with database.session() as session:
        return place_order(
            session,
            payments_for(database),
            customer_id=customer_id,
            lines=[OrderLine(product_id, quantity)],
            card_number="4242424242424242",
        )


def open_return(database: Database, customer_id: int, order: Any, quantity: int = 1) -> int:
    with database.session() as session:
        record = create_return(
            session,
            customer=session.get(User, customer_id),
            order_id=order.id,
            reason="damaged",
            description="",
            now=utcnow(),
            lines=[LineRequest(order.lines[0].id, quantity)],
        )
        return record.id


def outcome(work: Callable[[], Any]) -> str:
    """'ok', or the domain error's code; anything else (a deadlock, a driver error) is a crash."""
    try:
        work()
        return "ok"
    except DomainError as exc:
        return exc.code
    except Exception as exc:
        return f"crash:{type(exc).__name__}:{exc}"[:300]


def fire(database: Database, return_id: int, trigger: str, user_id: int | None, **options: Any):
    def work() -> None:
        with database.session() as session:
            actor = session.get(User, user_id) if user_id is not None else None
            fire_return_trigger(
                session,
                return_id,
                trigger,
                actor=actor,
                fields=options.get("fields", {}),
                expected_version=options.get("version"),
                now=utcnow(),
            )

    return outcome(work)


def count(database: Database, query: Any) -> int:
    with database.session() as session:
        return int(session.scalar(query) or 0)


def events(database: Database, return_id: int) -> list[str]:
    with database.session() as session:
        return list(
            session.scalars(
                select(ReturnEvent.trigger)
                .where(ReturnEvent.return_id == return_id)
                .order_by(ReturnEvent.id)
            )
        )


def setup_return(database: Database, fresh_url: str, quantity: int = 1):
    [customer], [product] = seed(fresh_url, customers=1, stocks=[50])
    order = paid_order(database, customer, product, quantity)
    return customer, order, open_return(database, customer, order)


@pytest.fixture
def served(fresh_url: str, database: Database, tmp_path: Any):
    return create_app(
        app_settings(fresh_url, tmp_path, secret_key=SECRET),
        config=Config(),
        database=database,
    )


def test_it_approves_once_when_two_staff_click_at_the_same_instant(served, database, fresh_url):
    _, _, return_id = setup_return(database, fresh_url)
    staff = staff_users(database)["support"]
    headers = tokens(served, staff)

    def click(i: int) -> tuple[int, str]:
        response = served.test_client().post(
            f"/api/v1/returns/{return_id}/transitions",
            json={"trigger": "approve"},
            headers=headers[staff[i]],
        )
        return response.status_code, response.get_json().get("error", {}).get("code", "")

    results = race(2, click)
    assert sorted(results)[0] == (200, ""), results
    assert sorted(results)[1] in {(409, "stale_version"), (409, "invalid_transition")}, results
    assert events(database, return_id) == ["submit", "validate", "approve"]
    with database.session() as session:
        record = session.get(ReturnRequest, return_id)
        assert (record.state, record.version) == ("APPROVED", 3)


def test_it_makes_exactly_one_transition_out_of_a_crowd_of_clicks_on_one_version(
    database, fresh_url
):
    """Everyone saw version 2 and clicks at once: one wins, the rest are told to reload
    (a cancel is valid after an approve too, so only the version keeps it from applying)."""
    customer, _, return_id = setup_return(database, fresh_url)
    staff = staff_users(database, count=4)["support"]
    moves = [("approve", {}), ("reject", {"note": "no"}), ("cancel", {}), ("approve", {})]

    def click(i: int) -> str:
        if i == 4:  # the owner cancels at the same moment
            return fire(database, return_id, "cancel", customer, version=2)
        trigger, fields = moves[i]
        return fire(database, return_id, trigger, staff[i], fields=fields, version=2)

    results = Counter(race(5, click))
    assert results == {"ok": 1, "stale_version": 4}, results
    assert len(events(database, return_id)) == 3
    with database.session() as session:
        assert session.get(ReturnRequest, return_id).version == 3
    notices = count(
        database,
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "notification"),
    )
    assert notices == 2  # the review notice and the one winner's


def test_it_makes_one_of_two_exclusive_moves_without_versions(database, fresh_url):
    """Approve and reject both leave VALIDATING: whichever lands second finds it gone."""
    _, _, return_id = setup_return(database, fresh_url)
    staff = staff_users(database, count=6)["support"]

    def click(i: int) -> str:
        trigger, fields = ("approve", {}) if i % 2 else ("reject", {"note": "no"})
        return fire(database, return_id, trigger, staff[i], fields=fields)

    results = Counter(race(6, click))
    assert results["ok"] == 1, results
    assert set(results) <= {"ok", "stale_version", "invalid_transition"}, results
    assert len(events(database, return_id)) == 3


def test_it_never_lets_racing_returns_claim_the_same_unit(database, fresh_url):
    [customer], [product] = seed(fresh_url, customers=1, stocks=[50])
    order = paid_order(database, customer, product, quantity=3)

    def claim(i: int) -> str:
        return outcome(lambda: open_return(database, customer, order, quantity=1))

    results = Counter(race(8, claim))
    assert results == {"ok": 3, "validation_error": 5}, results
    claimed = count(database, select(func.count()).select_from(ReturnRequest))
    assert claimed == 3


def refund_ready(database: Database, fresh_url: str) -> int:
    customer, _, return_id = setup_return(database, fresh_url)
    staff = {role: ids[0] for role, ids in staff_users(database, count=1).items()}
    path = [
        ("approve", staff["support"], {}),
        ("ship", customer, {"carrier": "DHL", "tracking_number": "1"}),
        ("receive", staff["warehouse"], {}),
        ("start_inspection", staff["warehouse"], {}),
        ("complete_inspection", staff["warehouse"], {"condition": "new"}),
        ("decide", staff["support"], {"disposition": "REFUND"}),
        ("process", staff["finance"], {}),
    ]
    for trigger, user_id, fields in path:
        assert fire(database, return_id, trigger, user_id, fields=fields) == "ok", trigger
    return return_id


def test_it_refunds_and_completes_once_when_two_schedulers_run_together(database, fresh_url):
    return_id = refund_ready(database, fresh_url)
    payments = payments_for(database, latency=0.01)
    now = utcnow()

    def send(_: int) -> int:
        with database.session() as session:
            return execute_refunds(session, payments, now=now)

    assert sum(race(4, send)) == 1
    refunds = count(
        database,
        select(func.count()).select_from(GatewayCharge).where(GatewayCharge.kind == "refund"),
    )
    assert refunds == 1

    def complete(_: int) -> int:
        with database.session() as session:
            return complete_settled_returns(session, now=now)

    assert sum(race(4, complete)) == 1
    assert events(database, return_id)[-2:] == ["process", "complete"]
    with database.session() as session:
        record = session.get(ReturnRequest, return_id)
        assert (record.state, record.refund_status, record.restocked) == (
            "COMPLETED",
            "succeeded",
            True,
        )


def test_it_delivers_each_notice_once_when_two_schedulers_run_together(database, fresh_url):
    return_id = refund_ready(database, fresh_url)
    pending = count(
        database,
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "notification"),
    )
    now = utcnow()

    def deliver(_: int) -> int:
        with database.session() as session:
            return deliver_notices(session, now=now)

    assert sum(race(4, deliver)) == pending
    delivered = count(
        database,
        select(func.count()).select_from(Notice).where(Notice.return_id == return_id),
    )
    assert delivered == pending

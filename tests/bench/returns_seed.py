"""Seed open returns straight into the server's database, before the server starts.

Run by the bench after `backroom db upgrade` and `backroom demo-data`, in its own process
with the server's environment, so `load_config()` names the same database (the SQLite file
under the bench's data dir, or the fresh PostgreSQL database):

    python -m tests.bench.returns_seed COUNT [TEMPLATES]   # prints one JSON line

(`run_seed` does that from the orchestrator, which never imports the app itself.)

Every return is one unit of one order line and lands in VALIDATING, in the support queue.
The units come from paid orders of one bench customer, each of at most 1000 units of one
demo product (the most one order line may hold), placed with `place_order` against the
simulated gateway after the product's stock is raised.

The first TEMPLATES returns (default 100; all of them with TEMPLATES = COUNT) are opened
with `create_return`, exactly as the API opens one: eligibility checked under the order
lock, the submit and validate events, the customer notice in the outbox; their notices are
then delivered with `deliver_notices`, as the scheduler would have done long ago for
a queue of waiting returns. Through the services that costs ~5 ms per return on SQLite and
~20 ms on PostgreSQL here (minutes for 10,000), so the rest are copies of those rows,
inserted in bulk with SQLAlchemy Core: each template's return, line, events, outbox message
and notification, with only what must differ replaced - ids, the RMA number (and where
the notice mentions it), the order and order line, the timestamps (taken at insert time,
SLA due time shifted along). The copies therefore carry the values the service wrote.
On PostgreSQL the tables are ANALYZEd afterwards (autovacuum would have done so in a
database that grew this big); SQLite is left as the app leaves it (no ANALYZE).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.bench.server import run_seeder

UNITS_PER_ORDER = 1000
TEMPLATES = 100
CHUNK = 1000
CUSTOMER = "bench_returns"
CUSTOMER_PASSWORD = "bench-returns-2026"  # a throwaway bench account
CARD_APPROVED = "4242424242424242"
OPEN_STATE = "VALIDATING"


class ReturnsSeedError(RuntimeError):
    pass


@dataclass(frozen=True)
class SeededReturns:
    """What the seeding process reports: the open returns' ids, and its timings."""

    return_ids: list[int]
    orders: int
    templates: int
    seconds: float
    orders_seconds: float
    service_seconds: float
    notices: int
    copies_seconds: float
    wall_seconds: float

    def describe(self) -> str:
        count = len(self.return_ids)
        per = 1000.0 * self.service_seconds / max(1, self.templates)
        text = (
            f"{count:,} open returns (VALIDATING, support queue) seeded in "
            f"{self.wall_seconds:.1f}s before the server started: {self.orders} paid "
            f"orders of <= {UNITS_PER_ORDER} units (place_order, {self.orders_seconds:.1f}s); "
            f"{self.templates:,} returns opened with create_return and their {self.notices:,} "
            f"customer notices delivered with deliver_notices "
            f"({self.service_seconds:.1f}s, {per:.1f} ms per return)"
        )
        if count > self.templates:
            text += (
                f"; {count - self.templates:,} copies of those rows (return, line, events, "
                f"delivered notice) bulk-inserted with SQLAlchemy Core "
                f"({self.copies_seconds:.1f}s)"
            )
        return text


def run_seed(
    env: dict[str, str], count: int, templates: int, *, timeout: float = 1800.0
) -> SeededReturns:
    """Seed in a child process with the server's environment (same database)."""
    started = time.monotonic()
    data = run_seeder(
        "returns_seed", [str(count), str(templates)], env,
        timeout=timeout, what=f"{count} returns", error=ReturnsSeedError,
    )  # fmt: skip
    ids = [int(i) for i in data["return_ids"]]
    if len(ids) != count:
        raise ReturnsSeedError(f"asked for {count} returns, got {len(ids)}")
    return SeededReturns(
        return_ids=ids,
        orders=int(data["orders"]),
        templates=int(data["templates"]),
        seconds=float(data["seconds"]),
        orders_seconds=float(data["orders_seconds"]),
        service_seconds=float(data["service_seconds"]),
        notices=int(data["notices"]),
        copies_seconds=float(data["copies_seconds"]),
        wall_seconds=round(time.monotonic() - started, 1),
    )


# --- inside the seeding process (imports the app) ------------------------------------------


def seed(count: int, templates: int) -> dict[str, Any]:
    """Open `count` one-unit returns, `templates` of them through the services; return their
    ids and how long each step took."""
    from sqlalchemy import select, text

    from app import build_payments
    from app.config import load_config
    from app.db import Database, utcnow
    from app.models.catalog import Product
    from app.models.orders import Order
    from app.models.users import Role
    from app.services import orders, returns
    from app.services.catalog import ProductInput, update_product
    from app.services.returns import deliver_notices
    from app.services.users import create_user
    from app.services.workflows import RMA, ensure_shipped

    templates = max(1, min(templates, count))
    config = load_config()
    database = Database(config.database_url, pool_size=2)
    session = database.session()
    started = time.monotonic()
    try:
        ensure_shipped(session, RMA)  # `backroom serve` does this too; demo-data does not
        customer = create_user(
            session,
            username=CUSTOMER,
            password=CUSTOMER_PASSWORD,
            role=Role.CUSTOMER,
            name="Bench Returns",
            email=f"{CUSTOMER}@bench.example",
        )
        # The cheapest demo product: an order of 1000 units stays far below the total cap.
        product = session.scalars(
            select(Product).where(Product.active.is_(True)).order_by(Product.price_cents)
        ).first()
        if product is None:
            raise SystemExit("no active product: was demo data seeded?")
        orders_needed = -(-count // UNITS_PER_ORDER)
        update_product(
            session,
            product.id,
            ProductInput(stock=product.stock + orders_needed * UNITS_PER_ORDER),
        )
        payments = build_payments(config, database, None)
        units: list[tuple[int, int]] = []  # (order id, order line id) per unit to return
        for i in range(orders_needed):
            quantity = min(UNITS_PER_ORDER, count - i * UNITS_PER_ORDER)
            order = orders.place_order(
                session,
                payments,
                customer_id=customer.id,
                lines=[orders.LineRequest(product.id, quantity)],
                card_number=CARD_APPROVED,
            )
            units.extend([(order.id, order.lines[0].id)] * quantity)
        # Held here, the orders stay in the session's identity map: create_return then finds
        # them there instead of loading each (with its lines and payment) every time.
        orders = session.scalars(
            select(Order).where(Order.id.in_({order_id for order_id, _ in units}))
        ).all()
        orders_done = time.monotonic()

        template_ids: list[int] = []
        for order_id, line_id in units[:templates]:
            record = returns.create_return(
                session,
                customer=customer,
                order_id=order_id,
                reason="damaged",
                description="bench: arrived damaged",
                lines=[returns.LineRequest(line_id, 1)],
                now=utcnow(),
            )
            if record.state != OPEN_STATE:
                raise SystemExit(f"a new return is in {record.state}, not {OPEN_STATE}")
            template_ids.append(record.id)
        # Each new return queued a customer notice; a queue of long-open returns has had
        # them sent (the scheduler's job, 100 per 5 s, would otherwise still be working
        # through the backlog while the bench measures).
        notices = 0
        while delivered := deliver_notices(session, now=utcnow(), limit=1000):
            notices += delivered
        session.commit()
        service_done = time.monotonic()
        del orders

        copied = copy_returns(database, template_ids, units[templates:])
        if database.engine.dialect.name == "postgresql" and copied:
            with database.engine.connect() as conn:
                for table in ("returns", "return_lines", "return_events", "outbox"):
                    conn.execute(text(f"ANALYZE {table}"))
                conn.commit()
        done = time.monotonic()
        return {
            "return_ids": template_ids + copied,
            "product_id": product.id,
            "orders": orders_needed,
            "templates": len(template_ids),
            "notices": notices,
            "orders_seconds": round(orders_done - started, 2),
            "service_seconds": round(service_done - orders_done, 2),
            "copies_seconds": round(done - service_done, 2),
            "seconds": round(done - started, 2),
        }
    finally:
        session.close()
        database.dispose()


def copy_returns(database: Any, template_ids: list[int], units: list[tuple[int, int]]) -> list[int]:
    """Insert one copy of a template return per (order id, order line id), in chunks; return
    the new ids in order."""
    from sqlalchemy import select

    from app.models.returns import Notice, OutboxMessage, ReturnEvent, ReturnLine, ReturnRequest

    t = Tables(
        ReturnRequest.__table__,
        ReturnLine.__table__,
        ReturnEvent.__table__,
        OutboxMessage.__table__,
        Notice.__table__,
    )
    new_ids: list[int] = []
    if not units:
        return new_ids
    with database.engine.connect() as conn:
        templates = [_template(conn, t, rid) for rid in template_ids]
        numbers = set(conn.execute(select(t.returns.c.number)).scalars())
        for chunk_start, chunk in _chunks(units, CHUNK):
            picked = [templates[(chunk_start + i) % len(templates)] for i in range(len(chunk))]
            rows = []
            stamps = []
            for (order_id, _line), template in zip(chunk, picked, strict=True):
                now = _utcnow()
                stamps.append(now)
                rows.append(template.return_row(order_id, _fresh_number(numbers), now))
            inserted = conn.execute(
                t.returns.insert().returning(t.returns.c.id, sort_by_parameter_order=True),
                rows,
            )
            ids = [int(row[0]) for row in inserted]
            line_rows: list[dict[str, Any]] = []
            event_rows: list[dict[str, Any]] = []
            outbox_rows: list[dict[str, Any]] = []
            notice_rows: list[dict[str, Any]] = []
            for new_id, row, (_order, line_id), template, now in zip(
                ids, rows, chunk, picked, stamps, strict=True
            ):
                line_rows += template.line_rows(new_id, line_id)
                event_rows += template.event_rows(new_id, now)
                outbox_rows += template.outbox_rows(new_id, row["number"], now)
                notice_rows += template.notice_rows(new_id, row["number"], now)
            for table, batch in (
                (t.lines, line_rows),
                (t.events, event_rows),
                (t.outbox, outbox_rows),
                (t.notices, notice_rows),
            ):
                if batch:
                    conn.execute(table.insert(), batch)
            conn.commit()
            new_ids.extend(ids)
    return new_ids


@dataclass(frozen=True)
class Tables:
    returns: Any
    lines: Any
    events: Any
    outbox: Any
    notices: Any


@dataclass(frozen=True)
class Template:
    """One return as the service wrote it, with everything hanging off it."""

    row: dict[str, Any]
    lines: list[dict[str, Any]]
    events: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    notices: list[dict[str, Any]]

    def return_row(self, order_id: int, number: str, now: datetime) -> dict[str, Any]:
        row = _without_id(self.row)
        entered = self.row["state_entered_at"]
        row.update(
            number=number,
            order_id=order_id,
            created_at=now,
            state_entered_at=now,
            updated_at=now,
            sla_due_at=None if row["sla_due_at"] is None else now + (row["sla_due_at"] - entered),
        )
        return row

    def line_rows(self, return_id: int, order_line_id: int) -> list[dict[str, Any]]:
        return [
            {**_without_id(line), "return_id": return_id, "order_line_id": order_line_id}
            for line in self.lines
        ]

    def event_rows(self, return_id: int, now: datetime) -> list[dict[str, Any]]:
        return [{**_without_id(event), "return_id": return_id, "at": now} for event in self.events]

    def outbox_rows(self, return_id: int, number: str, now: datetime) -> list[dict[str, Any]]:
        rows = []
        for message in self.outbox:
            payload = json.loads(message["payload"])
            payload.update(return_id=return_id, number=number)
            key = str(message["idempotency_key"]).replace(
                f"-{self.row['id']}-", f"-{return_id}-", 1
            )
            rows.append(
                {
                    **_without_id(message),
                    "idempotency_key": key,
                    "payload": json.dumps(payload, sort_keys=True),
                    "next_attempt_at": now,
                    "created_at": now,
                    "done_at": None if message["done_at"] is None else now,
                }
            )
        return rows

    def notice_rows(self, return_id: int, number: str, now: datetime) -> list[dict[str, Any]]:
        old = str(self.row["number"])
        return [
            {
                **_without_id(notice),
                "return_id": return_id,
                "subject": str(notice["subject"]).replace(old, number),
                "body": str(notice["body"]).replace(old, number),
                "created_at": now,
            }
            for notice in self.notices
        ]


def _template(conn: Any, t: Tables, return_id: int) -> Template:
    from sqlalchemy import select

    def rows(table: Any, *where: Any) -> list[dict[str, Any]]:
        query = select(table).where(*where).order_by(table.c.id)
        return [dict(row._mapping) for row in conn.execute(query)]

    (row,) = rows(t.returns, t.returns.c.id == return_id)
    outbox = [
        m
        for m in rows(t.outbox, t.outbox.c.idempotency_key.like(f"%-{return_id}-%"))
        if json.loads(m["payload"]).get("return_id") == return_id
    ]
    if any(m["status"] != "done" for m in outbox):
        raise SystemExit(f"return {return_id}: an outbox message is still pending")
    return Template(
        row=row,
        lines=rows(t.lines, t.lines.c.return_id == return_id),
        events=rows(t.events, t.events.c.return_id == return_id),
        outbox=outbox,
        notices=rows(t.notices, t.notices.c.return_id == return_id),
    )


def _without_id(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "id"}


def _utcnow() -> datetime:
    from app.db import utcnow

    return utcnow()


def _fresh_number(taken: set[str]) -> str:
    """A new RMA number in the service's format, unique among those already used."""
    import secrets

    while True:
        number = "RMA-" + secrets.token_hex(4).upper()
        if number not in taken:
            taken.add(number)
            return number


def _chunks(items: Sequence[tuple[int, int]], size: int) -> Iterator[tuple[int, list[Any]]]:
    for start in range(0, len(items), size):
        yield start, list(items[start : start + size])


def main(argv: list[str]) -> int:
    if os.environ.get("BACKROOM_DATA_DIR") is None and os.environ.get("DATABASE_URL") is None:
        raise SystemExit("run by the bench with the server's environment (BACKROOM_DATA_DIR)")
    count = int(argv[0]) if argv else 10_000
    templates = int(argv[1]) if len(argv) > 1 else TEMPLATES
    if count < 1 or templates < 1:
        raise SystemExit("the numbers of returns and of templates must be at least 1")
    result = seed(count, templates)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

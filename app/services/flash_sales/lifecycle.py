"""Flash sales over time: the lifecycle (`start`, `end` by the scheduler; `cancel` by an
admin), the jobs that drive it, and what a failed flash payment gives back.

Whatever is unsold goes back to stock when a sale ends or is cancelled, exactly once: the
item's `closed` flag flips under the item's row lock in the same statement that records
`returned`. State changes go through the `flash_sale` workflow, each a compare-and-set on
the sale's `version` with an event row, so two schedulers, or a scheduler racing an
admin's cancel, change a sale once.

The stored state lags the clock by however late the job runs; readers therefore use
`shown_state`, computed from `starts_at`/`ends_at` and `now`, and reserving checks the
window itself (see `holds`). Lock order everywhere, to keep PostgreSQL free of
deadlocks: sale row, then items in id order, then holds, then products.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.db import is_row_id, transaction
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.models.flash_sales import (
    FlashHold,
    FlashSale,
    FlashSaleEvent,
    FlashSaleItem,
    HoldStatus,
    SaleState,
)
from app.models.users import User
from app.services.catalog.products import catalog_changed
from app.services.catalog.stock import give_back_stock
from app.services.workflows import load_engine, transition_event
from workflows.engine import InvalidTransition, NotAllowed, WorkflowRefusal
from workflows.registry import SYSTEM, Actor

log = logging.getLogger(__name__)

FLASH_SALE = "flash_sale"
OPEN_STATES = (SaleState.SCHEDULED, SaleState.ACTIVE)
BATCH = 100

_sales, _items, _holds = (
    cast(Table, FlashSale.__table__),
    cast(Table, FlashSaleItem.__table__),
    cast(Table, FlashHold.__table__),
)
# The item rows of one sale, locked in id order (FOR UPDATE is not rendered on SQLite,
# where BEGIN IMMEDIATE already serialises writers).
LOCK_SALE_ITEMS = (
    select(_items.c.id)
    .where(_items.c.sale_id == bindparam("sid"))
    .order_by(_items.c.id)
    .with_for_update()
)
_LOCK_ITEM = (
    select(_items.c.id, _items.c.quantity, _items.c.sold, _items.c.returned, _items.c.closed)
    .where(_items.c.id == bindparam("iid"))
    .with_for_update()
)
_CLOSE_ITEM = (
    update(_items)
    .where(_items.c.id == bindparam("iid"), _items.c.closed.is_(False))
    .values(closed=True, returned=_items.c.quantity - _items.c.sold)
    .returning(_items.c.product_id, _items.c.returned)
)


def window_of(starts_at: datetime, ends_at: datetime, now: datetime) -> str:
    """`before`, `open` (starts_at <= now < ends_at) or `closed`."""
    if now < starts_at:
        return "before"
    return "open" if now < ends_at else "closed"


def shown_state(state: str, starts_at: datetime, ends_at: datetime, now: datetime) -> str:
    """The state a reader sees: exact at each boundary, whatever the scheduler's lag."""
    if state not in OPEN_STATES:
        return state
    return {"before": SaleState.SCHEDULED, "open": SaleState.ACTIVE}.get(
        window_of(starts_at, ends_at, now), SaleState.ENDED
    )


# -- the lifecycle -------------------------------------------------------------------------


def cancel_sale(session: Session, sale_id: int, *, actor: User, now: datetime) -> FlashSale:
    """Cancel a scheduled or active sale (admin): live holds are released and unsold units
    go back to stock, in one transaction.

    Raises NotFound, Forbidden (not an admin), Conflict(invalid_transition) (already ended
    or cancelled), Conflict(stale_version) (the scheduler moved it at the same moment).
    """
    with transaction(session):
        sale = get_sale_row(session, sale_id)
        if sale.state in OPEN_STATES and window_of(sale.starts_at, sale.ends_at, now) == "closed":
            # Over, though the end job has not run yet: it ended, it was not cancelled.
            raise Conflict(
                "this sale has already ended", code="invalid_transition",
                details={"state": SaleState.ENDED},
            )  # fmt: skip
        fire_sale_trigger(session, sale, "cancel", Actor(actor.id, actor.role), now)
    catalog_changed()
    return sale


def due_for_start(session: Session, now: datetime, limit: int = BATCH) -> list[int]:
    """Scheduled sales whose window is open at `now`."""
    return list(
        session.scalars(
            select(FlashSale.id)
            .where(
                FlashSale.state == SaleState.SCHEDULED,
                FlashSale.starts_at <= now,
                FlashSale.ends_at > now,
            )
            .order_by(FlashSale.starts_at, FlashSale.id)
            .limit(limit)
        )
    )


def due_for_end(session: Session, now: datetime, limit: int = BATCH) -> list[int]:
    """Scheduled or active sales whose end time has passed at `now`."""
    return list(
        session.scalars(
            select(FlashSale.id)
            .where(FlashSale.state.in_(OPEN_STATES), FlashSale.ends_at <= now)
            .order_by(FlashSale.ends_at, FlashSale.id)
            .limit(limit)
        )
    )


def start_due_sales(session: Session, now: datetime) -> int:
    """Job: start every scheduled sale whose window is open. Level-triggered: a sale that
    is already active is not due, so a repeated or late run changes nothing."""
    return _run_due(session, due_for_start(session, now), "start", now)


def end_due_sales(session: Session, now: datetime) -> int:
    """Job: end every scheduled or active sale past its end; live holds are released and
    unsold units go back to stock, once (an ended sale is not due again)."""
    return _run_due(session, due_for_end(session, now), "end", now)


def _run_due(session: Session, sale_ids: list[int], trigger: str, now: datetime) -> int:
    session.commit()
    done = 0
    for sale_id in sale_ids:
        try:
            with transaction(session):
                sale = get_sale_row(session, sale_id)
                due = (trigger == "start" and sale.state == SaleState.SCHEDULED) or (
                    trigger == "end" and sale.state in OPEN_STATES
                )
                if not due:  # another scheduler (or an admin) got there first
                    continue
                fire_sale_trigger(session, sale, trigger, SYSTEM, now)
            done += 1
        except DomainError as exc:
            log.info("flash sale %s not %sed: %s", sale_id, trigger, exc.message)
        except Exception:  # one bad sale never stops the batch
            log.exception("flash sale %s: %s failed", sale_id, trigger)
    return done


def sweep_expired_holds(session: Session, now: datetime, limit: int = BATCH) -> int:
    """Job: mark held holds past their expiry as expired. Only tidies: an expired hold
    already counts for nothing. Item by item under the item's lock; returns holds marked."""
    item_ids = list(
        session.scalars(
            select(FlashHold.item_id)
            .where(FlashHold.status == HoldStatus.HELD, FlashHold.expires_at <= now)
            .distinct()
            .limit(limit)
        )
    )
    session.commit()
    marked = 0
    for item_id in item_ids:
        with transaction(session):
            conn = session.connection()
            conn.execute(_LOCK_ITEM, {"iid": item_id})
            marked += conn.execute(
                update(_holds)
                .where(
                    _holds.c.item_id == item_id,
                    _holds.c.status == HoldStatus.HELD,
                    _holds.c.expires_at <= now,
                )
                .values(status=HoldStatus.EXPIRED, updated_at=now)
            ).rowcount
    return marked


def get_sale_row(session: Session, sale_id: int) -> FlashSale:
    sale = session.get(FlashSale, sale_id, populate_existing=True) if is_row_id(sale_id) else None
    if sale is None:
        raise NotFound("no such flash sale")
    return sale


def fire_sale_trigger(
    session: Session, sale: FlashSale, trigger: str, actor: Actor, now: datetime
) -> None:
    """One transition through the engine: checked, compare-and-set, effects, event row."""
    engine = load_engine(session, FLASH_SALE, sale.workflow_version)
    try:
        # str(): `transitions` would read a StrEnum by its member name.
        fired = engine.fire(str(sale.state), trigger, actor=actor, subject={"owner_id": None})
    except InvalidTransition as exc:
        raise Conflict(
            f"a sale that is {sale.state} cannot be {trigger}ed",
            code="invalid_transition",
            details={"state": sale.state, "trigger": trigger},
        ) from exc
    except NotAllowed as exc:
        raise Forbidden(f"your role may not {trigger} a sale") from exc
    except WorkflowRefusal as exc:  # only reachable through an edited definition
        raise Conflict(exc.message, code="invalid_transition", details=exc.details) from exc
    bump_sale_version(session, sale, fired.dest, now)
    for effect in fired.effects:
        EFFECTS[effect](session, sale.id, now)
    record_sale_event(session, sale, actor, trigger, fired.source, fired.dest, now)


def bump_sale_version(session: Session, sale: FlashSale, state: str, now: datetime) -> None:
    """Compare-and-set on `version`: whoever changed the sale first wins, the other a 409."""
    moved = session.connection().execute(
        update(_sales)
        .where(_sales.c.id == sale.id, _sales.c.version == sale.version)
        .values(state=state, version=sale.version + 1, updated_at=now)
    )
    if moved.rowcount != 1:
        raise Conflict("the sale changed a moment ago; reload it", code="stale_version")
    set_committed_value(sale, "state", state)
    set_committed_value(sale, "version", sale.version + 1)
    set_committed_value(sale, "updated_at", now)


def record_sale_event(
    session: Session,
    sale: FlashSale,
    actor: Actor,
    trigger: str,
    source: str | None,
    dest: str,
    now: datetime,
) -> None:
    session.add(
        FlashSaleEvent(
            sale_id=sale.id,
            **transition_event(
                actor, trigger, source, dest, {}, version=sale.workflow_version, now=now
            ),
        )
    )
    session.flush()


def _release_holds(session: Session, sale_id: int, now: datetime) -> None:
    """Effect: every held hold of the sale stops counting (expired ones are marked so)."""
    conn = session.connection()
    conn.execute(LOCK_SALE_ITEMS, {"sid": sale_id})
    held = and_(_holds.c.sale_id == sale_id, _holds.c.status == HoldStatus.HELD)
    conn.execute(
        update(_holds)
        .where(held, _holds.c.expires_at <= now)
        .values(status=HoldStatus.EXPIRED, updated_at=now)
    )
    conn.execute(update(_holds).where(held).values(status=HoldStatus.RELEASED, updated_at=now))


def _release_sale_stock(session: Session, sale_id: int, now: datetime) -> None:
    """Effect: close each item and give its unsold units back to stock, once per item."""
    conn = session.connection()
    back: dict[int, int] = {}
    for item_id in conn.execute(LOCK_SALE_ITEMS, {"sid": sale_id}).scalars().all():
        row = conn.execute(_CLOSE_ITEM, {"iid": item_id}).first()
        if row is not None and row.returned:
            back[row.product_id] = back.get(row.product_id, 0) + row.returned
    give_back_stock(session, back)


EFFECTS: dict[str, Callable[[Session, int, datetime], None]] = {
    "release_holds": _release_holds,
    "release_sale_stock": _release_sale_stock,
}


# -- a failed flash order gives its units back to the hold ----------------------------------

_HOLD_OF_ORDER = select(
    _holds.c.id, _holds.c.item_id, _holds.c.product_id, _holds.c.quantity
).where(_holds.c.order_id == bindparam("oid"))


def restore_hold_for_order(session: Session, order_id: int, now: datetime) -> bool:
    """Inside the caller's transaction (settling a failed flash order): the hold the order
    came from is `held` again with its original expiry (so an expired one simply counts
    for nothing) and the item's `sold` goes down. If the sale has closed meanwhile, the
    units go back to product stock instead. False if the order came from no hold."""
    conn = session.connection()
    hold = conn.execute(_HOLD_OF_ORDER, {"oid": order_id}).first()
    if hold is None:
        return False
    item = conn.execute(_LOCK_ITEM, {"iid": hold.item_id}).one()
    converted = and_(_holds.c.id == hold.id, _holds.c.status == HoldStatus.CONVERTED)
    status = HoldStatus.RELEASED if item.closed else HoldStatus.HELD
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if not item.closed:
        values["order_id"] = None
    if conn.execute(update(_holds).where(converted).values(**values)).rowcount != 1:
        return True
    counters: dict[str, Any] = {"sold": _items.c.sold - hold.quantity}
    if item.closed:
        counters["returned"] = _items.c.returned + hold.quantity
        give_back_stock(session, {hold.product_id: hold.quantity})
    conn.execute(update(_items).where(_items.c.id == hold.item_id).values(**counters))
    return True


def live_hold_filter(now: datetime) -> Any:
    """The predicate of a live hold: held and not yet expired."""
    return and_(FlashHold.status == HoldStatus.HELD, FlashHold.expires_at > now)

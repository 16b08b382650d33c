"""Small builders for test data; each writes through the real services where one exists."""

from __future__ import annotations

import copy
import io
import secrets
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models.catalog import Product
from app.models.feeds import FeedImport, Partner
from app.models.settings import Setting
from app.models.users import User
from app.services.catalog import ProductInput, create_product
from app.services.feeds import (
    PartnerInput,
    claim_next_import,
    create_partner,
    queue_import,
    run_import,
    save_feed_file,
)
from app.services.users import create_user
from workflows.definitions import load_shipped

PASSWORD = "password123"


def make_user(
    session: Session,
    role: str = "customer",
    *,
    username: str | None = None,
    password: str = PASSWORD,
) -> User:
    return create_user(
        session,
        username=username or f"{role}-{secrets.token_hex(3)}",
        password=password,
        role=role,
        email=f"{role}@example.com",
    )


def make_product(
    session: Session,
    *,
    sku: str | None = None,
    name: str = "Test Widget",
    price_cents: int = 1000,
    stock: int = 10,
    category: str = "Tests",
    description: str = "",
) -> Product:
    return create_product(
        session,
        ProductInput(
            sku=sku or f"T-{secrets.token_hex(3)}",
            name=name,
            price_cents=price_cents,
            stock=stock,
            category=category,
            description=description,
        ),
    )


def make_paid_order(
    session: Session, payments, customer: User, product: Product, quantity: int = 2
):  # type: ignore[no-untyped-def]
    """A paid order for `quantity` units of `product`, through real checkout."""
    from app.services.orders import LineRequest, place_order

    return place_order(
        session,
        payments,
        customer_id=customer.id,
        lines=[LineRequest(product.id, quantity)],
        card_number="4242424242424242",
    )


# The happy path of the RMA workflow: (trigger, role, fields) in order.
RMA_PATH = [
    ("approve", "support", {}),
    ("ship", "owner", {"carrier": "DHL", "tracking_number": "JD014600006281"}),
    ("receive", "warehouse", {}),
    ("start_inspection", "warehouse", {}),
    ("complete_inspection", "warehouse", {"condition": "like_new"}),
    ("decide", "support", {"disposition": "REFUND"}),
    ("process", "finance", {}),
]


def walk_return(
    session: Session,
    record_id: int,
    staff: dict[str, User],
    owner: User,
    *,
    until: str,
    disposition: str = "REFUND",
    condition: str = "like_new",
):  # type: ignore[no-untyped-def]
    """Fire the RMA happy path on a return until (and including) trigger `until`.

    `staff` maps role -> user; the disposition and condition can be chosen."""
    from app.db import utcnow
    from app.services.returns import fire_return_trigger

    record = None
    for trigger, role, fields in RMA_PATH:
        fields = dict(fields)
        if trigger == "decide":
            fields["disposition"] = disposition
        if trigger == "complete_inspection":
            fields["condition"] = condition
        if trigger == "process" and disposition not in ("REFUND", "STORE_CREDIT"):
            role = "warehouse"
        actor = owner if role == "owner" else staff[role]
        record = fire_return_trigger(
            session,
            record_id,
            trigger,
            actor=actor,
            fields=fields,
            expected_version=None,
            now=utcnow(),
        )
        if trigger == until:
            break
    return record


def make_image(kind: str = "PNG", size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    """A small real image file of `kind` (PIL's format name), e.g. for return photos."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=kind, **save)
    return out.getvalue()


def set_setting(session: Session, key: str, value: object) -> None:
    """What an admin's settings change would store (there is no settings page yet)."""
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=str(value)))
    else:
        row.value = str(value)
    session.commit()


def rma_with_awaiting_info() -> dict[str, Any]:
    """Version 1 of the RMA workflow plus AWAITING_INFO (support asks the customer for more
    with `ask_info`; the owner answers with `provide_info`; it may be cancelled there)."""
    data = copy.deepcopy(load_shipped("rma"))
    data["states"].insert(
        2,
        {"name": "AWAITING_INFO", "label": "Waiting for your answer", "team": "customer",
         "sla_hours": 72, "terminal": False, "tone": "wait", "step": "Review",
         "notice": "needs your answer", "guidance": "Please answer our question below."},
    )  # fmt: skip
    data["transitions"] += [
        {"trigger": "ask_info", "source": ["VALIDATING"], "dest": "AWAITING_INFO",
         "roles": ["support"], "label": "Ask for information",
         "fields": [{"name": "note", "type": "text", "required": True, "label": "Question"}],
         "effects": ["notify_customer"]},
        {"trigger": "provide_info", "source": ["AWAITING_INFO"], "dest": "VALIDATING",
         "roles": ["owner"], "label": "Send the answer"},
    ]  # fmt: skip
    for transition in data["transitions"]:
        if transition["trigger"] == "cancel":
            transition["source"].append("AWAITING_INFO")
    return data


def publish_new_version(session: Session, data: dict[str, Any], admin: User) -> int:
    """Store `data` as a draft of the RMA workflow and publish it; its version number."""
    from app.db import utcnow
    from app.services.workflows import RMA, create_draft, publish_version

    draft = create_draft(session, RMA, data, actor=admin.id, now=utcnow())
    publish_version(session, RMA, draft.version, actor=admin.id, now=utcnow())
    return draft.version


def make_partner(
    session: Session, admin: User, *, name: str | None = None, **settings: Any
) -> tuple[Partner, str]:
    """A partner (through the real service) and its first API key, in clear."""
    issued = create_partner(
        session,
        PartnerInput(name=name or f"Partner {secrets.token_hex(3)}", **settings),
        actor=admin,
        now=utcnow(),
    )
    return session.get_one(Partner, issued.key.partner_id), issued.secret


def queue_feed(
    session: Session,
    partner: Partner,
    data: bytes,
    upload_dir: Path,
    **options: Any,
) -> FeedImport:
    """Save `data` as a feed file and queue its import, as an upload does."""
    name, size = save_feed_file([data], upload_dir, max_bytes=50 * 1024 * 1024)
    return queue_import(
        session, partner.id, file_name=name, file_size=size, now=utcnow(), **options
    )


def work_feed_imports(session: Session, upload_dir: Path, *, batch_size: int = 1000) -> int:
    """Be the worker: claim and run every queued import; how many were run."""
    handled = 0
    while (claimed := claim_next_import(session, holder="test-worker", now=utcnow())) is not None:
        run_import(
            session, claimed, holder="test-worker", upload_dir=upload_dir, batch_size=batch_size
        )
        handled += 1
    return handled

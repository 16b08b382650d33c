"""Seed the flash-sale stampede's customers straight into the server's database, before the
server starts.

Run by the bench after `backroom db upgrade` and `backroom demo-data`, in its own process
with the server's environment, so `load_config()` names the same database and the same
SECRET_KEY (the embedded setup keeps its key in BACKROOM_DATA_DIR/secret_key):

    python -m tests.bench.flash_seed ACCOUNTS PRODUCTS UNITS   # prints one JSON line

(`run_flash_seed` does that from the orchestrator, which never imports the app itself.)

* ACCOUNTS customer accounts, bulk-inserted with SQLAlchemy Core: they share one password
  hash, computed once with the app's own `hash_password` (scrypt per account would take
  minutes and is not what is measured). Their bearer tokens are minted with `issue_token`
  and the server's SECRET_KEY - the very function behind POST /api/v1/auth/token, so they
  are real tokens, checked by the server like any other (that endpoint allows 30 per minute
  per address: a thousand sign-ins would take over half an hour).
* The demo admin's token, for creating each sale through POST /api/v1/flash-sales.
* PRODUCTS distinct demo products (the dearest first), each with its stock raised by UNITS
  through `update_product`: one per stampede run, because a product may be in only one open
  sale at a time (409 sale_overlap), and every run gets a fresh sale.

The sales themselves are created by the bench just before each run, through the API: a sale
seeded now would be active while the other scenarios measure the catalog.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Any, cast

from tests.bench.server import run_seeder

ADMIN_USERNAME = "admin"
CHUNK = 1000


class FlashSeedError(RuntimeError):
    pass


@dataclass(frozen=True)
class SeededFlash:
    """What the seeding process reports: customer tokens, the admin's token, the products."""

    tokens: list[str]
    admin_token: str
    product_ids: list[int]
    units: int
    seconds: float
    wall_seconds: float

    def describe(self) -> str:
        return (
            f"flash_stampede: {len(self.tokens):,} customer accounts bulk-inserted (one shared "
            f"password hash) and their bearer tokens minted with the app's issue_token, stock "
            f"of {len(self.product_ids)} product(s) raised by {self.units:,}, in "
            f"{self.wall_seconds:.1f}s before the server started; each run creates its sale "
            "with POST /api/v1/flash-sales (admin) just before it starts"
        )


def run_flash_seed(
    env: dict[str, str], accounts: int, products: int, units: int, *, timeout: float = 600.0
) -> SeededFlash:
    """Seed in a child process with the server's environment (same database, same key)."""
    started = time.monotonic()
    data = run_seeder(
        "flash_seed", [str(accounts), str(products), str(units)], env,
        timeout=timeout, what=f"{accounts} stampede accounts", error=FlashSeedError,
    )  # fmt: skip
    tokens = [str(t) for t in data["tokens"]]
    product_ids = [int(p) for p in data["product_ids"]]
    if len(tokens) != accounts or len(product_ids) != products:
        raise FlashSeedError(
            f"asked for {accounts} accounts and {products} products, "
            f"got {len(tokens)} and {len(product_ids)}"
        )
    return SeededFlash(
        tokens=tokens,
        admin_token=str(data["admin_token"]),
        product_ids=product_ids,
        units=int(data["units"]),
        seconds=float(data["seconds"]),
        wall_seconds=round(time.monotonic() - started, 1),
    )


# --- inside the seeding process (imports the app) ------------------------------------------


def seed(accounts: int, products: int, units: int) -> dict[str, Any]:
    from sqlalchemy import Table, select

    from app.config import load_config
    from app.db import Database, utcnow
    from app.models.catalog import Product
    from app.models.users import Role, User
    from app.services.catalog import ProductInput, update_product
    from app.services.users import find_user, hash_password, issue_token

    config = load_config()
    database = Database(config.database_url, pool_size=2)
    session = database.session()
    started = time.monotonic()
    try:
        admin = find_user(session, ADMIN_USERNAME)
        if admin is None or admin.role != Role.ADMIN:
            raise SystemExit(f"no admin {ADMIN_USERNAME!r}: was demo data seeded?")
        admin_token = issue_token(admin, config.secret_key)

        chosen = session.scalars(
            select(Product)
            .where(Product.active.is_(True), Product.price_cents >= 200)
            .order_by(Product.price_cents.desc(), Product.id)
            .limit(products)
        ).all()
        if len(chosen) < products:
            raise SystemExit(f"{products} products wanted, the catalog has {len(chosen)}")
        product_ids = [p.id for p in chosen]
        for product in chosen:
            update_product(session, product.id, ProductInput(stock=product.stock + units))
        session.commit()

        users = cast(Table, User.__table__)
        password_hash = hash_password(secrets.token_urlsafe(16))  # nobody signs in with it
        run = secrets.token_hex(3)
        tokens: list[str] = []
        with database.engine.connect() as conn:
            for start in range(0, accounts, CHUNK):
                now = utcnow()
                rows = [
                    {
                        "username": f"flash_{run}_{i:05d}",
                        "password_hash": password_hash,
                        "role": Role.CUSTOMER.value,
                        "name": f"Flash Customer {i}",
                        "email": f"flash_{run}_{i:05d}@bench.example",
                        "active": True,
                        "created_at": now,
                    }
                    for i in range(start, min(accounts, start + CHUNK))
                ]
                inserted = conn.execute(
                    users.insert().returning(users.c.id, sort_by_parameter_order=True),
                    rows,
                )
                for (user_id,) in inserted:
                    # issue_token reads only the id and the password hash.
                    token_user = User(id=int(user_id), password_hash=password_hash)
                    tokens.append(issue_token(token_user, config.secret_key))
            conn.commit()
        return {
            "tokens": tokens,
            "admin_token": admin_token,
            "product_ids": product_ids,
            "units": units,
            "seconds": round(time.monotonic() - started, 2),
        }
    finally:
        session.close()
        database.dispose()


def main(argv: list[str]) -> int:
    if os.environ.get("BACKROOM_DATA_DIR") is None and os.environ.get("DATABASE_URL") is None:
        raise SystemExit("run by the bench with the server's environment (BACKROOM_DATA_DIR)")
    if len(argv) != 3:
        raise SystemExit("usage: python -m tests.bench.flash_seed ACCOUNTS PRODUCTS UNITS")
    accounts, products, units = (int(a) for a in argv)
    if accounts < 1 or products < 1 or units < 1:
        raise SystemExit("ACCOUNTS, PRODUCTS and UNITS must be at least 1")
    result = seed(accounts, products, units)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Seed the flash-sale stampede's customers straight into the server's database, before the
server starts.

Run by the bench after `backroom db upgrade` and `backroom demo-data`, in its own process
with the server's environment, so `load_config()` names the same database and the same
SECRET_KEY (the embedded setup keeps its key in BACKROOM_DATA_DIR/secret_key):

    python -m tests.bench.flash_seed ACCOUNTS PRODUCTS UNITS   # prints one JSON line

(`run_flash_seed` does that from the orchestrator, which never imports the app itself.)

* ACCOUNTS customer accounts, bulk-inserted with SQLAlchemy Core: they share one password,
  hashed once with scrypt at the test suite's cost (N=1024, the algorithm unchanged; the
  parameters travel in the hash, so the server checks it as it is). Once the server is up,
  the bench signs every one of them in through POST /api/v1/auth/token from its one address
  (`tokens_for`): thousands of correct sign-ins, none refused. At full cost that would be
  minutes of scrypt, which is not what the stampede measures.
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
from dataclasses import dataclass, field
from typing import Any, cast

from tests.bench.seed import tokens_for
from tests.bench.server import run_seeder

ADMIN_USERNAME = "admin"
CHUNK = 1000
CHEAP_HASH = "scrypt:1024:8:1"  # the test suite's cost; production's is N=32768


class FlashSeedError(RuntimeError):
    pass


@dataclass
class SeededFlash:
    """What the seeding process reports: the customers and their password, the products.
    `tokens` are filled in once the server answers (`sign_in`)."""

    usernames: list[str]
    password: str
    product_ids: list[int]
    units: int
    seconds: float
    wall_seconds: float
    tokens: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"flash_stampede: {len(self.usernames):,} customer accounts bulk-inserted (one "
            f"shared password, scrypt N=1024), stock of {len(self.product_ids)} product(s) "
            f"raised by {self.units:,}, in {self.wall_seconds:.1f}s before the server "
            "started; each run creates its sale with POST /api/v1/flash-sales (admin) just "
            "before it starts"
        )

    def sign_in(self, port: int) -> str:
        """Every account's bearer token through POST /api/v1/auth/token; a note on it."""
        self.tokens, seconds = tokens_for(port, self.usernames, self.password)
        return (
            f"flash_stampede: {len(self.tokens):,} customers signed in through "
            f"/api/v1/auth/token from one address in {seconds:.1f}s, every one answered 200"
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
    usernames = [str(name) for name in data["usernames"]]
    product_ids = [int(p) for p in data["product_ids"]]
    if len(usernames) != accounts or len(product_ids) != products:
        raise FlashSeedError(
            f"asked for {accounts} accounts and {products} products, "
            f"got {len(usernames)} and {len(product_ids)}"
        )
    return SeededFlash(
        usernames=usernames,
        password=str(data["password"]),
        product_ids=product_ids,
        units=int(data["units"]),
        seconds=float(data["seconds"]),
        wall_seconds=round(time.monotonic() - started, 1),
    )


# --- inside the seeding process (imports the app) ------------------------------------------


def seed(accounts: int, products: int, units: int) -> dict[str, Any]:
    from sqlalchemy import Table, select
    from werkzeug.security import generate_password_hash

    from app.config import load_config
    from app.db import Database, utcnow
    from app.models.catalog import Product
    from app.models.users import Role, User
    from app.services.catalog import ProductInput, update_product
    from app.services.users import find_user

    config = load_config()
    database = Database(config.database_url, pool_size=2)
    session = database.session()
    started = time.monotonic()
    try:
        admin = find_user(session, ADMIN_USERNAME)
        if admin is None or admin.role != Role.ADMIN:
            raise SystemExit(f"no admin {ADMIN_USERNAME!r}: was demo data seeded?")

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
        password = secrets.token_urlsafe(16)
        password_hash = generate_password_hash(password, method=CHEAP_HASH)
        run = secrets.token_hex(3)
        usernames: list[str] = []
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
                conn.execute(users.insert(), rows)
                usernames.extend(row["username"] for row in rows)
            conn.commit()
        return {
            "usernames": usernames,
            "password": password,
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

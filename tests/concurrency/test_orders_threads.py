"""Many threads buying at once never oversell, never deadlock, never lose a unit."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from app.db import Database, transaction
from app.services.credit import add_credit_entry
from tests.concurrency.workers import assert_conserved, attempt, ledger, payments_for, seed


def race(n, work):
    """Run `work(i)` on n threads released together; return the results."""
    gate = threading.Barrier(n)

    def run(i):
        gate.wait(10)
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_it_sells_exactly_the_stock_to_thirty_racing_buyers(fresh_url):
    customers, [product] = seed(fresh_url, customers=30, stocks=[10])
    database = Database(fresh_url, pool_size=10)
    payments = payments_for(database)
    try:
        results = race(30, lambda i: attempt(database, payments, customers[i], [(product, 1)]))
    finally:
        database.dispose()
    assert Counter(results) == {"paid": 10, "insufficient_stock": 20}
    state = ledger(fresh_url, [product])
    assert state["stock"] == {product: 0}
    assert state["statuses"] == {"paid": 10}
    assert_conserved(state, {product: 10})


def test_it_never_deadlocks_or_oversells_multi_line_carts_in_opposite_orders(fresh_url):
    customers, products = seed(fresh_url, customers=24, stocks=[12, 12, 12])
    a, b, c = products
    carts = [
        [(a, 1), (b, 2)],
        [(b, 2), (a, 1)],
        [(c, 1), (b, 1), (a, 1)],
        [(a, 2), (c, 2)],
        [(c, 1), (a, 1)],
        [(b, 1), (c, 3)],
    ]
    database = Database(fresh_url, pool_size=10)
    payments = payments_for(database)
    try:
        results = race(
            24, lambda i: attempt(database, payments, customers[i], carts[i % len(carts)])
        )
    finally:
        database.dispose()
    assert set(results) <= {"paid", "insufficient_stock"}, results
    assert results.count("paid") >= 1
    state = ledger(fresh_url, products)
    assert_conserved(state, dict.fromkeys(products, 12))
    assert state["statuses"]["paid"] == results.count("paid")


def test_it_never_overdraws_store_credit_under_concurrent_spending(fresh_url):
    [customer], [product] = seed(fresh_url, customers=1, stocks=[100])
    database = Database(fresh_url, pool_size=10)
    with database.session() as session, transaction(session):
        add_credit_entry(session, customer_id=customer, amount_cents=1000, reason="gift")
    payments = payments_for(database)
    try:
        results = race(
            10, lambda i: attempt(database, payments, customer, [(product, 3)], credit=300)
        )
    finally:
        database.dispose()
    assert Counter(results) == {"paid": 3, "validation_error": 7}
    state = ledger(fresh_url, [product])
    assert state["negative_credit"] == 0
    assert_conserved(state, {product: 100})


def test_it_keeps_stock_exact_under_random_mixed_traffic(fresh_url):
    customers, products = seed(fresh_url, customers=20, stocks=[5, 8, 3, 10])
    rng = random.Random(20261125)
    carts = [
        [(pid, rng.randint(1, 3)) for pid in rng.sample(products, rng.randint(1, 3))]
        for _ in range(20)
    ]
    database = Database(fresh_url, pool_size=10)
    payments = payments_for(database)
    try:
        results = race(20, lambda i: attempt(database, payments, customers[i], carts[i]))
    finally:
        database.dispose()
    assert set(results) <= {"paid", "insufficient_stock"}, results
    assert_conserved(ledger(fresh_url, products), dict(zip(products, [5, 8, 3, 10], strict=True)))

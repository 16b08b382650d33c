"""Stampedes on a flash sale: threads and processes never hold or sell more than exists."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db import Database, utcnow
from app.models.flash_sales import FlashHold
from tests.concurrency.flash_workers import (
    TTL,
    process_reserver,
    sale_ledger,
    seed_sale,
    try_checkout,
    try_reserve,
)
from tests.concurrency.workers import payments_for


def race(n, work):
    gate = threading.Barrier(n)

    def run(i):
        gate.wait(30)
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_two_hundred_customers_racing_for_twenty_units_get_exactly_twenty_holds(fresh_url):
    customers, product, sale = seed_sale(fresh_url, customers=200, units=20, stock=50)
    database = Database(fresh_url, pool_size=20)
    try:
        results = race(200, lambda i: try_reserve(database, sale, product, customers[i]))
    finally:
        database.dispose()
    assert Counter(results) == {"held": 20, "sold_out": 180}, Counter(results)
    state = sale_ledger(fresh_url, product, utcnow())
    assert (state["live"], state["sold"], state["stock"]) == (20, 0, 30)


def test_one_customer_racing_themselves_never_passes_the_limit(fresh_url):
    customers, product, sale = seed_sale(fresh_url, customers=1, units=20, stock=50)
    database = Database(fresh_url, pool_size=10)
    try:
        results = race(20, lambda i: try_reserve(database, sale, product, customers[0]))
    finally:
        database.dispose()
    assert Counter(results) == {"held": 1, "limit_exceeded": 19}


@pytest.mark.slow
def test_processes_racing_for_twenty_units_get_exactly_twenty_holds(fresh_url):
    customers, product, sale = seed_sale(fresh_url, customers=90, units=20, stock=20)
    spawn = multiprocessing.get_context("spawn")
    barrier, out = spawn.Barrier(3), spawn.Queue()
    workers = [
        spawn.Process(
            target=process_reserver,
            args=(fresh_url, i, sale, product, customers[i::3], barrier, out),
        )
        for i in range(3)
    ]
    for worker in workers:
        worker.start()
    results = [r for _ in workers for r in out.get(timeout=120)[1]]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert Counter(results) == {"held": 20, "sold_out": 70}, Counter(results)
    state = sale_ledger(fresh_url, product, utcnow())
    assert (state["live"], state["sold"], state["stock"]) == (20, 0, 0)


def test_a_checkout_stampede_on_expiring_holds_never_double_sells(fresh_url):
    """20 units held; as the holds expire, 20 rivals reserve while the 20 holders pay with
    clocks on both sides of the expiry. Every unit is sold or held once at most."""
    customers, product, sale = seed_sale(fresh_url, customers=40, units=20, stock=20)
    database = Database(fresh_url, pool_size=20)
    payments = payments_for(database, latency=0.001)
    start = utcnow()
    try:
        first = race(20, lambda i: try_reserve(database, sale, product, customers[i], start))
        assert first == ["held"] * 20
        with database.session() as session:
            holds = dict(session.execute(select(FlashHold.customer_id, FlashHold.id)).all())
        expiry = start + timedelta(seconds=TTL)

        def work(i):
            if i % 2:  # a rival whose clock says the holds have expired
                return try_reserve(database, sale, product, customers[20 + i // 2],
                                   expiry + timedelta(milliseconds=i))  # fmt: skip
            buyer = customers[i // 2]
            skew = timedelta(milliseconds=(i % 7) - 3)  # just before or after expiry
            return try_checkout(database, payments, holds[buyer], buyer, expiry + skew)

        results = race(40, work)
    finally:
        database.dispose()
    assert not [r for r in results if r.startswith("crash")], results
    outcome = Counter(results)
    assert set(outcome) <= {"held", "paid", "sold_out", "reservation_expired"}, outcome
    state = sale_ledger(fresh_url, product, expiry + timedelta(seconds=1))
    assert state["pending"] == 0
    assert state["sold"] == state["converted"] == state["paid"] == outcome["paid"]
    assert state["sold"] + state["live"] <= state["quantity"], state
    assert outcome["paid"] + outcome["held"] <= 20, outcome
    assert state["stock"] == 0

"""Several OS processes, each with its own engine, racing for fewer units than buyers."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest

from tests.concurrency.workers import assert_conserved, ledger, process_buyer, seed

pytestmark = pytest.mark.slow
PROCESSES = 3


def run_processes(url, jobs_per_process):
    """Start one spawned process per job list, released together; results in job order."""
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(len(jobs_per_process))
    out = spawn.Queue()
    workers = [
        spawn.Process(target=process_buyer, args=(url, i, jobs, barrier, out))
        for i, jobs in enumerate(jobs_per_process)
    ]
    for worker in workers:
        worker.start()
    by_worker = dict(out.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    return [
        (lines, result)
        for i, jobs in enumerate(jobs_per_process)
        for (_, lines), result in zip(jobs, by_worker[i], strict=True)
    ]


def test_it_never_oversells_or_loses_units_across_processes(fresh_url):
    customers, products = seed(fresh_url, customers=33, stocks=[9, 6, 6])
    scarce, a, b = products
    carts = [[(a, 1), (b, 1)], [(b, 1), (a, 1)], [(a, 2)], [(b, 2), (a, 1)]]
    # 21 buyers race for 9 units of one product while 12 others buy overlapping carts.
    wanted = [[(scarce, 1)]] * 21 + [carts[k % len(carts)] for k in range(12)]
    jobs = list(zip(customers, wanted, strict=True))
    results = run_processes(fresh_url, [jobs[i::PROCESSES] for i in range(PROCESSES)])

    single = Counter(result for lines, result in results if lines == [(scarce, 1)])
    assert single == {"paid": 9, "insufficient_stock": 12}
    assert {result for _, result in results} <= {"paid", "insufficient_stock"}, results
    state = ledger(fresh_url, products)
    assert state["stock"][scarce] == 0
    assert_conserved(state, {scarce: 9, a: 6, b: 6})
    assert state["statuses"]["paid"] == sum(result == "paid" for _, result in results)

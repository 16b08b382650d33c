"""`make bench`: throughput and latency of the catalog, order placement, and returns (the
support team's queue page with 10,000 open returns, and firing transitions through the API).

See tests/bench/runner.py for the command line; nothing here is collected by pytest.
"""

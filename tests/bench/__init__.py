"""`make bench`: throughput and latency of the catalog and of order placement.

See tests/bench/runner.py for the command line; nothing here is collected by pytest.
"""

"""What a second process runs to show which workflow version it would start a return on.

A plain module (not a test module) so the `spawn`ed process imports it cheaply.
"""

from __future__ import annotations

from multiprocessing.queues import Queue
from typing import Any

from app.db import Database
from app.services.workflows import RMA, published_version


def version_reader(url: str, asks: Queue[Any], answers: Queue[Any]) -> None:
    """Answer each "version" with the published RMA version as a request in this process
    would see it, until "stop"."""
    database = Database(url, pool_size=1)
    try:
        while asks.get(timeout=60) == "version":
            with database.session() as session:
                answers.put(published_version(session, RMA))
    finally:
        database.dispose()

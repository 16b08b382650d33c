"""Job fixtures: the context a job runs with, built from the test app."""

from __future__ import annotations

import pytest

from jobs import JobContext


@pytest.fixture
def ctx(app) -> JobContext:
    return JobContext(
        config=app.config["BACKROOM"],
        db=app.extensions["backroom.db"],
        payments=app.extensions["backroom.payments"],
        holder="test",
    )

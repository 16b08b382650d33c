"""Return photos under real concurrency: uploads racing for the last places of a return's
five never pass the cap together, and no refused upload leaves a file behind."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from app.db import Database
from app.models.returns import ReturnPhoto
from app.models.users import User
from app.services.returns import MAX_PHOTOS, reencode, save_return_photo
from tests.builders import make_image
from tests.concurrency.test_orders_threads import race
from tests.concurrency.test_returns_concurrency import outcome, setup_return


def test_it_keeps_five_photos_when_uploads_race_for_the_last_places(fresh_url, tmp_path: Path):
    database = Database(fresh_url, pool_size=12)
    photo = reencode(make_image("PNG", (16, 16)))
    try:
        customer, _order, return_id = setup_return(database, fresh_url)

        def add(_: int) -> str:
            def work() -> None:
                with database.session() as session:
                    owner = session.get(User, customer)
                    assert owner is not None
                    save_return_photo(session, owner, return_id, photo, upload_dir=tmp_path)

            return outcome(work)

        assert [add(0) for _ in range(MAX_PHOTOS - 2)] == ["ok"] * (MAX_PHOTOS - 2)
        results = race(10, add)
        with database.session() as session:
            stored = session.scalar(
                select(func.count())
                .select_from(ReturnPhoto)
                .where(ReturnPhoto.return_id == return_id)
            )
    finally:
        database.dispose()
    assert Counter(results) == {"ok": 2, "validation_error": 8}
    assert stored == MAX_PHOTOS
    assert len(list((tmp_path / "returns").iterdir())) == MAX_PHOTOS

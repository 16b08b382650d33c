"""Feed imports end to end in the service: stage, guard, apply, resume, report."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db import utcnow
from app.errors import Conflict
from app.models.catalog import Product
from app.models.feeds import FeedChange, FeedImport
from app.services.catalog import ProductInput, update_product
from app.services.feeds import (
    claim_next_import,
    decide_import,
    get_import,
    import_dry_run,
    import_errors,
    list_changes,
    rejected_rows_csv,
    run_import,
)
from app.services.feeds import imports as imports_module
from app.services.feeds import staging as staging_module
from tests.builders import make_partner, make_product, make_user, queue_feed, work_feed_imports

HEADER = "sku,name,price,stock,description,category,image_url\n"


def feed(*rows: str) -> bytes:
    return (HEADER + "\n".join(rows) + "\n").encode()


def products_of(session, partner):
    session.expire_all()
    query = select(Product).where(Product.partner_id == partner.id).order_by(Product.sku)
    return {p.sku: p for p in session.scalars(query)}


@pytest.fixture
def admin_user(session):
    return make_user(session, "admin")


@pytest.fixture
def partner(session, admin_user):
    return make_partner(session, admin_user, name="Acme Supply")[0]


@pytest.fixture
def uploads(tmp_path):
    return tmp_path / "uploads"


def import_now(session, partner, data, uploads, **options):
    record = queue_feed(session, partner, data, uploads, **options)
    assert work_feed_imports(session, uploads) == 1
    session.expire_all()
    return get_import(session, record.id)


def test_it_creates_updates_and_counts_unchanged_rows(session, partner, uploads):
    first = import_now(
        session, partner, feed("A-1,Mug,12.99,5,,Kitchen,", "A-2,Cup,3,1,,Kitchen,"), uploads
    )
    assert (first.status, first.created, first.updated, first.unchanged) == ("succeeded", 2, 0, 0)
    assert products_of(session, partner)["A-1"].price_cents == 1299

    second = import_now(
        session, partner, feed("A-1,Mug,12.99,5,,Kitchen,", "A-2,Cup,3.50,1,,Kitchen,"), uploads
    )
    assert (second.created, second.updated, second.unchanged, second.rows_total) == (0, 1, 1, 2)
    assert products_of(session, partner)["A-2"].price_cents == 350


def test_it_changes_nothing_when_the_same_feed_comes_twice(session, partner, uploads):
    data = feed("A-1,Mug,19.99,5,Big mug,Kitchen,https://img.example/m.png")
    import_now(session, partner, data, uploads)
    before = {sku: p.updated_at for sku, p in products_of(session, partner).items()}
    again = import_now(session, partner, data, uploads)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    assert {sku: p.updated_at for sku, p in products_of(session, partner).items()} == before


def test_it_rejects_bad_rows_one_by_one_and_lands_the_good_ones(session, partner, uploads):
    record = import_now(
        session,
        partner,
        feed("A-1,Mug,12.999,5,,,", "A-2,Cup,3,1,,,", ",Nameless,1,1,,,", "A-4,Plate,,1,,,"),
        uploads,
    )
    assert (record.created, record.rejected, record.status) == (1, 3, "succeeded")
    errors, total = import_errors(session, record.id, limit=100)
    assert total == 3
    assert [(e.row, e.sku, e.field) for e in errors] == [
        (1, "A-1", "price"),
        (3, None, "sku"),
        (4, "A-4", "price"),
    ]
    assert errors[2].message == "is required for a new product"
    assert set(products_of(session, partner)) == {"A-2"}


def test_it_refuses_a_sku_sent_twice_in_one_file(session, partner, uploads):
    record = import_now(session, partner, feed("A-1,Mug,1,1,,,", "A-1,Mug 2,2,1,,,"), uploads)
    errors, _ = import_errors(session, record.id, limit=10)
    assert (record.created, record.rejected) == (1, 1)
    assert errors[0].row == 2
    assert "first at row 1" in errors[0].message


def test_a_partner_never_touches_the_shops_or_another_partners_products(
    session, partner, admin_user, uploads
):
    shop = make_product(session, sku="SHARED", price_cents=500)
    other, _ = make_partner(session, admin_user, name="Other")
    import_now(session, other, feed("SHARED,Theirs,7,1,,,"), uploads)
    import_now(session, partner, feed("SHARED,Ours,9,1,,,"), uploads)
    session.expire_all()
    assert session.get(Product, shop.id).price_cents == 500
    assert products_of(session, other)["SHARED"].name == "Theirs"
    assert products_of(session, partner)["SHARED"].price_cents == 900


def test_a_dry_run_reports_the_diff_and_writes_nothing(session, partner, uploads, admin_user):
    kept = ("B-1,Bowl,1,1,,,", "B-2,Bowl,1,1,,,")
    import_now(session, partner, feed("A-1,Mug,10,5,,,", *kept), uploads)
    dry = import_now(
        session, partner, feed("A-1,Mug,12,4,,,", "A-2,Cup,3,1,,,", *kept), uploads, dry_run=True
    )
    assert (dry.status, dry.dry_run, dry.created, dry.updated) == ("succeeded", True, 1, 1)
    assert set(products_of(session, partner)) == {"A-1", "B-1", "B-2"}
    assert products_of(session, partner)["A-1"].price_cents == 1000
    changes = {change["sku"]: change for change in list_changes(session, dry.id).items}
    assert changes["A-1"]["diff"] == {"price_cents": [1000, 1200], "stock": [5, 4]}
    assert changes["A-2"]["action"] == "create"
    assert changes["A-2"]["values"]["price_cents"] == 300

    real = import_dry_run(session, dry.id, actor=admin_user, upload_dir=uploads, now=utcnow())
    work_feed_imports(session, uploads)
    session.expire_all()
    assert get_import(session, real.id).status == "succeeded"
    assert products_of(session, partner)["A-1"].price_cents == 1200


def test_the_guard_holds_a_run_that_changes_most_prices_until_an_admin_approves(
    session, partner, uploads, admin_user
):
    import_now(
        session, partner, feed("A-1,Mug,10,5,,,", "A-2,Cup,3,1,,,", "A-3,Jug,4,1,,,"), uploads
    )
    held = import_now(
        session, partner, feed("A-1,Mug,1,5,,,", "A-2,Cup,1,1,,,", "A-3,Jug,4,1,,,"), uploads
    )
    assert (held.status, held.approval, held.price_changes, held.existing) == (
        "queued",
        "required",
        2,
        3,
    )
    assert products_of(session, partner)["A-1"].price_cents == 1000
    assert work_feed_imports(session, uploads) == 0  # nobody applies it unasked

    decide_import(
        session, held.id, approve=True, actor=admin_user, now=utcnow(), upload_dir=uploads
    )
    assert work_feed_imports(session, uploads) == 1
    session.expire_all()
    assert get_import(session, held.id).status == "succeeded"
    assert products_of(session, partner)["A-1"].price_cents == 100


def test_a_complete_feed_drops_what_it_no_longer_names(session, partner, uploads):
    import_now(session, partner, feed("A-1,Mug,10,5,,,", "A-2,Cup,3,1,,,"), uploads)
    # One of two prices changes and one of two products goes: 50% is not more than 50%.
    record = import_now(session, partner, feed("A-1,Mug,1,5,,,"), uploads, complete=True)
    assert (record.status, record.dropped, record.price_changes) == ("succeeded", 1, 1)
    assert not products_of(session, partner)["A-2"].active
    back = import_now(session, partner, feed("A-1,Mug,1,5,,,", "A-2,Cup,3,1,,,"), uploads)
    assert (back.updated, back.unchanged) == (1, 1)
    assert products_of(session, partner)["A-2"].active


def test_a_partner_with_nothing_on_sale_is_never_held(session, partner, uploads):
    record = import_now(session, partner, feed("A-1,Mug,1,5,,,"), uploads, complete=True)
    assert (record.status, record.approval) == ("succeeded", None)


def test_a_complete_feed_that_drops_most_items_waits(session, partner, uploads, admin_user):
    rows = [f"A-{n},Item {n},1,1,,," for n in range(4)]
    import_now(session, partner, feed(*rows), uploads)
    held = import_now(session, partner, feed(rows[0]), uploads, complete=True)
    assert (held.status, held.approval, held.dropped) == ("queued", "required", 3)
    decide_import(
        session, held.id, approve=False, actor=admin_user, now=utcnow(), upload_dir=uploads
    )
    session.expire_all()
    record = get_import(session, held.id)
    assert record.status == "failed"
    assert "rejected" in record.error
    assert all(p.active for p in products_of(session, partner).values())
    with pytest.raises(Conflict):
        decide_import(
            session, held.id, approve=True, actor=admin_user, now=utcnow(), upload_dir=uploads
        )


def test_a_malformed_file_fails_its_import_and_the_next_one_runs(session, partner, uploads):
    bad = queue_feed(
        session,
        partner,
        b'[{"sku": "A-1", "name": "x"',
        uploads,
        format="standard",
        content_type="application/json",
    )
    good = queue_feed(session, partner, feed("A-1,Mug,1,1,,,"), uploads)
    assert work_feed_imports(session, uploads) == 2
    session.expire_all()
    failed = get_import(session, bad.id)
    assert failed.status == "failed"
    assert failed.error
    assert get_import(session, good.id).status == "succeeded"


def test_it_resumes_a_crashed_import_after_its_last_batch(session, partner, uploads):
    rows = [f"A-{n:03},Item {n},1,1,,," for n in range(25)]
    record = queue_feed(session, partner, feed(*rows), uploads)
    claimed = claim_next_import(session, holder="dead", now=utcnow())
    assert claimed == record.id
    # The dead worker staged 10 rows before it died.
    with session.begin():
        session.execute(
            update(FeedImport).where(FeedImport.id == record.id).values(lease_until=utcnow())
        )
    later = utcnow() + timedelta(seconds=1)
    assert claim_next_import(session, holder="alive", now=later) == record.id
    run_import(session, record.id, holder="alive", upload_dir=uploads, batch_size=10)
    session.expire_all()
    done = get_import(session, record.id)
    assert (done.status, done.created, done.attempts) == ("succeeded", 25, 2)
    assert len(products_of(session, partner)) == 25


def test_the_rejected_rows_csv_keeps_the_columns_and_defuses_formulas(session, partner, uploads):
    record = import_now(
        session, partner, feed('A-1,"=HYPERLINK(""x"")",-1,1,,,', "A-2,Cup,3,1,,,"), uploads
    )
    text = "".join(rejected_rows_csv(session, record.id))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [*HEADER.strip().split(","), "error"]
    assert rows[1][:3] == ["A-1", '\'=HYPERLINK("x")', "'-1"]
    assert rows[1][-1] == "price: must not be negative"
    assert len(rows) == 2


def test_staged_changes_of_a_failed_import_are_gone(session, partner, uploads, admin_user):
    import_now(session, partner, feed("A-1,Mug,10,5,,,"), uploads)
    held = import_now(session, partner, feed("A-1,Mug,99,5,,,"), uploads)
    assert held.approval == "required"
    decide_import(
        session, held.id, approve=False, actor=admin_user, now=utcnow(), upload_dir=uploads
    )
    query = select(FeedChange).where(FeedChange.import_id == held.id)
    assert session.scalars(query).all() == []
    assert json.loads("{}") == {}


def test_an_unexpected_error_queues_the_import_again_with_the_reason(
    session, partner, uploads, monkeypatch
):
    real = imports_module.apply_changes

    def broken(run):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(imports_module, "apply_changes", broken)
    record = queue_feed(session, partner, feed("A-1,Mug,1,1,,,"), uploads)
    assert work_feed_imports(session, uploads) == 1
    session.expire_all()
    waiting = get_import(session, record.id)
    assert (waiting.status, waiting.claimed_by) == ("queued", None)
    assert waiting.error == "RuntimeError: the database went away"
    assert claim_next_import(session, holder="w", now=utcnow()) is None  # backs off first

    monkeypatch.setattr(imports_module, "apply_changes", real)
    later = utcnow() + timedelta(seconds=31)
    assert claim_next_import(session, holder="w", now=later) == record.id
    assert run_import(session, record.id, holder="w", upload_dir=uploads) == "succeeded"


def test_an_import_that_keeps_stopping_fails_visibly(session, partner, uploads):
    record = queue_feed(session, partner, feed("A-1,Mug,1,1,,,"), uploads)
    with session.begin():
        session.get_one(FeedImport, record.id).attempts = 3
        session.get_one(FeedImport, record.id).error = "killed by the OOM killer"
    claimed = claim_next_import(session, holder="w", now=utcnow())
    assert run_import(session, claimed, holder="w", upload_dir=uploads) == "failed"
    session.expire_all()
    assert get_import(session, record.id).error == (
        "the import stopped 3 times: killed by the OOM killer"
    )


def test_a_worker_that_lost_its_claim_stops_without_writing(session, partner, uploads, monkeypatch):
    record = queue_feed(session, partner, feed("A-1,Mug,1,1,,,"), uploads, dry_run=True)
    claimed = claim_next_import(session, holder="slow", now=utcnow())

    def taken_over(run, batch, known):
        with session.begin():
            session.execute(
                update(FeedImport).where(FeedImport.id == record.id).values(claimed_by="fast")
            )
        real_stage_batch(run, batch, known)

    real_stage_batch = staging_module.stage_batch
    monkeypatch.setattr(staging_module, "stage_batch", taken_over)
    assert run_import(session, claimed, holder="slow", upload_dir=uploads) == "running"
    session.expire_all()
    kept = get_import(session, record.id)
    assert (kept.claimed_by, kept.rows_total, kept.created) == ("fast", 0, 0)


def test_a_partners_imports_land_in_the_order_they_came(session, partner, uploads):
    import_now(
        session, partner, feed("A-1,Mug,1,1,,,", "B-1,Bowl,1,1,,,", "C-1,Cup,1,1,,,"), uploads
    )
    first = queue_feed(session, partner, feed("A-1,Mug,2,1,,,"), uploads)
    second = queue_feed(session, partner, feed("A-1,Mug,3,1,,,"), uploads)
    with session.begin():  # the first one is backing off after an error
        session.get_one(FeedImport, first.id).lease_until = utcnow() + timedelta(seconds=30)
    assert claim_next_import(session, holder="w", now=utcnow()) is None
    assert work_feed_imports_at(session, uploads, utcnow() + timedelta(seconds=31)) == [
        first.id,
        second.id,
    ]
    assert products_of(session, partner)["A-1"].price_cents == 300


def test_a_held_import_is_superseded_by_a_newer_one_that_lands(
    session, partner, uploads, admin_user
):
    import_now(session, partner, feed("A-1,Mug,10,5,,,", "A-2,Cup,3,1,,,"), uploads)
    held = import_now(session, partner, feed("A-1,Mug,1,5,,,", "A-2,Cup,1,1,,,"), uploads)
    assert held.approval == "required"
    newer = import_now(session, partner, feed("A-1,Mug,11,5,,,", "A-2,Cup,3,1,,,"), uploads)
    assert newer.status == "succeeded"
    session.expire_all()
    old = get_import(session, held.id)
    assert (old.status, old.error) == (
        "failed",
        f"superseded by import {newer.id}, which landed first",
    )
    assert products_of(session, partner)["A-1"].price_cents == 1100


def test_a_dry_run_interrupted_after_staging_never_writes(session, partner, uploads):
    import_now(
        session, partner, feed("A-1,Mug,10,5,,,", "B-1,Bowl,1,1,,,", "C-1,Cup,1,1,,,"), uploads
    )
    record = queue_feed(
        session, partner, feed("A-1,Mug,12,5,,,", "N-1,New,1,1,,,"), uploads, dry_run=True
    )
    claimed = claim_next_import(session, holder="w", now=utcnow())
    with session.begin():  # as if the worker died with the phase moved on
        row = session.get_one(FeedImport, claimed)
        row.phase = "apply"
        row.staged_rows = 2
    assert run_import(session, claimed, holder="w", upload_dir=uploads) == "succeeded"
    assert products_of(session, partner)["A-1"].price_cents == 1000
    assert "N-1" not in products_of(session, partner)
    assert get_import(session, record.id).dry_run


def work_feed_imports_at(session, uploads, now):
    ran = []
    while (claimed := claim_next_import(session, holder="w", now=now)) is not None:
        run_import(session, claimed, holder="w", upload_dir=uploads)
        ran.append(claimed)
    return ran


def test_a_product_an_admin_took_off_sale_stays_off(session, partner, uploads):
    rest = ("A-2,Cup,3,1,,,", "A-3,Jug,4,1,,,", "A-4,Pan,5,1,,,")
    data = feed("A-1,Mug,10,5,,,", *rest)
    import_now(session, partner, data, uploads)
    mug = products_of(session, partner)["A-1"]
    update_product(session, mug.id, ProductInput(active=False))
    again = import_now(session, partner, data, uploads)
    assert (again.unchanged, again.updated) == (4, 0)
    changed = import_now(session, partner, feed("A-1,Mug,11,5,,,", *rest), uploads)
    assert (changed.status, changed.updated) == ("succeeded", 1)
    mug = products_of(session, partner)["A-1"]
    assert (mug.price_cents, mug.active) == (1100, False)

"""The partner feed admin pages (issue 12): /admin/partners, one partner, its keys, uploads
and each import's report."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from app.db import utcnow
from app.models.catalog import Product
from app.models.feeds import FeedImport, Partner, PartnerKey
from app.models.users import User
from app.services.feeds import partner_for_key
from tests.builders import make_partner, make_user, queue_feed, work_feed_imports
from tests.conftest import sign_in
from tests.views.conftest import HX, text

FEED = b"sku,name,price,stock\nA-1,Enamel mug,12.99,5\nA-2,Canvas tote,19.99,3\n"
BAD_ROWS = b"sku,name,price,stock\nA-1,Enamel mug,12.99,5\nB-1,=2+3,not-a-price,1\n"
KEY = re.compile(r'id="api-key"[^>]*value="(bk_[^"]+)"')


@pytest.fixture
def admin_client(app: Flask, admin: User) -> tuple[FlaskClient, str]:
    client = app.test_client()
    return client, sign_in(client, admin)


@pytest.fixture
def upload_dir(app: Flask) -> Path:
    path: Path = app.config["BACKROOM"].upload_dir
    return path


def onboard_form(token: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "name": "Acme Supplies",
        "format": "standard",
        "feed_url": "",
        "poll_minutes": "",
        "mapping": "",
        "price_guard_percent": "50",
        "drop_guard_percent": "50",
        "stale_after_minutes": "1440",
        **fields,
    }


def upload(
    client: FlaskClient, token: str, partner: Partner, data: bytes = FEED, **fields: str
) -> TestResponse:
    body: dict[str, Any] = {"csrf_token": token, "file": (io.BytesIO(data), "feed.csv"), **fields}
    return client.post(
        f"/admin/partners/{partner.id}/imports", data=body, content_type="multipart/form-data"
    )


def imports_of(session: Session, partner: Partner) -> list[FeedImport]:
    session.expire_all()
    query = select(FeedImport).where(FeedImport.partner_id == partner.id).order_by(FeedImport.id)
    return list(session.scalars(query))


def import_url(partner: Partner, record: FeedImport) -> str:
    return f"/admin/partners/{partner.id}/imports/{record.id}"


# -- the list and onboarding -----------------------------------------------------------------


def test_it_lists_every_partner_with_its_feed_freshness_and_latest_import(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User, upload_dir: Path
) -> None:
    client, _ = admin_client
    polled, _ = make_partner(
        session, admin, name="Polled Co", feed_url="https://feeds.example.com/p.csv",
        poll_minutes=30, format="shopify_csv",
    )  # fmt: skip
    uploads, _ = make_partner(session, admin, name="Uploads Co")
    uploads.created_at = utcnow().replace(year=2020)
    session.commit()
    queue_feed(session, polled, FEED, upload_dir)
    work_feed_imports(session, upload_dir)

    page = text(client.get("/admin/partners"))

    assert "Polled Co" in page
    assert "Uploads Co" in page
    assert "Shopify product CSV export" in page
    assert "Polls feeds.example.com, every 30 min" in page
    assert "Uploads only" in page
    assert "Stale" in page
    assert "no import has landed yet" in page
    assert "Succeeded" in page
    assert 'href="/admin/partners#onboard"' not in page  # the anchor is on the same page
    assert 'id="onboard"' in page
    assert 'value="1440"' in page


def test_it_onboards_a_partner_and_shows_its_key_once(
    admin_client: tuple[FlaskClient, str], session: Session
) -> None:
    client, token = admin_client
    response = client.post(
        "/admin/partners",
        data=onboard_form(
            token,
            feed_url="https://feeds.example.com/acme.csv",
            poll_minutes="15",
            mapping="Item Code = sku\n\n# a comment\nTitle = name",
            price_guard_percent="20",
        ),
    )

    assert response.status_code == 201
    page = text(response)
    assert "copy it now; it will not be shown again" in page
    secret = KEY.search(page)
    assert secret, page
    partner = session.scalars(select(Partner).where(Partner.name == "Acme Supplies")).one()
    assert (partner.feed_url, partner.poll_minutes, partner.price_guard_percent) == (
        "https://feeds.example.com/acme.csv", 15, 20,
    )  # fmt: skip
    assert partner.mapping is not None
    assert '"Item Code": "sku"' in partner.mapping
    assert f'href="/admin/partners/{partner.id}"' in page
    found = partner_for_key(session, secret.group(1), now=utcnow())
    assert found is not None
    assert found[0].id == partner.id
    assert secret.group(1) not in text(client.get(f"/admin/partners/{partner.id}"))
    assert secret.group(1) not in text(client.get("/admin/partners"))


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "Name is required"),
        ({"feed_url": "ftp://x"}, "feed_url", "must be an http:// or https:// URL"),
        ({"mapping": "Item Code sku"}, "mapping", "line 1 must read"),
        ({"mapping": "a = sku\nA = name"}, "mapping", "maps the column “A” a second time"),
        ({"mapping": "a = colour"}, "mapping", "unknown field"),
        ({"mapping": "a = sku\x00"}, "mapping", "must not contain NUL"),
        ({"mapping": "a = sku\n" * 2000}, "mapping", "at most 10000 characters"),
        ({"poll_minutes": "99999999999999999999"}, "poll_minutes", "must be from 1 to 10080"),
        ({"price_guard_percent": "abc"}, "price_guard_percent", "must be a whole number"),
        ({"drop_guard_percent": "0"}, "drop_guard_percent", "must be from 1 to 100"),
        ({"stale_after_minutes": ""}, "stale_after_minutes", "is required"),
        ({"name": "Acme\x00"}, "name", "must not contain NUL"),
        ({"name": "x" * 121}, "name", "must have 1-120 characters"),
        ({"format": "excel"}, "format", "must be one of"),
    ],
)
def test_it_shows_each_bad_field_beside_it_and_keeps_the_values(
    admin_client: tuple[FlaskClient, str],
    session: Session,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    client, token = admin_client
    response = client.post(
        "/admin/partners",
        data=onboard_form(token, **{"feed_url": "https://kept.example.com/f", **fields}),
    )

    assert response.status_code == 422
    page = text(response)
    assert f'id="field-{field}-error"' in page
    error = re.search(rf'id="field-{field}-error">([^<]*)<', page)
    assert error
    assert message in error.group(1).replace("&#34;", '"').replace("&#39;", "'")
    if field != "feed_url":
        assert 'value="https://kept.example.com/f"' in page
    assert session.scalars(select(Partner)).all() == []


def test_it_refuses_a_name_in_use_beside_the_name(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User
) -> None:
    client, token = admin_client
    make_partner(session, admin, name="Acme Supplies")

    response = client.post("/admin/partners", data=onboard_form(token, name="acme supplies"))

    assert response.status_code == 422
    assert "Name is already used by another partner" in text(response)


def test_it_answers_a_form_with_missing_fields_with_422(
    admin_client: tuple[FlaskClient, str],
) -> None:
    client, token = admin_client
    response = client.post("/admin/partners", data={"csrf_token": token})
    assert response.status_code == 422
    assert "Name is required" in text(response)


def test_it_escapes_what_partners_and_admins_typed(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User
) -> None:
    client, _ = admin_client
    partner, _ = make_partner(session, admin, name="<script>alert(1)</script>")
    for path in ("/admin/partners", f"/admin/partners/{partner.id}"):
        page = text(client.get(path))
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# -- one partner: settings and keys --------------------------------------------------------


def test_it_shows_a_partner_with_its_settings_keys_and_imports(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User, upload_dir: Path
) -> None:
    client, _ = admin_client
    partner, _ = make_partner(session, admin, name="Acme", mapping={"Item Code": "sku"})
    record = queue_feed(session, partner, FEED, upload_dir, dry_run=True)
    work_feed_imports(session, upload_dir)
    key = session.scalars(select(PartnerKey).where(PartnerKey.partner_id == partner.id)).one()

    page = text(client.get(f"/admin/partners/{partner.id}"))

    assert f"<code>{key.prefix}…</code>" in page
    assert "Active" in page
    assert f'href="/admin/partners/{partner.id}/imports/{record.id}"' in page
    assert "Dry run" in page
    assert "Succeeded" in page
    assert "Upload" in page
    assert "Item Code = sku</textarea>" in page
    assert "Dry run: show what would change, write nothing" in page
    assert "This file is the whole catalog: take products missing from it off sale" in page
    assert 'enctype="multipart/form-data"' in page


def test_it_warns_of_a_stale_feed_and_shows_the_last_poll_error(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User
) -> None:
    client, _ = admin_client
    partner, _ = make_partner(session, admin, feed_url="https://feeds.example.com/f.csv")
    partner.poll_failures, partner.last_poll_error = 3, "HTTP 500 from feeds.example.com"
    session.commit()

    page = text(client.get(f"/admin/partners/{partner.id}"))

    assert 'id="partner-stale"' in page
    assert "the last 3 polls failed" in page
    assert 'id="partner-poll-error"' in page
    assert "HTTP 500 from feeds.example.com" in page


def test_it_saves_the_settings_and_says_so(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User
) -> None:
    client, token = admin_client
    partner, _ = make_partner(
        session, admin, name="Acme", feed_url="https://a.example.com/f", mapping={"X": "sku"}
    )
    form = onboard_form(token, name="Acme Two", format="google_merchant_tsv", feed_url="",
                        stale_after_minutes="60", mapping="")  # fmt: skip

    response = client.post(f"/admin/partners/{partner.id}", data=form)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/partners/{partner.id}"
    session.expire_all()
    assert (partner.name, partner.format, partner.feed_url, partner.mapping) == (
        "Acme Two", "google_merchant_tsv", None, None,
    )  # fmt: skip
    assert partner.stale_after_minutes == 60
    assert "Saved the settings of Acme Two." in text(client.get(response.headers["Location"]))


def test_it_shows_settings_problems_beside_the_fields_and_saves_nothing(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User
) -> None:
    client, token = admin_client
    partner, _ = make_partner(session, admin, name="Acme")
    make_partner(session, admin, name="Taken")

    blank = client.post(f"/admin/partners/{partner.id}", data=onboard_form(token, name=""))
    taken = client.post(f"/admin/partners/{partner.id}", data=onboard_form(token, name="Taken"))
    bad = client.post(f"/admin/partners/{partner.id}", data=onboard_form(token, poll_minutes="x"))

    assert blank.status_code == taken.status_code == bad.status_code == 422
    assert "Name must have 1-120 characters" in text(blank)
    assert "Name is already used by another partner" in text(taken)
    assert 'value="Taken"' in text(taken)
    assert "Poll every (minutes) must be a whole number" in text(bad)
    session.expire_all()
    assert partner.name == "Acme"


def test_it_issues_a_new_key_once_and_the_old_one_keeps_working(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User
) -> None:
    client, token = admin_client
    partner, old = make_partner(session, admin, name="Acme")

    response = client.post(f"/admin/partners/{partner.id}/keys", data={"csrf_token": token})

    assert response.status_code == 201
    page = text(response)
    assert "copy it now; it will not be shown again" in page
    assert "Their other keys keep working until you revoke them." in page
    new = KEY.search(page)
    assert new
    assert new.group(1) != old
    assert partner_for_key(session, old, now=utcnow()) is not None
    assert partner_for_key(session, new.group(1), now=utcnow()) is not None
    assert new.group(1) not in text(client.get(f"/admin/partners/{partner.id}"))


def test_it_asks_before_it_revokes_a_key_then_the_key_stops_working(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User
) -> None:
    client, token = admin_client
    partner, secret = make_partner(session, admin, name="Acme")
    key = session.scalars(select(PartnerKey).where(PartnerKey.partner_id == partner.id)).one()
    url = f"/admin/partners/{partner.id}/keys/{key.id}/revoke"

    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "Revoke the key" in text(confirm)
    assert f'action="{url}"' in text(confirm)
    assert partner_for_key(session, secret, now=utcnow()) is not None  # asking changes nothing

    response = client.post(url, data={"csrf_token": token})

    assert response.status_code == 302
    assert partner_for_key(session, secret, now=utcnow()) is None
    page = text(client.get(response.headers["Location"]))
    assert f"Revoked the key {key.prefix}…" in page
    assert "Revoked</span>" in page
    assert "was revoked" in text(client.get(url))


def test_it_answers_404_for_a_key_or_partner_that_is_not_there(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User
) -> None:
    client, token = admin_client
    partner, _ = make_partner(session, admin, name="Acme")
    other, _ = make_partner(session, admin, name="Other")
    key = session.scalars(select(PartnerKey).where(PartnerKey.partner_id == other.id)).one()
    url = f"/admin/partners/{partner.id}/keys/{key.id}/revoke"

    assert client.get(url).status_code == 404
    assert client.post(url, data={"csrf_token": token}).status_code == 404
    assert client.get("/admin/partners/999999").status_code == 404
    assert client.get("/admin/partners/99999999999999999999").status_code == 404
    assert client.get("/admin/partners/abc").status_code == 404
    assert client.post("/admin/partners/999999/keys", data={"csrf_token": token}).status_code == 404
    session.expire_all()
    assert key.revoked_at is None


# -- uploads and imports -----------------------------------------------------------------------


def test_it_uploads_a_feed_and_goes_to_its_import(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User
) -> None:
    client, token = admin_client
    partner, _ = make_partner(session, admin, name="Acme")

    response = upload(client, token, partner, dry_run="1", complete="1", format="standard")

    [record] = imports_of(session, partner)
    assert response.status_code == 302
    assert response.headers["Location"] == import_url(partner, record)
    assert (record.dry_run, record.complete, record.source, record.original_name) == (
        True, True, "upload", "feed.csv",
    )  # fmt: skip
    assert record.requested_by == admin.id
    page = text(client.get(response.headers["Location"]))
    assert "queued for its dry run" in page
    assert "Queued" in page


@pytest.mark.parametrize(
    ("file_format", "data", "file_name", "message"),
    [
        ("excel", FEED, "feed.csv", "Format must be one of"),
        ("excel\x00", FEED, "feed.csv", "Format must be one of"),
        ("", b"", "empty.csv", "Feed file is empty"),
        ("", b"", "", "Feed file attach the feed file"),
    ],
)
def test_it_shows_an_upload_problem_on_the_partner_page(
    admin_client: tuple[FlaskClient, str],
    session: Session,
    admin: User,
    file_format: str,
    data: bytes,
    file_name: str,
    message: str,
) -> None:
    client, token = admin_client
    partner, _ = make_partner(session, admin, name="Acme")
    body = {
        "csrf_token": token,
        "file": (io.BytesIO(data), file_name),
        "format": file_format,
        "dry_run": "1",
    }

    response = client.post(
        f"/admin/partners/{partner.id}/imports", data=body, content_type="multipart/form-data"
    )

    assert response.status_code == 422
    assert message in text(response)
    assert 'id="upload-dry-run" name="dry_run" type="checkbox" value="1" checked' in text(response)
    assert imports_of(session, partner) == []


def test_it_refuses_an_upload_that_is_not_a_multipart_form(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User
) -> None:
    client, token = admin_client
    partner, _ = make_partner(session, admin, name="Acme")

    response = client.post(f"/admin/partners/{partner.id}/imports", data={"csrf_token": token})

    assert response.status_code == 422
    assert "Feed file choose the feed file to upload" in text(response)
    assert imports_of(session, partner) == []


def test_it_refuses_an_upload_larger_than_the_feed_limit(
    make_app: Any, session: Session, admin: User
) -> None:
    app = make_app(feed_max_mb=1)
    client = app.test_client()
    token = sign_in(client, admin)
    partner, _ = make_partner(session, admin, name="Acme")

    boundary, body = encode_multipart(
        {"csrf_token": token, "file": FileStorage(io.BytesIO(b"x" * (1024 * 1024 + 10)), "f.csv")}
    )  # in memory: the test client would spool a large body to a file nobody closes
    response = client.post(
        f"/admin/partners/{partner.id}/imports",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )

    assert response.status_code == 413
    assert imports_of(session, partner) == []


def test_it_reports_a_dry_run_and_imports_it_for_real(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User, upload_dir: Path
) -> None:
    client, token = admin_client
    partner, _ = make_partner(session, admin, name="Acme")
    upload(client, token, partner, dry_run="1")
    work_feed_imports(session, upload_dir)
    [dry] = imports_of(session, partner)

    page = text(client.get(import_url(partner, dry)))

    assert "Succeeded" in page
    assert "Dry run" in page
    assert "Would create</dt><dd>2</dd>" in page
    assert "Changes it would make" in page
    assert "<code>A-1</code>" in page
    assert "<strong>name</strong>: Enamel mug" in page
    assert "Import this file for real" in page
    assert 'hx-trigger="every 2s"' not in page
    assert session.scalars(select(Product).where(Product.partner_id == partner.id)).all() == []

    response = client.post(f"{import_url(partner, dry)}/import", data={"csrf_token": token})

    [_, real] = imports_of(session, partner)
    assert response.status_code == 302
    assert response.headers["Location"] == import_url(partner, real)
    assert not real.dry_run
    assert real.status == "queued"
    work_feed_imports(session, upload_dir)
    page = text(client.get(import_url(partner, real)))
    assert "Succeeded" in page
    assert "Created</dt><dd>2</dd>" in page
    assert "Import this file for real" not in page
    skus = session.scalars(select(Product.sku).where(Product.partner_id == partner.id)).all()
    assert sorted(skus) == ["A-1", "A-2"]
    again = client.post(f"{import_url(partner, real)}/import", data={"csrf_token": token})
    assert again.status_code == 409


def test_it_shows_each_changed_field_old_to_new(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User, upload_dir: Path
) -> None:
    client, _ = admin_client
    partner, _ = make_partner(session, admin, name="Acme", price_guard_percent=100)
    queue_feed(session, partner, FEED, upload_dir)
    work_feed_imports(session, upload_dir)
    changed = b"sku,name,price,stock\nA-1,Enamel mug XL,12.99,5\nA-2,Canvas tote,19.99,3\n"
    record = queue_feed(session, partner, changed, upload_dir)
    work_feed_imports(session, upload_dir)

    page = text(client.get(import_url(partner, record)))

    assert "<strong>name</strong>: Enamel mug → Enamel mug XL" in page
    assert "Updated</dt><dd>1</dd>" in page
    assert "Unchanged</dt><dd>1</dd>" in page
    # The partner's first import wrote its products as it read them: it says so, rather
    # than "No changes" under "Created 2".
    first = session.scalars(select(FeedImport).order_by(FeedImport.id)).first()
    assert first is not None
    page = text(client.get(import_url(partner, first)))
    assert "Created</dt><dd>2</dd>" in page
    assert "No list of changes was kept: a partner's first import writes its 2 products" in page
    assert "No changes." not in page


def test_it_lists_rejected_rows_and_streams_them_as_a_safe_csv(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User, upload_dir: Path
) -> None:
    client, _ = admin_client
    partner, _ = make_partner(session, admin, name="Acme")
    record = queue_feed(session, partner, BAD_ROWS, upload_dir)
    work_feed_imports(session, upload_dir)

    page = text(client.get(import_url(partner, record)))

    assert "Rejected</dt><dd>1</dd>" in page
    assert "<code>B-1</code>" in page
    assert '<td data-label="Field">price</td>' in page
    csv_url = f"{import_url(partner, record)}/rejected.csv"
    assert f'href="{csv_url}"' in page
    assert "Download rejected rows (CSV)" in page
    response = client.get(csv_url)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(text(response))))
    assert rows[0] == ["sku", "name", "price", "stock", "error"]
    assert rows[1][:4] == ["B-1", "'=2+3", "not-a-price", "1"]
    assert rows[1][4].startswith("price:")


def test_it_pages_through_changes_and_rejected_rows(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User, upload_dir: Path
) -> None:
    client, _ = admin_client
    partner, _ = make_partner(session, admin, name="Acme")
    rows = [f"G-{n:03d},Good {n},1.00,1" for n in range(55)]
    rows += [f"R-{n:03d},Bad {n},x,1" for n in range(55)]
    data = ("sku,name,price,stock\n" + "\n".join(rows) + "\n").encode()
    record = queue_feed(session, partner, data, upload_dir, dry_run=True)
    work_feed_imports(session, upload_dir)
    url = import_url(partner, record)

    first = text(client.get(url))
    second = text(client.get(f"{url}?changes_page=2&errors_page=2"))

    assert "G-000" in first
    assert "G-054" not in first
    assert "R-000" in first
    assert "Changes: page 1 of 2" in first
    assert "Rejected rows: page 1 of 2" in first
    assert f'href="{url}?changes_page=2"' in first
    assert "G-054" in second
    assert "G-000" not in second
    assert "R-054" in second
    assert "Changes: page 2 of 2" in second
    assert "Rejected rows: page 2 of 2" in second
    assert "errors_page=2" in second
    assert "changes_page=1" in second


BAD_PAGES = [
    "changes_page=0",
    "errors_page=abc",
    "changes_page=%00",
    "errors_page=99999999999999999999",
    "changes_page=\u0661",  # an Arabic-Indic one: int() reads it, a URL should not
]


@pytest.mark.parametrize("query", BAD_PAGES)
def test_it_answers_a_bad_page_number_with_422(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User, upload_dir: Path,
    query: str,
) -> None:  # fmt: skip
    client, _ = admin_client
    partner, _ = make_partner(session, admin, name="Acme")
    record = queue_feed(session, partner, FEED, upload_dir)

    assert client.get(f"{import_url(partner, record)}?{query}").status_code == 422
    assert client.get(f"/admin/partners/{partner.id}?page=-1").status_code == 422


def test_it_answers_404_for_another_partners_import(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User, upload_dir: Path
) -> None:
    client, token = admin_client
    partner, _ = make_partner(session, admin, name="Acme")
    other, _ = make_partner(session, admin, name="Other")
    record = queue_feed(session, other, BAD_ROWS, upload_dir, dry_run=True)
    work_feed_imports(session, upload_dir)
    url = import_url(partner, record)

    assert client.get(url).status_code == 404
    assert client.get(f"{url}/rejected.csv").status_code == 404
    for action in ("approve", "reject", "import"):
        assert client.post(f"{url}/{action}", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/admin/partners/{partner.id}/imports/999999").status_code == 404
    assert len(imports_of(session, other)) == 1


def test_it_follows_a_running_import_with_htmx_until_it_has_finished(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User, upload_dir: Path
) -> None:
    client, _ = admin_client
    partner, _ = make_partner(session, admin, name="Acme")
    record = queue_feed(session, partner, FEED, upload_dir)
    url = import_url(partner, record)

    full = text(client.get(url))
    partial = client.get(url, headers=HX)

    assert "<html" in full
    assert 'hx-trigger="every 2s"' in full
    assert f'hx-get="{url}"' in full
    assert partial.status_code == 200
    assert "<html" not in text(partial)
    assert 'id="import-report"' in text(partial)
    assert 'hx-trigger="every 2s"' in text(partial)
    assert "Queued" in text(partial)
    work_feed_imports(session, upload_dir)
    done = text(client.get(url, headers=HX))
    assert "Succeeded" in done
    assert "hx-trigger" not in done
    assert "<html" not in done


def test_it_asks_an_admin_when_the_guard_holds_an_import_and_applies_it_once_approved(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User, upload_dir: Path
) -> None:
    client, token = admin_client
    partner, _ = make_partner(session, admin, name="Acme", price_guard_percent=10)
    queue_feed(session, partner, FEED, upload_dir)
    work_feed_imports(session, upload_dir)
    cheaper = b"sku,name,price,stock\nA-1,Enamel mug,9.99,5\nA-2,Canvas tote,14.99,3\n"
    held = queue_feed(session, partner, cheaper, upload_dir)
    work_feed_imports(session, upload_dir)
    url = import_url(partner, held)

    page = text(client.get(url))

    assert "Waiting for approval" in page
    assert "2 of 2 prices change (the limit is 10%)" in page
    assert 'hx-trigger="every 2s"' not in page  # nothing happens until someone answers
    assert "<strong>price_cents</strong>: 1299 → 999" in page
    response = client.post(f"{url}/approve", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == url
    assert "Approved: the worker applies the changes" in text(client.get(url))
    work_feed_imports(session, upload_dir)
    prices = session.scalars(select(Product.price_cents).where(Product.partner_id == partner.id))
    assert sorted(prices) == [999, 1499]
    assert client.post(f"{url}/approve", data={"csrf_token": token}).status_code == 409


def test_it_lets_an_admin_reject_a_held_import(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User, upload_dir: Path
) -> None:
    client, token = admin_client
    partner, _ = make_partner(session, admin, name="Acme", price_guard_percent=10)
    queue_feed(session, partner, FEED, upload_dir)
    work_feed_imports(session, upload_dir)
    cheaper = b"sku,name,price,stock\nA-1,Enamel mug,9.99,5\nA-2,Canvas tote,14.99,3\n"
    held = queue_feed(session, partner, cheaper, upload_dir)
    work_feed_imports(session, upload_dir)
    url = import_url(partner, held)

    response = client.post(f"{url}/reject", data={"csrf_token": token})

    assert response.status_code == 302
    page = text(client.get(url))
    assert "Failed" in page
    assert "ada rejected the changes" in page
    assert "Rejected: nothing of this file lands." in page
    prices = session.scalars(select(Product.price_cents).where(Product.partner_id == partner.id))
    assert sorted(prices) == [1299, 1999]


def test_it_shows_why_an_import_failed(
    admin_client: tuple[FlaskClient, str], session: Session, admin: User, upload_dir: Path
) -> None:
    client, _ = admin_client
    partner, _ = make_partner(session, admin, name="Acme")
    record = queue_feed(session, partner, b"colour,size\nred,xl\n", upload_dir)
    work_feed_imports(session, upload_dir)

    page = text(client.get(import_url(partner, record)))

    assert 'id="import-error"' in page
    assert "the header has no sku column" in page


# -- who may -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["customer", "support", "finance"])
def test_it_refuses_everyone_but_admins(
    app: Flask, session: Session, admin: User, role: str
) -> None:
    partner, _ = make_partner(session, admin, name="Acme")
    client = app.test_client()
    token = sign_in(client, make_user(session, role))

    assert client.get("/admin/partners").status_code == 403
    assert client.post("/admin/partners", data=onboard_form(token)).status_code == 403
    assert (
        client.post(f"/admin/partners/{partner.id}/keys", data={"csrf_token": token}).status_code
        == 403
    )
    assert "/admin/partners" not in text(client.get("/products"))
    anonymous = app.test_client().get("/admin/partners")
    assert anonymous.status_code == 302
    assert "/login" in anonymous.headers["Location"]
    assert session.scalars(select(Partner)).all() == [partner]


def test_it_links_the_partners_page_in_an_admins_navigation(
    admin_client: tuple[FlaskClient, str],
) -> None:
    client, _ = admin_client
    page = text(client.get("/admin/partners"))
    assert '<a href="/admin/partners" aria-current="page">Partners</a>' in page

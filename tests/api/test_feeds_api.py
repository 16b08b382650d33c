"""Partner feeds through the API (CONTRACT §3.6): partners and keys, uploads in every body
type, reports, dry runs, the guard, limits, and who may see what."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from app.models.catalog import Product
from app.models.feeds import FeedImport, PartnerKey
from tests.api.helpers import assert_error
from tests.builders import work_feed_imports

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "feeds"
CSV = b"sku,name,price,stock\nK-1,Kettle,24.99,3\nK-2,Toaster,19.99,2\n"


@pytest.fixture
def partner(client, admin_headers):
    response = client.post(
        "/api/v1/partners", json={"name": "Kitchen Co", "format": "standard"}, headers=admin_headers
    )
    assert response.status_code == 201
    return response.get_json()


@pytest.fixture
def key(partner):
    return {"X-API-Key": partner["api_key"]}


@pytest.fixture
def uploads(app):
    return app.config["BACKROOM"].upload_dir


def upload(client, key, data=CSV, content_type="text/csv", query=""):
    return client.post(f"/api/v1/feeds{query}", data=data, content_type=content_type, headers=key)


def report(client, key, import_id):
    response = client.get(f"/api/v1/feeds/{import_id}", headers=key)
    assert response.status_code == 200
    return response.get_json()


def imported(client, session, uploads, key, **options):
    response = upload(client, key, **options)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "queued"
    work_feed_imports(session, uploads)
    return report(client, key, response.get_json()["id"])


def test_onboarding_shows_the_key_once_and_keeps_only_its_hash(
    client, session, partner, admin_headers
):
    assert partner["api_key"].startswith("bk_")
    assert set(partner) >= {"id", "name", "format", "api_key"}
    stored = session.scalars(select(PartnerKey)).one()
    assert partner["api_key"] not in stored.key_hash
    shown = client.get(f"/api/v1/partners/{partner['id']}", headers=admin_headers).get_json()
    assert "api_key" not in json.dumps(shown)
    assert shown["keys"][0]["key_prefix"] == partner["api_key"][:10]


def test_it_refuses_bad_partner_settings_field_by_field(client, admin_headers):
    response = client.post(
        "/api/v1/partners",
        json={"name": "", "format": "xml", "feed_url": "ftp://x", "poll_minutes": 0},
        headers=admin_headers,
    )
    fields = assert_error(response, 422, "validation_error")["details"]["fields"]
    assert set(fields) == {"name", "format", "feed_url", "poll_minutes"}
    again = {"name": "Dup"}
    assert client.post("/api/v1/partners", json=again, headers=admin_headers).status_code == 201
    taken = client.post("/api/v1/partners", json={"name": "dup"}, headers=admin_headers)
    assert_error(taken, 409, "name_taken")


def test_only_admins_onboard_partners(client, customer_headers, key):
    assert_error(
        client.post("/api/v1/partners", json={"name": "x"}, headers=customer_headers),
        403,
        "forbidden",
    )
    assert_error(
        client.post("/api/v1/partners", json={"name": "x"}, headers=key), 401, "unauthorized"
    )


def test_a_csv_upload_lands_and_reports_what_it_did(client, session, uploads, key):
    done = imported(client, session, uploads, key)
    assert {k: done[k] for k in ("status", "dry_run", "source", "rows_total", "created")} == {
        "status": "succeeded",
        "dry_run": False,
        "source": "upload",
        "rows_total": 2,
        "created": 2,
    }
    assert (done["updated"], done["unchanged"], done["rejected"], done["errors"]) == (0, 0, 0, [])
    again = imported(client, session, uploads, key)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    prices = session.scalars(select(Product.price_cents).order_by(Product.sku))
    assert list(prices) == [2499, 1999]


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("application/json", b'[{"sku": "J-1", "name": "Jar", "price_cents": 500, "stock": 1}]'),
        ("text/tab-separated-values", b"sku\tname\tprice\nT-1\tTin\t1.50\n"),
        ("text/csv; charset=utf-8", "\ufeffsku;name;price\nS-1;Spoon;0.99\n".encode()),
    ],
)
def test_it_takes_json_tsv_and_csv_bodies(client, session, uploads, key, content_type, data):
    done = imported(client, session, uploads, key, data=data, content_type=content_type)
    assert (done["status"], done["created"], done["rejected"]) == ("succeeded", 1, 0)


def test_it_takes_a_multipart_file_and_a_format_override(client, session, uploads, key):
    sample = (SAMPLES / "google_merchant.tsv").read_bytes()
    response = client.post(
        "/api/v1/feeds?format=google_merchant_tsv",
        data={"file": (io.BytesIO(sample), "merchant.tsv")},
        content_type="multipart/form-data",
        headers=key,
    )
    assert response.status_code == 202
    work_feed_imports(session, uploads)
    done = report(client, key, response.get_json()["id"])
    assert done["status"] == "succeeded"
    assert done["format"] == "google_merchant_tsv"
    assert done["created"] + done["rejected"] == done["rows_total"] > 0


@pytest.mark.parametrize(
    ("fmt", "sample"),
    [
        ("standard", "standard.csv"),
        ("standard", "standard.json"),
        ("shopify_csv", "shopify_classic.csv"),
        ("shopify_csv", "shopify_current.csv"),
        ("google_merchant_tsv", "google_merchant.tsv"),
    ],
)
def test_every_sample_feed_imports(client, session, uploads, key, fmt, sample):
    data = (SAMPLES / sample).read_bytes()
    kind = "application/json" if sample.endswith(".json") else "text/csv"
    done = imported(
        client, session, uploads, key, data=data, content_type=kind, query=f"?format={fmt}"
    )
    assert done["status"] == "succeeded"
    assert done["created"] > 0
    assert done["created"] + done["rejected"] == done["rows_total"]


def test_rejected_rows_are_reported_with_row_sku_field_and_reason(client, session, uploads, key):
    data = b"sku,name,price\nA-1,Good,1.00\nA-2,,2.00\nA-3,Bad price,1.999\n"
    done = imported(client, session, uploads, key, data=data)
    assert (done["created"], done["rejected"]) == (1, 2)
    assert done["errors"] == [
        {"row": 2, "sku": "A-2", "field": "name", "message": "is required"},
        {"row": 3, "sku": "A-3", "field": "price", "message": "must have at most 2 decimal places"},
    ]
    download = client.get(f"/api/v1/feeds/{done['id']}/rejected.csv", headers=key)
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert rows == [
        ["sku", "name", "price", "error"],
        ["A-2", "", "2.00", "name: is required"],
        ["A-3", "Bad price", "1.999", "price: must have at most 2 decimal places"],
    ]


def test_a_dry_run_reports_a_diff_writes_nothing_and_can_be_imported(client, session, uploads, key):
    imported(client, session, uploads, key)
    changed = b"sku,name,price,stock\nK-1,Kettle,24.99,3\nK-2,Toaster,17.50,2\nK-3,Pan,9,1\n"
    dry = imported(client, session, uploads, key, data=changed, query="?dry_run=1")
    assert (dry["dry_run"], dry["created"], dry["updated"], dry["unchanged"]) == (True, 1, 1, 1)
    assert session.scalar(select(Product.price_cents).where(Product.sku == "K-2")) == 1999
    diff = client.get(f"/api/v1/feeds/{dry['id']}/changes", headers=key).get_json()
    by_sku = {item["sku"]: item for item in diff["items"]}
    assert by_sku["K-2"]["diff"] == {"price_cents": [1999, 1750]}
    assert by_sku["K-3"]["action"] == "create"
    real = client.post(f"/api/v1/feeds/{dry['id']}/import", headers=key)
    assert real.status_code == 202
    work_feed_imports(session, uploads)
    assert report(client, key, real.get_json()["id"])["status"] == "succeeded"
    session.expire_all()
    assert session.scalar(select(Product.price_cents).where(Product.sku == "K-2")) == 1750


def test_the_guard_waits_for_an_admin(client, session, uploads, key, admin_headers):
    imported(client, session, uploads, key)
    cheaper = b"sku,name,price,stock\nK-1,Kettle,1,3\nK-2,Toaster,1,2\n"
    held = imported(client, session, uploads, key, data=cheaper)
    assert (held["status"], held["approval"]) == ("queued", "required")
    by_partner = client.post(f"/api/v1/feeds/{held['id']}/approve", headers=key)
    assert_error(by_partner, 401, "unauthorized")  # a partner cannot wave its own run through
    approved = client.post(f"/api/v1/feeds/{held['id']}/approve", headers=admin_headers)
    assert approved.get_json()["approval"] == "approved"
    work_feed_imports(session, uploads)
    assert report(client, key, held["id"])["status"] == "succeeded"
    again = client.post(f"/api/v1/feeds/{held['id']}/reject", headers=admin_headers)
    assert_error(again, 409, "not_waiting")


def test_a_partner_sees_only_its_own_imports(client, session, uploads, key, admin_headers):
    done = imported(client, session, uploads, key)
    other = client.post("/api/v1/partners", json={"name": "Other"}, headers=admin_headers)
    other_key = {"X-API-Key": other.get_json()["api_key"]}
    assert_error(client.get(f"/api/v1/feeds/{done['id']}", headers=other_key), 404, "not_found")
    assert client.get("/api/v1/feeds", headers=other_key).get_json()["total"] == 0
    assert client.get(f"/api/v1/feeds/{done['id']}", headers=admin_headers).status_code == 200
    assert client.get("/api/v1/feeds", headers=key).get_json()["total"] == 1


def test_a_revoked_or_unknown_key_gets_401(client, partner, key, admin_headers):
    assert_error(upload(client, {"X-API-Key": "bk_nope"}), 401, "unauthorized")
    fresh = client.post(f"/api/v1/partners/{partner['id']}/keys", headers=admin_headers)
    assert fresh.status_code == 201
    new_key = {"X-API-Key": fresh.get_json()["api_key"]}
    assert upload(client, key).status_code == 202  # the old key works until revoked
    old_id = client.get(f"/api/v1/partners/{partner['id']}", headers=admin_headers).get_json()[
        "keys"
    ][-1]["key_id"]
    revoked = client.post(
        f"/api/v1/partners/{partner['id']}/keys/{old_id}/revoke", headers=admin_headers
    )
    assert revoked.get_json()["revoked_at"] is not None
    assert_error(upload(client, key), 401, "unauthorized")
    assert upload(client, new_key).status_code == 202


def test_an_admin_uploads_for_a_named_partner(client, session, uploads, partner, admin_headers):
    assert_error(upload(client, admin_headers), 422, "validation_error")
    assert_error(upload(client, admin_headers, query="?partner_id=999999"), 404, "not_found")
    response = upload(client, admin_headers, query=f"?partner_id={partner['id']}")
    assert response.status_code == 202
    record = session.get(FeedImport, response.get_json()["id"])
    assert record.partner_id == partner["id"]


def test_bad_uploads_get_clear_errors_and_leave_no_file(client, uploads, key):
    assert_error(upload(client, key, data=b"", content_type="text/csv"), 422, "validation_error")
    assert_error(upload(client, key, query="?format=xml"), 422, "validation_error")
    assert_error(upload(client, key, content_type="text/plain"), 415, "unsupported_media_type")
    form = client.post(
        "/api/v1/feeds", data={"nofile": "x"}, content_type="multipart/form-data", headers=key
    )
    assert_error(form, 422, "validation_error")
    assert list((uploads / "feeds").glob("*")) == []


def test_a_feed_over_the_size_limit_gets_413(make_app, session):
    app = make_app(feed_max_mb=1)
    client = app.test_client()
    admin_token = _admin_token(client, session)
    made = client.post("/api/v1/partners", json={"name": "Big"}, headers=admin_token)
    key = {"X-API-Key": made.get_json()["api_key"]}
    big = b"sku,name,price\n" + b"X-1,Thing,1.00\n" * 80_000  # 1.2 MB
    assert_error(upload(client, key, data=big), 413, "too_large")
    files = app.config["BACKROOM"].upload_dir / "feeds"
    assert not files.exists() or list(files.iterdir()) == []


def test_uploads_are_rate_limited_per_key(make_app, session):
    app = make_app(feed_rate_limit="2 per minute")
    client = app.test_client()
    admin_token = _admin_token(client, session)
    first = client.post("/api/v1/partners", json={"name": "One"}, headers=admin_token).get_json()
    second = client.post("/api/v1/partners", json={"name": "Two"}, headers=admin_token).get_json()
    one, two = {"X-API-Key": first["api_key"]}, {"X-API-Key": second["api_key"]}
    assert [upload(client, one).status_code for _ in range(3)] == [202, 202, 429]
    assert "Retry-After" in upload(client, one).headers
    assert upload(client, two).status_code == 202


def _admin_token(client, session):
    from tests.builders import make_user
    from tests.conftest import bearer

    return bearer(client, make_user(session, "admin"))


def test_a_malformed_file_fails_with_a_reason_and_the_next_upload_runs(
    client, session, uploads, key
):
    bad = imported(
        client, session, uploads, key, data=b'[{"sku": 1', content_type="application/json"
    )
    assert bad["status"] == "failed"
    assert bad["error"]
    good = imported(client, session, uploads, key)
    assert good["status"] == "succeeded"


def test_product_text_from_a_feed_is_stored_as_text(client, session, uploads, key):
    data = b'sku,name,price,image_url\nX-1,"<script>alert(1)</script>",1,javascript:alert(1)\nX-2,ok,1,https://cdn.example/x.png\n'
    done = imported(client, session, uploads, key, data=data)
    assert done["errors"][0]["field"] == "image_url"
    shown = client.get("/products?q=ok")
    assert shown.status_code == 200
    assert (
        session.scalar(select(Product.image_url).where(Product.sku == "X-2"))
        == "https://cdn.example/x.png"
    )


def test_metrics_count_feed_rows_by_outcome_and_each_partners_freshness(
    client, session, uploads, key
):
    imported(client, session, uploads, key, data=CSV + b"K-3,,1\n")
    imported(client, session, uploads, key, data=CSV, query="?dry_run=1")  # counts nothing
    text = client.get("/metrics").get_data(as_text=True)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("backroom_feed_rows", (("outcome", "created"),))] == 2
    assert samples[("backroom_feed_rows", (("outcome", "rejected"),))] == 1
    assert samples[("backroom_feed_rows", (("outcome", "unchanged"),))] == 0
    assert samples[("backroom_feed_stale", (("partner", "Kitchen Co"),))] == 0
    age = samples[("backroom_feed_last_success_age_seconds", (("partner", "Kitchen Co"),))]
    assert 0 <= age < 60


def test_numeric_json_skus_are_keyed_like_text_ones(client, session, uploads, key):
    data = (
        b'[{"sku": 1001, "name": "Pan", "price_cents": 900},'
        b' {"sku": 1002, "name": "Pot", "price_cents": 1200}]'
    )
    kind = "application/json"
    first = imported(
        client, session, uploads, key, data=data, content_type=kind, query="?complete=1"
    )
    again = imported(
        client, session, uploads, key, data=data, content_type=kind, query="?complete=1"
    )
    assert (first["created"], first["dropped"]) == (2, 0)
    assert (again["unchanged"], again["dropped"], again["updated"]) == (2, 0, 0)
    twice = (
        b'[{"sku": 7, "name": "A", "price_cents": 1}, {"sku": 7, "name": "B", "price_cents": 2}]'
    )
    dup = imported(client, session, uploads, key, data=twice, content_type=kind)
    assert (dup["status"], dup["created"], dup["rejected"]) == ("succeeded", 1, 1)


@pytest.mark.parametrize("raw", ["%C2%B2", "-1", "1.5", "99999999999", "x"])
def test_a_bad_partner_id_is_a_422_never_a_500(client, admin_headers, raw):
    assert_error(upload(client, admin_headers, query=f"?partner_id={raw}"), 422, "validation_error")
    listed = client.get(f"/api/v1/feeds?partner_id={raw}", headers=admin_headers)
    assert_error(listed, 422, "validation_error")


def test_partners_are_listed_a_page_at_a_time(client, partner, admin_headers):
    client.post("/api/v1/partners", json={"name": "Second"}, headers=admin_headers)
    listed = client.get("/api/v1/partners?per_page=1&page=2", headers=admin_headers).get_json()
    assert (listed["total"], listed["page"], listed["per_page"]) == (2, 2, 1)
    assert [item["name"] for item in listed["items"]] == ["Second"]

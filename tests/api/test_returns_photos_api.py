"""Return photos through the API: what is accepted, what is stored, who may see it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from sqlalchemy import func, select

from app.models.returns import ReturnPhoto
from tests.api.helpers import assert_error
from tests.api.returns_helpers import (
    RETURNS,
    bought,
    fire,
    make_crew,
    open_return,
    upload,
)
from tests.builders import make_image
from tests.conftest import sign_in

EXIF_MAKE, EXIF_GPS = 0x010F, 0x8825


@pytest.fixture
def crew(session, customer):
    return make_crew(session, customer)


@pytest.fixture
def opened(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    return open_return(client, crew["customer"], order)


def stored_files(app) -> list[Path]:
    folder = Path(app.config["BACKROOM"].upload_dir) / "returns"
    return sorted(folder.iterdir()) if folder.exists() else []


def photo_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(ReturnPhoto)) or 0


def fetch(client, url, headers=None):
    """GET a photo and close the response (it streams the file from disk)."""
    with client.get(url, headers=headers or {}) as response:
        response.get_data()
        return response


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (80, 60), (10, 120, 200))
    exif = image.getexif()
    exif[EXIF_MAKE] = "SpyCam 3000"
    exif.get_ifd(EXIF_GPS)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


@pytest.mark.parametrize(
    ("kind", "filename", "content_type"),
    [
        ("JPEG", "a.jpg", "image/jpeg"),
        ("PNG", "b.png", "image/png"),
        ("WEBP", "c.webp", "image/webp"),
    ],
)
def test_it_accepts_jpeg_png_and_webp_and_serves_them_back(
    client, session, app, crew, opened, kind, filename, content_type
):
    response = upload(client, crew["customer"], opened["id"], make_image(kind), filename)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "url"}
    assert body["url"] == f"/api/v1/returns/{opened['id']}/photos/{body['id']}"
    served = fetch(client, body["url"], crew["customer"])
    assert served.status_code == 200
    assert served.mimetype == content_type
    assert "private" in served.headers["Cache-Control"]
    assert Image.open(io.BytesIO(served.data)).format == kind
    [stored] = stored_files(app)
    assert stored.read_bytes() == served.data
    shown = client.get(f"{RETURNS}/{opened['id']}", headers=crew["customer"]).get_json()
    [photo] = shown["photos"]
    assert (photo["id"], photo["url"], photo["content_type"]) == (
        body["id"],
        body["url"],
        content_type,
    )
    assert (photo["width"], photo["height"]) == (64, 48)


def test_it_strips_exif_from_the_stored_photo(client, session, app, crew, opened):
    original = jpeg_with_exif()
    assert b"SpyCam 3000" in original
    assert Image.open(io.BytesIO(original)).getexif()[EXIF_MAKE] == "SpyCam 3000"
    response = upload(client, crew["customer"], opened["id"], original)
    assert response.status_code == 201
    [stored] = stored_files(app)
    data = stored.read_bytes()
    assert b"SpyCam" not in data
    assert b"Exif" not in data
    with Image.open(stored) as image:
        assert dict(image.getexif()) == {}
        assert image.size == (80, 60)
    served = fetch(client, response.get_json()["url"], crew["support"]).data
    assert served == data


def test_it_strips_png_text_chunks(client, session, app, crew, opened):
    info = PngInfo()
    info.add_text("Comment", "home address: 1 Secret Lane")
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 0, 0)).save(out, format="PNG", pnginfo=info)
    assert (
        upload(client, crew["customer"], opened["id"], out.getvalue(), "x.png").status_code == 201
    )
    [stored] = stored_files(app)
    assert b"Secret Lane" not in stored.read_bytes()


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (make_image("GIF"), "anim.gif"),
        (make_image("BMP"), "old.bmp"),
        (b"just some text, not a picture", "notes.txt"),
        (b"not a jpeg either", "photo.jpg"),
        (make_image("JPEG")[:200], "truncated.jpg"),
        (b"", "empty.jpg"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "vector.svg"),
    ],
)
def test_it_refuses_what_is_not_a_jpeg_png_or_webp_with_415(
    client, session, app, crew, opened, data, filename
):
    response = upload(client, crew["customer"], opened["id"], data, filename)
    assert_error(response, 415, "unsupported_media_type")
    assert (photo_count(session), stored_files(app)) == (0, [])


def test_it_refuses_a_photo_over_five_megabytes_with_413(client, session, app, crew, opened):
    big = make_image("PNG") + b"\0" * (5 * 1024 * 1024)
    assert_error(upload(client, crew["customer"], opened["id"], big), 413, "too_large")
    exactly = b"\0" * (5 * 1024 * 1024)  # at the limit: judged on content, not size
    assert_error(
        upload(client, crew["customer"], opened["id"], exactly), 415, "unsupported_media_type"
    )
    assert (photo_count(session), stored_files(app)) == (0, [])


def test_it_refuses_a_request_over_the_upload_limit_with_413(client, crew, opened):
    huge = b"\0" * (28 * 1024 * 1024)
    assert_error(upload(client, crew["customer"], opened["id"], huge), 413, "too_large")


def test_it_refuses_a_sixth_photo_with_422(client, session, app, crew, opened):
    for _ in range(5):
        assert upload(client, crew["customer"], opened["id"], make_image("JPEG")).status_code == 201
    error = assert_error(
        upload(client, crew["customer"], opened["id"], make_image("JPEG")), 422, "validation_error"
    )
    assert "at most 5 photos" in error["details"]["fields"]["photo"]
    assert photo_count(session) == 5
    assert len(stored_files(app)) == 5  # the refused file is not left behind


def test_it_needs_the_photo_field(client, session, crew, opened):
    url = f"{RETURNS}/{opened['id']}/photos"
    empty = client.post(url, headers=crew["customer"], data={})
    assert set(assert_error(empty, 422, "validation_error")["details"]["fields"]) == {"photo"}
    # a photo sent as JSON is not the multipart upload CONTRACT §3.4 names: 415 (§3.1)
    as_json = client.post(url, headers=crew["customer"], json={"photo": "aGVsbG8="})
    assert_error(as_json, 415, "unsupported_media_type")
    missing = upload(client, crew["customer"], opened["id"], make_image("JPEG"), field="picture")
    assert set(assert_error(missing, 422, "validation_error")["details"]["fields"]) == {"photo"}
    assert photo_count(session) == 0


def test_it_lets_only_the_owner_and_staff_add_photos(client, session, app, crew, opened):
    stranger = upload(client, crew["other"], opened["id"], make_image("JPEG"))
    missing = upload(client, crew["other"], opened["id"] + 1000, make_image("JPEG"))
    assert_error(stranger, 404, "not_found")
    assert stranger.get_json() == missing.get_json()
    assert_error(upload(client, {}, opened["id"], make_image("JPEG")), 401, "unauthorized")
    assert upload(client, crew["support"], opened["id"], make_image("JPEG")).status_code == 201
    assert photo_count(session) == 1


def test_it_refuses_photos_on_a_closed_return(client, session, crew, opened):
    fire(client, crew["customer"], opened["id"], "cancel")
    error = assert_error(
        upload(client, crew["customer"], opened["id"], make_image("JPEG")), 422, "validation_error"
    )
    assert "open return" in error["details"]["fields"]["photo"]


def test_it_serves_a_photo_only_to_the_owner_and_staff(client, session, app, crew, opened):
    url = upload(client, crew["customer"], opened["id"], make_image("JPEG")).get_json()["url"]
    for who in ("customer", "support", "warehouse", "finance", "admin"):
        assert fetch(client, url, crew[who]).status_code == 200, who
    stranger = client.get(url, headers=crew["other"])
    assert_error(stranger, 404, "not_found")
    assert_error(client.get(url), 404, "not_found")
    assert_error(client.get(url, headers={"Authorization": "Bearer forged"}), 401, "unauthorized")


def test_it_serves_a_photo_to_browser_sessions_of_the_owner_and_staff(
    client, session, app, customer, crew, opened
):
    url = upload(client, crew["customer"], opened["id"], make_image("JPEG")).get_json()["url"]
    for user, status in (
        (customer, 200),
        (crew.user("warehouse"), 200),
        (crew.user("other"), 404),
    ):
        browser = app.test_client()
        sign_in(browser, user)
        assert fetch(browser, url).status_code == status, user.username


def test_it_takes_uploads_from_a_browser_session_with_its_csrf_token(
    client, session, app, customer, opened
):
    browser = app.test_client()
    token = sign_in(browser, customer)
    refused = upload(browser, {}, opened["id"], make_image("JPEG"))
    assert assert_error(refused, 400, "bad_request")["details"] == {"reason": "csrf"}
    accepted = upload(browser, {"X-CSRFToken": token}, opened["id"], make_image("JPEG"))
    assert accepted.status_code == 201
    assert fetch(browser, accepted.get_json()["url"]).status_code == 200


def test_it_does_not_serve_a_photo_under_another_return(
    client, session, app, customer, crew, opened
):
    order, _ = bought(session, app, customer)
    mine_too = open_return(client, crew["customer"], order)
    photo = upload(client, crew["customer"], opened["id"], make_image("JPEG")).get_json()
    wrong = f"{RETURNS}/{mine_too['id']}/photos/{photo['id']}"
    assert_error(client.get(wrong, headers=crew["customer"]), 404, "not_found")
    for path in (
        f"{RETURNS}/{opened['id']}/photos/{photo['id'] + 1}",
        f"{RETURNS}/{opened['id']}/photos/99999999999999",
        f"{RETURNS}/{opened['id']}/photos/..%2F..%2Fsecret_key",
    ):
        assert_error(client.get(path, headers=crew["support"]), 404, "not_found")


def test_it_answers_404_when_the_stored_file_is_gone(client, session, app, crew, opened):
    url = upload(client, crew["customer"], opened["id"], make_image("JPEG")).get_json()["url"]
    [stored] = stored_files(app)
    stored.unlink()
    assert_error(client.get(url, headers=crew["customer"]), 404, "not_found")

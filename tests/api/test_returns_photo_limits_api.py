"""What keeps photo uploads cheap: a pixel cap read from the header, one decode per photo,
and a per-user upload budget (PHOTO_RATE_LIMIT) on the API and the page alike."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import app.services.returns.photos as photos
from tests.api.helpers import assert_error
from tests.api.returns_helpers import bought, headers_for, open_return, upload
from tests.builders import make_image
from tests.conftest import sign_in


def many_pixels(width: int, height: int) -> bytes:
    """A PNG of width x height one-bit pixels: a small file that decodes large."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def opened(client, session, app, customer):
    order, _ = bought(session, app, customer)
    return open_return(client, headers_for(customer), order)


def test_it_refuses_more_than_25_megapixels_before_decoding_them(
    client, customer, opened, monkeypatch
):
    data = many_pixels(5001, 5000)  # 25,005,000 pixels in about 40 kB
    assert len(data) < 100_000
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size))
    error = assert_error(upload(client, headers_for(customer), opened["id"], data), 413,
                         "too_large")  # fmt: skip
    assert "25 megapixels" in error["message"]
    assert decoded == []


def test_it_decodes_each_photo_of_a_new_return_once(app, client, session, customer, monkeypatch):
    order, _ = bought(session, app, customer)
    opened_images = []
    real_open = Image.open
    monkeypatch.setattr(
        Image, "open", lambda *a, **k: opened_images.append(1) or real_open(*a, **k)
    )
    token = sign_in(client, customer)
    response = client.post(
        f"/orders/{order.id}/returns",
        data={
            "csrf_token": token,
            f"qty-{order.lines[0].id}": "1",
            "reason": "damaged",
            "photos": [(io.BytesIO(make_image("PNG")), f"{n}.png") for n in range(3)],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert len(opened_images) == 3


def test_it_limits_photo_uploads_per_user(make_app, session, customer):
    app = make_app(photo_rate_limit="3 per minute")
    client = app.test_client()
    order, _ = bought(session, app, customer)
    record = open_return(client, headers_for(customer), order)
    answers = [
        upload(client, headers_for(customer), record["id"], make_image("PNG")).status_code
        for _ in range(4)
    ]
    assert answers == [201, 201, 201, 429]
    limited = upload(client, headers_for(customer), record["id"], make_image("PNG"))
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    # The page's uploads draw on the same budget.
    token = sign_in(client, customer)
    page = client.post(
        f"/returns/{record['id']}/photos",
        data={"csrf_token": token, "photo": (io.BytesIO(make_image("PNG")), "p.png")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 429


def test_it_keeps_one_users_budget_apart_from_anothers(make_app, session, customer):
    from tests.builders import make_image, make_user

    app = make_app(photo_rate_limit="1 per minute")
    client = app.test_client()
    other = make_user(session, "customer", username="other")
    mine = open_return(client, headers_for(customer), bought(session, app, customer)[0])
    theirs = open_return(client, headers_for(other), bought(session, app, other)[0])
    assert upload(client, headers_for(customer), mine["id"], make_image("JPEG")).status_code == 201
    assert upload(client, headers_for(customer), mine["id"], make_image("JPEG")).status_code == 429
    assert upload(client, headers_for(other), theirs["id"], make_image("JPEG")).status_code == 201


def test_it_caps_pixels_at_the_documented_number():
    assert photos.MAX_PIXELS == 25_000_000

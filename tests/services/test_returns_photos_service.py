"""Return photos: what reencoding keeps and drops, limits, storage, access (returns.photos)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.db import utcnow
from app.errors import NotFound, TooLarge, UnsupportedMediaType, ValidationError
from app.services.returns import (
    MAX_PHOTOS,
    LineRequest,
    create_return,
    fire_return_trigger,
    photo_file,
    reencode,
    save_return_photo,
)
from tests.builders import make_paid_order, make_product, make_user

ORIENTATION = 0x0112


def encoded(image: Image.Image, kind: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=kind, **options)
    return out.getvalue()


@pytest.fixture
def record(session, payments, customer):
    product = make_product(session)
    order = make_paid_order(session, payments, customer, product, quantity=1)
    return create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason="damaged",
        description="",
        lines=[LineRequest(order.lines[0].id, 1)],
        now=utcnow(),
    )


def test_it_turns_the_pixels_upright_and_forgets_the_orientation_tag():
    image = Image.new("RGB", (60, 20), (255, 0, 0))
    exif = image.getexif()
    exif[ORIENTATION] = 6  # stored sideways: viewers rotate it 90 degrees
    clean, kind, width, height = reencode(encoded(image, "JPEG", exif=exif.tobytes()))
    assert (kind, width, height) == ("JPEG", 20, 60)
    with Image.open(io.BytesIO(clean)) as stored:
        assert ORIENTATION not in stored.getexif()


def test_it_stores_cmyk_jpegs_as_rgb_and_keeps_png_transparency():
    clean, kind, _, _ = reencode(encoded(Image.new("CMYK", (8, 8)), "JPEG"))
    with Image.open(io.BytesIO(clean)) as stored:
        assert (kind, stored.mode) == ("JPEG", "RGB")
    clean, kind, _, _ = reencode(encoded(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "PNG"))
    with Image.open(io.BytesIO(clean)) as stored:
        assert (kind, stored.mode, stored.getpixel((0, 0))) == ("PNG", "RGBA", (0, 0, 0, 0))


def test_it_drops_anything_hidden_after_the_image():
    data = encoded(Image.new("RGB", (8, 8)), "PNG") + b"<script>alert(1)</script>"
    clean, _, _, _ = reencode(data)
    assert b"<script>" not in clean


def test_it_refuses_too_many_pixels_with_413():
    wide = encoded(Image.new("1", (8000, 6000)), "PNG")  # 48 million pixels, a small file
    assert len(wide) < 1024 * 1024
    with pytest.raises(TooLarge, match="too many pixels"):
        reencode(wide)


def test_it_refuses_a_decompression_bomb_as_unreadable():
    bomb = encoded(Image.new("1", (10_000, 10_000)), "PNG")
    with pytest.raises(UnsupportedMediaType):
        reencode(bomb)


def test_it_refuses_a_gif_even_when_it_is_a_real_image():
    with pytest.raises(UnsupportedMediaType, match="JPEG, PNG or WebP"):
        reencode(encoded(Image.new("RGB", (4, 4)), "GIF"))


def test_it_stores_the_clean_file_under_a_random_name(session, customer, record, tmp_path):
    data = encoded(Image.new("RGB", (30, 10)), "WEBP")
    photo = save_return_photo(session, customer, record.id, data, upload_dir=tmp_path)
    assert (photo.content_type, photo.width, photo.height) == ("image/webp", 30, 10)
    path, content_type = photo_file(session, customer, record.id, photo.id, upload_dir=tmp_path)
    assert (path.parent, content_type) == (tmp_path / "returns", "image/webp")
    assert path.name == photo.stored_name
    assert len(path.stem) == 32
    assert path.stat().st_size == photo.size_bytes


def test_it_keeps_no_file_for_a_refused_photo(session, customer, record, tmp_path):
    data = encoded(Image.new("RGB", (4, 4)), "PNG")
    for _ in range(MAX_PHOTOS):
        save_return_photo(session, customer, record.id, data, upload_dir=tmp_path)
    with pytest.raises(ValidationError):
        save_return_photo(session, customer, record.id, data, upload_dir=tmp_path)
    assert len(list((tmp_path / "returns").iterdir())) == MAX_PHOTOS


def test_it_hides_photos_from_everyone_but_the_owner_and_staff(session, customer, record, tmp_path):
    data = encoded(Image.new("RGB", (4, 4)), "PNG")
    photo = save_return_photo(session, customer, record.id, data, upload_dir=tmp_path)
    staff = make_user(session, "finance")
    assert photo_file(session, staff, record.id, photo.id, upload_dir=tmp_path)[1] == "image/png"
    stranger = make_user(session, "customer")
    for who, return_id, photo_id in (
        (stranger, record.id, photo.id),
        (staff, record.id, photo.id + 1),
        (staff, record.id, 2**40),
        (staff, 2**40, photo.id),
    ):
        with pytest.raises(NotFound):
            photo_file(session, who, return_id, photo_id, upload_dir=tmp_path)
    with pytest.raises(NotFound):
        save_return_photo(session, stranger, record.id, data, upload_dir=tmp_path)


def test_it_refuses_photos_for_a_closed_return(session, customer, record, tmp_path):
    fire_return_trigger(
        session, record.id, "cancel", actor=customer, fields={}, expected_version=None, now=utcnow()
    )
    data = encoded(Image.new("RGB", (4, 4)), "PNG")
    with pytest.raises(ValidationError):
        save_return_photo(session, customer, record.id, data, upload_dir=tmp_path)
    assert not (tmp_path / "returns").exists()

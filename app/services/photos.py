"""Return photos: checked, decoded and re-encoded server side, stored outside static/.

What arrives is never stored as is: it must decode as a JPEG, PNG or WebP image within
the size limits, and is re-encoded from its pixels, which drops EXIF (location, device)
and anything hidden after the image data. Files live under the upload directory with
random names; only the return's owner and staff can fetch them.
"""

from __future__ import annotations

import io
import secrets
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import MAX_INT, transaction, utcnow
from app.errors import NotFound, TooLarge, UnsupportedMediaType, ValidationError
from app.models.returns import ReturnPhoto, ReturnRequest
from app.models.users import User

MAX_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 5
MAX_PIXELS = 40_000_000
FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
TERMINAL = ("COMPLETED", "REJECTED", "CANCELLED")


def _owned_return(session: Session, viewer: User, return_id: int) -> ReturnRequest:
    record = session.get(ReturnRequest, return_id) if 0 < return_id <= MAX_INT else None
    if record is None or (not viewer.is_staff and record.customer_id != viewer.id):
        raise NotFound("no such return")
    return record


def reencode(data: bytes) -> tuple[bytes, str, int, int]:
    """(clean bytes, format, width, height); raises 413/415 for what is not acceptable."""
    if len(data) > MAX_BYTES:
        raise TooLarge(f"a photo may be at most {MAX_BYTES // (1024 * 1024)} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format or ""
                if kind not in FORMATS:
                    raise UnsupportedMediaType("photos must be JPEG, PNG or WebP images")
                if probe.width * probe.height > MAX_PIXELS:
                    raise TooLarge("the photo has too many pixels")
                probe.load()
                image = ImageOps.exif_transpose(probe)
                pixels = image.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:  # fmt: skip
        raise UnsupportedMediaType("the file is not a readable JPEG, PNG or WebP image") from exc
    if kind == "JPEG" and pixels.mode not in ("RGB", "L"):
        pixels = pixels.convert("RGB")
    out = io.BytesIO()
    options = {"quality": 88} if kind in ("JPEG", "WEBP") else {"optimize": True}
    pixels.save(out, format=kind, **options)  # no exif= argument: metadata is not carried over
    return out.getvalue(), kind, pixels.width, pixels.height


def save_return_photo(
    session: Session, viewer: User, return_id: int, data: bytes, *, upload_dir: Path
) -> ReturnPhoto:
    """Attach a photo to the viewer's (or, for staff, any) open return. One transaction
    after the file is written; raises NotFound, TooLarge (413), UnsupportedMediaType (415),
    ValidationError (more than five photos, or the return is closed)."""
    record = _owned_return(session, viewer, return_id)
    if record.state in TERMINAL:
        raise ValidationError({"photo": "photos can only be added to an open return"})
    clean, kind, width, height = reencode(data)
    content_type, extension = FORMATS[kind]
    folder = upload_dir / "returns"
    folder.mkdir(parents=True, exist_ok=True)
    stored_name = f"{secrets.token_hex(16)}.{extension}"
    path = folder / stored_name
    path.write_bytes(clean)
    try:
        with transaction(session):
            count = session.scalar(
                select(func.count())
                .select_from(ReturnPhoto)
                .where(ReturnPhoto.return_id == return_id)
            )
            if (count or 0) >= MAX_PHOTOS:
                raise ValidationError({"photo": f"a return may have at most {MAX_PHOTOS} photos"})
            photo = ReturnPhoto(
                return_id=return_id,
                stored_name=stored_name,
                content_type=content_type,
                size_bytes=len(clean),
                width=width,
                height=height,
                created_at=utcnow(),
            )
            session.add(photo)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return photo


def photo_file(
    session: Session, viewer: User, return_id: int, photo_id: int, *, upload_dir: Path
) -> tuple[Path, str]:
    """The stored file and its type, for the return's owner or staff; NotFound otherwise."""
    _owned_return(session, viewer, return_id)
    photo = session.get(ReturnPhoto, photo_id) if 0 < photo_id <= MAX_INT else None
    if photo is None or photo.return_id != return_id:
        raise NotFound("no such photo")
    path = upload_dir / "returns" / photo.stored_name
    if not path.is_file():
        raise NotFound("no such photo")
    return path, photo.content_type

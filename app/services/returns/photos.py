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
from typing import NamedTuple

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import is_row_id, transaction, utcnow
from app.errors import NotFound, TooLarge, UnsupportedMediaType, ValidationError
from app.models.returns import ReturnPhoto, ReturnRequest
from app.models.users import User
from app.services.returns.reads import state_of

MAX_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 5
# 25 megapixels: decoded as RGBA that is 100 MB, the most one upload may hold in memory
# (re-encoding writes into a buffer no larger than the file it came from, give or take).
MAX_PIXELS = 25_000_000
FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}


class CleanPhoto(NamedTuple):
    """A photo decoded once and re-encoded from its pixels: what is stored."""

    data: bytes
    kind: str
    width: int
    height: int


def _owned_return(session: Session, viewer: User, return_id: int) -> ReturnRequest:
    record = session.get(ReturnRequest, return_id) if is_row_id(return_id) else None
    if record is None or (not viewer.is_staff and record.customer_id != viewer.id):
        raise NotFound("no such return")
    return record


def reencode(data: bytes) -> CleanPhoto:
    """Decode `data` once and re-encode its pixels; raises 413/415 for what is not acceptable.

    The header is read first: a file announcing more than MAX_PIXELS is refused before
    any pixel is decoded, so one upload's memory stays bounded whatever its file claims."""
    if len(data) > MAX_BYTES:
        raise TooLarge(f"a photo may be at most {MAX_BYTES // (1024 * 1024)} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format or ""
                if kind not in FORMATS:
                    raise UnsupportedMediaType("photos must be JPEG, PNG or WebP images")
                if image.width * image.height > MAX_PIXELS:
                    raise TooLarge(
                        f"the photo has too many pixels (at most {MAX_PIXELS // 1_000_000} "
                        "megapixels)"
                    )
                ImageOps.exif_transpose(image, in_place=True)  # decodes, then turns upright
                return _encoded(image, kind)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:  # fmt: skip
        raise UnsupportedMediaType("the file is not a readable JPEG, PNG or WebP image") from exc


def _encoded(pixels: Image.Image, kind: str) -> CleanPhoto:
    if kind == "JPEG" and pixels.mode not in ("RGB", "L"):
        pixels = pixels.convert("RGB")
    out = io.BytesIO()
    options = {"quality": 88} if kind in ("JPEG", "WEBP") else {"optimize": True}
    pixels.save(out, format=kind, **options)  # no exif= argument: metadata is not carried over
    return CleanPhoto(out.getvalue(), kind, pixels.width, pixels.height)


def save_return_photo(
    session: Session,
    viewer: User,
    return_id: int,
    photo: bytes | CleanPhoto,
    *,
    upload_dir: Path,
) -> ReturnPhoto:
    """Attach a photo (the upload's bytes, or one already `reencode`d) to the viewer's (or,
    for staff, any) open return. One transaction after the file is written, holding the
    return's row so that concurrent uploads never pass MAX_PHOTOS together. Raises
    NotFound, TooLarge (413), UnsupportedMediaType (415), ValidationError (more than five
    photos, or the return is closed)."""
    record = _owned_return(session, viewer, return_id)
    if state_of(session, record).terminal:
        raise ValidationError({"photo": "photos can only be added to an open return"})
    clean = photo if isinstance(photo, CleanPhoto) else reencode(photo)
    content_type, extension = FORMATS[clean.kind]
    folder = upload_dir / "returns"
    folder.mkdir(parents=True, exist_ok=True)
    stored_name = f"{secrets.token_hex(16)}.{extension}"
    path = folder / stored_name
    path.write_bytes(clean.data)
    try:
        with transaction(session):
            # The row lock (PostgreSQL) queues concurrent uploads to one return behind each
            # other's count; SQLite's writers are queued already.
            session.execute(
                select(ReturnRequest.id).where(ReturnRequest.id == return_id).with_for_update()
            )
            count = session.scalar(
                select(func.count())
                .select_from(ReturnPhoto)
                .where(ReturnPhoto.return_id == return_id)
            )
            if (count or 0) >= MAX_PHOTOS:
                raise ValidationError({"photo": f"a return may have at most {MAX_PHOTOS} photos"})
            saved = ReturnPhoto(
                return_id=return_id,
                stored_name=stored_name,
                content_type=content_type,
                size_bytes=len(clean.data),
                width=clean.width,
                height=clean.height,
                created_at=utcnow(),
            )
            session.add(saved)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return saved


def photo_file(
    session: Session, viewer: User, return_id: int, photo_id: int, *, upload_dir: Path
) -> tuple[Path, str]:
    """The stored file and its type, for the return's owner or staff; NotFound otherwise."""
    _owned_return(session, viewer, return_id)
    photo = session.get(ReturnPhoto, photo_id) if is_row_id(photo_id) else None
    if photo is None or photo.return_id != return_id:
        raise NotFound("no such photo")
    path = upload_dir / "returns" / photo.stored_name
    if not path.is_file():
        raise NotFound("no such photo")
    return path, photo.content_type

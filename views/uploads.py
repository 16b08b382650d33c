"""Reading an uploaded feed file from the request as a stream of chunks: a multipart field
`file` (a page's form, or the API) or the raw body (`text/csv`, TSV, JSON).

Chunks are read as the file is saved, so a 50 MB upload never sits in memory whole; the
request's own limit (`views.hooks.body_limit`) answers 413 past it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from flask import request

from app.errors import ValidationError

CHUNK = 256 * 1024
FEED_TYPES = ("text/csv", "text/tab-separated-values", "application/json")
BY_EXTENSION = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".txt": "text/tab-separated-values",
    ".json": "application/json",
}


@dataclass(frozen=True)
class Upload:
    chunks: Iterator[bytes]
    content_type: str | None  # None: let the parser look at the bytes
    file_name: str | None


def feed_upload() -> Upload:
    """The feed this request carries. Raises ValidationError when a form has no file."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise ValidationError({"file": "attach the feed file as 'file'"})
        name = upload.filename[:200]
        content_type = upload.mimetype if upload.mimetype in FEED_TYPES else None
        extension = name[name.rfind(".") :].lower() if "." in name else ""
        stream = upload.stream
        return Upload(
            iter(lambda: stream.read(CHUNK), b""),
            content_type or BY_EXTENSION.get(extension),
            name,
        )
    body = request.stream
    return Upload(iter(lambda: body.read(CHUNK), b""), request.mimetype or None, None)

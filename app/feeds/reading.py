"""Reading a feed as a stream: bytes, an iterable of byte chunks or a binary file become
UTF-8 text (BOM or not), then CSV records or the objects of a JSON list, one at a time.

Nothing here holds more than one record (and a read-ahead buffer) in memory, so a
100,000-row file costs what one row costs.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Protocol

from app.feeds.rows import FeedError

DELIMITERS = (",", ";", "\t", "|")
JSON_CHUNK = 64 * 1024
# One JSON object larger than this fails the file rather than the memory.
MAX_JSON_OBJECT = 1024 * 1024
_SPACE = re.compile(r"\s*")


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


FeedData = bytes | bytearray | Iterable[bytes] | Readable


class _ChunkStream(io.RawIOBase):
    """A raw stream over an iterator of byte chunks (or over a file's `read`)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(bytes(chunk))
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _file_chunks(source: Readable) -> Iterator[bytes]:
    while chunk := source.read(JSON_CHUNK):
        yield chunk


def open_binary(data: FeedData) -> io.BufferedReader:
    """A buffered binary stream over `data`; a file given is read, never closed."""
    if isinstance(data, str):
        raise TypeError("a feed is bytes, byte chunks or a binary file, not str")
    if isinstance(data, bytes | bytearray):
        return io.BufferedReader(io.BytesIO(data))
    if hasattr(data, "read"):
        return io.BufferedReader(_ChunkStream(_file_chunks(data)))  # type: ignore[arg-type]
    return io.BufferedReader(_ChunkStream(iter(data)))


def starts_with_json_list(binary: io.BufferedReader) -> bool:
    """Whether the stream's first non-space byte (after a BOM) is `[`, without consuming."""
    head = binary.peek(256)[:256].removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"[")


def _open_text(binary: io.BufferedReader) -> io.TextIOWrapper:
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def sniff_delimiter(header_line: str) -> str:
    """The candidate delimiter seen most often outside quotes in the header (comma if none)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def read_csv(
    binary: io.BufferedReader, *, delimiter: str | None = None
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header (cells stripped) and the data records as (1-based row number, cells).

    Blank records keep their number but are not yielded. Raises FeedError for an empty
    file, text that is not UTF-8 and CSV the reader cannot take (also when iterating)."""
    text = _open_text(binary)
    try:
        header_line = text.readline()
    except UnicodeDecodeError as error:
        raise FeedError("the file is not UTF-8 text") from error
    if not header_line.strip():
        raise FeedError("the file is empty: no header row")
    chosen = delimiter or sniff_delimiter(header_line)
    reader = csv.reader(itertools.chain([header_line], text), delimiter=chosen)
    try:
        header = [cell.strip() for cell in next(reader)]
    except csv.Error as error:
        raise FeedError(f"the header row cannot be read: {error}") from error
    return header, _records(reader)


def _records(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    number = 0
    try:
        for cells in reader:
            number += 1
            if any(cell.strip() for cell in cells):
                yield number, cells
    except UnicodeDecodeError as error:
        # Text is decoded a block ahead of the records, so the row is only near the fault.
        raise FeedError(f"the file is not UTF-8 text (near data row {number + 1})") from error
    except csv.Error as error:
        raise FeedError(f"data row {number + 1} cannot be read: {error}") from error


def read_json_list(binary: io.BufferedReader) -> Iterator[tuple[int, object]]:
    """The elements of a top-level JSON list as (1-based number, value), decoded one at a
    time with the stdlib's `raw_decode` over a sliding buffer. Decimals stay `Decimal`
    (never a float). Raises FeedError for anything but a well-formed list, and for one
    element larger than MAX_JSON_OBJECT."""
    return _JsonList(_open_text(binary)).elements()


class _JsonList:
    def __init__(self, text: io.TextIOWrapper) -> None:
        self._text = text
        self._buffer = ""
        self._pos = 0
        self._eof = False
        self._decoder = json.JSONDecoder(parse_float=Decimal)

    def _more(self) -> bool:
        try:
            chunk = self._text.read(JSON_CHUNK)
        except UnicodeDecodeError as error:
            raise FeedError("the file is not UTF-8 text") from error
        if not chunk:
            self._eof = True
            return False
        self._buffer = self._buffer[self._pos :] + chunk
        self._pos = 0
        return True

    def _next_char(self) -> str:
        """Skip whitespace; the next character, or "" at the end of the file."""
        while True:
            match = _SPACE.match(self._buffer, self._pos)
            assert match is not None
            self._pos = match.end()
            if self._pos < len(self._buffer) or not self._more():
                return self._buffer[self._pos : self._pos + 1]

    def elements(self) -> Iterator[tuple[int, object]]:
        if self._next_char() != "[":
            raise FeedError("a JSON feed must be a list of objects")
        self._pos += 1
        if self._next_char() == "]":
            self._pos += 1
            self._expect_end()
            return
        number = 0
        while True:
            number += 1
            yield number, self._decode(number)
            separator = self._next_char()
            self._pos += 1
            if separator == "]":
                self._expect_end()
                return
            if separator != ",":
                raise FeedError(f"data row {number}: expected ',' or ']' after it in the JSON")
            self._next_char()

    def _decode(self, number: int) -> object:
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as error:
                if len(self._buffer) - self._pos > MAX_JSON_OBJECT:
                    raise FeedError(f"data row {number} is larger than 1 MB of JSON") from error
                if not self._more():
                    raise FeedError(f"data row {number}: invalid JSON ({error.msg})") from error
                continue
            except RecursionError as error:
                raise FeedError(f"data row {number}: JSON nested too deeply") from error
            except ValueError as error:  # e.g. an integer of more than 4,300 digits
                raise FeedError(f"data row {number}: invalid JSON ({error})") from error
            # A number at the very end of the buffer may go on in the next chunk.
            if end == len(self._buffer) and not self._eof and self._more():
                continue
            self._pos = end
            return value

    def _expect_end(self) -> None:
        if self._next_char():
            raise FeedError("unexpected data after the JSON list")

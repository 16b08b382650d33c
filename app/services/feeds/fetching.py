"""Poll a partner's catalog feed URL: the HTTP client behind the scheduler's feed imports.

One conditional GET per poll, so an unchanged feed costs a 304 and no import; a new body is
streamed to a temporary file beside `dest` and renamed into place only when complete. Any failure
is a FetchError whose text suits the admin's partner page: no traceback, no password, no query
(a query may carry a partner's token). http.client rather than urllib, so the socket's timeout
can be lowered before each read and a server dribbling bytes cannot outlast `deadline`.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

USER_AGENT = "Backroom-feed-poller/1"
MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_URL_SAFE = "/?=&%:@!$'()*+,;~"  # kept as is; spaces, non-ASCII and controls are %-encoded


@dataclass(frozen=True)
class Fetched:
    changed: bool  # False: the server said 304 Not Modified (nothing written)
    size: int  # bytes written to dest (0 when not changed)
    etag: str | None  # the response's ETag (on 304: the one sent, unless the server gave one)
    last_modified: str | None  # the response's Last-Modified, same rule
    content_type: str | None  # the media type without parameters, e.g. "text/csv" (None on 304)


class FetchError(Exception):
    """A poll that got no usable feed. `transient`: worth retrying soon (connection refused/reset,
    DNS failure, timeout, deadline passed, HTTP 5xx, 429, 408); not transient: 4xx other than
    those, a body over max_bytes, a redirect to a non-http(s) URL, a URL that is not http(s)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        """`message` is the short reason shown to the admin: no URL, no traceback."""
        super().__init__(message)
        self.transient = transient


def fetch_feed(
    url: str,
    dest: Path,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 10.0,
    deadline: float = 120.0,
    max_bytes: int = 50 * 1024 * 1024,
) -> Fetched:
    """GET url with If-None-Match / If-Modified-Since when given. On 200 the body is streamed to
    `dest` (written to a temporary file next to it and renamed into place only when complete, so
    a failed fetch never leaves a partial `dest`), in chunks (never the whole body in memory).
    On 304 nothing is written. Raises FetchError as described on the class (failing to write
    `dest`, a full disk say, raises the OSError it is). Sends the User-Agent
    "Backroom-feed-poller/1". Follows up to 5 redirects (http/https only)."""
    poll = _Poll(url, timeout, deadline, max_bytes)
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    for _ in range(MAX_REDIRECTS + 1):
        with poll.exchange(headers) as response:
            location = response.getheader("Location")
            if response.status in REDIRECT_STATUSES and location:
                poll.aim(urljoin(poll.url, location.strip()), redirected=True)
                continue
            new_etag, new_modified = response.getheader("ETag"), response.getheader("Last-Modified")
            if response.status == 304:
                return Fetched(False, 0, new_etag or etag, new_modified or last_modified, None)
            if response.status != 200:
                transient = response.status >= 500 or response.status in (408, 429)
                raise FetchError(f"HTTP {response.status} from {poll.label}", transient=transient)
            size = poll.save(response, dest)
            media_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
            return Fetched(True, size, new_etag, new_modified, media_type or None)
    raise FetchError(f"too many redirects from {poll.label}", transient=False)


class _Poll:
    """One fetch_feed call: its limits, its clock, and the URL it has got to by redirects."""

    def __init__(self, url: str, timeout: float, deadline: float, max_bytes: int) -> None:
        """Start the clock and aim at `url` (FetchError, not transient, if it is not http(s))."""
        self.timeout, self.deadline, self.max_bytes = timeout, deadline, max_bytes
        self.ends_at = time.monotonic() + deadline
        self.cut = False  # the watchdog shut the socket down at the deadline
        self.step_is_rest = False  # the last step's timeout was all the time left
        self.label = ""
        self.expired = FetchError(f"no answer within {deadline:g} s", transient=True)
        megabytes = max_bytes / (1024 * 1024)
        limit = f"{megabytes:.4g} MB" if megabytes >= 1 else f"{max_bytes} bytes"
        self.too_large = FetchError(f"the feed is larger than {limit}", transient=False)
        self.aim(url, redirected=False)

    def aim(self, url: str, *, redirected: bool) -> None:
        """Point the next request at `url`; `label` (host[:port]) is all a message shows of it."""
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            if redirected:
                raise FetchError(f"{self.label} redirected to a non-http(s) URL", transient=False)
            raise FetchError("the feed URL is not an http(s) address", transient=False)
        try:
            port = parts.port
        except ValueError:
            raise FetchError("the feed URL has an invalid port", transient=False) from None
        self.url, self.https, self.host = url, parts.scheme.lower() == "https", parts.hostname
        self.port = port or (443 if self.https else 80)  # explicit: "::1" alone reads as port 1
        self.label = self.host if port is None else f"{self.host}:{port}"
        self.path = quote(parts.path or "/", safe=_URL_SAFE)
        self.path += "?" + quote(parts.query, safe=_URL_SAFE) if parts.query else ""
        user, password = parts.username, parts.password or ""
        self.auth = None if user is None else f"{unquote(user)}:{unquote(password)}"

    def step(self) -> float:
        """The timeout for the next blocking step; FetchError once the deadline has passed."""
        remaining = self.ends_at - time.monotonic()
        if self.cut or remaining <= 0:
            raise self.expired
        self.step_is_rest = remaining <= self.timeout
        return min(self.timeout, remaining)

    @contextlib.contextmanager
    def exchange(self, headers: dict[str, str]) -> Iterator[HTTPResponse]:
        """Connect, send the GET, read the status and headers; close it all on the way out."""
        if self.auth is not None:
            token = base64.b64encode(self.auth.encode()).decode()
            headers = {**headers, "Authorization": f"Basic {token}"}
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        with self.reasons():
            connection = kind(self.host, self.port, timeout=self.step())
        try:
            with self.reasons():
                connection.connect()
            self.sock = connection.sock  # kept: http.client drops it when the server will close
            with self.watchdog():
                with self.reasons():
                    connection.request("GET", self.path, headers=headers)
                    self.sock.settimeout(self.step())
                    response = connection.getresponse()
                try:
                    self.step()  # headers cut short by the watchdog look complete
                    yield response
                finally:
                    response.close()
        finally:
            connection.close()

    @contextlib.contextmanager
    def watchdog(self) -> Iterator[None]:
        """Shut the socket down at the deadline, ending what per-read timeouts cannot bound:
        headers sent a byte at a time, each byte within `timeout`."""

        def cut() -> None:
            self.cut = True
            with contextlib.suppress(OSError):  # already closed: nothing left to end
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)  # the plain one, under TLS too

        timer = threading.Timer(max(0.0, self.ends_at - time.monotonic()), cut)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def save(self, response: HTTPResponse, dest: Path) -> int:
        """Stream the body into a temporary file beside `dest`, then rename it into place."""
        if response.length is not None and response.length > self.max_bytes:
            raise self.too_large
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                size = 0
                while chunk := self.read(response, size):
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(name, dest)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return size

    def read(self, response: HTTPResponse, size: int) -> bytes:
        """The next piece of the body after `size` bytes, b"" at its end. read1 is one recv, so
        each read gets its own timeout; FetchError once the body passes max_bytes."""
        with self.reasons():
            self.sock.settimeout(self.step())
            chunk = response.read1(min(CHUNK_BYTES, self.max_bytes + 1 - size))
        if size + len(chunk) > self.max_bytes:
            raise self.too_large
        if not chunk and self.cut:  # the watchdog's shutdown reads as the end of the body
            raise self.expired
        if not chunk and response.length:  # Content-Length promised more than came
            raise FetchError(f"the feed from {self.label} was cut short", transient=True)
        return chunk

    @contextlib.contextmanager
    def reasons(self) -> Iterator[None]:
        """Turn what the network raises into a FetchError with a short reason for the admin."""
        try:
            yield
        except http.client.InvalidURL as error:
            raise FetchError("the feed URL is not valid", transient=False) from error
        except (OSError, http.client.HTTPException) as error:
            timed_out = isinstance(error, TimeoutError)
            if self.cut or time.monotonic() >= self.ends_at or (timed_out and self.step_is_rest):
                raise self.expired from error
            text = next(text for kind, text in _REASONS if isinstance(error, kind))
            why = getattr(error, "strerror", None) or type(error).__name__
            text = text.format(timeout=self.timeout, host=self.host, label=self.label, why=why)
            raise FetchError(text, transient=True) from error


# The first entry that the error is an instance of gives its text (never the URL, only its host).
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (TimeoutError, "timed out after {timeout:g} s"),
    (socket.gaierror, "cannot find the host {host}"),
    (ConnectionRefusedError, "{label} refused the connection"),
    (ssl.SSLError, "no secure connection to {label}"),
    (ConnectionError, "{label} closed the connection"),
    (http.client.HTTPException, "a malformed answer from {label}"),
    (OSError, "cannot reach {label} ({why})"),
)

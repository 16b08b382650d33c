"""Polling a partner's feed URL, against a real HTTP server on 127.0.0.1 run by the test.

The server serves one catalog feed with an ETag and a Last-Modified (answering 304 to a
matching conditional GET, as a partner's web server would), plus routes that misbehave: errors,
redirects, a long wait, a body or headers dribbled a byte at a time, bodies that are too big.
"""

from __future__ import annotations

import base64
import socket
import sys
import threading
import time
from collections.abc import Iterator
from email.message import Message
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.services.feeds.fetching import Fetched, FetchError, fetch_feed

FEED_V1 = b"sku,name,price\nA-1,Mug,4.50\nA-2,Plate,6.00\n"
FEED_V2 = b"sku,name,price\nA-1,Mug,4.75\n"


class FeedServer(ThreadingHTTPServer):
    """A partner's web server: the feed at /feed.csv and the misbehaving routes below."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.body = FEED_V1
        self.etag = '"v1"'
        self.last_modified = "Wed, 01 Oct 2025 10:00:00 GMT"
        self.requests: list[tuple[str, Message]] = []
        self.handlers: list[threading.Thread] = []
        self.stopping = threading.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"

    def publish(self, body: bytes, etag: str, last_modified: str) -> None:
        self.body, self.etag, self.last_modified = body, etag, last_modified

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The poller hanging up on a dribbling route is the point of those tests.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FeedHandler(BaseHTTPRequestHandler):
    server: FeedServer
    timeout = 5  # a test that goes wrong never leaves a handler thread behind for long

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.handlers.append(threading.current_thread())
        self.server.requests.append((self.path, self.headers))
        path = urlsplit(self.path).path
        if path.startswith("/status/"):
            self.answer(int(path.removeprefix("/status/")), b"")
        else:
            getattr(self, "route_" + path.strip("/").replace("-", "_").replace(".", "_"))()

    def answer(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def route_feed_csv(self) -> None:
        feed = self.server
        validators = {"ETag": feed.etag, "Last_Modified": feed.last_modified}
        if_none_match = self.headers.get("If-None-Match")
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_none_match is not None:
            unchanged = if_none_match == feed.etag
        elif if_modified_since is not None:
            since = parsedate_to_datetime(if_modified_since)
            unchanged = since >= parsedate_to_datetime(feed.last_modified)
        else:
            unchanged = False
        if unchanged:
            self.send_response(304)
            for name, value in validators.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
        else:
            self.answer(200, feed.body, Content_Type="text/csv; charset=utf-8", **validators)

    def route_old_feed(self) -> None:
        self.answer(302, b"", Location="/feed.csv")

    def route_to_file(self) -> None:
        self.answer(302, b"", Location="file:///etc/passwd")

    def route_sleepy(self) -> None:
        self.server.stopping.wait(1.0)
        self.route_feed_csv()

    def route_dribble_body(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.end_headers()
        self.dribble()

    def route_dribble_headers(self) -> None:
        self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Padding: ")
        self.dribble()

    def dribble(self) -> None:
        # A byte every 0.1 s for 5 s, "for ever" to a poller with a 1 s deadline; a poller
        # that waits it out fails the test instead of hanging the suite.
        for _ in range(50):
            if self.server.stopping.wait(0.1):
                return
            self.wfile.write(b"x")

    def route_huge_declared(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(10**9))
        self.end_headers()
        self.server.stopping.wait(5)  # never sends the body: reading it would time out

    def route_huge_undeclared(self) -> None:
        self.send_response(200)
        self.end_headers()
        for _ in range(50):
            self.wfile.write(b"y" * 100)

    def route_chunked(self) -> None:
        self.protocol_version = "HTTP/1.1"
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        for piece in (FEED_V1[:10], FEED_V1[10:]):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def route_cut_short(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(FEED_V1)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feed_server = FeedServer()
    thread = threading.Thread(
        target=feed_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield feed_server
    feed_server.stopping.set()
    feed_server.shutdown()
    feed_server.server_close()
    thread.join(2)
    for handler in feed_server.handlers:
        handler.join(2)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "partner-7.feed"


def fetch_error(url: str, dest: Path, **options: Any) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch_feed(url, dest, **options)
    return caught.value


def test_it_writes_the_feed_and_returns_its_validators(server: FeedServer, dest: Path) -> None:
    fetched = fetch_feed(server.url("/feed.csv"), dest)

    assert fetched == Fetched(
        changed=True,
        size=len(FEED_V1),
        etag='"v1"',
        last_modified="Wed, 01 Oct 2025 10:00:00 GMT",
        content_type="text/csv",
    )
    assert dest.read_bytes() == FEED_V1
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]
    headers = server.requests[0][1]
    assert headers["User-Agent"] == "Backroom-feed-poller/1"
    assert headers["If-None-Match"] is None
    assert headers["If-Modified-Since"] is None


def test_it_leaves_the_feed_alone_when_the_etag_still_matches(
    server: FeedServer, dest: Path
) -> None:
    first = fetch_feed(server.url("/feed.csv"), dest)
    written = dest.stat().st_mtime_ns

    second = fetch_feed(server.url("/feed.csv"), dest, etag=first.etag)

    assert second == Fetched(False, 0, '"v1"', "Wed, 01 Oct 2025 10:00:00 GMT", None)
    assert server.requests[1][1]["If-None-Match"] == '"v1"'
    assert dest.read_bytes() == FEED_V1
    assert dest.stat().st_mtime_ns == written


def test_it_leaves_the_feed_alone_when_not_modified_since(server: FeedServer, dest: Path) -> None:
    first = fetch_feed(server.url("/feed.csv"), dest)
    written = dest.stat().st_mtime_ns

    second = fetch_feed(server.url("/feed.csv"), dest, last_modified=first.last_modified)

    assert second.changed is False
    assert second.size == 0
    assert second.last_modified == "Wed, 01 Oct 2025 10:00:00 GMT"
    assert server.requests[1][1]["If-Modified-Since"] == "Wed, 01 Oct 2025 10:00:00 GMT"
    assert dest.stat().st_mtime_ns == written


def test_it_fetches_the_new_feed_when_it_changed(server: FeedServer, dest: Path) -> None:
    first = fetch_feed(server.url("/feed.csv"), dest)
    server.publish(FEED_V2, '"v2"', "Thu, 02 Oct 2025 10:00:00 GMT")

    second = fetch_feed(
        server.url("/feed.csv"), dest, etag=first.etag, last_modified=first.last_modified
    )

    assert second.changed is True
    assert second.size == len(FEED_V2)
    assert (second.etag, second.last_modified) == ('"v2"', "Thu, 02 Oct 2025 10:00:00 GMT")
    assert dest.read_bytes() == FEED_V2


def test_it_reads_a_chunked_body(server: FeedServer, dest: Path) -> None:
    fetched = fetch_feed(server.url("/chunked"), dest)

    assert fetched.size == len(FEED_V1)
    assert dest.read_bytes() == FEED_V1
    assert fetched.content_type is None


def test_it_follows_a_redirect(server: FeedServer, dest: Path) -> None:
    fetched = fetch_feed(server.url("/old-feed"), dest)

    assert fetched.etag == '"v1"'
    assert dest.read_bytes() == FEED_V1
    assert [path for path, _ in server.requests] == ["/old-feed", "/feed.csv"]


def test_it_refuses_a_redirect_to_a_file_url(server: FeedServer, dest: Path) -> None:
    error = fetch_error(server.url("/to-file"), dest)

    assert error.transient is False
    assert str(error) == f"127.0.0.1:{server.server_port} redirected to a non-http(s) URL"
    assert not dest.exists()


def test_it_reports_a_server_error_as_transient(server: FeedServer, dest: Path) -> None:
    error = fetch_error(server.url("/status/500"), dest)

    assert error.transient is True
    assert str(error) == f"HTTP 500 from 127.0.0.1:{server.server_port}"
    assert list(dest.parent.iterdir()) == []


@pytest.mark.parametrize(("status", "transient"), [(404, False), (403, False), (429, True)])
def test_it_tells_which_client_errors_are_worth_retrying(
    server: FeedServer, dest: Path, status: int, transient: bool
) -> None:
    error = fetch_error(server.url(f"/status/{status}"), dest)

    assert error.transient is transient
    assert str(error).startswith(f"HTTP {status} from ")
    assert not dest.exists()


def test_it_keeps_the_previous_feed_when_a_fetch_fails(server: FeedServer, dest: Path) -> None:
    fetch_feed(server.url("/feed.csv"), dest)

    fetch_error(server.url("/huge-undeclared"), dest, max_bytes=1000)

    assert dest.read_bytes() == FEED_V1
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]


def test_it_times_out_on_a_server_that_does_not_answer(server: FeedServer, dest: Path) -> None:
    started = time.monotonic()
    error = fetch_error(server.url("/sleepy"), dest, timeout=0.3)

    assert time.monotonic() - started < 0.9
    assert error.transient is True
    assert str(error) == "timed out after 0.3 s"
    assert not dest.exists()


def test_it_gives_up_on_a_body_sent_a_byte_at_a_time(server: FeedServer, dest: Path) -> None:
    started = time.monotonic()
    error = fetch_error(server.url("/dribble-body"), dest, timeout=0.5, deadline=1.0)

    assert 0.9 <= time.monotonic() - started < 3
    assert error.transient is True
    assert str(error) == "no answer within 1 s"
    assert list(dest.parent.iterdir()) == []


def test_it_gives_up_on_headers_sent_a_byte_at_a_time(server: FeedServer, dest: Path) -> None:
    started = time.monotonic()
    error = fetch_error(server.url("/dribble-headers"), dest, timeout=0.5, deadline=1.0)

    assert 0.9 <= time.monotonic() - started < 3
    assert error.transient is True
    assert str(error) == "no answer within 1 s"
    assert list(dest.parent.iterdir()) == []


def test_it_refuses_a_declared_length_over_the_cap_before_reading(
    server: FeedServer, dest: Path
) -> None:
    started = time.monotonic()
    error = fetch_error(server.url("/huge-declared"), dest, timeout=2.0, max_bytes=1000)

    assert time.monotonic() - started < 1.0  # the body never comes: reading would time out
    assert error.transient is False
    assert str(error) == "the feed is larger than 1000 bytes"
    assert list(dest.parent.iterdir()) == []


def test_it_refuses_an_undeclared_body_over_the_cap(server: FeedServer, dest: Path) -> None:
    error = fetch_error(server.url("/huge-undeclared"), dest, max_bytes=1000)

    assert error.transient is False
    assert str(error) == "the feed is larger than 1000 bytes"
    assert list(dest.parent.iterdir()) == []


def test_it_accepts_a_body_exactly_at_the_cap(server: FeedServer, dest: Path) -> None:
    fetched = fetch_feed(server.url("/huge-undeclared"), dest, max_bytes=5000)

    assert fetched.size == 5000
    assert dest.stat().st_size == 5000


def test_it_names_the_default_cap_in_megabytes(server: FeedServer, dest: Path) -> None:
    error = fetch_error(server.url("/huge-declared"), dest)

    assert str(error) == "the feed is larger than 50 MB"


def test_it_refuses_a_body_cut_short(server: FeedServer, dest: Path) -> None:
    error = fetch_error(server.url("/cut-short"), dest)

    assert error.transient is True
    assert str(error) == f"the feed from 127.0.0.1:{server.server_port} was cut short"
    assert list(dest.parent.iterdir()) == []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://feeds.example.com/feed.csv", "javascript:alert(1)"]
)
def test_it_refuses_a_url_that_is_not_http_without_a_request(
    url: str, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections: list[object] = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connections.append(a))

    error = fetch_error(url, dest)

    assert error.transient is False
    assert str(error) == "the feed URL is not an http(s) address"
    assert connections == []
    assert not dest.exists()


def test_it_sends_the_urls_credentials_but_never_shows_them(server: FeedServer, dest: Path) -> None:
    url = server.url("/status/401?token=tok-9f2c").replace("//", "//feeduser:s3cr3t-pw@", 1)

    error = fetch_error(url, dest)

    sent = server.requests[0][1]["Authorization"]
    assert sent == "Basic " + base64.b64encode(b"feeduser:s3cr3t-pw").decode()
    assert server.requests[0][0] == "/status/401?token=tok-9f2c"
    assert str(error) == f"HTTP 401 from 127.0.0.1:{server.server_port}"
    for secret in ("feeduser", "s3cr3t-pw", "token", "tok-9f2c"):
        assert secret not in str(error)


def test_it_reports_a_closed_port_as_transient(dest: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://user:hunter2@127.0.0.1:{port}/feed.csv?key=abc"

    error = fetch_error(url, dest)

    assert error.transient is True
    assert str(error) == f"127.0.0.1:{port} refused the connection"
    assert not dest.exists()

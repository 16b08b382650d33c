"""A partner's web server for tests: a feed with ETag / Last-Modified at /feed.csv, and
routes that misbehave (5xx, sleeping, dribbling a byte at a time, oversized, cut short)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from email.message import Message
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

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


def serve_feeds() -> Iterator[FeedServer]:
    """Start a FeedServer on a thread; stop it and its handlers afterwards."""
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

"""Polling a partner's feed URL, against a real HTTP server on 127.0.0.1 run by the test.

The server serves one catalog feed with an ETag and a Last-Modified (answering 304 to a
matching conditional GET, as a partner's web server would), plus routes that misbehave: errors,
redirects, a long wait, a body or headers dribbled a byte at a time, bodies that are too big.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.services.feeds.fetching import Fetched, FetchError, fetch_feed
from tests.feed_server import FEED_V1, FEED_V2, FeedServer, serve_feeds


@pytest.fixture
def server() -> Iterator[FeedServer]:
    yield from serve_feeds()


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

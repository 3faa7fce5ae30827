"""Every W&B call is bounded in time and size, and shows only a short printable excerpt
of what the server says (issue 16, item 2).

Each attack is a small misbehaving HTTP server on 127.0.0.1 (`loopback_server.LoopbackServer`:
one thread, bounded loops, it stops by itself) that the transport talks to, with short
timeouts (3 s per request and per call) so that the module stays fast:

- a reply trickled one byte at a time (status line, headers or body, chunked or not)
  holds the call no longer than its timeout: urllib's timeout bounds each socket
  operation, not the exchange;
- a reply larger than MAX_REPLY_BYTES, announced or not, is refused without reading it
  all (a 300 MiB reply once took 600 MiB);
- a reply nested past MAX_REPLY_DEPTH (100,000 levels crashed json.loads with
  RecursionError) or otherwise not a GraphQL response is the named WandbError;
- what the server says (GraphQL errors, an error page, a Location, a status line) is
  shown as at most EXCERPT_CHARS printable characters: no terminal escape sequence
  or control character, never the key.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loopback_server import LoopbackServer, Reply
from private_ca import make_ca

from wandb_sweeps.wandb.transport import (
    EXCERPT_CHARS,
    MAX_REPLY_BYTES,
    MAX_REPLY_DEPTH,
    WandbAccess,
    WandbError,
    call_graphql,
    excerpt,
)

KEY = "local-" + "s3cr3t" * 7
TIMEOUT = 3.0
SLACK = 1.5
"""How much later than the call timeout a bounded call may end (the last attempt's
floor of 1 s, scheduling on a busy machine)."""

OK_BODY = b'{"data": {"viewer": {"entity": "alice"}}}'


@pytest.fixture
def serve() -> Iterator[Callable[..., LoopbackServer]]:
    servers: list[LoopbackServer] = []

    def start(reply: Reply, **options: float) -> LoopbackServer:
        servers.append(LoopbackServer(reply, **options))  # type: ignore[arg-type]
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def access(server: LoopbackServer) -> WandbAccess:
    return WandbAccess(server.url, KEY, request_timeout=TIMEOUT, call_timeout=TIMEOUT)


def read_entity(server: LoopbackServer) -> dict:
    return call_graphql(access(server), "read the default entity", "query { viewer { entity } }", {})


def timed_failure(server: LoopbackServer) -> tuple[WandbError, float]:
    start = time.monotonic()
    with pytest.raises(WandbError) as failure:
        read_entity(server)
    return failure.value, time.monotonic() - start


def head(status: str = "200 OK", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def trickle(server: LoopbackServer, connection: socket.socket, data: bytes, every: float = 0.5) -> None:
    for byte in data:
        if not server.running():
            return
        server.send(connection, bytes([byte]))
        time.sleep(every)


# --- time -------------------------------------------------------------------------------


def trickled_body(server: LoopbackServer, connection: socket.socket) -> None:
    server.send(connection, head("200 OK", f"Content-Length: {len(OK_BODY)}"))
    trickle(server, connection, OK_BODY)


def trickled_status_line(server: LoopbackServer, connection: socket.socket) -> None:
    trickle(server, connection, head("200 OK", f"Content-Length: {len(OK_BODY)}") + OK_BODY)


def trickled_headers(server: LoopbackServer, connection: socket.socket) -> None:
    server.send(connection, b"HTTP/1.1 200 OK\r\n")
    for number in range(90):  # http.client takes up to 100 header lines
        if not server.running():
            return
        trickle(server, connection, f"X-Slow-{number}: 1\r\n".encode(), every=0.05)


def trickled_chunks(server: LoopbackServer, connection: socket.socket) -> None:
    server.send(connection, head("200 OK", "Transfer-Encoding: chunked"))
    for byte in OK_BODY:
        if not server.running():
            return
        server.send(connection, b"1\r\n" + bytes([byte]) + b"\r\n")
        time.sleep(0.5)


def stalled_after_headers(server: LoopbackServer, connection: socket.socket) -> None:
    server.send(connection, head("200 OK", f"Content-Length: {len(OK_BODY)}") + OK_BODY[:5])
    while server.running():
        time.sleep(0.05)


@pytest.mark.parametrize(
    "reply", [trickled_body, trickled_status_line, trickled_headers, trickled_chunks, stalled_after_headers]
)
def test_a_trickled_reply_ends_the_call_at_its_timeout(
    serve: Callable[..., LoopbackServer], reply: Reply
) -> None:
    """A byte every half second keeps every socket read within urllib's timeout; before
    the fix the call took as long as the server liked (here its 15 s lifetime)."""
    server = serve(reply)
    error, elapsed = timed_failure(server)
    assert elapsed < TIMEOUT + SLACK, f"{elapsed:.1f} s"
    assert f"W&B at {server.url} did not read the default entity within 3 s" in str(error)
    assert "last error: no complete reply within 3 s" in str(error)
    assert KEY not in str(error)


@pytest.mark.parametrize("reply", [trickled_body, trickled_headers])
def test_a_reply_trickled_over_tls_ends_the_call_at_its_timeout(
    serve: Callable[..., LoopbackServer], reply: Reply, tmp_path: Path
) -> None:
    ca = make_ca()
    server = serve(reply, tls=ca.issue().server_context(tmp_path))
    bounded = WandbAccess(
        server.url, KEY, request_timeout=TIMEOUT, call_timeout=TIMEOUT, ca_certificate=ca.pem
    )
    start = time.monotonic()
    with pytest.raises(WandbError, match="last error: no complete reply within 3 s"):
        call_graphql(bounded, "read the default entity", "query { viewer { entity } }", {})
    assert time.monotonic() - start < TIMEOUT + SLACK


def test_a_proxy_that_trickles_its_answer_to_connect_ends_the_call_at_its_timeout(
    serve: Callable[..., LoopbackServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    def trickled_tunnel(server: LoopbackServer, connection: socket.socket) -> None:
        trickle(
            server, connection, b"HTTP/1.1 200 Connection established\r\n" + b"X-Slow: 1\r\n" * 50 + b"\r\n"
        )

    proxy = serve(trickled_tunnel)
    for name in ("no_proxy", "NO_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    bounded = WandbAccess("https://wandb.example.test", KEY, request_timeout=TIMEOUT, call_timeout=TIMEOUT)
    start = time.monotonic()
    with pytest.raises(WandbError, match="last error: no complete reply within 3 s"):
        call_graphql(bounded, "read the default entity", "query { viewer { entity } }", {})
    assert time.monotonic() - start < TIMEOUT + SLACK
    assert proxy.requests[0].startswith(b"CONNECT wandb.example.test:443 ")


# --- size -------------------------------------------------------------------------------

HUGE = 64 * 1024 * 1024


def padded_ok(
    server: LoopbackServer, connection: socket.socket, *, announce: bool, chunked: bool = False
) -> None:
    """OK_BODY followed by HUGE bytes of white space: JSON that parses, if read in full."""
    headers = ["Transfer-Encoding: chunked"] if chunked else []
    if announce:
        headers.append(f"Content-Length: {len(OK_BODY) + HUGE}")
    server.send(connection, head("200 OK", *headers))
    block = b" " * 65536
    for index in range(HUGE // len(block) + 1):
        if not server.running():
            return
        data = OK_BODY if index == 0 else block
        server.send(connection, b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
    if chunked:
        server.send(connection, b"0\r\n\r\n")


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(lambda s, c: padded_ok(s, c, announce=True), id="announced"),
        pytest.param(lambda s, c: padded_ok(s, c, announce=False), id="until-close"),
        pytest.param(lambda s, c: padded_ok(s, c, announce=False, chunked=True), id="chunked"),
    ],
)
def test_a_reply_larger_than_the_limit_is_refused_without_reading_it_all(
    serve: Callable[..., LoopbackServer], reply: Reply
) -> None:
    server = serve(reply, connections=1)
    error, elapsed = timed_failure(server)
    assert f"larger than {MAX_REPLY_BYTES // (1024 * 1024)} MiB" in str(error)
    assert elapsed < TIMEOUT + SLACK
    assert len(server.requests) == 1  # not retried: the same server answers the same
    server.stop()
    # What went out before the client stopped reading: the limit and the socket buffers.
    assert server.sent < MAX_REPLY_BYTES + 24 * 1024 * 1024 < HUGE


def test_an_error_page_larger_than_the_limit_is_not_read_and_not_shown(
    serve: Callable[..., LoopbackServer],
) -> None:
    def huge_error(server: LoopbackServer, connection: socket.socket) -> None:
        server.send(connection, head("400 Bad Request") + b'{"errors": [{"message": "')
        for _ in range(HUGE // 65536):
            if not server.running():
                return
            server.send(connection, b"x" * 65536)
        server.send(connection, b'"}]}')

    server = serve(huge_error, connections=1)
    error, _ = timed_failure(server)
    assert "failed to read the default entity: HTTP 400" in str(error)
    assert "xxx" not in str(error) and len(str(error)) < 1000
    server.stop()
    assert server.sent < MAX_REPLY_BYTES + 24 * 1024 * 1024 < HUGE


# --- shape ------------------------------------------------------------------------------


def answer(body: bytes, status: str = "200 OK", *headers: str) -> Reply:
    def reply(server: LoopbackServer, connection: socket.socket) -> None:
        server.send(connection, head(status, f"Content-Length: {len(body)}", *headers) + body)

    return reply


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(nested(100_000), id="100000-deep-array"),
        pytest.param(b'{"data": {"viewer": ' + nested(100_000) + b"}}", id="100000-deep-data"),
        pytest.param(b'{"errors": ' + nested(100_000, b'{"message": "x"}') + b"}", id="100000-deep-errors"),
        pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="50000-deep-objects"),
        pytest.param(
            b'{"data": {"viewer": ' + nested(MAX_REPLY_DEPTH + 1) + b"}}", id="past-the-depth-limit"
        ),
    ],
)
def test_a_deeply_nested_reply_is_the_named_error(serve: Callable[..., LoopbackServer], body: bytes) -> None:
    """100,000 levels crashed the provider with RecursionError; less, past the limit,
    reached the callers, which walk replies recursively."""
    server = serve(answer(body), connections=1)
    error, _ = timed_failure(server)
    assert f"nested more than {MAX_REPLY_DEPTH} levels deep" in str(error)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"[1, 2]", "not a GraphQL response"),
        (b'"text"', "not a GraphQL response"),
        (b"null", "not a GraphQL response"),
        (b'{"data": 5}', "has no data"),
        (b'{"data": {"viewer": ' + nested(MAX_REPLY_DEPTH - 3) + b"}}", None),
    ],
)
def test_odd_replies_are_named_errors_and_shallow_ones_pass(
    serve: Callable[..., LoopbackServer], body: bytes, words: str | None
) -> None:
    server = serve(answer(body), connections=1)
    if words is None:
        assert read_entity(server) == json.loads(body)["data"]
        return
    error, _ = timed_failure(server)
    assert words in str(error)


# --- what the server says ---------------------------------------------------------------

HOSTILE = (
    "\x1b]0;owned\x07\x1b[2J\x1b[1;31mred\x1b[0m\x1bP+q\x1b\\\r\n\t\x00\x7f\x9b31m\u202ereversed\u2028"
    + f"key={KEY} "
    + "A" * 10_000
)


def graphql_errors(server: LoopbackServer, connection: socket.socket) -> None:
    answer(json.dumps({"errors": [{"message": HOSTILE}, {"message": HOSTILE}]}).encode())(server, connection)


def error_page(server: LoopbackServer, connection: socket.socket) -> None:
    answer(json.dumps({"errors": [{"message": HOSTILE}]}).encode(), "400 Bad Request")(server, connection)


def redirect(server: LoopbackServer, connection: socket.socket) -> None:
    location = "http://evil.example/" + HOSTILE.replace("\r\n", "").replace("\u2028", "")
    server.send(connection, head("302 Found", f"Location: {location}", "Content-Length: 0"))


def status_line(server: LoopbackServer, connection: socket.socket) -> None:
    server.send(connection, ("NOT-HTTP " + HOSTILE.replace("\r\n", "") + "\r\n\r\n").encode())


@pytest.mark.parametrize("reply", [graphql_errors, error_page, redirect, status_line])
def test_what_the_server_says_is_shown_as_a_short_printable_excerpt(
    serve: Callable[..., LoopbackServer], reply: Reply
) -> None:
    server = serve(reply)
    error, _ = timed_failure(server)
    message = str(error)
    assert all(c.isprintable() for c in message), repr(message)
    assert "owned" not in message and "[2J" not in message and "[1;31m" not in message
    assert KEY not in message
    assert "A" * (EXCERPT_CHARS + 1) not in message
    assert len(message) < 900, len(message)


def test_an_excerpt_is_printable_cut_and_without_the_key() -> None:
    shown = excerpt(access_to("http://127.0.0.1:1"), HOSTILE)
    assert shown.startswith("red reversed key=[API key] AAAA")
    assert len(shown) <= EXCERPT_CHARS and shown.endswith("...")
    assert excerpt(access_to("http://127.0.0.1:1"), "  plain\n text ") == "plain text"
    split_key = KEY[:10] + "\x1b[0m" + KEY[10:]
    assert KEY not in excerpt(access_to("http://127.0.0.1:1"), split_key)


def test_an_excerpt_of_a_whole_reply_is_quick() -> None:
    text = ("\x1b]" + "x" * 100 + "\x1b[" + ";" * 100) * (MAX_REPLY_BYTES // 210)
    start = time.perf_counter()
    excerpt(access_to("http://127.0.0.1:1"), text)
    assert time.perf_counter() - start < 1.0


def access_to(url: str) -> WandbAccess:
    return WandbAccess(url, KEY)

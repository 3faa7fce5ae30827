"""One HTTP exchange with the W&B server, bounded: the deadline, redirects, TLS and proxies.

`transport` sets the exchange's deadline (`EXCHANGE_DEADLINE`) around each request; the
connections and responses made here give every socket read and send the time left as
its timeout, so a server that trickles its status line, headers or body one byte at a
time ends at the deadline, not at a socket timeout that each byte renews. No redirect is
followed; a server on this machine is never reached through a proxy.
"""

from __future__ import annotations

import contextvars
import functools
import http.client
import io
import socket
import ssl
import time
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .server import is_loopback_host

_SEND_CHUNK = 16 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follows no redirect. urllib's own handler re-sends a POST answered with 301, 302
    or 303 as a GET to the Location, whatever its host or scheme, with the
    `Authorization` header (only Content-* headers are dropped): the key would go to
    whoever answers there. Unfollowed, the 3xx surfaces as an HTTPError."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


# --- the deadline of one exchange --------------------------------------------------------

EXCHANGE_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "wandb_exchange_deadline", default=None
)
"""The `time.monotonic()` time the current request's exchange must end by; set by
`post_graphql` around the request, read by the connection and the response it opens."""


def _time_left(sock: socket.socket) -> None:
    """Give `sock` the time left until the exchange's deadline as its timeout, or raise
    TimeoutError if none is left."""
    deadline = EXCHANGE_DEADLINE.get()
    if deadline is None:
        return
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the exchange's time is up")
    sock.settimeout(left)


class _DeadlineReader(io.RawIOBase):
    """The socket's reads, each with the time left until `deadline` as its timeout: a
    server that sends a byte just before each read would time out never arrives later
    than the deadline. (A TLS socket's read is bounded as a whole by its timeout.)"""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # keeps the socket open until closed
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the exchange's time is up")
        self._sock.settimeout(left)
        return self._raw.readinto(buffer)

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _BoundedResponse(http.client.HTTPResponse):
    """An HTTPResponse that reads its status line, headers and body through a
    `_DeadlineReader`: what a server trickles ends at the exchange's deadline. Also reads
    a proxy's answer to CONNECT (`HTTPConnection._tunnel` makes one of these)."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        deadline = EXCHANGE_DEADLINE.get()
        if deadline is not None:
            plain, self.fp = self.fp, io.BufferedReader(_DeadlineReader(sock, deadline))
            plain.close()


def _send_by_deadline(sock: socket.socket | None, data: Any, send: Callable[[Any], None]) -> None:
    """`send(data)` in pieces, each with the time left as the socket's timeout (a TLS
    socket's `sendall` bounds each piece, not the whole)."""
    if sock is None or not isinstance(data, bytes | bytearray | memoryview):
        send(data)  # connects first (urllib's request line and headers), or not ours to cut
        return
    view = memoryview(data)
    for start in range(0, len(view), _SEND_CHUNK):
        _time_left(sock)
        send(view[start : start + _SEND_CHUNK])


class _HTTPConnection(http.client.HTTPConnection):
    response_class = _BoundedResponse

    def send(self, data: Any) -> None:
        _send_by_deadline(self.sock, data, super().send)


class _HTTPSConnection(http.client.HTTPSConnection):
    response_class = _BoundedResponse

    def send(self, data: Any) -> None:
        _send_by_deadline(self.sock, data, super().send)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._tls = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, req, context=self._tls)


# --- which server, through which proxy ---------------------------------------------------


@functools.lru_cache(maxsize=4)
def tls_context(ca_certificate: str) -> ssl.SSLContext:
    """The TLS context for a W&B server whose certificate may come from `ca_certificate`.

    The CA is added to the default context, whose roots stay: `create_default_context(
    cafile=...)` alone would trust only the file (research B1). Cached: loading the
    system roots takes milliseconds, and a create makes several requests.
    """
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])  # as http.client's own default context
    if ca_certificate:
        context.load_verify_locations(cadata=ca_certificate)
    return context


def proxy_for(base_url: str) -> str | None:
    """The proxy that requests to `base_url` go through, or None for none.

    None for a server on this machine (localhost, 127.0.0.0/8, ::1), whatever the
    settings: it is the only one plain http may name (`base_url_problem`), and through
    a proxy such a request, `Authorization` header and all, would be read by the proxy;
    nor does a proxy elsewhere reach this machine's server. None for plain http in any
    case. For https, the proxy urllib would choose: HTTPS_PROXY (or https_proxy; on
    macOS and Windows the system's settings), unless NO_PROXY names the host
    (`urllib.request.proxy_bypass`). HTTP_PROXY and ALL_PROXY are never used for https,
    as with urllib. Read at every request, so a changed environment counts.
    """
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.scheme != "https" or is_loopback_host(host):
        return None
    proxy = urllib.request.getproxies().get("https")
    if not proxy or urllib.request.proxy_bypass(parts.netloc.rpartition("@")[2]):
        return None
    return proxy


def opener(base_url: str, ca_certificate: str) -> urllib.request.OpenerDirector:
    """The opener for one request: no redirect, the deadline on every read and send,
    the CA besides the public roots, and the proxy `proxy_for` names (if any)."""
    proxy = proxy_for(base_url)
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": proxy} if proxy else {}),
        _NoRedirect(),
        _HTTPHandler(),
        _HTTPSHandler(tls_context(ca_certificate)),
    )

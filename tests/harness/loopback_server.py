"""A small HTTP server on 127.0.0.1 that answers as a test tells it to: the misbehaving
W&B servers of test_wandb_bounds and the recording proxy of test_wandb_proxy.

One thread, bounded loops (at most `connections` connections, one at a time, for at most
`lifetime` seconds), and it stops by itself: a test that forgets to stop it cannot hang
the suite.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable

Reply = Callable[["LoopbackServer", socket.socket], None]
"""What the server does with each connection once it has read the request."""


class LoopbackServer:
    """An HTTP server on 127.0.0.1 that reads each request and answers it with
    `reply(self, connection)`. It serves at most `connections` connections, one at a
    time, and stops by itself after `lifetime` seconds (or at `stop()`); `sent` counts
    the reply bytes that went out, `requests` keeps what came in."""

    def __init__(
        self, reply: Reply, *, connections: int = 6, lifetime: float = 15.0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.reply = reply
        self.tls = tls
        self.sent = 0
        self.requests: list[bytes] = []
        self.stopping = threading.Event()
        self.end = time.monotonic() + lifetime
        self._connections = connections
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def running(self) -> bool:
        return not self.stopping.is_set() and time.monotonic() < self.end

    def send(self, connection: socket.socket, data: bytes) -> None:
        connection.sendall(data)
        self.sent += len(data)

    def _serve(self) -> None:
        served = 0
        try:
            while served < self._connections and self.running():
                try:
                    connection, _ = self._listener.accept()
                except TimeoutError:
                    continue
                served += 1
                with connection:
                    connection.settimeout(2)
                    try:
                        if self.tls is not None:
                            connection = self.tls.wrap_socket(connection, server_side=True)
                        self.requests.append(_read_request(connection))
                        self.reply(self, connection)
                    except OSError:
                        pass  # the client gave up: what the test wants
        finally:
            self._listener.close()

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=5)


def _read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 1 << 20:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < min(length, 1 << 20):
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body

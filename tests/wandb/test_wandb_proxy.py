"""No proxy sees the API key in clear (issue 16, item 4).

A plain-http baseUrl is allowed only for a server on this machine, and urllib would
send such a request, `Authorization` header and all, to whatever HTTP_PROXY names.
So a server on this machine (localhost, 127.0.0.0/8, ::1) is always reached directly,
whatever the proxy settings; an https server goes through HTTPS_PROXY unless NO_PROXY
names it, as urllib decides, and then as a CONNECT tunnel: the proxy sees the host
and port, never the request (docs/security.md, "What a proxy sees").

The proxy is a small recording server on 127.0.0.1 (one thread, bounded, it stops by
itself) that refuses every request after recording it.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from loopback_server import LoopbackServer
from wandb_server import DEFAULT_ENTITY, DEFAULT_KEY, WandbServer

from wandb_sweeps.wandb.exchange import proxy_for
from wandb_sweeps.wandb.transport import WandbAccess, WandbError, call_graphql

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def forbid(server: LoopbackServer, connection: socket.socket) -> None:
    """A proxy that records each request (`server.requests`) and lets nothing through."""
    server.send(connection, FORBIDDEN)


@pytest.fixture
def proxy() -> Iterator[LoopbackServer]:
    running = LoopbackServer(forbid, connections=10, lifetime=30)
    yield running
    running.stop()


@pytest.fixture
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


READ_ENTITY = """
import json, sys
from wandb_sweeps.wandb.transport import WandbAccess, call_graphql
for url in sys.argv[2:]:
    access = WandbAccess(url, sys.argv[1], request_timeout=3, call_timeout=3)
    print(json.dumps(call_graphql(access, "read the default entity", "query { viewer { entity } }", {})))
"""


def test_a_server_on_this_machine_is_reached_directly_whatever_the_proxy_settings(
    server: WandbServer, proxy: LoopbackServer
) -> None:
    """In a fresh process, as the provider runs (urllib reads the proxy variables when
    its opener is built): before the fix, the request and its Authorization header went
    to the proxy, and the proxy's 403 read as a rejected key."""
    env = {name: value for name, value in os.environ.items() if name.lower() not in PROXY_VARIABLES}
    for name in PROXY_VARIABLES[:3]:
        env[name] = env[name.upper()] = proxy.url
    localhost = server.base_url.replace("127.0.0.1", "localhost")
    result = subprocess.run(
        [sys.executable, "-c", READ_ENTITY, DEFAULT_KEY, server.base_url, localhost],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proxy.requests == []
    assert result.returncode == 0, result.stderr[-2000:]
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"viewer": {"entity": DEFAULT_ENTITY}}
    ] * 2


def test_https_through_a_proxy_shows_the_proxy_only_the_host_and_port(
    monkeypatch: pytest.MonkeyPatch, no_proxy_settings: None, proxy: LoopbackServer
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    access = WandbAccess("https://wandb.example.test", DEFAULT_KEY, request_timeout=2, call_timeout=1.5)
    with pytest.raises(WandbError) as failure:
        call_graphql(access, "read the default entity", "query { viewer { entity } }", {})
    assert len(proxy.requests) == 1
    seen = proxy.requests[0]
    assert seen.startswith(b"CONNECT wandb.example.test:443 HTTP/1.")
    token = base64.b64encode(f"api:{DEFAULT_KEY}".encode())
    for secret in (DEFAULT_KEY.encode(), token, b"Authorization", b"graphql", b"viewer"):
        assert secret not in seen
    assert DEFAULT_KEY not in str(failure.value)


@pytest.mark.parametrize(
    ("settings", "url", "through_proxy"),
    [
        ({"HTTPS_PROXY": "P"}, "https://wandb.example.test", True),
        ({"https_proxy": "P"}, "https://wandb.example.test:8443", True),
        ({"HTTPS_PROXY": "P", "NO_PROXY": "wandb.example.test"}, "https://wandb.example.test", False),
        ({"HTTPS_PROXY": "P", "NO_PROXY": "example.test"}, "https://wandb.example.test", False),
        ({"HTTPS_PROXY": "P", "no_proxy": ".example.test"}, "https://wandb.example.test", False),
        ({"HTTPS_PROXY": "P", "NO_PROXY": "*"}, "https://wandb.example.test", False),
        ({"HTTPS_PROXY": "P", "NO_PROXY": "other.example"}, "https://wandb.example.test", True),
        ({"HTTP_PROXY": "P", "ALL_PROXY": "P"}, "https://wandb.example.test", False),
        ({"HTTPS_PROXY": "P"}, "https://localhost:8443", False),
        ({"HTTPS_PROXY": "P"}, "https://127.0.0.1", False),
        ({"HTTPS_PROXY": "P"}, "https://127.3.4.5:8443", False),
        ({"HTTPS_PROXY": "P"}, "https://[::1]:8443", False),
        ({"HTTP_PROXY": "P", "HTTPS_PROXY": "P", "ALL_PROXY": "P"}, "http://127.0.0.1:8080", False),
        ({"HTTP_PROXY": "P", "HTTPS_PROXY": "P"}, "http://localhost:8080", False),
        ({"HTTP_PROXY": "P", "HTTPS_PROXY": "P"}, "http://[::1]:8080", False),
    ],
)
def test_the_proxy_is_chosen_as_urllib_chooses_except_for_this_machine(
    monkeypatch: pytest.MonkeyPatch,
    no_proxy_settings: None,
    settings: dict[str, str],
    url: str,
    through_proxy: bool,
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, "http://proxy.example:3128" if value == "P" else value)
    assert proxy_for(url) == ("http://proxy.example:3128" if through_proxy else None)

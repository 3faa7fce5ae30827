"""One bounded GraphQL POST per attempt to the W&B server, with retries and named errors.

Plain functions over a `WandbAccess` (server, key, time budget): no state between
calls, so the provider can be unpickled months later at `pulumi destroy` and work.
No request goes through the wandb client: its requests pass through its bundled
wandb-core process, which checks the key (`Viewer`) and probes the server's features
for every `wandb.Api()`, retries failed requests by itself and re-sends a create whose
reply was lost, making a second sweep. Here each request is a round trip the user
waits for, and retries are ours (`operations` decides what a retry must look up first).

Every call is bounded: no request waits longer than `request_timeout`, and a
call gives up after `call_timeout` in all, with a `WandbError` whose message
names the server and what to do, and never contains the API key. Server errors
(HTTP 5xx, 408, 429), timeouts and dropped connections are retried; a rejected key
(HTTP 401/403) is not, nor a server certificate that does not verify (the error names
`caCertificate`, whose CA is trusted besides the public roots: `exchange.tls_context`). No redirect
is followed: urllib's default opener would re-send the `Authorization` header to
whatever host or scheme a 301/302/303 names, so a redirect is an error that names the
server and the Location.

Bounded in time and size whatever the server does (docs/security.md, "What the W&B
calls are bounded by"): urllib's timeout bounds each socket operation, so a server
that trickles its reply a byte at a time held a call for as long as it liked. Here
every read and send of the exchange (status line, headers, body, a proxy's CONNECT
answer) gets the time left until the attempt's deadline as its socket timeout
(`_BoundedResponse`). A reply is read up to MAX_REPLY_BYTES and must nest at most
MAX_REPLY_DEPTH levels; past either it is a `WandbUnreadableReply`, not retried.
Whatever the server says is shown as `excerpt`: at most EXCERPT_CHARS printable
characters, without terminal escape sequences or the key.

Proxies (`exchange.proxy_for`): a server on this machine (the only one plain http may name)
is always reached directly, so no proxy ever sees a request in clear; an https
server goes through HTTPS_PROXY unless NO_PROXY names it, as urllib decides, and then
through a CONNECT tunnel: the proxy sees the host and port, never the request.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .exchange import EXCHANGE_DEADLINE, opener
from .server import DEFAULT_CALL_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, url_without_credentials

T = TypeVar("T")


_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


_REDIRECT_STATUSES = range(300, 400)


MAX_REPLY_BYTES = 8 * 1024 * 1024
"""The most one W&B reply may hold. The largest we ask for is a page of 50 sweeps with
their configs (a sweep config is a few KB; ours at most 32 KiB of YAML): 8 MiB leaves
room for configs of 150 KiB each. A reply announced larger is refused before it is
read, and one that grows past it is not read further: a 300 MiB reply took 600 MiB."""


MAX_REPLY_DEPTH = 32
"""The deepest a reply may nest (objects and lists). Ours nest 7 levels; 100,000 made
json.loads raise RecursionError, and the callers walk replies recursively."""


EXCERPT_CHARS = 200
"""The most of a server's own text (an error message, a Location, a status line) that
a message shows, once escape sequences and control characters are taken out."""


_READ_CHUNK = 64 * 1024


class WandbError(Exception):
    """A W&B call failed; the message is safe to show (no API key)."""


class WandbAuthError(WandbError):
    """W&B rejected the API key."""


class WandbUnavailable(WandbError):
    """W&B did not answer in time, or kept answering with server errors."""


class WandbRedirectError(WandbError):
    """W&B answered with a redirect, which is never followed (the key would go along)."""


class WandbUntrustedError(WandbError):
    """W&B's TLS certificate is not trusted here: retrying cannot help, caCertificate can."""


class WandbUnreadableReply(WandbError):
    """W&B's reply is larger than MAX_REPLY_BYTES or nested deeper than MAX_REPLY_DEPTH:
    it is not used, and not retried (the same server would answer the same)."""


class _TooLarge(Exception):
    """The reply is larger than MAX_REPLY_BYTES."""


class _Transient(Exception):
    """One attempt failed in a way worth retrying (5xx, timeout, dropped connection)."""


@dataclass(frozen=True)
class WandbAccess:
    base_url: str
    api_key: str = field(repr=False)
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    """Seconds one HTTP request may take."""
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    """Seconds one call may take in all, retries included."""
    deadline: float | None = None
    """A `time.monotonic()` time no call may run past: set when calls share one budget."""
    ca_certificate: str = field(default="", repr=False)
    """`caCertificate`: PEM certificates trusted besides the public roots; "" for none."""

    def scrub(self, text: str) -> str:
        return text.replace(self.api_key, "[API key]") if self.api_key else text


def with_retries(access: WandbAccess, action: str, attempt: Callable[[float], T]) -> T:
    """Run `attempt(timeout)` until it succeeds, fails for good, or the call timeout ends.

    Backs off 1 s, 2 s, 4 s ... between attempts; never starts an attempt that
    could not finish before the call timeout.
    """
    deadline = time.monotonic() + access.call_timeout
    if access.deadline is not None:
        deadline = min(deadline, access.deadline)
    delay, attempts = 1.0, 0
    while True:
        attempts += 1
        remaining = deadline - time.monotonic()
        try:
            return attempt(max(1.0, min(access.request_timeout, remaining)))
        except _Transient as error:
            last = access.scrub(str(error))
            if time.monotonic() + delay + 1.0 > deadline:
                raise WandbUnavailable(
                    f"W&B at {access.base_url} did not {action} within {access.call_timeout:g} s "
                    f"({attempts} attempt{'s' if attempts > 1 else ''}; last error: {last}). Check that "
                    "the server is reachable from here and retry; if it is only slow, raise "
                    "wandbCallTimeoutSeconds / wandbRequestTimeoutSeconds."
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 8.0)


def _auth_error(access: WandbAccess, action: str) -> WandbAuthError:
    return WandbAuthError(
        f"W&B at {access.base_url} rejected the API key while trying to {action} (HTTP 401/403). "
        "Check wandbApiKey (`pulumi config set --secret wandb-sweeps:wandbApiKey KEY`) and that the "
        "key belongs to this server (keys are listed at <W&B app>/authorize)."
    )


def shared_deadline(access: WandbAccess) -> WandbAccess:
    """`access` whose calls all end within one call timeout from now (and its own deadline)."""
    deadline = time.monotonic() + access.call_timeout
    if access.deadline is not None:
        deadline = min(deadline, access.deadline)
    return dataclasses.replace(access, deadline=deadline)


# --- what the server says ----------------------------------------------------------------

_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI: colours, cursor moves, screen clears
    r"|(?:\x1b[P\]X^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC (title), DCS ...
    r"|\x1b[ -/]*[0-~]?"  # any other escape
)
"""Terminal escape sequences, to take out of a server's text. Each alternative starts
with its own character and every part after it is optional: one pass, linear."""


def excerpt(access: WandbAccess, text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text`, from the server, as a message may show it: without the key, terminal
    escape sequences and control characters (white space becomes one space), at most
    `limit` characters. Linear in `text`; only its first 20 * `limit` characters count."""
    return printable(access.scrub(text)[: 20 * limit], limit, access.scrub)


def printable(text: str, limit: int = EXCERPT_CHARS, scrub: Callable[[str], str] = str) -> str:
    """`text` without terminal escape sequences and control characters (white space
    becomes one space), `scrub`bed once they are out, at most `limit` characters: what
    another program said (a server, the Pulumi CLI), safe to print. Only its first
    20 * `limit` characters count."""
    window = _ESCAPE.sub("", text[: 20 * limit])
    window = "".join(c if c.isprintable() else " " if c.isspace() else "" for c in window)
    shown = " ".join(scrub(window).split())
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _untrusted_error(
    access: WandbAccess, error: ssl.SSLCertVerificationError, action: str
) -> WandbUntrustedError:
    reason = excerpt(access, str(error.verify_message or error.reason or "certificate verify failed"))
    if error.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
        advice = "The certificate is not issued for this host name: set baseUrl to a name it is issued for."
    elif access.ca_certificate:
        advice = (
            "It is signed neither by a public CA nor by caCertificate: check that caCertificate holds "
            "the CA that issued the server's certificate (or the root of its chain)."
        )
    else:
        advice = (
            "If the server's certificate comes from a private CA, set caCertificate to the CA's PEM file "
            "in the project folder (`pulumi config set wandb-sweeps:caCertificate certs/ca.pem`); the "
            "agent pods then trust it too."
        )
    return WandbUntrustedError(
        f"W&B at {access.base_url} presented a TLS certificate this machine does not trust ({reason}) "
        f"while trying to {action}. {advice}"
    )


def _redirect_error(access: WandbAccess, error: urllib.error.HTTPError, action: str) -> WandbRedirectError:
    location = (error.headers.get("Location") if error.headers else None) or "(no Location)"
    location = excerpt(access, url_without_credentials(location.strip()))
    return WandbRedirectError(
        f"W&B at {access.base_url} answered HTTP {error.code}, a redirect to {location}, while trying "
        f"to {action}. No redirect is followed, so that the API key goes only to the server you "
        "configured: if the server has moved, set baseUrl to its final address (https, without "
        "/graphql)."
    )


def _unreadable(access: WandbAccess, action: str, what: str) -> WandbUnreadableReply:
    return WandbUnreadableReply(
        f"W&B at {access.base_url} answered the request to {action} with a reply {what}, which no "
        "W&B server sends; it is not used, and the request is not retried. Check that baseUrl names "
        "a W&B server (and not a proxy or another service in front of it)."
    )


# --- one request -------------------------------------------------------------------------


def post_graphql(
    access: WandbAccess,
    timeout: float,
    query: str,
    variables: dict[str, Any],
    *,
    action: str = "create a sweep",
    failure: str = "refused to create the sweep",
) -> dict[str, Any]:
    """Exactly one HTTP request, over in `timeout` seconds (and by `access.deadline`)
    whatever the server does; returns the reply's `data`.

    Raises _Transient when the outcome is unknown or worth retrying (a timeout among
    them), WandbAuthError for a rejected key (`action` says what was being done),
    WandbUntrustedError for a server certificate that does not verify (at once: no
    retry fixes it), WandbUnreadableReply for a reply past MAX_REPLY_BYTES or
    MAX_REPLY_DEPTH, and WandbError, saying "W&B at <server> <failure>: ...", when the
    server refused the request.
    """
    start = time.monotonic()
    deadline = start + timeout
    if access.deadline is not None:
        deadline = min(deadline, access.deadline)
    token = EXCHANGE_DEADLINE.set(deadline)
    try:
        return _post(access, max(0.0, deadline - start), deadline, query, variables, action, failure)
    finally:
        EXCHANGE_DEADLINE.reset(token)


def _post(
    access: WandbAccess,
    timeout: float,
    deadline: float,
    query: str,
    variables: dict[str, Any],
    action: str,
    failure: str,
) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables}).encode()
    token = base64.b64encode(f"api:{access.api_key}".encode()).decode()
    request = urllib.request.Request(
        f"{access.base_url}/graphql",
        data=body,
        headers={
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "User-Agent": "wandb-sweeps",
        },
        method="POST",
    )
    try:
        with opener(access.base_url, access.ca_certificate).open(
            request, timeout=max(0.001, deadline - time.monotonic())
        ) as response:
            payload = _parsed(_read_reply(response))
    except urllib.error.HTTPError as error:
        try:
            if error.code in _REDIRECT_STATUSES:
                raise _redirect_error(access, error, action) from None
            if error.code in (401, 403):
                raise _auth_error(access, action) from None
            if error.code in _TRANSIENT_STATUSES:
                raise _Transient(f"HTTP {error.code}") from None
            messages = _error_messages(access, error)
        finally:
            error.close()
        detail = f"HTTP {error.code}" + (f": {messages}" if messages else "")
        raise WandbError(f"W&B at {access.base_url} {failure}: {detail}") from None
    except _TooLarge:
        raise _unreadable(access, action, f"larger than {MAX_REPLY_BYTES // (1024 * 1024)} MiB") from None
    except RecursionError:
        raise _unreadable(access, action, f"nested more than {MAX_REPLY_DEPTH} levels deep") from None
    except TimeoutError:  # while waiting for or reading the reply
        raise _Transient(f"no complete reply within {timeout:.3g} s") from None
    except (
        OSError,  # URLError (refused, unresolved, a proxy's refusal), a dropped connection, TLS
        http.client.HTTPException,
        ValueError,  # a reply cut short or garbled on the way: not JSON
    ) as error:
        untrusted = (
            error if isinstance(error, ssl.SSLCertVerificationError) else getattr(error, "reason", None)
        )
        if isinstance(untrusted, ssl.SSLCertVerificationError):
            raise _untrusted_error(access, untrusted, action) from None
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):  # connecting, sending, or a proxy's answer to CONNECT
            raise _Transient(f"no complete reply within {timeout:.3g} s") from None
        raise _Transient(excerpt(access, f"{type(error).__name__}: {reason}")) from None
    if not isinstance(payload, dict):
        raise WandbError(f"W&B at {access.base_url} {failure}: the reply is not a GraphQL response")
    if payload.get("errors"):
        if "not logged in" in _messages(access, payload["errors"], limit=None).lower():
            raise _auth_error(access, action)
        raise WandbError(f"W&B at {access.base_url} {failure}: {_messages(access, payload['errors'])}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise WandbError(f"W&B at {access.base_url} {failure}: the reply has no data")
    return data


def _read_reply(response: Any) -> bytes:
    """The body of `response` (an HTTPResponse, or the HTTPError around one), or _TooLarge
    if it is announced or found to be larger than MAX_REPLY_BYTES: it is read no further."""
    announced = (response.headers.get("Content-Length") or "").strip() if response.headers else ""
    if announced.isdigit() and int(announced) > MAX_REPLY_BYTES:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(min(_READ_CHUNK, MAX_REPLY_BYTES + 1 - size)):
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _parsed(raw: bytes) -> Any:
    """The JSON of a reply. RecursionError (json.loads's, on a reply nested thousands of
    levels deep; or ours, past MAX_REPLY_DEPTH), ValueError if it is not JSON."""
    payload = json.loads(raw or b"{}")
    pending: list[tuple[Any, int]] = [(payload, 1)] if isinstance(payload, dict | list) else []
    while pending:  # each container once: linear
        value, depth = pending.pop()
        if depth > MAX_REPLY_DEPTH:
            raise RecursionError
        children = value.values() if isinstance(value, dict) else value
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return payload


def _messages(access: WandbAccess, errors: Any, limit: int | None = EXCERPT_CHARS) -> str:
    """A GraphQL response's error messages, as one line without the key: an excerpt of
    `limit` characters (None: all of them, for looking into, never for showing)."""
    if not isinstance(errors, list):
        errors = [errors]
    text = "; ".join(str(e.get("message", e) if isinstance(e, dict) else e) for e in errors)
    return text if limit is None else excerpt(access, text, limit)


def _error_messages(access: WandbAccess, error: urllib.error.HTTPError) -> str:
    """The GraphQL error messages of a refused request (HTTP 400: a query that does not
    validate), or "" when its body is not a GraphQL response (e.g. a proxy's page), or
    is past MAX_REPLY_BYTES or MAX_REPLY_DEPTH."""
    try:
        payload = _parsed(_read_reply(error))
    except (OSError, ValueError, http.client.HTTPException, _TooLarge, RecursionError):
        return ""
    return (
        _messages(access, payload.get("errors"))
        if isinstance(payload, dict) and payload.get("errors")
        else ""
    )


def call_graphql(access: WandbAccess, action: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """One read or state change: one POST per attempt, retried within the call timeout."""
    return with_retries(
        access,
        action,
        lambda timeout: post_graphql(
            access, timeout, query, variables, action=action, failure=f"failed to {action}"
        ),
    )


def reply_field(data: Any, *keys: str) -> Any:
    """data[k1][k2]... of a GraphQL reply, or None where a level is missing or not a mapping:
    a reply is read defensively, whatever the server sends (operations, status_queries)."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data

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
`caCertificate`, whose CA is trusted besides the public roots: `_opener`). No redirect
is followed: urllib's default opener would re-send the `Authorization` header to
whatever host or scheme a 301/302/303 names, so a redirect is an error that names the
server and the Location.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import http.client
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .server import DEFAULT_CALL_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, url_without_credentials

T = TypeVar("T")


_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


_REDIRECT_STATUSES = range(300, 400)


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follows no redirect. urllib's own handler re-sends a POST answered with 301, 302
    or 303 as a GET to the Location, whatever its host or scheme, with the
    `Authorization` header (only Content-* headers are dropped): the key would go to
    whoever answers there. Unfollowed, the 3xx surfaces as an HTTPError."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


@functools.lru_cache(maxsize=4)
def _opener(ca_certificate: str) -> urllib.request.OpenerDirector:
    """The opener for a W&B server whose certificate may come from `ca_certificate`.

    The CA is added to the default context, whose roots stay: `create_default_context(
    cafile=...)` alone would trust only the file (research B1). Cached: loading the
    system roots takes milliseconds, and a create makes several requests.
    """
    if not ca_certificate:
        return _OPENER
    context = ssl.create_default_context()
    context.load_verify_locations(cadata=ca_certificate)
    return urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context))


def _untrusted_error(
    access: WandbAccess, error: ssl.SSLCertVerificationError, action: str
) -> WandbUntrustedError:
    reason = access.scrub(str(error.verify_message or error.reason or "certificate verify failed"))
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
    location = access.scrub(url_without_credentials(location.strip()))
    if len(location) > 200:
        location = location[:197] + "..."
    return WandbRedirectError(
        f"W&B at {access.base_url} answered HTTP {error.code}, a redirect to {location}, while trying "
        f"to {action}. No redirect is followed, so that the API key goes only to the server you "
        "configured: if the server has moved, set baseUrl to its final address (https, without "
        "/graphql)."
    )


def post_graphql(
    access: WandbAccess,
    timeout: float,
    query: str,
    variables: dict[str, Any],
    *,
    action: str = "create a sweep",
    failure: str = "refused to create the sweep",
) -> dict[str, Any]:
    """Exactly one HTTP request; returns the reply's `data`.

    Raises _Transient when the outcome is unknown or worth retrying, WandbAuthError
    for a rejected key (`action` says what was being done), WandbUntrustedError for a
    server certificate that does not verify (at once: no retry fixes it), and WandbError, saying
    "W&B at <server> <failure>: ...", when the server refused the request.
    """
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
        with _opener(access.ca_certificate).open(request, timeout=timeout) as response:
            payload = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        if error.code in _REDIRECT_STATUSES:
            raise _redirect_error(access, error, action) from None
        if error.code in (401, 403):
            raise _auth_error(access, action) from None
        if error.code in _TRANSIENT_STATUSES:
            raise _Transient(f"HTTP {error.code}") from None
        messages = _error_messages(access, error)
        detail = f"HTTP {error.code}" + (f": {messages}" if messages else "")
        raise WandbError(f"W&B at {access.base_url} {failure}: {detail}") from None
    except (
        urllib.error.URLError,
        http.client.HTTPException,
        TimeoutError,
        ConnectionError,
        ValueError,  # a reply cut short or garbled on the way: not JSON
    ) as error:
        untrusted = (
            error if isinstance(error, ssl.SSLCertVerificationError) else getattr(error, "reason", None)
        )
        if isinstance(untrusted, ssl.SSLCertVerificationError):
            raise _untrusted_error(access, untrusted, action) from None
        raise _Transient(access.scrub(f"{type(error).__name__}: {getattr(error, 'reason', error)}")) from None
    if not isinstance(payload, dict):
        raise WandbError(f"W&B at {access.base_url} {failure}: the reply is not a GraphQL response")
    if payload.get("errors"):
        messages = _messages(access, payload["errors"])
        if "not logged in" in messages.lower():
            raise _auth_error(access, action)
        raise WandbError(f"W&B at {access.base_url} {failure}: {messages}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise WandbError(f"W&B at {access.base_url} {failure}: the reply has no data")
    return data


def _messages(access: WandbAccess, errors: Any) -> str:
    """A GraphQL response's error messages, as one line without the key."""
    if not isinstance(errors, list):
        errors = [errors]
    return "; ".join(access.scrub(str(e.get("message", e) if isinstance(e, dict) else e)) for e in errors)


def _error_messages(access: WandbAccess, error: urllib.error.HTTPError) -> str:
    """The GraphQL error messages of a refused request (HTTP 400: a query that does not
    validate), or "" when its body is not a GraphQL response (e.g. a proxy's page)."""
    try:
        payload = json.loads(error.read() or b"{}")
    except (OSError, ValueError, http.client.HTTPException):
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

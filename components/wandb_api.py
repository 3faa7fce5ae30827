"""The W&B calls the sweep provider makes.

Plain functions over a `WandbAccess` (server, key, time budget): no state between
calls, so the provider can be unpickled months later at `pulumi destroy` and work.

Every W&B operation is ONE plain HTTP POST of a GraphQL document per attempt
(`_post_graphql`: Basic auth `api:<key>`, bounded timeouts); no request goes
through the wandb client (the wandb package is still used where no request is
made: `sweep_url`, `sweep_config_text`). The client's requests pass through its
bundled wandb-core process, which checks the key (`Viewer`) and probes the
server's features (`ServerFeaturesQuery`) for every `wandb.Api()`, retries failed
requests by itself, and re-sends a create whose reply was lost, making a second
sweep. Here each request is a round trip the user waits for, and retries are ours:
a create is looked up by its deterministic display name (`sweep_display_name`)
before the first attempt and before any retry, and a state change whose reply was
lost reads the sweep again before it is re-sent.

That name can be computed from the repository, so anyone who can create sweeps in
the entity can make one first, with their own `command`, for the victim's pods to
run with the victim's key. So a sweep found by name is adopted only if it is
certainly ours (`_why_not_ours`): PENDING, its stored config is, as data, the config this
create sends, and, where the server tells who created it, the key's own user did.
Anything else is left alone, a new sweep is made, and `notice` says why.

The documents are the ones the wandb 0.31 client sends, trimmed to the fields used
here (so the fields and arguments are known to exist on the real server), except
one field of `GetSweepCreator`, below. To check
them against a newer wandb, compare with:

- default entity, `GetDefaultEntity`: `wandb/apis/public/api.py`, `Api.default_entity`
  (`GET_DEFAULT_ENTITY_GQL` in `wandb/apis/_generated/operations.py`), `viewer { id
  entity }` trimmed to `viewer { entity }`.
- find a sweep by display name, `GetSweeps`: `wandb/apis/public/sweeps.py`, `Sweeps`
  (`GET_SWEEPS_GQL`), as `Project.sweeps(filters={"displayName": ...})` sends it,
  trimmed to the page info and each sweep's `name displayName state config` (all four
  in its `SweepFragment`; `config` is the text the create sent, which the client's
  `Sweep.config` reads back with `util.load_yaml`). On a server
  that cannot filter (before W&B server 0.81.4) the client sends the same document
  without `$filters` (`Sweeps._update_response`, `omit_variables=["filters"]`) and
  looks through every page: so does `find_sweep` when the filtered query is refused.
- read one sweep, `GetSweep`: `wandb/apis/public/sweeps.py`, `_get_sweep`
  (`GET_SWEEP_GQL`), trimmed to `id state` (both also in the `GET_SWEEP_LEGACY_GQL`
  the client falls back to on old servers).
- change a sweep's state, `UpsertSweep` with the sweep's opaque GraphQL `id` and
  `state`: `wandb/apis/public/sweeps.py`, `_set_sweep_state`, as sent.
- create a sweep, `UpsertSweep` without `id`: `wandb/apis/public/sweeps.py`,
  `_upsert_sweep` (its `mutation_3`), trimmed to the variables and fields used here.
- who created a sweep found by name, and who the key is, `GetSweepCreator` (sent only
  before adopting one): `viewer { id username }` as in `GET_VIEWER_GQL`'s
  `UserFragment` (`wandb/apis/_generated/operations.py`; wandb-core's own `Viewer`
  query asks for both too), and the sweep as `GET_SWEEP_GQL` reads it, with
  `user { id username }`. That one field is NOT asked for by any document of the
  wandb 0.31 client or of its wandb-core, so whether the server has it is unverified:
  it is asked in a request of its own, and a server that refuses the query, or
  answers null, does not tell (the config check alone decides). No request on a
  normal path asks for it.

So a first create costs 3 requests when `entity` is empty (GetDefaultEntity,
GetSweeps, UpsertSweep) and 2 when it is set; adopting a sweep an earlier attempt
made, one more (GetSweepCreator); stopping a sweep 2 (GetSweep, UpsertSweep), or 1
when it is already final or deleted; a refresh 1 (GetSweep).

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
import hashlib
import http.client
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import yaml

from .settings import DEFAULT_CALL_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, url_without_credentials
from .sweep_file import parse_sweep_config

T = TypeVar("T")
FINAL_STATES = frozenset({"FINISHED", "CANCELED"})
# The states wandb's `_set_sweep_state` stops a sweep from; it refuses any other.
_STOPPABLE_STATES = frozenset({"PENDING", "RUNNING", "PAUSED"})
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_PAGE_SIZE = 50  # the client's `per_page` for sweeps
_REDIRECT_STATUSES = range(300, 400)

_DEFAULT_ENTITY_QUERY = """
query GetDefaultEntity {
  viewer { entity }
}
"""

_FIND_QUERY = """
query GetSweeps($project: String!, $entity: String!, $filters: JSONString!, $cursor: String,
                $perPage: Int = 50) {
  project(name: $project, entityName: $entity) {
    sweeps(after: $cursor, first: $perPage, filters: $filters) {
      pageInfo { endCursor hasNextPage }
      edges { node { name displayName state config } }
    }
  }
}
"""

# The same without `$filters`, for servers that cannot filter sweeps.
_LIST_QUERY = """
query GetSweeps($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50) {
  project(name: $project, entityName: $entity) {
    sweeps(after: $cursor, first: $perPage) {
      pageInfo { endCursor hasNextPage }
      edges { node { name displayName state config } }
    }
  }
}
"""

_READ_QUERY = """
query GetSweep($name: String!, $project: String, $entity: String) {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $name) { id state }
  }
}
"""

# `Sweep.user` is not asked for by the wandb client (module docstring): kept out of
# every other document, so a server without it refuses only this one.
_CREATOR_QUERY = """
query GetSweepCreator($name: String!, $project: String, $entity: String) {
  viewer { id username }
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $name) { id user { id username } }
  }
}
"""

_SET_STATE_MUTATION = """
mutation UpsertSweep($id: ID, $state: String, $entityName: String, $projectName: String) {
  upsertSweep(input: {id: $id, state: $state, entityName: $entityName, projectName: $projectName}) {
    sweep { name }
  }
}
"""

_CREATE_MUTATION = """
mutation UpsertSweep($config: String, $description: String, $entityName: String,
                     $projectName: String, $displayName: String) {
  upsertSweep(input: {config: $config, description: $description, entityName: $entityName,
                      projectName: $projectName, displayName: $displayName}) {
    sweep { name project { name entity { name } } }
  }
}
"""


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


@dataclass(frozen=True)
class SweepPath:
    entity: str
    project: str
    sweep_id: str

    def __str__(self) -> str:
        return f"{self.entity}/{self.project}/{self.sweep_id}"


def sweep_path_from_text(text: str) -> SweepPath:
    """The inverse of `str(SweepPath)`: entity/project/id (W&B names contain no '/')."""
    entity, project, sweep_id = text.split("/")
    return SweepPath(entity, project, sweep_id)


def sweep_url(base_url: str, path: SweepPath) -> str:
    """The sweep's page in the W&B app, as wandb names it: WANDB_APP_URL when set, else
    derived from the API URL (`wandb.util.api_to_app_url`)."""
    import wandb.env
    from wandb.util import api_to_app_url

    app_url = (wandb.env.get_app_url() or "").strip("/") or api_to_app_url(base_url.rstrip("/"))

    parts = (
        quote(path.entity, safe=""),
        quote(path.project, safe=""),
        "sweeps",
        quote(path.sweep_id, safe=""),
    )
    return app_url.rstrip("/") + "/" + "/".join(parts)


def sweep_display_name(config_yaml: str, creation_key: str) -> str:
    """The sweep's name in the W&B app, unique to this stack, resource and config.

    A create that is retried, or re-run after an interrupted `pulumi up`, finds
    the sweep it already made by this name instead of making a second one. The
    user's own `name:` from the sweep config stays in front.
    """
    config = parse_sweep_config(config_yaml) or {}
    digest = hashlib.sha256(f"{creation_key}\n{config_yaml}".encode()).hexdigest()[:10]
    own = config.get("name") if isinstance(config, dict) else None
    return f"{own} [{creation_key} {digest}]" if own else f"{creation_key} {digest}"


# --- the retry loop ----------------------------------------------------------


def _with_retries(access: WandbAccess, action: str, attempt: Callable[[float], T]) -> T:
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


def _shared_deadline(access: WandbAccess) -> WandbAccess:
    """`access` whose calls all end within one call timeout from now (and its own deadline)."""
    deadline = time.monotonic() + access.call_timeout
    if access.deadline is not None:
        deadline = min(deadline, access.deadline)
    return dataclasses.replace(access, deadline=deadline)


# --- one plain POST per attempt -------------------------------------------------


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


def _post_graphql(
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


def _request(access: WandbAccess, action: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """One read or state change: one POST per attempt, retried within the call timeout."""
    return _with_retries(
        access,
        action,
        lambda timeout: _post_graphql(
            access, timeout, query, variables, action=action, failure=f"failed to {action}"
        ),
    )


# --- the operations ------------------------------------------------------------------


def default_entity(access: WandbAccess) -> str:
    """The entity W&B files sweeps under when none is named: the key's default."""
    data = _request(access, "look up the API key's default entity", _DEFAULT_ENTITY_QUERY, {})
    entity = (data.get("viewer") or {}).get("entity")
    if not entity:
        raise WandbError(
            f"W&B at {access.base_url} reports no default entity for this API key; set wandb-sweeps:entity."
        )
    return str(entity)


def _read_sweep(access: WandbAccess, path: SweepPath) -> dict[str, Any] | None:
    """The sweep's opaque GraphQL `id` and its `state`; None if it does not exist."""
    data = _request(
        access,
        f"read sweep {path}",
        _READ_QUERY,
        {"entity": path.entity, "project": path.project, "name": path.sweep_id},
    )
    sweep = (data.get("project") or {}).get("sweep")
    return sweep if isinstance(sweep, dict) else None


def sweep_state(access: WandbAccess, path: SweepPath) -> str | None:
    """The sweep's state (PENDING, RUNNING, PAUSED, FINISHED, CANCELED); None if it does not exist."""
    sweep = _read_sweep(access, path)
    return None if sweep is None else str(sweep.get("state")).upper()


def find_sweep(access: WandbAccess, entity: str, project: str, display_name: str) -> tuple[str, str] | None:
    """(id, state) of the newest sweep with this display name in entity/project, if any."""
    for node in _sweeps_named(access, entity, project, display_name):
        return str(node["name"]), str(node.get("state")).upper()
    return None


def _sweeps_named(
    access: WandbAccess, entity: str, project: str, display_name: str
) -> Iterator[dict[str, Any]]:
    """Each sweep named `display_name` in entity/project (newest first), as listed.

    One request, filtered by the server, when it can filter; otherwise one more for
    each page of the project's sweeps, asked only as far as the caller reads.
    """
    action = f"look for sweep {display_name!r} in {entity}/{project}"
    shared = _shared_deadline(access)
    variables: dict[str, Any] = {"entity": entity, "project": project, "perPage": _PAGE_SIZE}
    filtered = {**variables, "filters": json.dumps({"displayName": display_name})}
    try:
        first = _request(shared, action, _FIND_QUERY, {**filtered, "cursor": None})
    except (WandbAuthError, WandbUnavailable, WandbRedirectError, WandbUntrustedError):
        raise
    except WandbError:
        # Servers before 0.81.4 cannot filter sweeps and refuse the query: look through all.
        yield from _pages(shared, action, _LIST_QUERY, variables, display_name)
        return
    yield from _pages(shared, action, _FIND_QUERY, filtered, display_name, first)


def _pages(
    access: WandbAccess,
    action: str,
    query: str,
    variables: dict[str, Any],
    display_name: str,
    data: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """The sweeps named `display_name` in the pages `query` lists, from `data` (the first
    page, if already fetched) on. Each sweep's display name is compared here too: a
    server that ignores the filter lists them all."""
    cursor = None
    while True:
        if data is None:
            data = _request(access, action, query, {**variables, "cursor": cursor})
        sweeps = (data.get("project") or {}).get("sweeps")
        if not isinstance(sweeps, dict):
            return  # no such project (yet): no sweep in it either
        for edge in sweeps.get("edges") or ():
            node = edge.get("node") if isinstance(edge, dict) else None
            if isinstance(node, dict) and node.get("name") and node.get("displayName") == display_name:
                yield node
        page = sweeps.get("pageInfo") or {}
        if not (page.get("hasNextPage") and page.get("endCursor")):
            return
        cursor, data = page["endCursor"], None


def stop_sweep(access: WandbAccess, path: SweepPath, state: str) -> str:
    """Set a sweep FINISHED or CANCELED; a sweep already stopped or deleted is left alone.

    Two requests: read the sweep's state and GraphQL id, then change the state (a
    retry of the change reads again first, like a retried create). Returns what was
    done, for the log.
    """
    action = f"set sweep {path} to {state}"
    shared = _shared_deadline(access)
    sweep = _read_sweep(shared, path)
    attempts = 0

    def attempt(timeout: float) -> str | None:
        nonlocal sweep, attempts
        attempts += 1
        if attempts > 1:
            # The last attempt's reply was lost or slow: it may have been acted on.
            sweep = _read_sweep(shared, path)
        if sweep is None:
            return f"sweep {path} no longer exists on W&B; nothing to stop"
        current = str(sweep.get("state")).upper()
        if current in FINAL_STATES:
            return None if attempts > 1 and current == state else f"sweep {path} is already {current}"
        if current not in _STOPPABLE_STATES:
            raise WandbError(f"W&B at {access.base_url} failed to {action}: Sweep already {current.lower()}.")
        _post_graphql(
            shared,
            timeout,
            _SET_STATE_MUTATION,
            {"id": sweep["id"], "state": state, "entityName": path.entity, "projectName": path.project},
            action=action,
            failure=f"failed to {action}",
        )
        return None

    done = _with_retries(shared, action, attempt)
    return done or f"sweep {path} set to {state}"


# --- creating a sweep ------------------------------------------------------------


class _NonOctalDumper(yaml.SafeDumper):
    """Quotes strings like "008" so that no YAML reader on the server takes them for numbers."""

    def represent_str(self, data: str) -> yaml.ScalarNode:
        if data.startswith("0") and len(data) > 1:
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="'")
        return super().represent_str(data)


_NonOctalDumper.add_representer(str, _NonOctalDumper.represent_str)


def sweep_config_text(config_yaml: str) -> str:
    """The config W&B receives: the user's YAML with types intact (16 stays 16), and
    `distribution` filled in for min/max parameters as `wandb sweep` does."""
    from wandb.apis.public.sweeps import _validate_config_and_fill_distribution

    config = _validate_config_and_fill_distribution(parse_sweep_config(config_yaml))
    return yaml.dump(config, Dumper=_NonOctalDumper, sort_keys=False, default_flow_style=False)


def create_sweep(
    access: WandbAccess,
    *,
    entity: str,
    project: str,
    config_yaml: str,
    display_name: str,
    notice: Callable[[str], None] | None = None,
) -> SweepPath:
    """Create the sweep at most once, even when replies are lost or `up` is re-run.

    Before the first attempt and before every retry, look for a sweep with this
    display name that is certainly ours (`_why_not_ours`): made by an earlier
    attempt whose reply was lost, or by an interrupted `pulumi up`. Only if there
    is none, POST the create. A PENDING sweep with the name that is not ours (the
    name can be computed from the repository) is left alone, and `notice` is told why.
    """
    config_text = sweep_config_text(config_yaml)
    sent = yaml.safe_load(config_text)  # our own output, from a config already bounded
    description = (parse_sweep_config(config_yaml) or {}).get("description")
    action = f"create a sweep in {entity}/{project}"
    shared = _shared_deadline(access)
    noticed: set[str] = set()

    def attempt(timeout: float) -> SweepPath:
        for node in _sweeps_named(shared, entity, project, display_name):
            name = str(node["name"])
            why_not = _why_not_ours(shared, SweepPath(entity, project, name), node, config_text, sent)
            if why_not is None:
                return SweepPath(entity, project, name)
            if why_not and notice is not None and name not in noticed:
                noticed.add(name)
                notice(
                    f"W&B sweep {entity}/{project}/{name} has this stack's display name "
                    f"{display_name!r}, but {why_not}. It is left alone and a new sweep is made. "
                    f"Anyone who can create sweeps in {entity} can make a sweep with that name: "
                    "check who made it, and delete it if it is not yours."
                )
        data = _post_graphql(
            access,
            timeout,
            _CREATE_MUTATION,
            {
                "config": config_text,
                "description": description,
                "entityName": entity,
                "projectName": project,
                "displayName": display_name,
            },
        )
        sweep = data["upsertSweep"]["sweep"]
        project_info = sweep.get("project") or {}
        return SweepPath(
            entity=(project_info.get("entity") or {}).get("name") or entity,
            project=project_info.get("name") or project,
            sweep_id=sweep["name"],
        )

    return _with_retries(shared, action, attempt)


def _why_not_ours(
    access: WandbAccess, path: SweepPath, node: dict[str, Any], config_text: str, sent: Any
) -> str | None:
    """None if the sweep `node` (listed by `GetSweeps`) is certainly ours, else why not:
    "" when that is no news (it has started, or is gone), a sentence when it is."""
    if str(node.get("state")).upper() != "PENDING":
        return ""  # started or stopped: never adopted (e.g. one kept by onDestroy: keep)
    if not _same_config(node.get("config"), config_text, sent):
        return "its config is not the one this stack sends (so neither, perhaps, is its command)"
    found, creator, viewer = _creator(access, path)
    if not found:
        return ""
    same = _same_user(creator, viewer)
    if same is None or same:
        return None  # the server does not tell who made it: the config decides
    return (
        f"it was created by {_user_name(creator)!r}, not by {_user_name(viewer)!r} "
        "(the user of this stack's API key)"
    )


def _creator(access: WandbAccess, path: SweepPath) -> tuple[bool, Any, Any]:
    """(the sweep still exists, its creator, the key's user) as `GetSweepCreator` tells;
    creator and user are None where the server does not tell (a null `user`, or a
    server without that field, which refuses the query)."""
    try:
        data = _request(
            access,
            f"look up who created sweep {path}",
            _CREATOR_QUERY,
            {"entity": path.entity, "project": path.project, "name": path.sweep_id},
        )
    except (WandbAuthError, WandbUnavailable, WandbRedirectError, WandbUntrustedError):
        raise
    except WandbError:
        return True, None, None
    sweep = (data.get("project") or {}).get("sweep")
    if not isinstance(sweep, dict):
        return False, None, None
    return True, sweep.get("user"), data.get("viewer")


def _same_user(creator: Any, viewer: Any) -> bool | None:
    """Whether two GraphQL `User`s are one, by id, else by username; None if that
    cannot be told (one of them missing, or nothing to compare)."""
    if not (isinstance(creator, dict) and isinstance(viewer, dict)):
        return None
    for key in ("id", "username"):
        mine, theirs = viewer.get(key), creator.get(key)
        if isinstance(mine, str) and mine and isinstance(theirs, str) and theirs:
            return mine == theirs
    return None


def _user_name(user: Any) -> str:
    name = user.get("username") or user.get("id") if isinstance(user, dict) else None
    return str(name)[:64] if name else "another user"


def _same_config(stored: Any, config_text: str, sent: Any) -> bool:
    """Whether a stored sweep config (YAML or JSON text) is, as data, the config sent.

    Types count (16 is not 16.0 nor "16"), key order does not. A text far longer than
    the config sent cannot be it and is not parsed.
    """
    if not isinstance(stored, str):
        return False
    if stored == config_text:
        return True
    if len(stored) > 8 * len(config_text) + 65536:
        return False
    try:
        try:
            parsed = json.loads(stored)
        except ValueError:
            parsed = parse_sweep_config(stored)  # bounded: a planted config may be a bomb
        return _same_data(parsed, sent)
    except Exception:  # noqa: BLE001 - YAML errors, too deep to parse, ...: not ours
        return False


def _same_data(theirs: Any, ours: Any) -> bool:
    """Equal as data, types included; the walk goes no deeper than `ours`."""
    if type(theirs) is not type(ours):
        return False
    if isinstance(ours, dict):
        if len(theirs) != len(ours):
            return False
        keys = {(type(k), k): k for k in ours}
        for key, value in theirs.items():
            match = keys.get((type(key), key), _MISSING)
            if match is _MISSING or not _same_data(value, ours[match]):
                return False
        return True
    if isinstance(ours, list):
        return len(theirs) == len(ours) and all(_same_data(a, b) for a, b in zip(theirs, ours, strict=True))
    return bool(theirs == ours)


_MISSING = object()

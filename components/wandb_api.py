"""The W&B calls the sweep provider makes.

Plain functions over a `WandbAccess` (server, key, time budget): no state between
calls, so the provider can be unpickled months later at `pulumi destroy` and work.

Reads and state changes go through the real wandb client. Its requests pass
through the bundled wandb-core process, which retries failed requests by itself
(at least once, backing off ~2 s, 4 s, 8 s) and re-sends a create whose reply was
lost, making a second sweep. So creating a sweep is a single plain HTTP POST of
W&B's `UpsertSweep` mutation per attempt, and before any retry the sweep is
looked up by its deterministic display name (`sweep_display_name`).

Every call is bounded: no request waits longer than `request_timeout`, and a
call gives up after `call_timeout` in all, with a `WandbError` whose message
names the server and what to do, and never contains the API key.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import yaml

from .settings import DEFAULT_CALL_TIMEOUT, DEFAULT_REQUEST_TIMEOUT

T = TypeVar("T")
FINAL_STATES = frozenset({"FINISHED", "CANCELED"})
# wandb writes these into os.environ when it creates a sweep; restoring them keeps
# one resource's entity/project from leaking into the next call in this process.
_ENV_WANDB_WRITES = ("WANDB_ENTITY", "WANDB_PROJECT")
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT_TEXT = ("giving up after", "did not respond in time", "timed out", "timeout", "connection", "eof")

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
    config = yaml.safe_load(config_yaml) or {}
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


# --- calls through the wandb client --------------------------------------------


@contextmanager
def _restored_env() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in _ENV_WANDB_WRITES}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_configured_request_timeout: float | None = None


def _client(
    access: WandbAccess, timeout: float, entity: str | None = None, project: str | None = None
) -> Any:
    """A wandb.Api for one attempt: Python waits at most `timeout` for wandb-core,
    and wandb-core waits at most `request_timeout` per HTTP request."""
    import wandb

    global _configured_request_timeout
    if _configured_request_timeout != access.request_timeout:
        # Process-wide in wandb: set once per provider process (one stack's settings).
        wandb.teardown()
        wandb.setup(
            settings=wandb.Settings(x_graphql_retry_max=1, x_graphql_timeout_seconds=access.request_timeout)
        )
        _configured_request_timeout = access.request_timeout
    overrides: dict[str, Any] = {"base_url": access.base_url}
    if entity:
        overrides["entity"] = entity
    if project:
        overrides["project"] = project
    return wandb.Api(api_key=access.api_key, overrides=overrides, timeout=math.ceil(timeout))


def _client_call(access: WandbAccess, action: str, call: Callable[[float], T]) -> T:
    """Run a wandb-client call with retries, mapping the client's many error types."""

    def attempt(timeout: float) -> T:
        with _restored_env():
            try:
                return call(timeout)
            except WandbError:
                raise
            except Exception as error:  # noqa: BLE001 - the client raises many unrelated types
                raise _classified(error, access, action) from None

    return _with_retries(access, action, attempt)


def _classified(error: Exception, access: WandbAccess, action: str) -> Exception:
    """A wandb-client error as ours: rejected key, worth retrying, or a plain failure."""
    status = _http_status(error)
    text = access.scrub(f"{type(error).__name__}: {error}")
    lowered = text.lower()
    if status in (401, 403):
        return _auth_error(access, action)
    # Checked before the error's type: the client also reports a server that keeps
    # failing while it verifies the key as an AuthenticationError.
    if status in _TRANSIENT_STATUSES or (status is None and any(t in lowered for t in _TRANSIENT_TEXT)):
        return _Transient(text)
    if type(error).__name__ == "AuthenticationError" or "not logged in" in lowered:
        return _auth_error(access, action)
    return WandbError(f"W&B at {access.base_url} failed to {action}: {text}")


def _http_status(error: BaseException) -> int | None:
    for candidate in (error, error.__cause__, error.__context__):
        response = getattr(candidate, "response", None)
        status = getattr(response, "http_status", None) or getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def default_entity(access: WandbAccess) -> str:
    """The entity W&B files sweeps under when none is named: the key's default."""
    entity = _client_call(
        access, "look up the API key's default entity", lambda t: _client(access, t).default_entity
    )
    if not entity:
        raise WandbError(
            f"W&B at {access.base_url} reports no default entity for this API key; set wandb-sweeps:entity."
        )
    return entity


def sweep_state(access: WandbAccess, path: SweepPath) -> str | None:
    """The sweep's state (PENDING, RUNNING, PAUSED, FINISHED, CANCELED); None if it does not exist."""
    from wandb.apis.public.sweeps import _get_sweep

    def call(timeout: float) -> str | None:
        api = _client(access, timeout, path.entity, path.project)
        sweep = _get_sweep(api._service_api, path.entity, path.project, path.sweep_id)
        return None if sweep is None else str(sweep.state).upper()

    return _client_call(access, f"read sweep {path}", call)


def find_sweep(access: WandbAccess, entity: str, project: str, display_name: str) -> tuple[str, str] | None:
    """(id, state) of the sweep with this display name in entity/project, if any."""
    from wandb.errors import UnsupportedError

    def call(timeout: float) -> tuple[str, str] | None:
        api = _client(access, timeout, entity, project)
        try:
            project_api = api.project(project, entity)
            try:
                sweeps = list(project_api.sweeps(filters={"displayName": display_name}))
            except UnsupportedError:  # servers before 0.81.4 cannot filter: look through all
                sweeps = list(project_api.sweeps())
        except ValueError as error:
            if "could not find project" in str(error).lower():
                return None
            raise
        for sweep in sweeps:
            if sweep._attrs.get("displayName") == display_name:
                return sweep.id, str(sweep.state).upper()
        return None

    return _client_call(access, f"look for sweep {display_name!r} in {entity}/{project}", call)


def stop_sweep(access: WandbAccess, path: SweepPath, state: str) -> str:
    """Set a sweep FINISHED or CANCELED; a sweep already stopped or deleted is left alone.

    Returns what was done, for the log.
    """
    from wandb.apis.public.sweeps import _set_sweep_state

    current = sweep_state(access, path)
    if current is None:
        return f"sweep {path} no longer exists on W&B; nothing to stop"
    if current in FINAL_STATES:
        return f"sweep {path} is already {current}"

    def call(timeout: float) -> None:
        api = _client(access, timeout, path.entity, path.project)
        _set_sweep_state(api, path.sweep_id, state, entity=path.entity, project=path.project)

    _client_call(access, f"set sweep {path} to {state}", call)
    return f"sweep {path} set to {state}"


# --- creating a sweep: one plain POST per attempt ------------------------------


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

    config = _validate_config_and_fill_distribution(yaml.safe_load(config_yaml))
    return yaml.dump(config, Dumper=_NonOctalDumper, sort_keys=False, default_flow_style=False)


def _post_graphql(
    access: WandbAccess, timeout: float, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """Exactly one HTTP request. Raises _Transient when the outcome is unknown."""
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
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            raise _auth_error(access, "create a sweep") from None
        if error.code in _TRANSIENT_STATUSES:
            raise _Transient(f"HTTP {error.code}") from None
        raise WandbError(f"W&B at {access.base_url} refused to create the sweep: HTTP {error.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as error:
        raise _Transient(access.scrub(f"{type(error).__name__}: {getattr(error, 'reason', error)}")) from None
    if payload.get("errors"):
        messages = "; ".join(access.scrub(str(e.get("message", e))) for e in payload["errors"])
        raise WandbError(f"W&B at {access.base_url} refused to create the sweep: {messages}")
    return payload["data"]


def create_sweep(
    access: WandbAccess, *, entity: str, project: str, config_yaml: str, display_name: str
) -> SweepPath:
    """Create the sweep at most once, even when replies are lost or `up` is re-run.

    Before the first attempt and before every retry, look for a sweep with this
    display name that has not started (PENDING): that is ours, from a lost reply
    or an interrupted `pulumi up`. Only if there is none, POST the create.
    """
    config_text = sweep_config_text(config_yaml)
    description = (yaml.safe_load(config_yaml) or {}).get("description")
    action = f"create a sweep in {entity}/{project}"
    shared = dataclasses.replace(access, deadline=time.monotonic() + access.call_timeout)

    def attempt(timeout: float) -> SweepPath:
        existing = find_sweep(shared, entity, project, display_name)
        if existing and existing[1] == "PENDING":
            return SweepPath(entity, project, existing[0])
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

"""The W&B calls the sweep provider makes, through the real wandb client.

Plain functions over a `WandbAccess` (server + key): no state between calls, so
the provider can be unpickled months later at `pulumi destroy` and work. Every
error leaving this module is a `WandbError` whose message names the server and
what to do, and never contains the API key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import yaml

# wandb writes these into os.environ when it creates a sweep; restoring them keeps
# one resource's entity/project from leaking into the next call in this process.
_ENV_WANDB_WRITES = ("WANDB_ENTITY", "WANDB_PROJECT")

FINAL_STATES = frozenset({"FINISHED", "CANCELED"})


class WandbError(Exception):
    """A W&B call failed; the message is safe to show (no API key)."""


class WandbAuthError(WandbError):
    """W&B rejected the API key."""


@dataclass(frozen=True)
class WandbAccess:
    base_url: str
    api_key: str = field(repr=False)

    def scrub(self, text: str) -> str:
        return text.replace(self.api_key, "[API key]") if self.api_key else text


@dataclass(frozen=True)
class SweepPath:
    entity: str
    project: str
    sweep_id: str

    def __str__(self) -> str:
        return f"{self.entity}/{self.project}/{self.sweep_id}"


def sweep_url(base_url: str, path: SweepPath) -> str:
    """The sweep's page in the W&B app (api.wandb.ai -> wandb.ai, self-managed as is)."""
    from wandb.util import app_url

    parts = (
        quote(path.entity, safe=""),
        quote(path.project, safe=""),
        "sweeps",
        quote(path.sweep_id, safe=""),
    )
    return app_url(base_url.rstrip("/")).rstrip("/") + "/" + "/".join(parts)


@contextmanager
def _wandb_call(access: WandbAccess, action: str) -> Iterator[None]:
    """Turn whatever the client raises into a WandbError that names the server."""
    saved = {name: os.environ.get(name) for name in _ENV_WANDB_WRITES}
    try:
        yield
    except WandbError:
        raise
    except Exception as error:  # noqa: BLE001 - the client raises many unrelated types
        text = access.scrub(f"{type(error).__name__}: {error}")
        if _is_auth_failure(error, text):
            raise WandbAuthError(
                f"W&B at {access.base_url} rejected the API key while trying to {action} "
                "(HTTP 401/403). Check wandbApiKey (`pulumi config set --secret "
                "wandb-sweeps:wandbApiKey KEY`) and that it belongs to this server; "
                "keys are listed at <app URL>/authorize."
            ) from None
        raise WandbError(f"W&B at {access.base_url} failed to {action}: {text}") from None
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _is_auth_failure(error: BaseException, text: str) -> bool:
    status = _http_status(error)
    if status in (401, 403):
        return True
    lowered = text.lower()
    return any(s in lowered for s in ("401", "403", "unauthorized", "not logged in", "permission denied"))


def _http_status(error: BaseException) -> int | None:
    for candidate in (error, error.__cause__, error.__context__):
        response = getattr(candidate, "response", None)
        status = getattr(response, "http_status", None) or getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def _api(access: WandbAccess, entity: str | None = None, project: str | None = None) -> Any:
    import wandb

    overrides: dict[str, Any] = {"base_url": access.base_url}
    if entity:
        overrides["entity"] = entity
    if project:
        overrides["project"] = project
    return wandb.Api(api_key=access.api_key, overrides=overrides)


def default_entity(access: WandbAccess) -> str:
    """The entity W&B files sweeps under when none is named: the key's default."""
    with _wandb_call(access, "look up the API key's default entity"):
        entity = _api(access).default_entity
    if not entity:
        raise WandbError(
            f"W&B at {access.base_url} reports no default entity for this API key; set wandb-sweeps:entity."
        )
    return entity


def create_sweep(
    access: WandbAccess, *, entity: str, project: str, config_yaml: str, display_name: str | None = None
) -> SweepPath:
    """Create a sweep from the user's YAML text; returns where it lives.

    The text is parsed here, in the provider, so integers stay integers on their
    way to W&B (the engine would have made them floats).
    """
    from wandb.apis.public.sweeps import _upsert_sweep

    config = yaml.safe_load(config_yaml)
    with _wandb_call(access, f"create a sweep in {entity}/{project}"):
        api = _api(access, entity, project)
        sweep, _warnings = _upsert_sweep(
            api, config, entity=entity, project=project, display_name=display_name
        )
    project_info = sweep.get("project") or {}
    return SweepPath(
        entity=(project_info.get("entity") or {}).get("name") or entity,
        project=project_info.get("name") or project,
        sweep_id=sweep["name"],
    )


def sweep_state(access: WandbAccess, path: SweepPath) -> str | None:
    """The sweep's state (PENDING, RUNNING, PAUSED, FINISHED, CANCELED), None if it is gone."""
    from wandb.apis.public.sweeps import _get_sweep

    with _wandb_call(access, f"read sweep {path}"):
        api = _api(access, path.entity, path.project)
        sweep = _get_sweep(api._service_api, path.entity, path.project, path.sweep_id)
    return None if sweep is None else str(sweep.state).upper()


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
    with _wandb_call(access, f"set sweep {path} to {state}"):
        api = _api(access, path.entity, path.project)
        _set_sweep_state(api, path.sweep_id, state, entity=path.entity, project=path.project)
    return f"sweep {path} set to {state}"

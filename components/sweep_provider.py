"""The W&B sweep as a Pulumi resource (a dynamic provider over `wandb_api`).

Pulumi pickles `SweepProvider` BY REFERENCE into every sweep's state: at
`pulumi up` and at `pulumi destroy`, months later, the engine imports this module
(`components.sweep_provider`) again. Do not rename or move it, keep no clients on
`self`, and import wandb inside the methods.

Lifecycle:
- check: with `existing_sweep_id`, a newly named sweep must exist (checked at
  preview, before anything is created); otherwise no W&B call.
- create: makes the sweep at most once (see `wandb_api.create_sweep`), or, when
  attaching, only looks it up.
- diff: a changed sweep config (compared as data, so comments don't count),
  entity, project, server or attached id replaces the sweep: the new one is made
  first, the agents follow it, then the old one is deleted, i.e. stopped as
  `on_destroy` says. A new key, on_destroy or timeout is an in-place update with
  no W&B call; nothing changed means no W&B call at all.
- read (`pulumi refresh`): a sweep deleted on W&B is gone from the state (the
  next `up` makes a new one); a sweep stopped outside Pulumi shows in `sweep_state`.
- delete: FINISHED / CANCELED / left as is (`on_destroy`); attached sweeps are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from .sweep_file import parse_sweep_config

# Inputs whose change means "a different sweep". The sweep config is compared
# as data separately: W&B refuses to reconfigure a sweep that has started.
_IDENTITY_INPUTS = ("entity", "project", "base_url", "existing_sweep_id")
# Inputs that change in place, without a W&B call.
_UPDATABLE_INPUTS = ("api_key", "on_destroy", "creation_key", "request_timeout", "call_timeout")
_INPUTS = (*_IDENTITY_INPUTS, "config_yaml", *_UPDATABLE_INPUTS)


@dataclass(frozen=True)
class SweepInputs:
    project: pulumi.Input[str]
    base_url: pulumi.Input[str]
    api_key: pulumi.Input[str]
    on_destroy: pulumi.Input[str]
    creation_key: pulumi.Input[str]
    """project/stack/resource: names the sweep so that a retried create finds it."""
    entity: pulumi.Input[str] = ""
    """Empty: the API key's default entity, resolved at create."""
    config_yaml: pulumi.Input[str] = ""
    """The sweep config as the user wrote it; empty when attaching."""
    existing_sweep_id: pulumi.Input[str] = ""
    """Attach to this sweep instead of creating one."""
    request_timeout: pulumi.Input[float] = 20
    call_timeout: pulumi.Input[float] = 30


def _access(props: dict[str, Any]) -> Any:
    from .wandb_api import DEFAULT_CALL_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, WandbAccess

    return WandbAccess(
        base_url=props["base_url"],
        api_key=props["api_key"],
        request_timeout=float(props.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT),
        call_timeout=float(props.get("call_timeout") or DEFAULT_CALL_TIMEOUT),
    )


def _sweep_path(props: dict[str, Any]) -> Any:
    from .wandb_api import SweepPath

    return SweepPath(props["sweep_entity"], props["sweep_project"], props["sweep_id"])


def _same_sweep_config(old: str, new: str) -> bool:
    if old == new:
        return True
    try:
        return parse_sweep_config(old or "") == parse_sweep_config(new or "")
    except Exception:  # noqa: BLE001 - unparsable old state: treat as changed
        return False


def _outputs(inputs: dict[str, Any], path: Any, state: str) -> dict[str, Any]:
    from .wandb_api import sweep_url

    outs = {name: inputs.get(name, "") for name in _INPUTS}
    outs.update(
        sweep_id=path.sweep_id,
        sweep_entity=path.entity,
        sweep_project=path.project,
        sweep_path=str(path),
        sweep_url=sweep_url(inputs["base_url"], path),
        sweep_state=state,
    )
    return outs


class SweepProvider(dynamic.ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        from .wandb_api import SweepPath, WandbError, default_entity, sweep_state

        existing = news.get("existing_sweep_id") or ""
        if not existing or existing == (olds or {}).get("existing_sweep_id"):
            return dynamic.CheckResult(news, [])
        access = _access(news)
        try:
            path = SweepPath(news.get("entity") or default_entity(access), news["project"], existing)
            found = sweep_state(access, path) is not None
        except WandbError as error:
            return dynamic.CheckResult(news, [dynamic.CheckFailure("existing_sweep_id", str(error))])
        if found:
            return dynamic.CheckResult(news, [])
        return dynamic.CheckResult(
            news,
            [
                dynamic.CheckFailure(
                    "existing_sweep_id",
                    f"sweepId: sweep {path} does not exist on W&B at {access.base_url}; check sweepId, "
                    "entity and project (the sweep URL ends in <entity>/<project>/sweeps/<sweepId>).",
                )
            ],
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        replaces = [k for k in _IDENTITY_INPUTS if olds.get(k, "") != news.get(k, "")]
        updates = [k for k in _UPDATABLE_INPUTS if olds.get(k) != news.get(k)]
        if not _same_sweep_config(olds.get("config_yaml", ""), news.get("config_yaml", "")):
            replaces.append("config_yaml")
        elif olds.get("config_yaml") != news.get("config_yaml"):
            updates.append("config_yaml")
        return dynamic.DiffResult(
            changes=bool(replaces or updates),
            replaces=replaces,
            stables=[],
            delete_before_replace=False,
        )

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        from .wandb_api import (
            SweepPath,
            WandbError,
            create_sweep,
            default_entity,
            sweep_display_name,
            sweep_state,
        )

        access = _access(props)
        entity = props.get("entity") or default_entity(access)
        existing = props.get("existing_sweep_id") or ""
        if existing:
            path = SweepPath(entity, props["project"], existing)
            state = sweep_state(access, path)
            if state is None:
                raise WandbError(
                    f"sweepId: sweep {path} does not exist on W&B at {access.base_url}; check sweepId, "
                    "entity and project (the sweep URL ends in <entity>/<project>/sweeps/<sweepId>)."
                )
        else:
            path = create_sweep(
                access,
                entity=entity,
                project=props["project"],
                config_yaml=props["config_yaml"],
                display_name=sweep_display_name(props["config_yaml"], props["creation_key"]),
            )
            state = "PENDING"
        return dynamic.CreateResult(id_=str(path), outs=_outputs(props, path, state))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        # Only a new API key, on_destroy, timeout or a cosmetic edit of the sweep
        # config: W&B is not touched.
        return dynamic.UpdateResult(outs=_outputs(news, _sweep_path(olds), olds.get("sweep_state", "")))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        from .wandb_api import sweep_state

        state = sweep_state(_access(props), _sweep_path(props))
        if state is None:
            return dynamic.ReadResult(id_="", outs={})
        return dynamic.ReadResult(id_=id_, outs={**props, "sweep_state": state})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from .settings import OnDestroy
        from .wandb_api import stop_sweep

        if props.get("existing_sweep_id"):
            return
        state = OnDestroy(props.get("on_destroy") or OnDestroy.FINISH.value).wandb_state
        if state is not None:
            stop_sweep(_access(props), _sweep_path(props), state)


class WandbSweepResource(dynamic.Resource, module="wandb", name="Sweep"):
    """A W&B sweep. Type token `pulumi-python:dynamic/wandb:Sweep`: keep it, state refers to it."""

    sweep_id: pulumi.Output[str]
    sweep_entity: pulumi.Output[str]
    sweep_project: pulumi.Output[str]
    sweep_path: pulumi.Output[str]
    sweep_url: pulumi.Output[str]
    sweep_state: pulumi.Output[str]

    def __init__(self, name: str, inputs: SweepInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "project": inputs.project,
            "entity": inputs.entity,
            "base_url": inputs.base_url,
            "api_key": pulumi.Output.secret(inputs.api_key),
            "config_yaml": inputs.config_yaml,
            "existing_sweep_id": inputs.existing_sweep_id,
            "on_destroy": inputs.on_destroy,
            "creation_key": inputs.creation_key,
            "request_timeout": inputs.request_timeout,
            "call_timeout": inputs.call_timeout,
            "sweep_id": None,
            "sweep_entity": None,
            "sweep_project": None,
            "sweep_path": None,
            "sweep_url": None,
            "sweep_state": None,
        }
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["api_key"])
        )
        super().__init__(SweepProvider(), name, props, opts)

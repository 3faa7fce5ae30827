"""The sweep's two dynamic resources as the component registers them: their inputs and outputs.

The providers they carry live in `sweep_provider`, the module path pickled into every
stack's state; see there for why the sweep is two resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from .sweep_provider import SweepLifecycleProvider, SweepProvider

_IDENTITY_OUTPUTS = (
    "sweep_id",
    "sweep_entity",
    "sweep_project",
    "sweep_base_url",
    "sweep_path",
    "sweep_url",
    "sweep_state",
)


@dataclass(frozen=True)
class SweepInputs:
    project: pulumi.Input[str]
    api_key: pulumi.Input[str]
    creation_key: pulumi.Input[str]
    """project/stack/resource: names the sweep so that a retried create finds it."""
    entity: pulumi.Input[str] = ""
    """Empty: the API key's default entity, resolved at create and pinned."""
    base_url: pulumi.Input[str] = ""
    """The configured W&B server; empty: `default_base_url`, resolved at create and pinned."""
    default_base_url: pulumi.Input[str] = ""
    """The server to use when `base_url` is empty (the deploying shell's
    WANDB_BASE_URL, else the hosted W&B). Read only when the sweep is created."""
    config_yaml: pulumi.Input[str] = ""
    """The sweep config as the user wrote it; empty when attaching."""
    config_source: pulumi.Input[str] = ""
    """How the user named the file (`'sweep.yaml'`), for the messages of `check`."""
    existing_sweep_id: pulumi.Input[str] = ""
    """Attach to this sweep instead of creating one."""
    request_timeout: pulumi.Input[float] = 20
    call_timeout: pulumi.Input[float] = 30
    ca_certificate: pulumi.Input[str] = ""
    """`caCertificate`'s PEM, trusted besides the public roots. Not identity: like the
    timeouts, a new CA changes how W&B is reached, not which sweep this is."""


@dataclass(frozen=True)
class LifecycleInputs:
    sweep_path: pulumi.Input[str]
    """entity/project/id of the sweep: the lifecycle resource's identity."""
    base_url: pulumi.Input[str]
    api_key: pulumi.Input[str]
    on_destroy: pulumi.Input[str]
    attached: pulumi.Input[bool] = False
    """An attached sweep (`sweepId`) belongs to someone else: never stopped."""
    request_timeout: pulumi.Input[float] = 20
    call_timeout: pulumi.Input[float] = 30
    ca_certificate: pulumi.Input[str] = ""
    """Updated in place, like the key: destroy stops the sweep with the CA in effect."""


def _ca_input(ca_certificate: pulumi.Input[str]) -> dict[str, Any]:
    """The `ca_certificate` input, only when a CA is given: a stack without one keeps
    exactly the inputs (and the state) it had before the key existed."""
    return {"ca_certificate": ca_certificate} if ca_certificate else {}


class WandbSweepResource(dynamic.Resource, module="wandb", name="Sweep"):
    """A W&B sweep's identity. Type token `pulumi-python:dynamic/wandb:Sweep`: keep it, state refers to it."""

    sweep_id: pulumi.Output[str]
    sweep_entity: pulumi.Output[str]
    sweep_project: pulumi.Output[str]
    sweep_base_url: pulumi.Output[str]
    sweep_path: pulumi.Output[str]
    sweep_url: pulumi.Output[str]
    sweep_state: pulumi.Output[str]
    """The state at create (PENDING, or an attached sweep's); refresh records the current
    one on the lifecycle resource, which holds the key in effect."""

    def __init__(self, name: str, inputs: SweepInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "project": inputs.project,
            "entity": inputs.entity,
            "base_url": inputs.base_url,
            "default_base_url": inputs.default_base_url,
            "api_key": pulumi.Output.secret(inputs.api_key),
            "config_yaml": inputs.config_yaml,
            "config_source": inputs.config_source,
            "existing_sweep_id": inputs.existing_sweep_id,
            "creation_key": inputs.creation_key,
            "request_timeout": inputs.request_timeout,
            "call_timeout": inputs.call_timeout,
            **_ca_input(inputs.ca_certificate),
            **dict.fromkeys(_IDENTITY_OUTPUTS),
        }
        # The key is an input (create needs it), never an output (`sweep_provider`); a
        # state written by 0.2.0 still has it among the outputs until its first refresh.
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["api_key"])
        )
        super().__init__(SweepProvider(), name, props, opts)


class SweepLifecycleResource(dynamic.Resource, module="wandb", name="SweepLifecycle"):
    """Type token `pulumi-python:dynamic/wandb:SweepLifecycle`: keep it, state refers to it.

    Its outputs are its inputs; `pulumi refresh` adds `sweep_state`, the sweep's state
    on W&B (or DELETED), read with the key in effect."""

    sweep_path: pulumi.Output[str]

    def __init__(
        self, name: str, inputs: LifecycleInputs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props: dict[str, Any] = {
            "sweep_path": inputs.sweep_path,
            "base_url": inputs.base_url,
            "api_key": pulumi.Output.secret(inputs.api_key),
            "on_destroy": inputs.on_destroy,
            "attached": inputs.attached,
            "request_timeout": inputs.request_timeout,
            "call_timeout": inputs.call_timeout,
            **_ca_input(inputs.ca_certificate),
        }
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["api_key"])
        )
        super().__init__(SweepLifecycleProvider(), name, props, opts)

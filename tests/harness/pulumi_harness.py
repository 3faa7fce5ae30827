"""Run the real `__main__.py` under Pulumi's mock engine and record what it registers.

The mock engine is Pulumi's own (`pulumi.runtime.set_mocks`): resource inputs
arrive here in their wire form (camelCase, secrets wrapped), exactly what the
engine would hand to pulumi-kubernetes and to the dynamic provider.
"""

from __future__ import annotations

import base64
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dill
import pulumi
from engine_model import (
    MOCK_ENTITY,
    MOCK_SWEEP_ID,
    SECRET_SIG,
    SWEEP_TYPE,
    FakeWandb,
    drain_leftover_tasks,
    fresh_root,
    plain,
    registration_options,
)
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["MOCK_ENTITY", "MOCK_SWEEP_ID", "SECRET_SIG", "SWEEP_TYPE"]


@dataclass
class Registration:
    typ: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    provider: str | None
    options: dict[str, Any] = field(default_factory=dict)
    """Resource options as the engine receives them: parent, dependencies,
    additional_secret_outputs, ignore_changes, delete_before_replace."""


@dataclass
class ProgramRun:
    registrations: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def by_type(self, typ: str) -> list[Registration]:
        """Registrations of `typ`, by name: the engine registers them concurrently."""
        return sorted((r for r in self.registrations if r.typ == typ), key=lambda r: r.name)

    def one(self, typ: str) -> Registration:
        found = self.by_type(typ)
        assert len(found) == 1, f"expected one {typ}, got {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Registration:
        found = [r for r in self.registrations if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, got {len(found)}"
        return found[0]


class RecordingMonitor(MockMonitor):
    """Keeps the options of each RegisterResource request, which mocks never see."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request: Any) -> Any:
        self.recording.options[request.name] = registration_options(request)
        return super().RegisterResource(request)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, run: ProgramRun) -> None:
        self.run = run
        self.options: dict[str, dict[str, Any]] = {}
        self.wandb = FakeWandb()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        provider, inputs = None, {}
        if args.typ.startswith("pulumi-python:dynamic"):
            # As the engine: the provider's check first (it raises CheckFailed), then create
            # (the sweep's identity made up: no W&B).
            inputs = plain(args.inputs)
            provider = dill.loads(base64.b64decode(inputs.pop("__provider")))
            inputs = self.wandb.check(provider, {}, inputs)
        self.run.registrations.append(
            Registration(
                args.typ, args.name, args.inputs, args.custom, args.provider, self.options.get(args.name, {})
            )
        )
        if provider is not None:
            return self.wandb.create(provider, inputs)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def run_program(
    stack: str,
    config: dict[str, Any],
    secret_keys: tuple[str, ...] = (),
    run: ProgramRun | None = None,
    preview: bool = False,
) -> ProgramRun:
    """Run `__main__.py` for `stack` with `config` (short keys, e.g. {"pods": "2"}).

    Raises whatever the program raises, after the mock engine has settled; pass
    `run` to see what was registered before that.
    """
    run = run if run is not None else ProgramRun()
    mocks = RecordingMocks(run)
    fresh_root()
    pulumi.runtime.set_mocks(
        mocks, project="wandb-sweeps", stack=stack, preview=preview, monitor=RecordingMonitor(mocks)
    )
    pulumi.runtime.set_all_config(
        {f"wandb-sweeps:{k}": v for k, v in config.items()},
        [f"wandb-sweeps:{k}" for k in secret_keys],
    )

    def program() -> pulumi.Output[Any]:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        return pulumi.Output.from_input(dict(root.outputs))  # type: ignore[union-attr]

    def collect(outputs: dict[str, Any]) -> None:
        run.outputs.update(outputs)

    try:
        _sync_await(run_pulumi_func(lambda: _sync_await(program().apply(collect).future())))
    except BaseException as failure:
        drain_leftover_tasks(failure)
        raise
    return run


def unwrap_secret(value: Any) -> Any:
    """The plain value of a mock-engine secret; fails if `value` is not one."""
    assert isinstance(value, dict) and value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270", (
        f"expected a secret, got {value!r}"
    )
    return value["value"]


def cli_config(stack: str, stack_file: Path | None = None, **overrides: Any) -> dict[str, str]:
    """The config the Pulumi CLI would pass for `stack`: Pulumi.yaml defaults, then
    Pulumi.<stack>.yaml (or `stack_file`), every scalar as text ("4"), short keys; then
    `overrides`."""
    import yaml

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | dict):
            return json.dumps(value)  # the CLI passes structured values as JSON
        return value if isinstance(value, str) else str(value)

    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    values = {name: text(spec["default"]) for name, spec in project["config"].items() if "default" in spec}
    stack_values = yaml.safe_load((stack_file or ROOT / f"Pulumi.{stack}.yaml").read_text())
    for key, value in stack_values["config"].items():
        namespace, _, name = key.partition(":")
        assert namespace == "wandb-sweeps", key
        values[name] = text(value)
    values.update({k: text(v) for k, v in overrides.items()})
    return values

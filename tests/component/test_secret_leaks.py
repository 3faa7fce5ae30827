"""The W&B API key never appears in plain text anywhere the program or provider emits.

Allowed: inside a Pulumi secret (the Kubernetes Secret's data and the sweep's and
its lifecycle's `api_key` inputs/outputs, which the engine encrypts). Everything else is scanned:
every resource input, the stack outputs, the pickled provider, every provider
output but `api_key`, the provider process's log, every error message, and every
file under HOME, where the provider writes none: it calls W&B with plain HTTP
requests, not through the wandb client, whose wandb-core process wrote its debug
logs there.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import dill
from engine_driver import Engine, ProviderFailure
from pulumi_harness import SECRET_SIG, cli_config, run_program, unwrap_secret
from sweep_inputs import inputs, lifecycle_inputs
from wandb_server import DEFAULT_KEY, WandbServer

OTHER_KEY = "local-" + "r" * 40  # the rotated key, also known to the server
UNKNOWN_KEY = "local-" + "u" * 40  # rejected by the server


def without_secrets(value: Any) -> Any:
    """`value` with every Pulumi secret replaced by a marker."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return "[secret]"
        return {k: without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def secret_places(value: Any, path: str = "") -> list[str]:
    """Paths of the secrets inside `value`."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return [path]
        return [p for k, v in value.items() for p in secret_places(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in secret_places(v, f"{path}[{i}]")]
    return []


def assert_no_key(text: str, *keys: str, where: str) -> None:
    for key in keys:
        assert key not in text, f"API key in plain text in {where}"
        assert key[-40:] not in text, f"API key body in plain text in {where}"


def test_the_program_keeps_the_key_inside_secrets_only() -> None:
    run = run_program("live", cli_config("live", wandbApiKey=DEFAULT_KEY), ("wandbApiKey",))
    places = []
    for registration in run.registrations:
        inputs_ = registration.inputs
        assert_no_key(
            json.dumps(without_secrets(inputs_)), DEFAULT_KEY, where=f"inputs of {registration.name}"
        )
        places += [f"{registration.name}{p}" for p in secret_places(inputs_)]
    assert sorted(places) == [
        "sweep-api-key.stringData",
        "sweep-lifecycle.__provider",
        "sweep-lifecycle.api_key",
        "sweep-sweep.__provider",
        "sweep-sweep.api_key",
    ]
    for name in ("sweep-sweep", "sweep-lifecycle"):
        provider = base64.b64decode(unwrap_secret(run.named(name).inputs["__provider"]))
        assert_no_key(provider.decode("latin-1"), DEFAULT_KEY, where="the pickled provider")
        assert vars(dill.loads(provider)) == {}, "the provider must carry no state, let alone a key"
    assert_no_key(json.dumps(run.outputs), DEFAULT_KEY, where="stack outputs")


def test_rotating_the_key_changes_the_inputs_of_the_secret_and_the_sweep_resources_only() -> None:
    """New pods read the Secret at start; no Job input holds the key, not even by
    reference to the Secret's outputs. (What the engine then does: test_day2.)"""
    first = run_program("live", cli_config("live", wandbApiKey=DEFAULT_KEY), ("wandbApiKey",))
    rotated = run_program("live", cli_config("live", wandbApiKey=OTHER_KEY), ("wandbApiKey",))
    changed = sorted(
        r.name for r in first.registrations if r.inputs != rotated.named(r.name).inputs and r.name != "sweep"
    )
    assert changed == ["sweep-api-key", "sweep-lifecycle", "sweep-sweep"]


def test_the_provider_never_shows_the_key_in_outputs_errors_logs_or_files(server: WandbServer) -> None:
    server.api_keys[OTHER_KEY] = "alice"
    failures: list[str] = []
    engine = Engine()
    try:
        id_, outs = engine.create(inputs(server))
        engine.diff(id_, outs, inputs(server, api_key=OTHER_KEY))
        life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
        engine.lifecycle.diff(life_id, life, lifecycle_inputs(outs, api_key=OTHER_KEY))
        life = engine.lifecycle.update(life_id, life, lifecycle_inputs(outs, api_key=OTHER_KEY))
        _, read = engine.read(id_, outs)
        _, life_read = engine.lifecycle.read(life_id, life)
        for bad in (
            lambda: engine.create(inputs(server, api_key=UNKNOWN_KEY)),
            lambda: engine.check(
                {}, inputs(server, api_key=UNKNOWN_KEY, config_yaml="", existing_sweep_id="abcd1234")
            ),
        ):
            try:
                result = bad()
                failures.append(json.dumps([str(f) for f in result]) if isinstance(result, list) else "")
            except ProviderFailure as error:
                failures.append(str(error))
        server.inject(status=500, times=10_000)
        try:
            engine.lifecycle.delete(life_id, {**life, "call_timeout": 4, "request_timeout": 1})
        except ProviderFailure as error:
            failures.append(str(error))
        server._faults.clear()
        engine.lifecycle.delete(life_id, life)
    finally:
        log = engine.close()

    keys = (DEFAULT_KEY, OTHER_KEY, UNKNOWN_KEY)
    # The identity's outputs hold no key at all (a rotation never rewrites them); the
    # lifecycle's `api_key` output is its input, the key in effect, secret.
    for name, value in [("create", outs), ("refresh", read)]:
        assert_no_key(json.dumps(value), *keys, where=f"identity {name} outputs")
    for name, value in [("lifecycle update", life), ("lifecycle refresh", life_read)]:
        assert value["api_key"] == OTHER_KEY
        assert_no_key(
            json.dumps({k: v for k, v in value.items() if k != "api_key"}), *keys, where=f"{name} outputs"
        )
    assert any("rejected the API key" in f for f in failures), failures
    assert any("did not" in f for f in failures), failures
    for failure in failures:
        assert_no_key(failure, *keys, where="an error message")
    assert_no_key(log, *keys, where="the provider's log")
    home = Path(os.environ["HOME"]).parent  # HOME and the WANDB_* dirs conftest points at
    written = [path for path in home.rglob("*") if path.is_file()]
    for path in written:
        assert_no_key(path.read_bytes().decode("latin-1"), *keys, where=str(path))
    assert server.find_sweep("alice", "proj", outs["sweep_id"]).state == "FINISHED"
    # The provider no longer runs the wandb client (test_wandb_requests counts its
    # requests): no wandb-core, so no debug log or other file that could hold the key.
    assert written == [], f"the provider wrote files under HOME: {written}"

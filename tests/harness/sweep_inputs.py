"""The sweep providers' inputs as the program registers them, for the tests that drive the
providers directly (engine_driver) against the local W&B server (wandb_server): the
sweep config they create, SWEEP_YAML; the sweep identity's `inputs`; and, from its
outputs, the lifecycle's `lifecycle_inputs`."""

from __future__ import annotations

from wandb_server import DEFAULT_KEY, WandbServer

SWEEP_YAML = """\
# batch_size must reach W&B (and train.py) as integers
program: train.py
method: grid
metric: {name: val_loss, goal: minimize}
parameters:
  batch_size:
    values: [16, 32]
  lr:
    values: [0.01, 0.1]
"""


def inputs(server: WandbServer, **overrides: object) -> dict[str, object]:
    """The sweep identity's inputs as the program registers them."""
    values: dict[str, object] = {
        "project": "proj",
        "entity": "",
        "base_url": server.base_url,
        "default_base_url": "https://api.wandb.ai",
        "api_key": DEFAULT_KEY,
        "config_yaml": SWEEP_YAML,
        "existing_sweep_id": "",
        "creation_key": "wandb-sweeps/test/sweep",
        "request_timeout": 5,
        "call_timeout": 15,
    }
    values.update(overrides)
    return values


def lifecycle_inputs(sweep: dict[str, object], **overrides: object) -> dict[str, object]:
    """The lifecycle's inputs as the program registers them, from the identity's outputs."""
    values: dict[str, object] = {
        "sweep_path": sweep["sweep_path"],
        "base_url": sweep["sweep_base_url"],
        "api_key": DEFAULT_KEY,
        "on_destroy": "finish",
        "attached": bool(sweep.get("existing_sweep_id")),
        "request_timeout": sweep.get("request_timeout", 5),
        "call_timeout": sweep.get("call_timeout", 15),
    }
    values.update(overrides)
    return values

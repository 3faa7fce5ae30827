"""What the `wandb-sweeps status` tests share: seeded sweeps, a stub `pulumi`, the command.

There is no Pulumi CLI here, so a stack is played by a stub `pulumi` executable on PATH
that prints what the real CLI prints for `pulumi stack output --json --stack=NAME` and
`pulumi config --json --stack=NAME` (the shapes pulumi/pulumi's `stack_output.go` and
`config.go` write: an indented JSON object; config entries as `{"value": text,
"secret": bool}`, a secret without its value), fails like it for an unknown stack
(`error: no stack named 'NAME' found`, exit 6), and records each call: its arguments
and whether WANDB_API_KEY was in its environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wandb_server import DEFAULT_KEY, SweepRecord, WandbServer

ROOT = Path(__file__).resolve().parents[2]

GRID = {
    "method": "grid",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.1, 0.01, 0.001]}, "batch_size": {"values": [16, 32]}},
}
"""A grid of 3 x 2: W&B expects 6 runs."""


@dataclass
class Seeded:
    """A sweep seeded with runs (and agents), and what the status must say of it."""

    sweep: SweepRecord
    best_run: str
    """The id of the run with the best metric value."""

    @property
    def path(self) -> str:
        return f"{self.sweep.entity}/{self.sweep.project}/{self.sweep.name}"


def seed_grid(server: WandbServer, *, goal: str = "minimize", state: str = "RUNNING") -> Seeded:
    """A 3 x 2 grid sweep with two finished runs, one failed, one crashed and one running
    (each with val_loss but the failed one), one agent alive and one gone quiet."""
    config = {**GRID, "metric": {"name": "val_loss", "goal": goal}}
    sweep = server.create_sweep(config, project="vision", state=state, display_name="resnet-grid")
    low = server.log_run(sweep, params={"lr": 0.01, "batch_size": 16}, summary={"val_loss": 0.21, "epoch": 9})
    high = server.log_run(sweep, params={"lr": 0.1, "batch_size": 16}, summary={"val_loss": 0.93, "epoch": 9})
    server.log_run(sweep, state="failed", params={"lr": 0.001, "batch_size": 16}, summary={"epoch": 0})
    server.log_run(sweep, state="crashed", params={"lr": 0.1, "batch_size": 32}, summary={"val_loss": 0.5})
    server.log_run(sweep, state="running", params={"lr": 0.01, "batch_size": 32}, summary={"val_loss": 0.4})
    now = datetime.now(UTC)
    server.add_agent(sweep, host="sweep-agent-0-3f2a9c1b07-x7k2p", heartbeat_at=now - timedelta(seconds=3))
    server.add_agent(sweep, host="sweep-agent-1-8e41d2c0aa-q9z4m", heartbeat_at=now - timedelta(minutes=20))
    return Seeded(sweep, low.name if goal == "minimize" else high.name)


def write_pulumi_stub(
    bin_dir: Path, stacks: dict[str, dict[str, Any]], calls: Path, *, selected: str | None = None
) -> None:
    """A `pulumi` on `bin_dir` that knows `stacks`: name -> {"outputs": {...}, "config":
    {key: value or {"secret": True}}}; without --stack it answers for `selected`."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    data = bin_dir / "stacks.json"
    data.write_text(json.dumps({"stacks": stacks, "selected": selected}))
    stub = bin_dir / "pulumi"
    stub.write_text(
        f"#!{sys.executable}\n"
        + f"""
import json, os, sys
known = json.load(open({str(data)!r}))
args = sys.argv[1:]
with open({str(calls)!r}, "a") as log:
    log.write(json.dumps({{"args": args, "key_in_env": "WANDB_API_KEY" in os.environ}}) + "\\n")
stack = next((a.split("=", 1)[1] for a in args if a.startswith("--stack=")), known["selected"])
if stack is None:
    sys.stderr.write("error: no stack selected; please use `pulumi stack select` to choose one\\n")
    sys.exit(6)
if stack not in known["stacks"]:
    sys.stderr.write(f"error: no stack named '{{stack}}' found\\n")
    sys.exit(6)
found = known["stacks"][stack]
if args[:2] == ["stack", "output"] and "--json" in args:
    print(json.dumps(found["outputs"], indent=2))
elif args[:1] == ["config"] and "--json" in args:
    listed = {{}}
    for key, value in found["config"].items():
        if isinstance(value, dict) and value.get("secret"):
            listed[key] = {{"secret": True}}
        else:
            listed[key] = {{"value": value, "secret": False}}
    print(json.dumps(listed, indent=2))
else:
    sys.stderr.write("error: the stub knows only stack output --json and config --json\\n")
    sys.exit(1)
"""
    )
    stub.chmod(0o755)


def stack_of(server: WandbServer, seeded: Seeded, **config: Any) -> dict[str, Any]:
    """A deployed stack whose outputs name `seeded`'s sweep on `server`."""
    path = seeded.path
    return {
        "outputs": {
            "sweepId": seeded.sweep.name,
            "sweepPath": path,
            # The app's URL, which the deploy derived: not the API server's.
            "sweepUrl": f"https://app.example.com/{seeded.sweep.entity}/{seeded.sweep.project}/sweeps/{seeded.sweep.name}",
            "namespace": "wandb-sweeps-dev",
            "jobNames": ["sweep-agent-0-3f2a9c1b07"],
            "agentCommand": f"wandb agent {path}",
        },
        "config": {
            "wandb-sweeps:project": seeded.sweep.project,
            "wandb-sweeps:image": "ghcr.io/example/trainer:0.1.0",
            "wandb-sweeps:baseUrl": server.base_url,
            "wandb-sweeps:wandbApiKey": {"secret": True},
            **{f"wandb-sweeps:{key}": value for key, value in config.items()},
        },
    }


def calls_of(calls: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def status_command(
    *args: str,
    key: str | None = DEFAULT_KEY,
    path_prefix: Path | None = None,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m wandb_sweeps status ARGS` in a process of its own."""
    environ = {k: v for k, v in os.environ.items() if k not in ("WANDB_API_KEY", "WANDB_BASE_URL")}
    if key is not None:
        environ["WANDB_API_KEY"] = key
    if path_prefix is not None:
        environ["PATH"] = f"{path_prefix}{os.pathsep}{environ.get('PATH', '')}"
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "wandb_sweeps", "status", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )

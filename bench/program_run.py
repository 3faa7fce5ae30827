"""Run one Pulumi program under Pulumi's mock engine, in this (fresh) process, and report.

    python bench/program_run.py PROGRAM.py CONFIG.json [--record REGISTRATIONS.json]

What `pulumi up` asks of the program process, and nothing else: the mocks hand
every resource its inputs back (and, for the sweep, the outputs its provider
would return), so what is measured is the program itself: imports, config
loading, validation, building specs, registering. This file imports nothing of
the project's, so the floor program (which registers the same resources with
plain pulumi and pulumi_kubernetes) pays exactly the same harness.

Prints one JSON line: the peak resident memory and the modules the process
imported. The caller times the whole process (interpreter start included).
"""

from __future__ import annotations

import json
import os
import resource
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

SWEEP_OUTPUTS = {
    "sweep_id": "mock1234",
    "sweep_entity": "mock-entity",
    "sweep_project": "proj",
    "sweep_base_url": "https://api.wandb.ai",
    "sweep_path": "mock-entity/proj/mock1234",
    "sweep_url": "https://wandb.ai/mock-entity/proj/sweeps/mock1234",
    "sweep_state": "PENDING",
}


class Mocks(pulumi.runtime.Mocks):
    def __init__(self, record: list[dict[str, Any]] | None) -> None:
        self.record = record

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if self.record is not None:
            self.record.append(
                {"type": args.typ, "name": args.name, "custom": args.custom, "inputs": args.inputs}
            )
        state = dict(args.inputs)
        if args.typ.startswith("pulumi-python:dynamic"):
            state.update(SWEEP_OUTPUTS)
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def main(argv: list[str]) -> int:
    program, config_file = Path(argv[0]).resolve(), Path(argv[1])
    record_file = Path(argv[3]) if len(argv) > 3 and argv[2] == "--record" else None
    request = json.loads(config_file.read_text())
    record: list[dict[str, Any]] | None = [] if record_file else None
    pulumi.runtime.set_mocks(Mocks(record), project=request["project"], stack=request["stack"], preview=False)
    pulumi.runtime.set_all_config(request["config"], request.get("secret_keys", []))
    os.chdir(program.parent)
    sys.path.insert(0, str(program.parent))
    _sync_await(run_pulumi_func(lambda: runpy.run_path(str(program), run_name="__main__")))
    if record_file is not None:
        record_file.write_text(json.dumps(record, default=repr))
    print(
        json.dumps(
            {
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "modules": sorted(sys.modules),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

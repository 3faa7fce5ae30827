"""Run one Pulumi program under Pulumi's mock engine, in this (fresh) process, and report.

    python bench/program_run.py PROGRAM.py CONFIG.json [--record REGISTRATIONS.json] [--preview]

What `pulumi up` asks of the program process, and nothing else: the mocks hand
every resource its inputs back (and, for the sweep, the outputs its provider
would return), so what is measured is the program itself: imports, config
loading, validation, building specs, registering. This file imports nothing of
the project's, so the floor program (which registers the same resources with
plain pulumi and pulumi_kubernetes) pays exactly the same harness.

`--preview` runs it as the preview of a first `pulumi up`: the sweep does not exist
yet, so its outputs are unknown (the engine previews a create with the checked inputs
as the only outputs), and so is everything built from them (the Jobs' names, env).

Prints one JSON line: the peak resident memory, the modules the process imported, and
`last_registration`, the `time.monotonic()` (system-wide on Linux, so the caller's clock)
at which the program's last resource reached the engine. The caller times the process
from its start (interpreter start included) to then, and to its exit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import runpy
import sys
import time
from pathlib import Path
from typing import Any

import pulumi
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN
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
    def __init__(self, record: list[dict[str, Any]] | None, preview: bool) -> None:
        self.record = record
        self.preview = preview
        self.last_registration = 0.0
        self.first_registration = 0.0
        self.program_returned = 0.0

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.last_registration = time.monotonic()
        self.first_registration = self.first_registration or self.last_registration
        if self.record is not None:
            self.record.append(
                {"type": args.typ, "name": args.name, "custom": args.custom, "inputs": args.inputs}
            )
        state = dict(args.inputs)
        if args.typ.startswith("pulumi-python:dynamic"):
            if self.preview:
                return "", state  # a create in a preview: no id, no outputs beyond the inputs
            state.update(SWEEP_OUTPUTS)
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def peak_memory_mb() -> float:
    """This program's peak resident memory. On Linux `VmHWM`, which starts anew at exec:
    `ru_maxrss` keeps the high-water mark the process had before it, i.e. the forked copy
    of the bench's own process (about 150 MB once it has read a 1,000-pod record), and
    so hid every smaller program behind that figure."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("program", type=Path)
    parser.add_argument("config", type=Path)
    parser.add_argument("--record", type=Path)
    parser.add_argument("--preview", action="store_true")
    options = parser.parse_args(argv)
    program, record_file = options.program.resolve(), options.record and options.record.resolve()
    request = json.loads(options.config.read_text())
    record: list[dict[str, Any]] | None = [] if record_file else None
    mocks = Mocks(record, options.preview)
    pulumi.runtime.set_mocks(
        mocks, project=request["project"], stack=request["stack"], preview=options.preview
    )
    pulumi.runtime.set_all_config(request["config"], request.get("secret_keys", []))
    os.chdir(program.parent)
    sys.path.insert(0, str(program.parent))
    def program_body() -> None:
        runpy.run_path(str(program), run_name="__main__")
        mocks.program_returned = time.monotonic()

    _sync_await(run_pulumi_func(program_body))
    settled = time.monotonic()
    if record_file is not None:
        # A preview's unknowns as the engine's own sentinel: the floor registers them as such.
        record_file.write_text(
            json.dumps(record, default=lambda v: UNKNOWN if isinstance(v, Unknown) else repr(v))
        )
    print(
        json.dumps(
            {
                "max_rss_mb": peak_memory_mb(),
                "last_registration": mocks.last_registration,
                "first_registration": mocks.first_registration,
                "program_returned": mocks.program_returned,
                "settled": settled,
                "modules": sorted(sys.modules),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

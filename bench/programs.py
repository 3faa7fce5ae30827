"""The programs the bench runs, each in a fresh process, and their floors.

A floor program imports pulumi and the same pulumi_kubernetes modules and registers
the very resources another program registered, with the same inputs, as plain values:
what any program deploying those objects pays. `floor_of` records a program's
registrations (in the same mode, update or preview) and generates its floor.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "bench" / "program_run.py"
KEY = "local-" + "k" * 40
if str(ROOT / "tests" / "harness") not in sys.path:
    sys.path[:0] = [str(ROOT / "tests" / "harness")]  # pulumi_harness, wandb_server, ...


@dataclass
class Figure:
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def spread(self, unit: str = "", scale: float = 1.0, digits: int = 2) -> str:
        low, high = min(self.values) * scale, max(self.values) * scale
        return f"{self.median * scale:.{digits}f}{unit} ({low:.{digits}f}-{high:.{digits}f})"


def stack_request(stack: str, **overrides: Any) -> dict[str, Any]:
    from pulumi_harness import cli_config

    values = cli_config(stack, wandbApiKey=KEY, **overrides)
    return {
        "project": "wandb-sweeps",
        "stack": stack,
        "config": {f"wandb-sweeps:{k}": v for k, v in values.items()},
        "secret_keys": ["wandb-sweeps:wandbApiKey"],
    }


def sweeps_program(count: int, pods: int = 1) -> str:
    """A user's program with `count` sweeps in one namespace (the library use)."""
    return f"""
import pulumi
from wandb_sweeps import WandbSweep

for index in range({count}):
    WandbSweep(f"model-{{index}}", {{
        "project": "bench", "image": "ghcr.io/acme/trainer:1.0",
        "sweep_config": "sweep.yaml", "wandb_api_key": {KEY!r},
        "namespace": "bench", "create_namespace": index == 0, "pods": {pods}, "gpus_per_pod": 1,
    }})
"""


def floor_program(registrations: list[dict[str, Any]]) -> str:
    """The same resources with the same inputs, registered with pulumi and
    pulumi_kubernetes alone: what any program that deploys them must pay."""
    lines = [
        "import json",
        "import pulumi",
        "import pulumi_kubernetes as k8s",
        "SIG = '4dabf18193072939515e22adb298388d'",
        "def value(v):",
        "    if isinstance(v, dict):",
        "        if SIG in v:",
        "            return pulumi.Output.secret(value(v['value']))",
        "        return {k: value(x) for k, x in v.items()}",
        "    if isinstance(v, list):",
        "        return [value(x) for x in v]",
        "    return v",
        f"REGISTRATIONS = json.loads({json.dumps(json.dumps(registrations))})",
        "parents = {}",
        "for r in REGISTRATIONS:",
        "    inputs = value(r['inputs'])",
        "    owners = [n for n in parents if r['name'].startswith(n + '-')]",
        "    parent = parents[max(owners, key=len)] if owners else None",
        "    opts = pulumi.ResourceOptions(parent=parent)",
        "    kind = r['type']",
        "    if not r['custom']:",
        "        parents[r['name']] = pulumi.ComponentResource(kind, r['name'], None, None)",
        "        continue",
        "    for drop in ('apiVersion', 'kind'):",
        "        inputs.pop(drop, None)",
        "    if kind == 'kubernetes:core/v1:Namespace':",
        "        k8s.core.v1.Namespace(r['name'], **inputs, opts=opts)",
        "    elif kind == 'kubernetes:core/v1:Secret':",
        "        k8s.core.v1.Secret(r['name'], metadata=inputs['metadata'], type=inputs.get('type'),",
        "                           string_data=inputs.get('stringData'), opts=opts)",
        "    elif kind == 'kubernetes:batch/v1:Job':",
        "        k8s.batch.v1.Job(r['name'], metadata=inputs['metadata'], spec=inputs['spec'], opts=opts)",
        "    else:",
        "        pulumi.CustomResource(kind, r['name'], inputs, opts)",
    ]
    return "\n".join(lines) + "\n"


def run_program(
    program: Path, request: dict[str, Any], workdir: Path, record: Path | None = None, preview: bool = False
) -> dict[str, float]:
    """One run in a fresh process: `seconds` to its exit, `evaluation` to its last
    registration (both from the process's start, interpreter start included), and
    `max_rss_mb`, its peak memory, and `cpu`, its CPU time (user + system)."""
    request_file = workdir / f"request-{time.monotonic_ns()}.json"
    request_file.write_text(json.dumps(request))
    command = [sys.executable, str(RUNNER), str(program), str(request_file)]
    if record is not None:
        command += ["--record", str(record)]
    if preview:
        command.append("--preview")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WANDB_", "PULUMI_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    # Bytecode cached as on a user's machine (pip compiles what it installs; Python caches the
    # project's own modules at their first import), in the bench's own directory: a shell that
    # sets PYTHONDONTWRITEBYTECODE would otherwise make every run compile wandb_sweeps anew while
    # pulumi's bytecode, compiled at install, is read. The untimed first runs fill the cache.
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=workdir)
    seconds = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if result.returncode != 0:
        raise RuntimeError(f"{program} failed:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "seconds": seconds,
        "evaluation": report["last_registration"] - started,
        "max_rss_mb": report["max_rss_mb"],
        "cpu": cpu,
    }


@dataclass
class Case:
    name: str
    program: Path
    request: dict[str, Any]
    preview: bool = False
    """Run as the preview of a first `pulumi up` (program_run.py `--preview`)."""


@dataclass
class Runs:
    """A case's runs: wall time to the process's exit, time to its last registration, peak
    memory, and the CPU time of the whole process (user + system: what other work on the
    machine does not inflate)."""

    seconds: Figure
    evaluation: Figure
    memory: Figure
    cpu: Figure


def measure(case: Case, runs: int, workdir: Path) -> tuple[Figure, Figure]:
    times, memory = [], []
    for _ in range(runs):
        result = run_program(case.program, case.request, workdir, preview=case.preview)
        times.append(result["seconds"])
        memory.append(result["max_rss_mb"])
    return Figure(times), Figure(memory)


def side_by_side(case: Case, floor: Case, runs: int, workdir: Path) -> tuple[Runs, Runs]:
    """`case` and `floor`, run alternately after one untimed run of each (so both meet
    warm caches, and a busy spell on the machine hits both alike)."""
    for each in (case, floor):
        run_program(each.program, each.request, workdir, preview=each.preview)
    results: dict[str, list[dict[str, float]]] = {case.name: [], floor.name: []}
    for index in range(runs):
        pair = (case, floor) if index % 2 == 0 else (floor, case)
        for each in pair:
            results[each.name].append(run_program(each.program, each.request, workdir, preview=each.preview))

    def figures(name: str) -> Runs:
        found = results[name]
        return Runs(*(Figure([r[key] for r in found]) for key in ("seconds", "evaluation", "max_rss_mb", "cpu")))

    return figures(case.name), figures(floor.name)


def floor_of(case: Case, workdir: Path) -> Case:
    """The floor of `case`, generated from the registrations of one run of it, in its mode."""
    record = workdir / f"{case.name}-registrations.json"
    run_program(case.program, case.request, workdir, record=record, preview=case.preview)
    floor = workdir / f"{case.name}-floor.py"
    floor.write_text(floor_program(json.loads(record.read_text())))
    return Case(f"{case.name} (floor)", floor, case.request, case.preview)

"""`venv/bin/python -m bench [--runs N] [--quick]`: what a deploy costs, measured.

Prints one Markdown table (docs/performance.md holds a copy of it):

- **program vs floor**: wall time of the program process under the mock engine
  (`bench/program_run.py`: interpreter start, imports, config, validation,
  specs, registrations), against a generated floor program that imports pulumi
  and the same pulumi_kubernetes modules and registers the very same resources
  with the same inputs, and nothing else. For this repository's dev stack, the
  dev stack with 100 pods, and a program with 10 sweeps. Goal: ratio <= 1.2.
- **growth**: program time and peak memory at 1, 10, 100 and 1,000 pods, and at
  1 and 10 sweeps, with the slope of each step. Goal: at most linear.
- **launcher**: from the container's start (the launcher process) to every
  `wandb agent` process started, with a stub `wandb`, for 1 and 8 agents. Goal: <= 1 s.
- **W&B requests** per lifecycle step of `pulumi up` (preview + update) and
  `pulumi destroy`, counted by the test W&B server while the real program (engine
  model) and the real sweep providers run. Goals: first up <= 3 with `entity` set,
  <= 4 without; no-op and scale-only up 2 (the refresh before the preview and before the
  update each read the sweep once: Pulumi.yaml `options: refresh: always`); a config
  change (a create and a destroy) <= 6 + 2; destroy <= 2 + 1.

Every timed figure is the median of `--runs` runs (default 5) with its spread
(min-max); a program and its floor run alternately, after one untimed run of each. Not part of `.ci/run`: a smoke test runs `--quick`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "bench" / "program_run.py"
KEY = "local-" + "k" * 40
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


# --- programs -----------------------------------------------------------------------


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
    program: Path, request: dict[str, Any], workdir: Path, record: Path | None = None
) -> dict[str, Any]:
    request_file = workdir / f"request-{time.monotonic_ns()}.json"
    request_file.write_text(json.dumps(request))
    command = [sys.executable, str(RUNNER), str(program), str(request_file)]
    if record is not None:
        command += ["--record", str(record)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "PULUMI_"))}
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=workdir)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{program} failed:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return {"seconds": seconds, "max_rss_mb": report["max_rss_mb"]}


@dataclass
class Case:
    name: str
    program: Path
    request: dict[str, Any]


def measure(case: Case, runs: int, workdir: Path) -> tuple[Figure, Figure]:
    times, memory = [], []
    for _ in range(runs):
        result = run_program(case.program, case.request, workdir)
        times.append(result["seconds"])
        memory.append(result["max_rss_mb"])
    return Figure(times), Figure(memory)


def side_by_side(case: Case, floor: Case, runs: int, workdir: Path) -> tuple[Figure, Figure]:
    """Wall times of `case` and `floor`, run alternately after one untimed run of each
    (so both meet warm caches, and a busy spell on the machine hits both alike)."""
    run_program(case.program, case.request, workdir)
    run_program(floor.program, floor.request, workdir)
    times: dict[str, list[float]] = {case.name: [], floor.name: []}
    for index in range(runs):
        pair = (case, floor) if index % 2 == 0 else (floor, case)
        for each in pair:
            times[each.name].append(run_program(each.program, each.request, workdir)["seconds"])
    return Figure(times[case.name]), Figure(times[floor.name])


def floor_of(case: Case, workdir: Path) -> Case:
    record = workdir / f"{case.name}-registrations.json"
    run_program(case.program, case.request, workdir, record=record)
    floor = workdir / f"{case.name}-floor.py"
    floor.write_text(floor_program(json.loads(record.read_text())))
    return Case(f"{case.name} (floor)", floor, case.request)


def cases(workdir: Path, quick: bool) -> dict[str, Case]:
    main = ROOT / "__main__.py"
    found = {"dev stack": Case("dev", main, stack_request("dev"))}
    if not quick:
        found["dev, 100 pods"] = Case("pods-100", main, stack_request("dev", pods="100"))
        ten = workdir / "ten_sweeps.py"
        ten.write_text(sweeps_program(10))
        found["10 sweeps"] = Case("sweeps-10", ten, {"project": "bench", "stack": "dev", "config": {}})
    return found


def growth(workdir: Path, runs: int, quick: bool) -> list[tuple[str, Figure, Figure]]:
    main = ROOT / "__main__.py"
    pods = [1, 10] if quick else [1, 10, 100, 1000]
    rows = []
    for count in pods:
        case = Case(f"pods-{count}", main, stack_request("dev", pods=str(count)))
        rows.append((f"{count} pods", *measure(case, runs, workdir)))
    if not quick:
        for count in (1, 10):
            program = workdir / f"sweeps_{count}.py"
            program.write_text(sweeps_program(count))
            case = Case(f"sweeps-{count}", program, {"project": "bench", "stack": "dev", "config": {}})
            rows.append((f"{count} sweeps", *measure(case, runs, workdir)))
    return rows


# --- the launcher ---------------------------------------------------------------------

STUB = """#!/bin/sh
date +%s.%N > "$STUB_DIR/tmp.$$" && mv "$STUB_DIR/tmp.$$" "$STUB_DIR/started.$$"
trap 'exit 0' TERM
while :; do sleep 1 & wait $!; done
"""


def launcher_start(agents: int, runs: int, workdir: Path) -> Figure:
    """Seconds from the launcher's start to the last of `agents` stub agents started."""
    from wandb_sweeps.kubernetes.agent_job import LAUNCHER_SCRIPT

    values = []
    for run in range(runs):
        directory = workdir / f"launcher-{agents}-{run}"
        (directory / "bin").mkdir(parents=True)
        (directory / "bin" / "wandb").write_text(STUB)
        (directory / "bin" / "wandb").chmod(0o755)
        env = {
            "PATH": f"{directory / 'bin'}:/usr/bin:/bin",
            "STUB_DIR": str(directory),
            "SWEEP_PATH": "team/proj/abcd1234",
            "AGENTS_PER_POD": str(agents),
            "WANDB_DIR": str(directory),
            "HOME": str(directory),
        }
        started = time.time()
        process = subprocess.Popen(
            ["/bin/sh", "-c", LAUNCHER_SCRIPT],
            env=env,
            cwd=directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while len(list(directory.glob("started.*"))) < agents and time.monotonic() < deadline:
            time.sleep(0.005)
        process.terminate()
        process.wait(timeout=30)
        stamps = [float(p.read_text()) for p in directory.glob("started.*")]
        assert len(stamps) == agents, f"{len(stamps)} of {agents} agents started"
        values.append(max(stamps) - started)
    return Figure(values)


# --- W&B requests ---------------------------------------------------------------------


def wandb_requests(runs: int, quick: bool) -> dict[str, Figure]:
    """Requests per lifecycle step, the real program and providers against the test server."""
    counts: dict[str, list[float]] = {}
    for _ in range(1 if quick else runs):
        for step, count in _one_lifecycle().items():
            counts.setdefault(step, []).append(count)
    return {step: Figure(values) for step, values in counts.items()}


def _one_lifecycle() -> dict[str, int]:
    from engine_model import ServerWandb, deploy, destroy
    from pulumi_harness import cli_config
    from wandb_server import DEFAULT_KEY, WandbServer

    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as scratch, WandbServer() as server:
        saved = dict(os.environ)
        os.environ.update(
            HOME=scratch,
            WANDB_CONFIG_DIR=f"{scratch}/config",
            WANDB_DIR=f"{scratch}/dir",
            WANDB_CACHE_DIR=f"{scratch}/cache",
            WANDB_BASE_URL=server.base_url,
        )
        try:
            # The example sweep with lr max 0.05: inside the project, as a sweep config must be.
            new_sweep = ROOT / "tests" / "data" / "sweep-v2.yaml"
            state: dict[str, Any] = {}

            def up(step: str, **overrides: str) -> None:
                nonlocal state
                config = cli_config("dev", wandbApiKey=DEFAULT_KEY, **overrides)
                before = len(server.requests)
                deploy(
                    "dev", config, state, secret_keys=("wandbApiKey",), backend=ServerWandb(), preview=True
                )
                result = deploy("dev", config, state, secret_keys=("wandbApiKey",), backend=ServerWandb())
                counts[step] = len(server.requests) - before
                state = result.state

            up("first up (entity unset)")
            up("no-op up")
            up("scale-only up", pods="3")
            up("config change (new sweep file)", pods="3", sweepConfig=str(new_sweep))
            before = len(server.requests)
            destroy(state, ServerWandb())
            counts["destroy"] = len(server.requests) - before
            state = {}
            up("first up (entity set)", entity="alice")
        finally:
            os.environ.clear()
            os.environ.update(saved)
            _teardown_wandb()
    return counts


def _teardown_wandb() -> None:
    if "wandb" in sys.modules:
        import wandb

        wandb.teardown()
    os.environ.pop("WANDB_SERVICE", None)


# --- the table ------------------------------------------------------------------------


# The goal of each lifecycle step: (as printed, the check).
GOALS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "first up (entity unset)": ("<= 4", lambda n: n <= 4),
    "first up (entity set)": ("<= 3", lambda n: n <= 3),
    # Pulumi.yaml refreshes before every preview, up and destroy (options.refresh: always,
    # for Jobs the TTL controller removed): each refresh reads the sweep once.
    "no-op up": ("2 (refreshes)", lambda n: n == 2),
    "scale-only up": ("2 (refreshes)", lambda n: n == 2),
    # A new sweep, then the old one stopped: a create (entity unset here) and a destroy.
    "config change (new sweep file)": ("<= 4 + 2 + 2", lambda n: n <= 8),
    "destroy": ("<= 2 + 1", lambda n: n <= 3),
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per timed figure (default 5)")
    parser.add_argument("--quick", action="store_true", help="the smallest case, one run each (smoke test)")
    options = parser.parse_args(argv)
    runs = 1 if options.quick else max(5, options.runs)
    rows: list[tuple[str, str, str, str]] = []
    failed = []

    def row(what: str, figure: str, goal: str, ok: bool) -> None:
        rows.append((what, figure, goal, "yes" if ok else "NO"))
        if not ok:
            failed.append(what)

    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        # The sweeps programs run from here, their project folder; a sweep config must be in it.
        shutil.copy(ROOT / "sweep.yaml", workdir / "sweep.yaml")
        for label, case in cases(workdir, options.quick).items():
            program_time, floor_time = side_by_side(case, floor_of(case, workdir), runs, workdir)
            ratio = program_time.median / floor_time.median
            row(
                f"program vs floor, {label}",
                f"{program_time.spread(' s')} vs {floor_time.spread(' s')}: ratio {ratio:.2f}",
                "ratio <= 1.2",
                ratio <= 1.2,
            )
        previous = None
        for label, seconds, memory in growth(workdir, runs, options.quick):
            slope = ""
            if previous is not None and previous[0].split()[1] == label.split()[1]:
                units = int(label.split()[0]) - int(previous[0].split()[0])
                per_time = (seconds.median - previous[1].median) / units * 1000
                per_memory = (memory.median - previous[2].median) / units
                slope = f"; +{per_time:.2f} ms and +{per_memory:.2f} MB per {label.split()[1][:-1]}"
            row(
                f"growth, {label}",
                f"{seconds.spread(' s')}, {memory.spread(' MB', digits=0)}{slope}",
                "linear",
                True,
            )
            previous = (label, seconds, memory)
        for agents in (1,) if options.quick else (1, 8):
            figure = launcher_start(agents, runs, workdir)
            row(
                f"launcher: container start to {agents} agent(s) started",
                figure.spread(" s", digits=3),
                "<= 1 s",
                figure.median <= 1.0,
            )
    for step, figure in wandb_requests(runs, options.quick).items():
        goal, met = GOALS[step]
        row(f"W&B requests, {step}", f"{figure.median:.0f}", goal, met(figure.median))
    _check_linear(rows, failed)
    print(f"wandb-sweeps bench, {time.strftime('%Y-%m-%d')}, {runs} run(s) per figure: median (min-max)\n")
    print("| figure | measured | goal | met |")
    print("|---|---|---|---|")
    for what, figure, goal, ok in rows:
        print(f"| {what} | {figure} | {goal} | {ok} |")
    if failed:
        print(f"\nnot met: {', '.join(failed)}")
    return 1 if failed else 0


def _check_linear(rows: list[tuple[str, str, str, str]], failed: list[str]) -> None:
    """Growth is at most linear when no step's per-pod cost is far above the previous one's
    (3x allows for noise at small steps, where the fixed costs dominate)."""
    slopes = [
        (what, float(text.split("+")[1].split(" ms")[0]))
        for what, text, _, _ in rows
        if what.startswith("growth") and "pods" in what and "+" in text
    ]
    for (_, first), (what, later) in itertools.pairwise(slopes):
        if later > 3 * max(first, 0.05):
            failed.append(f"{what} (superlinear)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

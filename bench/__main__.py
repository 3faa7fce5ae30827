"""`venv/bin/python -m bench [--runs N] [--quick]`: what a deploy costs, measured.

Prints one Markdown table (docs/performance.md holds a copy of it):

- **program vs floor**: wall time of the program process under the mock engine
  (`bench/program_run.py`: interpreter start, imports, config, validation,
  specs, registrations), against a generated floor program that imports pulumi
  and the same pulumi_kubernetes modules and registers the very same resources
  with the same inputs, and nothing else. For this repository's dev stack, the
  dev stack with 100 pods, and a program with 10 sweeps. Goal: ratio <= 1.2.
- **evaluation vs floor**: program evaluation, from the interpreter's start to the last
  resource registered (`bench/program_run.py` reports when that was), against the
  floor generated from the same run's registrations; for the dev stack and for
  `pods: 1000`, each in an update and in the preview of a first up (the sweep's
  outputs unknown), with the ratio of the whole runs' CPU time beside it (which other
  work on a shared machine inflates less); and peak memory at `pods: 1000`. Goal:
  ratio <= 1.1 (issue 21).
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
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.programs import ROOT, Case, Figure, floor_of, measure, side_by_side, stack_request, sweeps_program

EVALUATION_GOAL = 1.1
"""Program evaluation and peak memory at most this times the floor's (issue 21)."""


def cases(workdir: Path, quick: bool) -> dict[str, Case]:
    main = ROOT / "__main__.py"
    found = {"dev stack": Case("dev", main, stack_request("dev"))}
    if not quick:
        found["dev, 100 pods"] = Case("pods-100", main, stack_request("dev", pods="100"))
        ten = workdir / "ten_sweeps.py"
        ten.write_text(sweeps_program(10))
        found["10 sweeps"] = Case("sweeps-10", ten, {"project": "bench", "stack": "dev", "config": {}})
    return found


def evaluation_cases(quick: bool) -> dict[str, Case]:
    """The dev stack and `pods: 1000` (the upper bound of `pods`), as `pulumi up` runs the
    program: in its update and in its preview (of a first up: the sweep's outputs unknown)."""
    main = ROOT / "__main__.py"
    found = {}
    for label, pods in [("dev stack", "1")] + ([] if quick else [("1000 pods", "1000")]):
        for mode in ("update", "preview"):
            name = f"eval-{pods}-{mode}"
            found[f"{label}, {mode}"] = Case(name, main, stack_request("dev", pods=pods), mode == "preview")
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
            ours, floor = side_by_side(case, floor_of(case, workdir), runs, workdir)
            ratio = ours.seconds.median / floor.seconds.median
            row(
                f"program vs floor, {label}",
                f"{ours.seconds.spread(' s')} vs {floor.seconds.spread(' s')}: ratio {ratio:.2f}",
                "ratio <= 1.2",
                ratio <= 1.2,
            )
        goal = f"ratio <= {EVALUATION_GOAL}"
        for label, case in evaluation_cases(options.quick).items():
            ours, floor = side_by_side(case, floor_of(case, workdir), runs, workdir)
            ratio = ours.evaluation.median / floor.evaluation.median
            row(
                f"evaluation vs floor, {label}",
                f"{ours.evaluation.spread(' s')} vs {floor.evaluation.spread(' s')}: ratio {ratio:.2f} "
                f"(CPU time of the whole run: {ours.cpu.median / floor.cpu.median:.2f})",
                goal,
                ratio <= EVALUATION_GOAL,
            )
            if not label.startswith("dev stack"):
                ratio = ours.memory.median / floor.memory.median
                row(
                    f"peak memory vs floor, {label}",
                    f"{ours.memory.spread(' MB', digits=0)} vs {floor.memory.spread(' MB', digits=0)}: "
                    f"ratio {ratio:.2f}",
                    goal,
                    ratio <= EVALUATION_GOAL,
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
    """Growth is at most linear when no step's per-pod cost is far above the mean per-pod
    cost of all the pods before it (3x allows for noise). The mean, not the previous step
    alone: a step of 9 or 90 pods moves a run of about a second by less than its own spread,
    so its slope alone (even a negative one) says little; a mean over fewer than 50 pods is
    not taken at all. A mean under 1 ms counts as 1 ms."""
    points = [
        (int(what.split()[1]), float(text.split(" s ")[0]))
        for what, text, _, _ in rows
        if what.startswith("growth") and what.endswith(" pods")
    ]
    for index in range(2, len(points)):
        (first, first_s), (start, start_s), (end, end_s) = points[0], points[index - 1], points[index]
        if start - first < 50:
            continue  # too few pods before it for a mean that is more than noise
        mean = (start_s - first_s) / (start - first) * 1000
        later = (end_s - start_s) / (end - start) * 1000
        if later > 3 * max(mean, 1.0):
            failed.append(f"growth, {end} pods (superlinear)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The agent launcher with the REAL `wandb agent` (wandb 0.31) against tests/wandb_server.py.

test_agent_launcher.py checks the launcher's own logic with a stub `wandb`; this
module checks that the same script, byte for byte what the pods run
(`wandb_sweeps.kubernetes.agent_job.LAUNCHER_SCRIPT` under `/bin/sh -c`), works with the real
CLI: the agents register, receive runs, forward SIGTERM to them, and exit when
their run count is reached or the sweep is finished; and that the launcher's
judgement of an agent that exits 0 (done, or gave up early?) is right with the
real CLI and the real state query (`wandb.Api().sweep(path).state`, run with
the Python named in the first line of the `wandb` script, here the test's own).

The training program is `probe.py`, written into the test's directory (the
sweep config's `program`; the agents run it as `python probe.py --lr=... ...`
from the launcher's working directory). It records its argv, WANDB_RUN_ID,
WANDB_SWEEP_ID and CUDA_VISIBLE_DEVICES in records/<run id>.json, then exits 0;
with PROBE_MODE=fail (or when CUDA_VISIBLE_DEVICES is PROBE_FAIL_ON_CUDA) it
exits 1; with PROBE_MODE=wait-for-term it waits for SIGTERM (at most
PROBE_MAX_SECONDS), takes PROBE_TERM_DELAYS[CUDA_VISIBLE_DEVICES] seconds to
shut down, records that it got SIGTERM and exits 0.

What the real agent sends (wandb 0.31.0): `Viewer` (the login check),
`SweepWithRuns` (the sweep's config, for its `command`), `CreateAgent`, then
every `Agent.POLL_INTERVAL` = 5 s an `agentHeartbeat` (`Heartbeat`, with
`runState` = {run id: true} for its running runs), each after a new `Viewer`
once a run has finished (the agent builds a new `wandb.Api()`). The first
heartbeat comes about 5 s after registration and a finished run is noticed up
to 5 s late, so each scenario takes 7-13 s; the always-failing one about 20 s.
The state query sends `Viewer`, `GetDefaultEntity` and `GetSweep`
(wandb/apis/public/sweeps.py, `_get_sweep`), which the server already answers.

W&B behaviour these tests rely on, and where it comes from:
- `wandb agent` exits 0 when it gives up on failing runs: 3 failed runs within
  60 s of its start (`Agent.is_flapping`), or WANDB_AGENT_MAX_INITIAL_FAILURES
  (default 5) failed runs and no more successes (`Agent.is_failing`); both stop
  `Agent._run_loop`, and `Agent.run` / the `agent` CLI command then return
  normally (wandb/wandb_agent.py, wandb/cli/cli.py). Reproduced here by the real
  CLI itself, not by the server.
- Before starting each run the agent writes
  $WANDB_DIR/wandb/sweep-<sweep id>/config-<run id>.yaml (`Agent._command_run`);
  the launcher counts these per agent for RUNS_PER_AGENT. Also the real CLI.
- Imitated by the server: failed runs do not change the sweep's state, which
  stays RUNNING while the search has points left ("sweep status controls whether
  new runs are created", docs.wandb.ai/models/runs/run-states, "Run states in
  sweeps"); a grid whose points are all handed out becomes FINISHED and idle
  agents get `exit` (see tests/wandb_server.py); `wandb sweep --stop` and
  `--cancel` set FINISHED and CANCELED (wandb/cli/cli.py, `sweep`); `createAgent` on a
  sweep that is not running is refused with HTTP 400 "Sweep E/P/ID is not running"
  (wandb/wandb#12456, commit 7eb0d531fc), after which the real CLI exits 1; PAUSED is
  refused or accepted as the server's `paused_agents` says (unverified which).

Measured (this machine): SIGTERM to launcher exit 0.2-0.3 s (runs that stop at
once); an always-failing trainer ends the launcher (status 4) about 22 s after
it started; the module takes about 90 s.

test_after_sigterm_the_launcher_waits_for_every_agent pins down a launcher bug
found here: forward() reused the wait loop's `$pid`, so after a SIGTERM the
launcher stopped waiting for every agent but the last and exited (as PID 1,
killing the others' runs mid-shutdown).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from docs_pages import marked_block, page
from wandb_server import DEFAULT_KEY, SweepRecord, WandbServer

from wandb_sweeps.kubernetes.agent_job import LAUNCHER_SCRIPT

LAUNCHER_SHELL = os.environ.get("LAUNCHER_SHELL", "/bin/sh").split()
"""The shell the launcher runs under: /bin/sh as in pods (dash here), or e.g.
LAUNCHER_SHELL="bash --posix" or "busybox sh" to check it with other shells."""

BIN_DIR = Path(sys.executable).parent
"""The test interpreter's bin directory: `python` and `wandb` for the agents."""
EXIT_TIMEOUT = 40.0
"""Seconds a launcher gets to finish on its own (the scenarios need 7-13 s)."""

PROBE = r'''"""Sweep run probe: record how the agent started us, then exit or wait for SIGTERM."""
import json
import os
import signal
import sys
import time
from pathlib import Path

records = Path(__file__).resolve().parent / "records"
run_id = os.environ.get("WANDB_RUN_ID", "no-run-id")
record = {
    "argv": sys.argv,
    "run_id": os.environ.get("WANDB_RUN_ID"),
    "sweep_id": os.environ.get("WANDB_SWEEP_ID"),
    "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
    "pid": os.getpid(),
    "sigterm": False,
}


def write():
    tmp = records / f"{run_id}.json.tmp"
    tmp.write_text(json.dumps(record))
    tmp.replace(records / f"{run_id}.json")


terminated = []
signal.signal(signal.SIGTERM, lambda *_: terminated.append(True))
write()
mode = os.environ.get("PROBE_MODE")
if record["cuda"] is not None and record["cuda"] == os.environ.get("PROBE_FAIL_ON_CUDA"):
    mode = "fail"
if mode == "fail":
    sys.exit(1)
if mode == "wait-for-term":
    deadline = time.monotonic() + float(os.environ.get("PROBE_MAX_SECONDS", "60"))
    while not terminated and time.monotonic() < deadline:
        time.sleep(0.05)
    # Shutting down may take a while (saving a checkpoint): seconds by CUDA_VISIBLE_DEVICES.
    if terminated:
        delays = json.loads(os.environ.get("PROBE_TERM_DELAYS", "{}"))
        time.sleep(float(delays.get(record["cuda"] or "", 0)))
    record["sigterm"] = bool(terminated)
    write()
    sys.exit(0 if terminated else 3)
'''

SWEEP_CONFIG = {
    "method": "grid",
    "program": "probe.py",
    "parameters": {"lr": {"values": [0.1, 0.2, 0.3, 0.4]}, "batch": {"value": 16}},
}
"""Four grid points: more than the two agents may run with RUNS_PER_AGENT=1."""


@dataclass
class Launcher:
    """A running agent launcher and where its output goes."""

    process: subprocess.Popen[bytes]
    directory: Path

    def wait(self, timeout: float = EXIT_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"launcher still running after {timeout} s\n{self.output()}")

    def output(self) -> str:
        out = (self.directory / "launcher.out").read_text(errors="replace")
        err = (self.directory / "launcher.err").read_text(errors="replace")
        return f"--- stdout ---\n{out}\n--- stderr ---\n{err}"

    def records(self) -> dict[str, dict[str, Any]]:
        """What each probe run recorded, by run id."""
        found = {}
        for path in (self.directory / "records").glob("*.json"):
            record = json.loads(path.read_text())
            found[record["run_id"]] = record
        return found


Start = Callable[..., Launcher]


@pytest.fixture
def start(server: WandbServer, tmp_path: Path) -> Iterator[Start]:
    """Start LAUNCHER_SCRIPT for a sweep in tmp_path; whatever is left is killed afterwards."""
    assert (BIN_DIR / "wandb").exists(), f"no wandb CLI next to {sys.executable}"
    (tmp_path / "probe.py").write_text(PROBE)
    (tmp_path / "records").mkdir()
    launchers: list[Launcher] = []

    def start_launcher(sweep: SweepRecord, **settings: str) -> Launcher:
        home = tmp_path / "home"
        env = {
            "PATH": f"{BIN_DIR}:/usr/bin:/bin",
            "LC_ALL": "C.UTF-8",
            "HOME": str(home),
            "WANDB_DIR": str(tmp_path / "wandb-dir"),
            "WANDB_CONFIG_DIR": str(home / ".config" / "wandb"),
            "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"),
            "SWEEP_PATH": f"{sweep.entity}/{sweep.project}/{sweep.name}",
            "WANDB_API_KEY": DEFAULT_KEY,
            "WANDB_BASE_URL": server.base_url,
            "WANDB_ENTITY": sweep.entity,
            "WANDB_PROJECT": sweep.project,
            "PROBE_MAX_SECONDS": "45",
        }
        env.update(settings)
        for directory in ("HOME", "WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR"):
            Path(env[directory]).mkdir(parents=True, exist_ok=True)
        with (tmp_path / "launcher.out").open("wb") as out, (tmp_path / "launcher.err").open("wb") as err:
            process = subprocess.Popen(
                [*LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
                env=env,
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group, to clean up after a failure
            )
        launcher = Launcher(process, tmp_path)
        launchers.append(launcher)
        return launcher

    yield start_launcher

    for launcher in launchers:
        # The whole group: agents may outlive the launcher if it exits too early.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.process.pid, signal.SIGKILL)
        launcher.process.wait(timeout=10)
        # Runs live in process groups of their own (the agent starts them so).
        for record in launcher.records().values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(record["pid"], signal.SIGKILL)


def make_sweep(server: WandbServer, state: str = "PENDING") -> SweepRecord:
    return server.create_sweep(SWEEP_CONFIG, project="proj", state=state)


def wait_for(condition: Callable[[], bool], what: str, launcher: Launcher, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if launcher.process.poll() is not None:
            pytest.fail(f"launcher exited ({launcher.process.returncode}) before {what}\n{launcher.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{launcher.output()}")
        time.sleep(0.1)


def flags(params: dict[str, Any]) -> list[str]:
    """The command line the agent builds from a run's parameters."""
    return [f"--{name}={value}" for name, value in params.items()]


def test_two_agents_each_run_one_run_and_the_launcher_exits_0(
    server: WandbServer, start: Start, tmp_path: Path
) -> None:
    sweep = make_sweep(server)
    launcher = start(sweep, AGENTS_PER_POD="2", RUNS_PER_AGENT="1")

    assert launcher.wait() == 0, launcher.output()

    agents = server.agents_of(sweep.name)
    assert len(agents) == 2, launcher.output()
    assert all((a.entity, a.project) == ("alice", "proj") for a in agents)
    # Each agent was handed one run and stopped by itself (--count 1): no "exit" needed.
    assert [[c["type"] for c in a.commands] for a in agents] == [["run"], ["run"]]
    assert [len(server.runs_of(a)) for a in agents] == [1, 1]
    assert sweep.state == "RUNNING"  # two of the four grid points are left

    records = launcher.records()
    assert sorted(records) == sorted(run.name for run in server.runs)
    for run in server.runs:
        record = records[run.name]
        assert record["argv"] == ["probe.py", *flags(run.params)]
        assert record["sweep_id"] == sweep.name
        assert record["cuda"] is None  # no GPUS_PER_POD: left alone
    assert sorted(r["argv"][1] for r in records.values()) == ["--lr=0.1", "--lr=0.2"]
    # Both agents exited 0 while the sweep runs: done because each started its one run
    # (counted in its own WANDB_DIR), which needs no question to W&B.
    output = launcher.output()
    assert "agent 0 is done: it started its 1 run(s)" in output
    assert "agent 1 is done: it started its 1 run(s)" in output
    assert "GetSweep" not in [r.operation_name for r in server.requests]
    for agent in ("agent-0", "agent-1"):
        assert (
            len(list((tmp_path / "wandb-dir" / agent / "wandb").glob(f"sweep-{sweep.name}/config-*.yaml")))
            == 1
        )


def test_sigterm_reaches_the_runs_and_the_launcher_exits_143(
    server: WandbServer, start: Start, tmp_path: Path
) -> None:
    sweep = make_sweep(server)
    launcher = start(sweep, AGENTS_PER_POD="2", PROBE_MODE="wait-for-term")
    wait_for(lambda: len(launcher.records()) == 2, "both runs to start", launcher)

    sent = time.monotonic()
    os.kill(launcher.process.pid, signal.SIGTERM)  # what Kubernetes does to the container's PID 1
    code = launcher.wait(timeout=30)
    elapsed = time.monotonic() - sent
    print(f"SIGTERM to launcher exit: {elapsed:.2f} s")

    assert code == 143, launcher.output()
    records = launcher.records()
    assert [r["sigterm"] for r in records.values()] == [True, True], launcher.output()
    assert elapsed < 10, f"took {elapsed:.1f} s\n{launcher.output()}"
    # Both agents shut down cleanly (status 0) after their runs ended.
    assert "exited with status" not in launcher.output()
    assert len(server.runs) == 2  # nobody was handed another run while stopping


def test_after_sigterm_the_launcher_waits_for_every_agent(
    server: WandbServer, start: Start, tmp_path: Path
) -> None:
    # Agent 0 (GPU 0) has a run that needs 2 s to shut down; agent 1's run stops at once.
    sweep = make_sweep(server)
    launcher = start(
        sweep,
        AGENTS_PER_POD="2",
        GPUS_PER_POD="2",
        PROBE_MODE="wait-for-term",
        PROBE_TERM_DELAYS=json.dumps({"0": 2}),
    )
    wait_for(lambda: len(launcher.records()) == 2, "both runs to start", launcher)

    sent = time.monotonic()
    os.kill(launcher.process.pid, signal.SIGTERM)
    code = launcher.wait(timeout=30)
    elapsed = time.monotonic() - sent
    print(f"SIGTERM to launcher exit, run on GPU 0 slow to stop: {elapsed:.2f} s")

    # When the launcher (the container's PID 1) exits, every run must have ended:
    # Kubernetes kills whatever is left in the container.
    records = launcher.records()
    assert {r["cuda"]: r["sigterm"] for r in records.values()} == {"0": True, "1": True}, launcher.output()
    assert code == 143, launcher.output()
    assert 2 <= elapsed < 12


def test_finished_sweep_makes_idle_agents_exit_and_the_launcher_exits_0(
    server: WandbServer, start: Start, tmp_path: Path
) -> None:
    sweep = make_sweep(server, state="PAUSED")
    launcher = start(sweep, AGENTS_PER_POD="2")
    wait_for(
        lambda: len(agents := server.agents_of(sweep.name)) == 2 and all(a.heartbeats for a in agents),
        "both agents to register and ask for work",
        launcher,
    )
    assert server.runs == []

    server.set_sweep_state(sweep.entity, sweep.project, sweep.name, "FINISHED")

    assert launcher.wait() == 0, launcher.output()
    agents = server.agents_of(sweep.name)
    assert [[c["type"] for c in a.commands] for a in agents] == [["exit"], ["exit"]]
    assert server.runs == []
    assert launcher.records() == {}
    # Judged from the sweep's state, read once: FINISHED is remembered.
    assert launcher.output().count("the sweep is FINISHED") == 2, launcher.output()
    assert [r.operation_name for r in server.requests].count("GetSweep") == 1


def test_two_gpus_for_two_agents_are_disjoint(server: WandbServer, start: Start, tmp_path: Path) -> None:
    sweep = make_sweep(server)
    launcher = start(sweep, AGENTS_PER_POD="2", GPUS_PER_POD="2", RUNS_PER_AGENT="1")

    assert launcher.wait() == 0, launcher.output()
    records = launcher.records()
    assert len(records) == 2, launcher.output()
    assert sorted(r["cuda"] for r in records.values()) == ["0", "1"]


GPU_PAGE = "gpus-and-sizing.md"
"""The docs page with the multi-GPU sweep files (docs/gpus-and-sizing.md)."""
LAUNCH_STUB = """#!{python}
\"\"\"Stand-in for accelerate / torchrun: record how the agent started us, then exit 0.\"\"\"
import json, os, sys
from pathlib import Path
records = Path(__file__).resolve().parent.parent / "records"
run_id = os.environ.get("WANDB_RUN_ID", "no-run-id")
record = {{
    "argv": [Path(sys.argv[0]).name, *sys.argv[1:]],
    "run_id": run_id,
    "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
    "pid": os.getpid(),
    "sigterm": False,
}}
(records / f"{{run_id}}.json.tmp").write_text(json.dumps(record))
(records / f"{{run_id}}.json.tmp").replace(records / f"{{run_id}}.json")
"""
DOC_COMMANDS = {
    "accelerate": ["accelerate", "launch", "--num_processes=2", "--main_process_port=0", "train.py"],
    "torchrun": ["torchrun", "--standalone", "--nproc_per_node=2", "train.py"],
}
"""What docs/gpus-and-sizing.md says the agent runs after `/usr/bin/env`, before the run's flags."""


def docs_sweep(launcher: str) -> dict[str, Any]:
    """The docs' multi-GPU sweep file with the `command:` given for `launcher`, as YAML
    reads it; its search made a grid this test server can hand out."""
    import yaml

    text = page(GPU_PAGE)

    def block(marker: str) -> Any:
        found = marked_block(text, marker)
        assert found, f"docs/{GPU_PAGE} marks a block with <!-- {marker} -->"
        return yaml.safe_load(found)

    config = block("multi-gpu-sweep-accelerate")
    config["command"] = block(f"multi-gpu-sweep-{launcher}")["command"]
    config["method"] = "grid"
    config["parameters"] = {"lr": {"values": [1.0e-5, 1.0e-4]}, "batch_size": {"value": 16}}
    return config


@pytest.mark.parametrize("launcher_name", list(DOC_COMMANDS))
def test_the_docs_multi_gpu_sweeps_start_each_run_on_its_own_gpus(
    server: WandbServer, start: Start, tmp_path: Path, launcher_name: str
) -> None:
    """The docs' `command:` with ${env} ${program} ${args}, run by the real agent under
    the launcher with 4 GPUs and 2 per run: each run is `accelerate launch ...` (or
    `torchrun ...`) with the program and the run's flags, on GPUs 0,1 or 2,3."""
    sweep = server.create_sweep(docs_sweep(launcher_name), project="proj")
    stub = tmp_path / "bin" / launcher_name
    stub.parent.mkdir()
    stub.write_text(LAUNCH_STUB.format(python=sys.executable))
    stub.chmod(0o755)
    launcher = start(
        sweep,
        PATH=f"{stub.parent}:{BIN_DIR}:/usr/bin:/bin",
        GPUS_PER_POD="4",
        AGENTS_PER_POD="2",  # as gpusPerRun 2 renders the Jobs: GPUS_PER_POD / 2 agents
        RUNS_PER_AGENT="1",
    )

    assert launcher.wait() == 0, launcher.output()
    records = launcher.records()
    assert sorted(r["cuda"] for r in records.values()) == ["0,1", "2,3"], launcher.output()
    params = {run.name: run.params for run in server.runs}
    for record in records.values():
        assert record["argv"] == [*DOC_COMMANDS[launcher_name], *flags(params[record["run_id"]])]
    assert "/usr/bin/env " + " ".join(DOC_COMMANDS["accelerate"]) in " ".join(page(GPU_PAGE).split())


def test_runs_that_always_fail_make_the_agent_give_up_and_the_launcher_exit_4(
    server: WandbServer, start: Start, tmp_path: Path
) -> None:
    # wandb agent gives up after 3 failed runs in its first 60 s (Agent.is_flapping) and
    # exits 0, while one of the four grid points is left: the sweep still runs.
    sweep = make_sweep(server)
    began = time.monotonic()
    launcher = start(sweep, PROBE_MODE="fail")

    code = launcher.wait()
    elapsed = time.monotonic() - began
    print(f"always-failing trainer: launcher exit {code} after {elapsed:.1f} s")

    assert code == 4, launcher.output()
    assert sweep.state == "RUNNING"
    [agent] = server.agents_of(sweep.name)
    assert len(server.runs_of(agent)) == 3, launcher.output()
    assert len(launcher.records()) == 3  # every run did start, and failed
    output = launcher.output()
    assert "agent 0 stopped early (exit 0) while the sweep is RUNNING" in output
    assert "runs kept failing; see the runs' logs" in output
    assert [r.operation_name for r in server.requests].count("GetSweep") == 1


def test_an_agent_that_gives_up_stops_the_other_agents_run(
    server: WandbServer, start: Start, tmp_path: Path
) -> None:
    # Agent 0 (GPU 0) gets runs that fail; with WANDB_AGENT_MAX_INITIAL_FAILURES=1 it
    # gives up after the first (Agent.is_failing). Agent 1's run would wait for SIGTERM
    # for 45 s: the launcher must stop it, so that the pod ends and its slot is retried.
    sweep = make_sweep(server)
    began = time.monotonic()
    launcher = start(
        sweep,
        AGENTS_PER_POD="2",
        GPUS_PER_POD="2",
        PROBE_MODE="wait-for-term",
        PROBE_FAIL_ON_CUDA="0",
        WANDB_AGENT_MAX_INITIAL_FAILURES="1",
    )

    code = launcher.wait()
    elapsed = time.monotonic() - began
    print(f"one agent gives up, the other's run is stopped: launcher exit {code} after {elapsed:.1f} s")

    assert code == 4, launcher.output()
    records = launcher.records()
    assert {r["cuda"]: r["sigterm"] for r in records.values()} == {"0": False, "1": True}, launcher.output()
    assert sweep.state == "RUNNING"
    assert elapsed < 30


def test_agents_started_after_the_sweep_finished_are_refused_and_the_launcher_exits_0(
    server: WandbServer, start: Start, tmp_path: Path
) -> None:
    """A pod that starts once the sweep is over (a queued or retried pod, a scale-up, a Job
    re-created after its TTL): W&B refuses `createAgent` ("Sweep E/P/ID is not running"),
    the real `wandb agent` exits 1, and the launcher, reading FINISHED, exits 0: the slot
    completes instead of ending BackoffLimitExceeded."""
    sweep = make_sweep(server, state="FINISHED")
    began = time.monotonic()
    launcher = start(sweep, AGENTS_PER_POD="2")

    code = launcher.wait()
    print(f"finished sweep: launcher exit {code} after {time.monotonic() - began:.1f} s")
    output = launcher.output()
    assert code == 0, output
    assert server.agents_of(sweep.name) == []  # nothing registered
    assert "is not running" in output  # the agents' own error: the server's refusal
    assert output.count("exited with status 1") == 2, output
    assert output.count("is done: the sweep is FINISHED") == 2, output
    assert [r.operation_name for r in server.requests].count("GetSweep") == 1  # remembered
    assert launcher.records() == {}


@pytest.mark.parametrize("reading", ["refused", "accepted"])
def test_a_paused_sweep_under_both_readings(
    server: WandbServer, start: Start, tmp_path: Path, reading: str
) -> None:
    """Whether W&B registers an agent on a PAUSED sweep is unverified (the test server's
    `paused_agents`). Refused: `wandb agent` exits 1 and, the sweep not being over, the pod
    fails (1) and is retried later. Accepted: the agent waits for work, as before."""
    server.paused_agents = reading
    sweep = make_sweep(server, state="PAUSED")
    launcher = start(sweep)
    if reading == "refused":
        code = launcher.wait()
        output = launcher.output()
        assert code == 1, output
        assert "is not running" in output
        assert "is done" not in output
        assert [r.operation_name for r in server.requests].count("GetSweep") == 1  # PAUSED: not over
        assert server.agents_of(sweep.name) == []
    else:
        wait_for(
            lambda: len(agents := server.agents_of(sweep.name)) == 1 and bool(agents[0].heartbeats),
            "the agent to register and ask for work",
            launcher,
        )
        os.kill(launcher.process.pid, signal.SIGTERM)
        assert launcher.wait(timeout=30) == 143, launcher.output()
        assert "GetSweep" not in [r.operation_name for r in server.requests]

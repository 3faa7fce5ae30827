"""The launcher with the REAL `wandb agent` (wandb 0.31) against a W&B server that rate-limits.

tests/harness/wandb_server.py answers 429 with W&B's `RateLimit-*` headers and
`Retry-After` once a user is over `limit_rate` (its docstring cites what wandb-core and the
Python side do with them). Two things a large sweep meets, each as a test:

- **A burst at start.** Two pods of two agents start while W&B answers every request 429.
  `wandb agent` gives up after WANDB_HTTP_TIMEOUT (here 4 s, 19 s in wandb's default) and
  exits 1; the sweep is PENDING, so the launcher restarts it after a back-off instead of
  failing the pod. The burst ends (the limit is then a few requests a second); all four
  agents register, get their runs, and both pods are still running: no pod failed.
  (Before the restarts, each pod failed with 1 at the first exit and burned a retry.)
- **Heartbeats refused.** An agent registered, then every heartbeat gets 429: `wandb
  agent` neither exits nor starts a run, and says so only in its debug log. The launcher
  reports it on the pod's output, with the 429 from that log and without the key.

WANDB_HTTP_TIMEOUT, WANDB_X_GRAPHQL_RETRY_MAX (1: wandb-core gives up a call after 2
attempts) and the launcher's back-off and report period are set low to keep each test
within about 20 s; the behaviour is the same at wandb's defaults, only slower.
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

import pytest
from wandb_server import DEFAULT_KEY, SweepRecord, WandbServer

from wandb_sweeps.kubernetes.agent_job import LAUNCHER_SCRIPT

LAUNCHER_SHELL = os.environ.get("LAUNCHER_SHELL", "/bin/sh").split()
"""/bin/sh as in pods (dash here), or e.g. LAUNCHER_SHELL="bash --posix" (as test_agent_end_to_end)."""
BIN_DIR = Path(sys.executable).parent
"""The test interpreter's bin directory: `python` and `wandb` for the agents."""
SWEEP_CONFIG = {
    "method": "grid",
    "program": "probe.py",
    "parameters": {"lr": {"values": [0.1, 0.2, 0.3, 0.4]}},
}
"""Four grid points: one run for each of four agents."""
PROBE = """import json, os, signal, sys, time
from pathlib import Path
# A sweep run: record it (run id, pid), then wait for SIGTERM, at most PROBE_MAX_SECONDS.
run_id = os.environ.get("WANDB_RUN_ID", "no-run-id")
records = Path(__file__).resolve().parent / "records"
(records / f"{run_id}.tmp").write_text(json.dumps({"run_id": run_id, "pid": os.getpid()}))
(records / f"{run_id}.tmp").replace(records / f"{run_id}.json")
stopped = []
signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
deadline = time.monotonic() + float(os.environ.get("PROBE_MAX_SECONDS", "60"))
while not stopped and time.monotonic() < deadline:
    time.sleep(0.05)
sys.exit(0 if stopped else 3)
"""


@dataclass
class Pod:
    """One launcher, as one agent pod, in a directory of its own."""

    process: subprocess.Popen[bytes]
    directory: Path

    def output(self) -> str:
        return (self.directory / "launcher.log").read_text(errors="replace")

    def runs(self) -> int:
        return len(list((self.directory / "records").glob("*.json")))


@pytest.fixture
def pods(server: WandbServer, tmp_path: Path) -> Iterator[Callable[..., Pod]]:
    started: list[Pod] = []

    def start(sweep: SweepRecord, name: str, **settings: str) -> Pod:
        directory = tmp_path / name
        (directory / "records").mkdir(parents=True)
        (directory / "probe.py").write_text(PROBE)
        home = directory / "home"
        env = {
            "PATH": f"{BIN_DIR}:/usr/bin:/bin",
            "LC_ALL": "C.UTF-8",
            "HOME": str(home),
            "WANDB_DIR": str(directory / "wandb-dir"),
            "WANDB_CONFIG_DIR": str(home / ".config" / "wandb"),
            "WANDB_CACHE_DIR": str(directory / "wandb-cache"),
            "SWEEP_PATH": f"{sweep.entity}/{sweep.project}/{sweep.name}",
            "WANDB_API_KEY": DEFAULT_KEY,
            "WANDB_BASE_URL": server.base_url,
            "WANDB_ENTITY": sweep.entity,
            "WANDB_PROJECT": sweep.project,
            "PROBE_MAX_SECONDS": "60",
            "AGENT_RESTARTS": "3",  # as the Jobs render it
            **settings,
        }
        for folder in ("HOME", "WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR"):
            Path(env[folder]).mkdir(parents=True, exist_ok=True)
        with (directory / "launcher.log").open("wb") as log:
            process = subprocess.Popen(
                [*LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
                env=env,
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        pod = Pod(process, directory)
        started.append(pod)
        return pod

    yield start

    for pod in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pod.process.pid, signal.SIGKILL)
        pod.process.wait(timeout=10)
        for record in (pod.directory / "records").glob("*.json"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(json.loads(record.read_text())["pid"], signal.SIGKILL)


def wait_for(condition: Callable[[], bool], what: str, pods: list[Pod], timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for pod in pods:
            if pod.process.poll() is not None:
                pytest.fail(
                    f"{pod.directory.name} exited ({pod.process.returncode}) before {what}\n{pod.output()}"
                )
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout} s waiting for {what}\n" + "\n".join(p.output() for p in pods)
            )
        time.sleep(0.1)


def stop(pods: list[Pod]) -> None:
    for pod in pods:
        pod.process.send_signal(signal.SIGTERM)
    for pod in pods:
        assert pod.process.wait(timeout=30) == 143, pod.output()


def test_a_burst_of_agents_refused_at_start_ends_with_running_agents_not_failed_pods(
    server: WandbServer, pods: Callable[..., Pod]
) -> None:
    sweep = server.create_sweep(SWEEP_CONFIG, project="proj")  # 4 grid points: one per agent
    server.limit_rate(0)  # every request: 429, Retry-After 1
    began = time.monotonic()
    settings = {
        "AGENTS_PER_POD": "2",
        "WANDB_HTTP_TIMEOUT": "4",
        "WANDB_SWEEPS_RESTART_BACKOFF_SECONDS": "1",
    }
    burst = [pods(sweep, "pod-0", **settings), pods(sweep, "pod-1", **settings)]

    wait_for(
        lambda: all("exited with status 1" in p.output() for p in burst),
        "an agent of each pod to give up",
        burst,
    )
    gave_up = time.monotonic() - began
    refused = sum(r.status == 429 for r in server.requests)
    server.limit_rate(6)  # the burst is over; W&B still answers 429 above 6 requests a second
    wait_for(lambda: sum(p.runs() for p in burst) == 4, "every agent to get its run", burst)
    running = time.monotonic() - began
    print(
        f"4 agents in 2 pods, every request refused: first exits after {gave_up:.1f} s ({refused} requests "
        f"answered 429); all 4 running a run {running:.1f} s after the start; "
        f"{sum(r.status == 429 for r in server.requests)} 429s in all"
    )

    assert [p.process.poll() for p in burst] == [None, None]  # no pod failed
    assert len(server.agents_of(sweep.name)) == 4

    # What the agents ask of W&B once they run (docs/performance.md): one heartbeat each
    # every 5 s (Agent.POLL_INTERVAL), nothing else while their runs go on.
    mark = server.mark()
    time.sleep(10)
    asked = server.operation_counts(mark)
    print(f"4 running agents, 10 s: {asked}")
    assert asked.get("Heartbeat", 0) in range(7, 10) and set(asked) == {"Heartbeat"}, asked
    for pod in burst:
        output = pod.output()
        assert "while the sweep is PENDING" in output and "restart 1 of 3 (AGENT_RESTARTS)" in output, output
        assert "stopping the other agents" not in output
        assert DEFAULT_KEY not in output
    stop(burst)


def test_an_agent_whose_heartbeats_are_refused_is_reported_on_the_pods_output(
    server: WandbServer, pods: Callable[..., Pod]
) -> None:
    sweep = server.create_sweep(SWEEP_CONFIG, project="proj")
    pod = pods(
        sweep,
        "pod-0",
        WANDB_HTTP_TIMEOUT="3",
        WANDB_X_GRAPHQL_RETRY_MAX="1",
        WANDB_SWEEPS_IDLE_REPORT_SECONDS="6",
    )
    wait_for(lambda: len(server.agents_of(sweep.name)) == 1, "the agent to register", [pod])
    server.limit_rate(0)  # from now on every heartbeat (and the state query) gets 429

    def reported() -> list[str]:
        return [
            line for line in pod.output().splitlines() if "has started no run" in line and "HTTP 429" in line
        ]

    wait_for(lambda: bool(reported()), "the idle agent to be reported with its W&B error", [pod], timeout=60)
    [agent] = server.agents_of(sweep.name)
    print(reported()[0])
    assert reported()[0].startswith("wandb-sweeps: agent 0 has started no run in ")
    assert "while the sweep's state could not be read from W&B" in reported()[0]
    assert 'HTTP 429: {"error": "rate limit exceeded"}' in reported()[0]
    assert agent.heartbeats == 0 and server.runs == []
    assert [r.operation_name for r in server.requests if r.status == 429].count("Heartbeat") >= 2
    assert DEFAULT_KEY not in pod.output()
    stop([pod])

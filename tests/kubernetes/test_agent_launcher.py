"""The agent launcher, executed for real under /bin/sh with a stub `wandb` on PATH.

The stub records its argv, CUDA_VISIBLE_DEVICES, HIP_VISIBLE_DEVICES,
ROCR_VISIBLE_DEVICES, WANDB_* environment and start time, writes STUB_RUNS run
config files where `wandb agent` writes them
($WANDB_DIR/wandb/sweep-<id>/config-<run id>.yaml), then behaves as
STUB_BEHAVIOUR says (agent 0: STUB_FIRST, when set): exit with
a status, run until SIGTERM, ignore SIGTERM, or kill itself with a signal
(`signal-KILL`: as the OOM killer does, status 137).

When an agent exits (0, or non-zero while the pod is not stopping: was it
refused because the sweep is over?) the launcher reads the sweep's state with a Python
(`python -c <query> SWEEP_PATH`). Here that Python is a stub too, `python3`
first on PATH (the stub `wandb` is a shell script, so its first line names no
Python): it records how it was called and answers what the file `state` in the
test's directory holds: a state (printed), ERROR (exit 1), NO-WANDB (exit 3:
"this Python has no wandb package"), or HANG (runs until killed). The same
launcher code path as in pods. The last tests use the real query, with the
test's own Python (named in the first line of a stub `wandb` written in
Python), against tests/wandb_server.py.

The script under test is `LAUNCHER_SCRIPT`, byte for byte what the pods run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from wandb_server import DEFAULT_KEY, WandbServer

from wandb_sweeps.kubernetes.agent_job import LAUNCHER_SCRIPT

LAUNCHER_SHELL = os.environ.get("LAUNCHER_SHELL", "/bin/sh").split()
"""The shell the launcher runs under: /bin/sh as in pods (dash here), or e.g.
LAUNCHER_SHELL="bash --posix" or "busybox sh" to check it with other shells."""

STUB = r"""#!/bin/sh
# Stub wandb: record how we were started, then do what STUB_BEHAVIOUR says.
record="$STUB_DIR/agent.$$"
# A SIGTERM before the behaviour below has set its own trap (the launcher may stop the
# agents milliseconds after starting them, on a loaded machine before this one wrote its
# record) is kept, and sent again once that trap is set: every agent leaves its record.
early_term=""
trap 'early_term=1' TERM
role=rest
# Agent 0 (the launcher gives it WANDB_DIR .../agent-0) does what STUB_FIRST says.
if [ -n "${STUB_FIRST-}" ] && [ "${WANDB_DIR##*/}" = agent-0 ]; then role=first; fi
{
  printf 'ARGV'; for a in "$@"; do printf '\t%s' "$a"; done; printf '\n'
  printf 'CUDA\t%s\n' "${CUDA_VISIBLE_DEVICES-<unset>}"
  printf 'HIP\t%s\n' "${HIP_VISIBLE_DEVICES-<unset>}"
  printf 'ROCR\t%s\n' "${ROCR_VISIBLE_DEVICES-<unset>}"
  printf 'ROLE\t%s\n' "$role"
  printf 'START\t%s\n' "$(date +%s.%N)"
  env | grep '^WANDB_' | sort | sed 's/^/ENV\t/'
} > "$record.tmp" && mv "$record.tmp" "$record"
if [ "$role" = first ]; then behaviour=$STUB_FIRST; else behaviour=${STUB_BEHAVIOUR:-0}; fi
# Like `wandb agent`: one config file per run it is handed, before the run starts.
for last in "$@"; do :; done
n=0
while [ "$n" -lt "${STUB_RUNS:-0}" ]; do
  mkdir -p "$WANDB_DIR/wandb/sweep-${last##*/}"
  echo "lr: {value: 0.1}" > "$WANDB_DIR/wandb/sweep-${last##*/}/config-run$$x$n.yaml"
  n=$((n + 1))
done
case "$behaviour" in
  run-until-term)
    trap 'echo "TERM	$(date +%s.%N)" >> "$record"; exit 0' TERM
    if [ -n "$early_term" ]; then kill -TERM $$; fi
    while :; do sleep 1 & wait $!; done ;;
  ignore-term)
    # A run that ignores SIGTERM (a trainer whose handler hangs): only SIGKILL stops it.
    trap 'echo "TERM	$(date +%s.%N)" >> "$record"' TERM
    if [ -n "$early_term" ]; then kill -TERM $$; fi
    while :; do sleep 1 & wait $!; done ;;
  slow-first-stop)
    # The agent on GPU 0 (the first one started) needs 1.5 s to stop after SIGTERM,
    # like a run saving a checkpoint; the others stop at once.
    if [ "${CUDA_VISIBLE_DEVICES-}" = 0 ]; then pause=1.5; else pause=0; fi
    trap 'echo TERM >> "$record"; sleep $pause; echo DONE >> "$record"; exit 0' TERM
    if [ -n "$early_term" ]; then kill -TERM $$; fi
    while :; do sleep 1 & wait $!; done ;;
  signal-*)
    # Killed by a signal the pod did not get (the OOM killer's SIGKILL, or a stray SIGTERM).
    trap - TERM
    sleep "${STUB_DELAY:-0}"
    echo "EXIT	$(date +%s.%N)" >> "$record"
    kill -s "${behaviour#signal-}" $$
    sleep 5 ;;
  *)
    trap - TERM  # SIGTERM ends it, as it ends a `wandb agent` between runs
    if [ -n "$early_term" ]; then kill -TERM $$; fi
    sleep "${STUB_DELAY:-0}"
    echo "EXIT	$(date +%s.%N)" >> "$record"
    exit "$behaviour" ;;
esac
"""

STUB_PYTHON = r"""#!/bin/sh
# Stub Python. As a script's interpreter ("#!/path/python3.11" in a stub wandb): run
# that script with sh. As `python -c <query> SWEEP_PATH`: record the call and answer
# what $STUB_DIR/state (or state.<our name>) holds.
if [ "$1" != -c ]; then exec /bin/sh "$@"; fi
name=${0##*/}
shift 2
printf '%s\n' "$@" > "$STUB_DIR/query.$name.$$"
answer_file="$STUB_DIR/state.$name"
[ -e "$answer_file" ] || answer_file="$STUB_DIR/state"
answer=$(cat "$answer_file")
case "$answer" in
  ERROR) echo "CommError: W&B said no" >&2; exit 1 ;;
  NO-WANDB) echo "$0 cannot import wandb" >&2; exit 3 ;;
  HANG) while :; do sleep 1 > /dev/null 2>&1; done ;;
  *) echo "$answer" ;;
esac
"""

SWEEP = "team/proj/abcd1234"
KEY = "local-" + "k" * 40


@pytest.fixture
def stub_dir(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("wandb", STUB), ("python3", STUB_PYTHON)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "state").write_text("FINISHED\n")
    (tmp_path / "wandb-dir").mkdir()
    return tmp_path


def launcher_env(stub_dir: Path, behaviour: str = "0", **settings: str) -> dict[str, str]:
    env = {
        "PATH": f"{stub_dir / 'bin'}:/usr/bin:/bin",
        "HOME": str(stub_dir),
        "STUB_DIR": str(stub_dir),
        "STUB_BEHAVIOUR": behaviour,
        "SWEEP_PATH": SWEEP,
        "WANDB_API_KEY": KEY,
        "WANDB_BASE_URL": "https://wandb.example.com",
        "WANDB_ENTITY": "team",
        "WANDB_PROJECT": "proj",
        "WANDB_DIR": str(stub_dir / "wandb-dir"),
    }
    env.update(settings)
    return {name: value for name, value in env.items() if value is not None}


_launched: list[subprocess.Popen] = []
"""Launchers started by the current test, each in a process group of its own."""


@pytest.fixture(autouse=True)
def kill_leftover_launchers() -> Iterator[None]:
    """Whatever a failed test left running (a launcher, its agents) is killed."""
    yield
    while _launched:
        process = _launched.pop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def start(stub_dir: Path, behaviour: str = "0", **settings: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [*LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
        env=launcher_env(stub_dir, behaviour, **settings),
        cwd=stub_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _launched.append(process)
    return process


def agents(stub_dir: Path) -> list[dict]:
    """What each stub agent recorded, ordered by the GPUs it got, then by its role."""
    found = []
    for record in sorted(stub_dir.glob("agent.*")):
        if record.suffix == ".tmp":
            continue
        entry: dict = {"env": {}, "term": False}
        for line in record.read_text().splitlines():
            kind, _, rest = line.partition("\t")
            if kind == "ARGV":
                entry["argv"] = rest.split("\t")
            elif kind in ("CUDA", "HIP", "ROCR"):
                entry[kind.lower()] = None if rest == "<unset>" else rest
            elif kind == "ENV":
                name, _, value = rest.partition("=")
                entry["env"][name] = value
            elif kind == "TERM":
                entry["term"] = True
                entry["term_at"] = float(rest) if rest else None
            elif kind in ("ROLE",):
                entry["role"] = rest
            elif kind in ("START", "EXIT"):
                entry[kind.lower() + "_at"] = float(rest)
            elif kind == "DONE":
                entry["done"] = True
        found.append(entry)
    return sorted(found, key=lambda a: (json.dumps(a.get("cuda")), a.get("role") != "first"))


def queries(stub_dir: Path) -> list[tuple[str, list[str]]]:
    """The state queries the stub Pythons answered: (their name, argv after -c CODE)."""
    found = []
    for record in stub_dir.glob("query.*"):
        name = record.name.split(".", 1)[1].rsplit(".", 1)[0]
        found.append((name, record.read_text().splitlines()))
    return found


def run(stub_dir: Path, behaviour: str = "0", **settings: str) -> tuple[int, list[dict], str]:
    process = start(stub_dir, behaviour, **settings)
    stdout, stderr = process.communicate(timeout=60)
    assert KEY not in stdout + stderr, "the API key is in the launcher's output"
    return process.returncode, agents(stub_dir), stderr


def wait_for(condition, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def wait_for_agents(stub_dir: Path, count: int, timeout: float = 10) -> None:
    wait_for(
        lambda: len([p for p in stub_dir.glob("agent.*") if p.suffix != ".tmp"]) >= count,
        f"{count} agents to start",
        timeout,
    )


def set_state(stub_dir: Path, answer: str, python: str | None = None) -> None:
    name = "state" if python is None else f"state.{python}"
    (stub_dir / name).write_text(answer + "\n")


# -- starting agents ------------------------------------------------------------------


def test_starts_one_agent_per_pod_by_default_with_forwarded_signals(stub_dir: Path) -> None:
    code, started, _ = run(stub_dir)
    assert code == 0
    assert len(started) == 1
    assert started[0]["argv"] == ["agent", "-f", "team/proj/abcd1234"]
    assert started[0]["cuda"] is None
    assert started[0]["env"] == {
        "WANDB_API_KEY": KEY,
        "WANDB_BASE_URL": "https://wandb.example.com",
        "WANDB_ENTITY": "team",
        "WANDB_PROJECT": "proj",
        "WANDB_DIR": str(stub_dir / "wandb-dir" / "agent-0"),
    }


def test_starts_agents_per_pod_agents_with_count(stub_dir: Path) -> None:
    code, started, _ = run(stub_dir, AGENTS_PER_POD="3", RUNS_PER_AGENT="5")
    assert code == 0
    assert [a["argv"] for a in started] == [["agent", "-f", "--count", "5", "team/proj/abcd1234"]] * 3


@pytest.mark.parametrize("wandb_dir", ["set", "unset"])
def test_each_agent_gets_its_own_wandb_dir(stub_dir: Path, wandb_dir: str) -> None:
    """So that the runs each agent was handed can be counted (RUNS_PER_AGENT)."""
    settings = {"AGENTS_PER_POD": "3"}
    if wandb_dir == "unset":
        settings["WANDB_DIR"] = None  # type: ignore[assignment]
        base = stub_dir  # the launcher's working directory, as `wandb agent` would use
    else:
        base = stub_dir / "wandb-dir"
    code, started, _ = run(stub_dir, **settings)
    assert code == 0
    dirs = sorted(a["env"]["WANDB_DIR"] for a in started)
    assert dirs == [str(base / f"agent-{i}") for i in range(3)]
    assert all(Path(d).is_dir() for d in dirs)


@pytest.mark.parametrize("count", [1, 8])
def test_agents_start_within_a_second(stub_dir: Path, count: int) -> None:
    """Container start to the last agent's start (the stub records the time it starts)."""
    before = time.time()
    code, started, _ = run(stub_dir, AGENTS_PER_POD=str(count), GPUS_PER_POD=str(count))
    assert code == 0
    assert len(started) == count
    latency = max(a["start_at"] for a in started) - before
    print(f"{count} agent(s): last agent started {latency * 1000:.0f} ms after the launcher")
    assert latency < 1.0


@pytest.mark.parametrize(
    ("gpus", "agent_count", "pins"),
    [
        ("4", "2", ["0,1", "2,3"]),
        ("8", "4", ["0,1", "2,3", "4,5", "6,7"]),
        # gpusPerRun N renders AGENTS_PER_POD = GPUS_PER_POD / N: blocks of N (here 4, 2).
        ("8", "2", ["0,1,2,3", "4,5,6,7"]),
        ("6", "3", ["0,1", "2,3", "4,5"]),
        ("2", "2", ["0", "1"]),
        ("3", "1", ["0,1,2"]),
        ("1", "2", ["0", "0"]),
        ("2", "3", ["0", "0", "1"]),
        ("0", "2", [None, None]),
    ],
)
def test_gpu_pins(stub_dir: Path, gpus: str, agent_count: str, pins: list) -> None:
    code, started, _ = run(stub_dir, AGENTS_PER_POD=agent_count, GPUS_PER_POD=gpus)
    assert code == 0
    assert sorted((a["cuda"] for a in started), key=json.dumps) == sorted(pins, key=json.dumps)
    assert [(a["hip"], a["rocr"]) for a in started] == [(None, None)] * len(started)  # NVIDIA: CUDA's only
    if int(gpus) >= int(agent_count):
        devices = [d for a in started for d in a["cuda"].split(",")] if gpus != "0" else []
        assert len(devices) == len(set(devices)) == int(gpus), "blocks must be disjoint and cover every GPU"


@pytest.mark.parametrize(
    ("gpus", "agent_count", "pins"),
    [("4", "2", ["0,1", "2,3"]), ("2", "2", ["0", "1"]), ("1", "2", ["0", "0"]), ("0", "2", [None, None])],
)
def test_amd_gpus_are_split_in_hip_and_cuda_visible_devices(
    stub_dir: Path, gpus: str, agent_count: str, pins: list
) -> None:
    """GPU_RESOURCE amd.com/gpu (the Job's gpuResource): each agent's block goes in
    HIP_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES, the same indices (HIP reads either), and
    never in ROCR_VISIBLE_DEVICES, whose filter HIP's indices would count within."""
    code, started, stderr = run(
        stub_dir, AGENTS_PER_POD=agent_count, GPUS_PER_POD=gpus, GPU_RESOURCE="amd.com/gpu"
    )
    assert code == 0, stderr
    assert sorted((a["hip"] for a in started), key=json.dumps) == sorted(pins, key=json.dumps)
    assert [a["cuda"] for a in started] == [a["hip"] for a in started]
    assert [a["rocr"] for a in started] == [None] * len(started)


@pytest.mark.parametrize("resource", [None, "nvidia.com/gpu", "gpu.intel.com/i915"])
def test_other_gpus_get_cuda_visible_devices_only(stub_dir: Path, resource: str | None) -> None:
    code, started, stderr = run(stub_dir, AGENTS_PER_POD="2", GPUS_PER_POD="4", GPU_RESOURCE=resource)  # type: ignore[arg-type]
    assert code == 0, stderr
    assert sorted(a["cuda"] for a in started) == ["0,1", "2,3"]
    assert [(a["hip"], a["rocr"]) for a in started] == [(None, None)] * 2


def test_missing_sweep_path_is_a_clear_error(stub_dir: Path) -> None:
    env = launcher_env(stub_dir)
    del env["SWEEP_PATH"]
    result = subprocess.run(
        [*LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
        env=env,
        cwd=stub_dir,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode != 0
    assert "SWEEP_PATH (entity/project/sweep id) must be set" in result.stderr
    assert not list(stub_dir.glob("agent.*"))


# -- an agent that exits 0: done, or stopped early? --------------------------------------


@pytest.mark.parametrize("state", ["FINISHED", "CANCELED", "FAILED", "CRASHED"])
def test_exit_0_when_the_sweep_is_over_is_done(stub_dir: Path, state: str) -> None:
    """Over is over, whichever final state: a retried pod would only be refused (the rule
    for an agent that exits non-zero is the same)."""
    set_state(stub_dir, state)
    code, started, _ = run(stub_dir, AGENTS_PER_POD="2")
    assert code == 0
    assert len(started) == 2
    # The query gets the sweep path as an argument; a FINISHED/CANCELED state is
    # remembered, so the second agent needs no second query.
    assert queries(stub_dir) == [("python3", [SWEEP])]


def test_exit_0_while_the_sweep_runs_is_a_failure_that_stops_the_other_agents(stub_dir: Path) -> None:
    set_state(stub_dir, "RUNNING")
    code, started, stderr = run(stub_dir, "run-until-term", STUB_FIRST="0", AGENTS_PER_POD="3")
    assert code == 4, stderr
    assert [a["role"] for a in started] == ["first", "rest", "rest"]
    assert [a["term"] for a in started] == [False, True, True]
    assert "agent 0 stopped early (exit 0) while the sweep is RUNNING" in stderr
    assert "runs kept failing; see the runs' logs" in stderr


@pytest.mark.parametrize("state", ["PENDING", "PAUSED", "UNHEARD-OF"])
def test_exit_0_in_any_other_state_is_a_failure(stub_dir: Path, state: str) -> None:
    set_state(stub_dir, state)
    code, _, stderr = run(stub_dir)
    assert code == 4, stderr
    assert f"while the sweep is {state}" in stderr


# -- an agent that exits non-zero: refused because the sweep is over, or failed? ----------


@pytest.mark.parametrize("state", ["FINISHED", "CANCELED", "FAILED", "CRASHED"])
def test_an_agent_refused_because_the_sweep_is_over_is_done(stub_dir: Path, state: str) -> None:
    """W&B refuses `createAgent` on a sweep that is not running and `wandb agent` exits 1
    (wandb/wandb#12456): a pod that starts after the sweep is over is done, not failed."""
    set_state(stub_dir, state)
    process = start(stub_dir, "1", AGENTS_PER_POD="2")
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stdout + stderr
    assert len(agents(stub_dir)) == 2
    assert f"is done: the sweep is {state} (W&B refuses new agents on a sweep that is over)" in stdout
    # A final state is remembered: one query for both agents.
    assert queries(stub_dir) == [("python3", [SWEEP])]


@pytest.mark.parametrize("state", ["RUNNING", "PENDING", "PAUSED", "ERROR", "NO-WANDB"])
def test_an_agent_that_exits_1_while_the_sweep_is_not_over_fails_the_pod(stub_dir: Path, state: str) -> None:
    """A real failure (or W&B refusing an agent on a PAUSED sweep, if it does; or a state
    that cannot be read) still fails the pod with the agent's status, after one query."""
    set_state(stub_dir, state)
    code, started, stderr = run(stub_dir, "run-until-term", STUB_FIRST="1", AGENTS_PER_POD="2")
    assert code == 1, stderr
    assert [a["term"] for a in started] == [False, True]
    assert "is done" not in stderr
    assert len(queries(stub_dir)) == 1


@pytest.mark.parametrize("signal_name", ["KILL", "TERM"])
def test_an_agent_killed_by_a_signal_the_pod_did_not_get_exits_6_not_137_or_143(
    stub_dir: Path, signal_name: str
) -> None:
    """143 is the status the Job's podFailurePolicy does not count: the launcher exits 143
    only when the pod got SIGTERM. An agent killed otherwise (the OOM killer: 137, a stray
    SIGTERM: 143) gives 6, which counts, so a crash loop cannot hide behind the rule."""
    set_state(stub_dir, "RUNNING")
    code, started, stderr = run(
        stub_dir, "run-until-term", STUB_FIRST=f"signal-{signal_name}", AGENTS_PER_POD="2"
    )
    number = {"KILL": 9, "TERM": 15}[signal_name]
    assert code == 6, stderr
    assert f"agent 0 was killed by signal {number}, which the pod did not get" in stderr
    assert [a["term"] for a in started] == [False, True]


def test_an_agent_killed_by_a_signal_when_the_sweep_is_over_is_done(stub_dir: Path) -> None:
    code, _, stderr = run(stub_dir, "signal-KILL")
    assert code == 0, stderr
    assert queries(stub_dir) == [("python3", [SWEEP])]


def test_runs_per_agent_reached_is_done_without_asking_wandb(stub_dir: Path) -> None:
    set_state(stub_dir, "RUNNING")
    code, _, stderr = run(stub_dir, AGENTS_PER_POD="2", RUNS_PER_AGENT="2", STUB_RUNS="2")
    assert code == 0, stderr
    assert queries(stub_dir) == []


def test_runs_per_agent_not_reached_while_the_sweep_runs_is_a_failure(stub_dir: Path) -> None:
    set_state(stub_dir, "RUNNING")
    code, _, stderr = run(stub_dir, RUNS_PER_AGENT="3", STUB_RUNS="2")
    assert code == 4, stderr
    assert queries(stub_dir) == [("python3", [SWEEP])]


def test_runs_per_agent_not_reached_when_the_sweep_finished_is_done(stub_dir: Path) -> None:
    code, _, stderr = run(stub_dir, RUNS_PER_AGENT="3", STUB_RUNS="1")
    assert code == 0, stderr


def test_only_runs_started_by_this_agent_count(stub_dir: Path) -> None:
    """A WANDB_DIR on a volume keeps the config files of an earlier pod of the slot."""
    old = stub_dir / "wandb-dir" / "agent-0" / "wandb" / "sweep-abcd1234"
    old.mkdir(parents=True)
    for n in range(3):
        (old / f"config-old{n}.yaml").write_text("lr: {value: 0.1}\n")
    set_state(stub_dir, "RUNNING")
    code, _, stderr = run(stub_dir, RUNS_PER_AGENT="3", STUB_RUNS="1")
    assert code == 4, stderr


@pytest.mark.parametrize(
    ("answer", "message"), [("ERROR", "CommError: W&B said no"), ("NO-WANDB", "found no Python")]
)
def test_unreadable_state_is_a_failure(stub_dir: Path, answer: str, message: str) -> None:
    set_state(stub_dir, answer)
    code, started, stderr = run(stub_dir, "run-until-term", STUB_FIRST="0", AGENTS_PER_POD="2")
    assert code == 5, stderr
    assert message in stderr
    assert "the sweep's state could not be read" in stderr
    assert [a["term"] for a in started] == [False, True]


def test_the_state_is_read_with_the_python_of_the_wandb_script(stub_dir: Path) -> None:
    interpreter = stub_dir / "lib" / "python3.11"
    interpreter.parent.mkdir()
    interpreter.write_text(STUB_PYTHON)
    interpreter.chmod(0o755)
    wandb = stub_dir / "bin" / "wandb"
    wandb.write_text(f"#!{interpreter}\n" + STUB.split("\n", 1)[1])
    code, started, stderr = run(stub_dir)
    assert code == 0, stderr
    assert len(started) == 1
    assert queries(stub_dir) == [("python3.11", [SWEEP])]


def test_a_python_without_wandb_is_skipped_for_the_next_one(stub_dir: Path) -> None:
    interpreter = stub_dir / "lib" / "python3.11"
    interpreter.parent.mkdir()
    interpreter.write_text(STUB_PYTHON)
    interpreter.chmod(0o755)
    (stub_dir / "bin" / "wandb").write_text(f"#! {interpreter} -s\n" + STUB.split("\n", 1)[1])
    set_state(stub_dir, "NO-WANDB", python="python3.11")
    code, _, stderr = run(stub_dir)
    assert code == 0, stderr
    assert sorted(queries(stub_dir)) == [("python3", [SWEEP]), ("python3.11", [SWEEP])]


# -- failures and signals ----------------------------------------------------------------


def test_a_failing_agent_stops_the_others_promptly_and_its_status_is_the_exit_status(
    stub_dir: Path,
) -> None:
    set_state(stub_dir, "RUNNING")  # a sweep that is over would make the failed agent done
    code, started, stderr = run(
        stub_dir, "run-until-term", STUB_FIRST="1", STUB_DELAY="0.5", AGENTS_PER_POD="3", GPUS_PER_POD="3"
    )
    assert code == 1
    [first] = [a for a in started if a["role"] == "first"]
    others = [a for a in started if a["role"] != "first"]
    assert [a["term"] for a in others] == [True, True]
    freed = max(a["term_at"] for a in others) - first["exit_at"]
    print(f"failed agent's exit to SIGTERM of the others: {freed:.2f} s")
    assert freed < 2.0
    assert "exited with status 1" in stderr
    assert queries(stub_dir) == [("python3", [SWEEP])]  # is the sweep over? no: a failure


def test_agents_that_ignore_the_launchers_sigterm_cannot_keep_the_pod_alive(stub_dir: Path) -> None:
    """After it stopped the others itself, the launcher waits STOP_GRACE_SECONDS (the pod's
    grace period) and then exits with the failure; as PID 1 it takes the rest with it."""
    set_state(stub_dir, "RUNNING")
    log = stub_dir / "launcher.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
            env=launcher_env(
                stub_dir,
                "ignore-term",
                STUB_FIRST="1",
                STUB_DELAY="0.3",
                AGENTS_PER_POD="2",
                STOP_GRACE_SECONDS="2",
            ),
            cwd=stub_dir,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    _launched.append(process)
    started_at = time.monotonic()
    process.wait(timeout=20)  # the process itself: the agent left behind keeps the log open
    elapsed = time.monotonic() - started_at
    stderr = log.read_text()
    assert process.returncode == 1, stderr
    assert "agents still running 2 s after SIGTERM (STOP_GRACE_SECONDS); exiting without them" in stderr
    [other] = [a for a in agents(stub_dir) if a["role"] != "first"]
    assert other["term"]
    assert 2 <= elapsed < 6, elapsed


def test_sigterm_reaches_every_agent_and_the_launcher_exits_promptly(stub_dir: Path) -> None:
    process = start(stub_dir, "run-until-term", AGENTS_PER_POD="3", GPUS_PER_POD="3")
    wait_for_agents(stub_dir, 3)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=15)
    elapsed = time.monotonic() - sent
    started = agents(stub_dir)
    assert [a["term"] for a in started] == [True, True, True]
    # Non-zero, so a preempted pod is not counted as "succeeded" by its Job.
    assert process.returncode == 143
    assert elapsed < 5, f"launcher took {elapsed:.1f}s to stop"


@pytest.mark.parametrize(("grace", "drain"), [("11", 6), ("4", 2), ("3", 2)])
def test_after_sigterm_the_launcher_exits_143_before_kubernetes_sigkill(
    stub_dir: Path, grace: str, drain: int
) -> None:
    """Agents that do not stop cannot turn a preemption into Kubernetes' SIGKILL (137, which
    the Job counts): the launcher exits 143 STOP_GRACE_SECONDS - 5 s after the SIGTERM (half
    of STOP_GRACE_SECONDS when that is 10 s or less), taking them with it as PID 1."""
    log = stub_dir / "launcher.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
            env=launcher_env(stub_dir, "ignore-term", AGENTS_PER_POD="2", STOP_GRACE_SECONDS=grace),
            cwd=stub_dir,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    _launched.append(process)
    wait_for_agents(stub_dir, 2)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)  # the process itself: the agents left behind keep the log open
    elapsed = time.monotonic() - sent
    output = log.read_text()
    assert process.returncode == 143, output
    assert drain <= elapsed < drain + 2, elapsed
    assert f"agents still running {drain} s after SIGTERM" in output
    assert [a["term"] for a in agents(stub_dir)] == [True, True]


def test_a_sigterm_while_the_launcher_stops_the_agents_keeps_its_failure(stub_dir: Path) -> None:
    """A failure came first: the exit status stays the failure's, bounded as before."""
    set_state(stub_dir, "RUNNING")
    log = stub_dir / "launcher.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
            env=launcher_env(
                stub_dir,
                "ignore-term",
                STUB_FIRST="3",
                STUB_DELAY="0.3",
                AGENTS_PER_POD="2",
                STOP_GRACE_SECONDS="3",
            ),
            cwd=stub_dir,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    _launched.append(process)
    wait_for(lambda: "stopping the other agents" in log.read_text(), "the launcher to stop the agents")
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
    output = log.read_text()
    assert process.returncode == 3, output
    assert "agents still running 3 s after SIGTERM (STOP_GRACE_SECONDS); exiting without them" in output


def test_sigterm_during_the_state_query_reaches_the_agents_at_once(stub_dir: Path) -> None:
    set_state(stub_dir, "HANG")
    process = start(stub_dir, "run-until-term", STUB_FIRST="0", AGENTS_PER_POD="3")
    wait_for(lambda: queries(stub_dir), "the state query")
    sent = time.time()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)
    started = agents(stub_dir)
    assert process.returncode == 143, stderr
    assert [a["term"] for a in started] == [False, True, True]
    delay = max(a["term_at"] for a in started[1:]) - sent
    print(f"SIGTERM during the state query to SIGTERM of the agents: {delay:.2f} s")
    assert delay < 1.0  # not after the query (which never ends)


def test_the_api_key_is_never_on_a_command_line(stub_dir: Path) -> None:
    # Agent 0 exits 0, so the state query runs (and hangs) while we look.
    set_state(stub_dir, "HANG")
    process = start(stub_dir, "run-until-term", STUB_FIRST="0", AGENTS_PER_POD="2")
    wait_for_agents(stub_dir, 2)
    wait_for(lambda: queries(stub_dir), "the state query")
    try:
        cmdlines = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    cmdlines.append((proc / "cmdline").read_bytes().decode(errors="replace"))
                except OSError:
                    continue
        assert [c for c in cmdlines if f"wandb\0agent\0-f\0{SWEEP}" in c], "no agent found"
        assert [c for c in cmdlines if "python3\0-c" in c], "no state query found"
        assert not [c for c in cmdlines if "k" * 40 in c]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)


def test_after_sigterm_the_launcher_waits_for_every_agent_not_just_the_last(stub_dir: Path) -> None:
    """The launcher is the container's PID 1: if it exits early, Kubernetes kills the
    agents still stopping, and their runs lose the grace period. So when the launcher
    process has exited, every agent must already be done."""
    log = (stub_dir / "launcher.log").open("w")
    process = subprocess.Popen(
        [*LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
        env=launcher_env(stub_dir, "slow-first-stop", AGENTS_PER_POD="3", GPUS_PER_POD="3"),
        cwd=stub_dir,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    _launched.append(process)
    wait_for_agents(stub_dir, 3)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)  # the process itself, not its output pipes
    elapsed = time.monotonic() - sent
    done_at_exit = [a.get("done", False) for a in agents(stub_dir)]
    log.close()
    assert done_at_exit == [True, True, True], (stub_dir / "launcher.log").read_text()
    assert process.returncode == 143
    assert elapsed >= 1.5


# -- the real state query (wandb's public API) against tests/wandb_server.py --------------

PYTHON_STUB = f"""#!{sys.executable}
import os, sys
sys.exit(int(os.environ.get("STUB_BEHAVIOUR", "0")))
"""
"""A stub `wandb` whose first line names this test's Python, which has wandb."""


def real_query_env(tmp_path: Path, server: WandbServer, sweep_path: str, **settings: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "wandb").write_text(PYTHON_STUB)
    (bin_dir / "wandb").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": os.environ["HOME"],
        "WANDB_CONFIG_DIR": os.environ["WANDB_CONFIG_DIR"],
        "WANDB_CACHE_DIR": os.environ["WANDB_CACHE_DIR"],
        "WANDB_DIR": os.environ["WANDB_DIR"],
        "SWEEP_PATH": sweep_path,
        "WANDB_API_KEY": DEFAULT_KEY,
        "WANDB_BASE_URL": server.base_url,
    }
    env.update(settings)
    return env


def run_real(env: dict[str, str], tmp_path: Path) -> tuple[int, str, str, float]:
    began = time.monotonic()
    result = subprocess.run(
        [*LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, result.stdout, result.stderr, time.monotonic() - began


def query_output(stderr: str) -> list[str]:
    """The lines of the launcher's stderr that the state query printed."""
    return [line for line in stderr.splitlines() if not line.startswith("wandb-sweeps: ")]


@pytest.mark.parametrize(("state", "expected"), [("FINISHED", 0), ("CANCELED", 0), ("RUNNING", 4)])
def test_real_state_query(server: WandbServer, tmp_path: Path, state: str, expected: int) -> None:
    sweep = server.create_sweep({"method": "grid", "parameters": {}}, project="proj", state=state)
    env = real_query_env(tmp_path, server, f"{sweep.entity}/{sweep.project}/{sweep.name}")
    code, stdout, stderr, elapsed = run_real(env, tmp_path)
    print(f"sweep {state}: launcher exit {code} after {elapsed:.1f} s")
    assert code == expected, stdout + stderr
    assert f"reading the sweep's state with {sys.executable}" in stdout
    assert [r.operation_name for r in server.requests if r.operation_name == "GetSweep"] == ["GetSweep"]
    assert DEFAULT_KEY not in stdout + stderr
    assert query_output(stderr) == []


def test_real_state_query_errors_have_the_key_scrubbed(server: WandbServer, tmp_path: Path) -> None:
    """wandb's "Could not find sweep <Sweep alice/proj/<id>>" error quotes the sweep
    path: a path holding the key shows that what the query prints is scrubbed."""
    env = real_query_env(tmp_path, server, f"alice/proj/{DEFAULT_KEY}")
    code, stdout, stderr, _ = run_real(env, tmp_path)
    assert code == 5, stdout + stderr
    # Nothing but the launcher's lines and the query's one-line error: wandb's own
    # output (its "wandb: ERROR ..." lines) is silenced, not scrubbed.
    [error] = query_output(stderr)
    assert error.startswith("CommError: Could not find sweep <Sweep alice/proj/<WANDB_API_KEY>")
    assert DEFAULT_KEY not in stderr  # stdout names the sweep path in "starting agent 0 for ..."


def test_real_state_query_is_bounded_when_wandb_does_not_answer(server: WandbServer, tmp_path: Path) -> None:
    sweep = server.create_sweep({"method": "grid", "parameters": {}}, project="proj", state="FINISHED")
    server.inject(delay=120, times=1000)
    env = real_query_env(
        tmp_path, server, f"{sweep.entity}/{sweep.project}/{sweep.name}", WANDB_HTTP_TIMEOUT="1"
    )
    code, stdout, stderr, elapsed = run_real(env, tmp_path)
    print(f"W&B not answering, WANDB_HTTP_TIMEOUT=1: launcher exit {code} after {elapsed:.1f} s")
    assert code == 5, stdout + stderr
    assert elapsed < 15
    assert DEFAULT_KEY not in stdout + stderr


HANGING_WANDB = """
import signal, time
class Api:
    def __init__(self, timeout=None):
        if BLOCK_SIGALRM:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
"""
"""A `wandb` module whose Api never answers (wandb's own timeouts did not stop it)."""


@pytest.mark.parametrize(
    ("block_sigalrm", "message", "bounds"),
    [(False, "W&B did not answer within 3 s", (2.5, 8)), (True, "", (12.5, 20))],
    ids=["sigalrm", "faulthandler"],
)
def test_state_query_that_hangs_is_ended(
    server: WandbServer, tmp_path: Path, block_sigalrm: bool, message: str, bounds: tuple[float, float]
) -> None:
    """SIGALRM ends the query after three HTTP timeouts (3 x WANDB_HTTP_TIMEOUT); when
    the main thread cannot run a signal handler, faulthandler kills it 10 s later."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "wandb.py").write_text(f"BLOCK_SIGALRM = {block_sigalrm}" + HANGING_WANDB)
    env = real_query_env(
        tmp_path, server, "alice/proj/abcd1234", WANDB_HTTP_TIMEOUT="1", PYTHONPATH=str(fake)
    )
    code, stdout, stderr, elapsed = run_real(env, tmp_path)
    print(
        f"hanging query ({'SIGALRM blocked' if block_sigalrm else 'SIGALRM'}): launcher exit {code} after {elapsed:.1f} s"
    )
    assert code == 5, stdout + stderr
    assert query_output(stderr) == ([message] if message else [])  # faulthandler's dump is silenced
    assert bounds[0] < elapsed < bounds[1]

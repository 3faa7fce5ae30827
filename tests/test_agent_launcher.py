"""The agent launcher, executed for real under /bin/sh with a stub `wandb` on PATH.

The stub records its argv, CUDA_VISIBLE_DEVICES and WANDB_* environment, then
behaves as STUB_BEHAVIOUR says: exit with a status, or run until SIGTERM.
The script under test is `LAUNCHER_SCRIPT`, byte for byte what the pods run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from components.agent_job import LAUNCHER_SCRIPT

STUB = r"""#!/bin/sh
# Stub wandb: record how we were started, then do what STUB_BEHAVIOUR says.
record="$STUB_DIR/agent.$$"
{
  printf 'ARGV'; for a in "$@"; do printf '\t%s' "$a"; done; printf '\n'
  printf 'CUDA\t%s\n' "${CUDA_VISIBLE_DEVICES-<unset>}"
  env | grep '^WANDB_' | sort | sed 's/^/ENV\t/'
} > "$record.tmp" && mv "$record.tmp" "$record"
case "$STUB_BEHAVIOUR" in
  run-until-term)
    trap 'echo TERM >> "$record"; exit 0' TERM
    while :; do sleep 1 & wait $!; done ;;
  slow-first-stop)
    # The agent on GPU 0 (the first one started) needs 1.5 s to stop after SIGTERM,
    # like a run saving a checkpoint; the others stop at once.
    if [ "${CUDA_VISIBLE_DEVICES-}" = 0 ]; then pause=1.5; else pause=0; fi
    trap 'echo TERM >> "$record"; sleep $pause; echo DONE >> "$record"; exit 0' TERM
    while :; do sleep 1 & wait $!; done ;;
  fail-first)
    # The first agent to start fails, the others succeed.
    if mkdir "$STUB_DIR/failed" 2>/dev/null; then exit 3; fi
    sleep 0.2; exit 0 ;;
  *) exit "${STUB_BEHAVIOUR:-0}" ;;
esac
"""


@pytest.fixture
def stub_dir(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "wandb"
    stub.write_text(STUB)
    stub.chmod(0o755)
    return tmp_path


def launcher_env(stub_dir: Path, behaviour: str = "0", **settings: str) -> dict[str, str]:
    env = {
        "PATH": f"{stub_dir / 'bin'}:/usr/bin:/bin",
        "STUB_DIR": str(stub_dir),
        "STUB_BEHAVIOUR": behaviour,
        "SWEEP_PATH": "team/proj/abcd1234",
        "WANDB_API_KEY": "local-" + "k" * 40,
        "WANDB_BASE_URL": "https://wandb.example.com",
        "WANDB_ENTITY": "team",
        "WANDB_PROJECT": "proj",
    }
    env.update(settings)
    return env


def start(stub_dir: Path, behaviour: str = "0", **settings: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["/bin/sh", "-c", LAUNCHER_SCRIPT],
        env=launcher_env(stub_dir, behaviour, **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def agents(stub_dir: Path) -> list[dict]:
    """What each stub agent recorded, ordered by the GPUs it got."""
    found = []
    for record in sorted(stub_dir.glob("agent.*")):
        if record.suffix == ".tmp":
            continue
        entry: dict = {"env": {}, "term": False}
        for line in record.read_text().splitlines():
            kind, _, rest = line.partition("\t")
            if kind == "ARGV":
                entry["argv"] = rest.split("\t")
            elif kind == "CUDA":
                entry["cuda"] = None if rest == "<unset>" else rest
            elif kind == "ENV":
                name, _, value = rest.partition("=")
                entry["env"][name] = value
            elif kind == "TERM":
                entry["term"] = True
            elif kind == "DONE":
                entry["done"] = True
        found.append(entry)
    return sorted(found, key=lambda a: json.dumps(a.get("cuda")))


def run(stub_dir: Path, behaviour: str = "0", **settings: str) -> tuple[int, list[dict], str]:
    process = start(stub_dir, behaviour, **settings)
    _, stderr = process.communicate(timeout=30)
    return process.returncode, agents(stub_dir), stderr


def wait_for_agents(stub_dir: Path, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len([p for p in stub_dir.glob("agent.*") if p.suffix != ".tmp"]) < count:
        assert time.monotonic() < deadline, "agents did not start"
        time.sleep(0.05)


def test_starts_one_agent_per_pod_by_default_with_forwarded_signals(stub_dir: Path) -> None:
    code, started, _ = run(stub_dir)
    assert code == 0
    assert len(started) == 1
    assert started[0]["argv"] == ["agent", "-f", "team/proj/abcd1234"]
    assert started[0]["cuda"] is None
    assert started[0]["env"] == {
        "WANDB_API_KEY": "local-" + "k" * 40,
        "WANDB_BASE_URL": "https://wandb.example.com",
        "WANDB_ENTITY": "team",
        "WANDB_PROJECT": "proj",
    }


def test_starts_agents_per_pod_agents_with_count(stub_dir: Path) -> None:
    code, started, _ = run(stub_dir, AGENTS_PER_POD="3", RUNS_PER_AGENT="5")
    assert code == 0
    assert [a["argv"] for a in started] == [["agent", "-f", "--count", "5", "team/proj/abcd1234"]] * 3


@pytest.mark.parametrize(
    ("gpus", "agent_count", "pins"),
    [
        ("4", "2", ["0,1", "2,3"]),
        ("8", "4", ["0,1", "2,3", "4,5", "6,7"]),
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
    if int(gpus) >= int(agent_count):
        devices = [d for a in started for d in a["cuda"].split(",")] if gpus != "0" else []
        assert len(devices) == len(set(devices)) == int(gpus), "blocks must be disjoint and cover every GPU"


def test_one_failing_agent_makes_the_launcher_fail_after_waiting_for_the_others(stub_dir: Path) -> None:
    code, started, stderr = run(stub_dir, "fail-first", AGENTS_PER_POD="3")
    assert code == 3
    assert len(started) == 3
    assert "exited with status 3" in stderr


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


def test_missing_sweep_path_is_a_clear_error(stub_dir: Path) -> None:
    env = launcher_env(stub_dir)
    del env["SWEEP_PATH"]
    result = subprocess.run(
        ["/bin/sh", "-c", LAUNCHER_SCRIPT], env=env, capture_output=True, text=True, timeout=10
    )
    assert result.returncode != 0
    assert "SWEEP_PATH (entity/project/sweep id) must be set" in result.stderr
    assert not list(stub_dir.glob("agent.*"))


def test_the_api_key_is_never_on_a_command_line(stub_dir: Path) -> None:
    process = start(stub_dir, "run-until-term", AGENTS_PER_POD="2")
    wait_for_agents(stub_dir, 2)
    try:
        cmdlines = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    cmdlines.append((proc / "cmdline").read_bytes().decode(errors="replace"))
                except OSError:
                    continue
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
        ["/bin/sh", "-c", LAUNCHER_SCRIPT],
        env=launcher_env(stub_dir, "slow-first-stop", AGENTS_PER_POD="3", GPUS_PER_POD="3"),
        stdout=log,
        stderr=log,
    )
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

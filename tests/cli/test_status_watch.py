"""`wandb-sweeps status --watch`: refreshes until the sweep ends, and the exit code says how.

The command runs in this process (`status.run`) with a `Timing` whose clock and sleep
are the test's: each sleep moves the test's time on and may change the sweep on the
test W&B server, as agents and users would between two refreshes. The TTY tests run
the real command on a pseudo-terminal.
"""

from __future__ import annotations

import io
import json
import os
import pty
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from status_cli import ROOT, seed_grid, status_command
from wandb_server import DEFAULT_KEY, SweepRecord, WandbServer

from wandb_sweeps.cli import status
from wandb_sweeps.cli.main import parser
from wandb_sweeps.cli.watch import Timing


class FakeTime:
    """The watch's clock and sleep: each sleep adds its seconds, then runs `between(n)`
    (n: the number of sleeps so far), which may change the sweep."""

    def __init__(self, between: Callable[[int], None] = lambda _n: None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.between = between

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.between(len(self.sleeps))

    def timing(self, **overrides: float) -> Timing:
        return Timing(sleep=self.sleep, clock=self.clock, **overrides)  # type: ignore[arg-type]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def watch(server: WandbServer, sweep: SweepRecord, fake: FakeTime, *extra: str, **timing: float) -> int:
    args = parser().parse_args(
        [
            "status",
            "--sweep",
            f"{sweep.entity}/{sweep.project}/{sweep.name}",
            "--base-url",
            server.base_url,
            "--watch",
            "--call-timeout",
            "1",
            "--request-timeout",
            "1",
            *extra,
        ]
    )
    return status.run(args, timing=fake.timing(**timing))


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", DEFAULT_KEY)


def test_a_watch_ends_0_when_the_sweep_finishes(
    server: WandbServer, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = server.create_sweep(
        {"method": "grid", "metric": {"name": "loss"}, "parameters": {"a": {"values": [1, 2]}}}
    )
    first = server.log_run(sweep, state="running", params={"a": 1}, summary={"loss": 0.5})

    def between(sleeps: int) -> None:
        if sleeps == 1:
            server.update_run(first, state="finished", summary={"loss": 0.2})
            server.log_run(sweep, state="running", params={"a": 2})
            server.set_sweep_state(sweep.entity, sweep.project, sweep.name, "RUNNING")
        if sleeps == 2:
            server.update_run(server.runs[-1], state="finished", summary={"loss": 0.3})
            server.set_sweep_state(sweep.entity, sweep.project, sweep.name, "FINISHED")

    fake = FakeTime(between)
    mark = server.mark()
    assert watch(server, sweep, fake, interval=30) == 0
    out, err = capsys.readouterr()
    assert fake.sleeps == [30, 30]
    progress = [line.split(" ", 1)[1] for line in out.splitlines()[:3]]
    assert progress == [
        "PENDING: running 1, finished 0, failed 0, best loss 0.5, agents alive 0; runs done 0/2",
        "RUNNING: running 1, finished 1, failed 0, best loss 0.2, agents alive 0; runs done 1/2",
        "FINISHED: running 0, finished 2, failed 0, best loss 0.2, agents alive 0; runs done 2/2",
    ]
    assert "\r" not in out, "no terminal: plain lines for a CI log"
    assert out.splitlines()[5] == "state     FINISHED", "the table follows the progress"
    assert err == "wandb-sweeps status: the sweep is FINISHED\n"
    assert server.operation_counts(mark) == {"GetSweep": 3, "Runs": 3, "GetSweepAgents": 3}


@pytest.mark.parametrize(
    ("final", "code", "reason"),
    [
        ("CANCELED", 1, "the sweep is CANCELED"),
        ("FAILED", 1, "the sweep is FAILED"),
        ("FINISHED", 0, "FINISHED"),
    ],
)
def test_a_watch_ends_on_each_final_state(
    server: WandbServer, capsys: pytest.CaptureFixture[str], final: str, code: int, reason: str
) -> None:
    sweep = server.create_sweep({"method": "random", "parameters": {"a": {"values": [1]}}}, state="RUNNING")
    server.log_run(sweep, state="finished")
    fake = FakeTime(lambda n: server.set_sweep_state(sweep.entity, sweep.project, sweep.name, final))
    assert watch(server, sweep, fake, timeout=3600) == code  # a state the watch missed: no hang
    assert fake.sleeps == [30]
    assert reason in capsys.readouterr().err


def test_a_finished_sweep_whose_every_run_failed_ends_1(
    server: WandbServer, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = server.create_sweep({"method": "grid", "parameters": {"a": {"values": [1, 2]}}}, state="FINISHED")
    server.log_run(sweep, state="failed")
    server.log_run(sweep, state="crashed")
    assert watch(server, sweep, FakeTime()) == 1
    assert "the sweep is FINISHED, but all 2 of its runs failed" in capsys.readouterr().err


def test_a_sweep_left_with_only_failures_and_no_live_agent_ends_1(
    server: WandbServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`wandb agent` gives up with exit 0 after repeated failures; the sweep stays RUNNING."""
    sweep = server.create_sweep({"method": "random", "parameters": {"a": {"values": [1]}}}, state="RUNNING")
    for state in ("failed", "crashed", "killed"):
        server.log_run(sweep, state=state)
    agent = server.add_agent(sweep, host="pod-a", heartbeat_at=datetime.now(UTC))
    fake = FakeTime(lambda n: setattr(agent, "heartbeat_at", datetime.now(UTC) - timedelta(minutes=5)))
    assert watch(server, sweep, fake) == 1
    assert fake.sleeps == [30], "the first refresh saw a live agent and waited"
    assert "all 3 runs of the sweep failed, none is running and no agent is alive" in capsys.readouterr().err


def test_w_and_b_not_answering_backs_off_then_the_watch_goes_on(
    server: WandbServer, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = server.create_sweep({"method": "random", "parameters": {"a": {"values": [1]}}}, state="FINISHED")
    server.inject(operation="GetSweep", status=503, times=3)
    fake = FakeTime()
    assert watch(server, sweep, fake, interval=30) == 0
    assert fake.sleeps == [30, 60, 120]
    out = capsys.readouterr().out
    assert out.count("did not read sweep") == 3
    assert "Next try in 120 s." in out


def test_w_and_b_down_for_the_limit_ends_the_watch_1(
    server: WandbServer, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = server.create_sweep({"method": "random", "parameters": {"a": {"values": [1]}}}, state="RUNNING")
    server.inject(status=503, times=1000)
    fake = FakeTime()
    assert watch(server, sweep, fake, interval=30, max_backoff=300, down_limit=600, timeout=36000) == 1
    assert fake.sleeps == [30, 60, 120, 240, 300]
    assert "It has not answered for 750 s in a row; the watch gives up." in capsys.readouterr().err


def test_timeout_ends_a_watch_1_without_sleeping_past_it(
    server: WandbServer, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = server.create_sweep({"method": "random", "parameters": {"a": {"values": [1]}}}, state="RUNNING")
    fake = FakeTime()
    assert watch(server, sweep, fake, interval=30, timeout=100) == 1
    assert fake.sleeps == [30, 30, 30]
    assert "the sweep is still RUNNING after the --timeout of 100 s" in capsys.readouterr().err


def test_a_deleted_sweep_or_a_revoked_key_ends_the_watch_at_once(
    server: WandbServer, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = server.create_sweep({"method": "random", "parameters": {"a": {"values": [1]}}}, state="RUNNING")
    fake = FakeTime(lambda n: server.delete_sweep(sweep.entity, sweep.project, sweep.name))
    assert watch(server, sweep, fake) == 1
    assert fake.sleeps == [30]
    assert "has no sweep" in capsys.readouterr().err
    other = server.create_sweep({"method": "random", "parameters": {"a": {"values": [1]}}}, state="RUNNING")
    fake = FakeTime(lambda n: server.api_keys.clear())
    assert watch(server, other, fake) == 1
    err = capsys.readouterr().err
    assert "rejected the API key in WANDB_API_KEY" in err
    assert DEFAULT_KEY not in err


def test_plain_lines_repeat_only_on_a_change_or_after_a_while(
    server: WandbServer, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = server.create_sweep({"method": "random", "parameters": {"a": {"values": [1]}}}, state="RUNNING")
    fake = FakeTime()
    assert watch(server, sweep, fake, interval=30, timeout=400, plain_every=300) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if "runs done" in line]
    assert len(fake.sleeps) == 13
    assert len(lines) == 2, "the first refresh, and one 300 s later: nothing changed in between"


def test_on_a_terminal_a_bar_is_redrawn_in_place(
    server: WandbServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = seed_grid(server)
    spinning = server.create_sweep(
        {"method": "random", "parameters": {"a": {"values": [1]}}}, state="RUNNING"
    )
    server.log_run(spinning, state="finished")
    for sweep, drawn in (
        (seeded.sweep, "[####################----------] 4/6 done  RUNNING"),
        (spinning, "| 1 done  RUNNING"),
    ):
        terminal = Terminal()
        monkeypatch.setattr(sys, "stdout", terminal)
        frames = FakeTime()
        assert watch(server, sweep, frames, interval=30, timeout=70) == 1
        out = terminal.getvalue()
        assert out.startswith("\r\x1b[2K" + drawn), out[:120]
        assert out.count("\r\x1b[2K") == 3
        if sweep is spinning:
            assert "\r\x1b[2K/ 1 done" in out and "\r\x1b[2K- 1 done" in out
        assert "\nsweep     " in out, "the bar's line is ended before the table"
    capsys.readouterr()


def test_watch_with_json_keeps_stdout_one_object(
    server: WandbServer, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = server.create_sweep({"method": "random", "parameters": {"a": {"values": [1]}}}, state="RUNNING")
    fake = FakeTime(lambda n: server.set_sweep_state(sweep.entity, sweep.project, sweep.name, "FINISHED"))
    assert watch(server, sweep, fake, "--json") == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["state"] == "FINISHED"
    assert out.count("\n") == 1
    assert err.count("runs done") == 2


def test_the_real_command_draws_a_bar_only_on_a_terminal(server: WandbServer) -> None:
    seeded = seed_grid(server, state="FINISHED")
    args = ["--sweep", seeded.path, "--base-url", server.base_url, "--watch", "--interval", "5"]
    piped = status_command(*args)
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stdout
    assert "FINISHED: running 1, finished 2, failed 2" in piped.stdout
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "WANDB_BASE_URL"}
    env["WANDB_API_KEY"] = DEFAULT_KEY
    process = subprocess.Popen(
        [sys.executable, "-m", "wandb_sweeps", "status", *args],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side closed: the command ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    shown = b"".join(chunks).decode()
    assert "\r\x1b[2K[####################----------] 4/6 done  FINISHED" in shown


def test_interval_and_timeout_reach_the_watch(server: WandbServer) -> None:
    sweep = server.create_sweep({"method": "random", "parameters": {"a": {"values": [1]}}}, state="RUNNING")
    path = f"alice/uncategorized/{sweep.name}"
    done = status_command(
        "--sweep", path, "--base-url", server.base_url, "--watch", "--interval", "5", "--timeout", "3"
    )
    assert done.returncode == 1
    assert "still RUNNING after the --timeout of 3 s" in done.stderr


def test_ctrl_c_ends_a_watch_with_130_and_no_traceback(server: WandbServer) -> None:
    sweep = server.create_sweep({"method": "random", "parameters": {"a": {"values": [1]}}}, state="RUNNING")
    env = {k: v for k, v in os.environ.items() if k != "WANDB_BASE_URL"}
    env["WANDB_API_KEY"] = DEFAULT_KEY
    path = f"alice/uncategorized/{sweep.name}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wandb_sweeps",
            "status",
            "--sweep",
            path,
            "--base-url",
            server.base_url,
            "--watch",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert process.stdout is not None
    assert "runs done" in process.stdout.readline()  # the first refresh: now it sleeps
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()

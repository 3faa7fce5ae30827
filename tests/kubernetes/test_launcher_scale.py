"""The launcher at scale, under /bin/sh with a stub `wandb`: start delays, agents restarted
after W&B refused them, and idle agents reported.

The stub here follows a plan, one behaviour per start of an agent, from the file
`plan.agent-<i>` in the test's directory (none: exit 0): a status (`1`), `idle` (run until
SIGTERM, starting no run), `run` (write a run's config file, as `wandb agent` does before
each run, then run until SIGTERM) or `run-then-N` (write one, then exit N). Each start is
recorded in `starts.agent-<i>` (time, argv) and `debug.agent-<i>` (whether the agent's
wandb/ folder existed when it started). A debug log is planted by the tests where the real
`wandb agent` writes it. The state query meets a stub Python first on PATH (`STATE_STUB`),
which answers what the file `state` holds.
The script under test is `LAUNCHER_SCRIPT`, byte for byte what the pods run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wandb_sweeps.kubernetes.agent_job import LAUNCHER_SCRIPT

LAUNCHER_SHELL = os.environ.get("LAUNCHER_SHELL", "/bin/sh").split()
"""/bin/sh as in pods (dash here), or e.g. LAUNCHER_SHELL="bash --posix" (as test_agent_launcher)."""
SWEEP = "team/proj/abcd1234"
KEY = "local-" + "k" * 40

STATE_STUB = r"""#!/bin/sh
# Stub Python, first on PATH: as `python3 -c <query> SWEEP_PATH` it records the call and
# answers what $STUB_DIR/state holds: a state, or ERROR (a one-line error, exit 1).
shift 2
printf '%s\n' "$@" > "$STUB_DIR/query.$$"
answer=$(cat "$STUB_DIR/state")
case "$answer" in
  ERROR) echo "CommError: W&B said no" >&2; exit 1 ;;
  *) echo "$answer" ;;
esac
"""

PLANNED_STUB = r"""#!/bin/sh
name=${WANDB_DIR##*/}
count_file="$STUB_DIR/count.$name"
n=0
[ -e "$count_file" ] && n=$(cat "$count_file")
echo $((n + 1)) > "$count_file"
if [ -d "$WANDB_DIR/wandb" ]; then echo yes >> "$STUB_DIR/debug.$name"; else echo no >> "$STUB_DIR/debug.$name"; fi
printf '%s %s\n' "$(date +%s.%N)" "$*" >> "$STUB_DIR/starts.$name"
plan=$(sed -n "$((n + 1))p" "$STUB_DIR/plan.$name" 2> /dev/null)
for last in "$@"; do :; done
run() {
  mkdir -p "$WANDB_DIR/wandb/sweep-${last##*/}"
  echo "lr: {value: 0.1}" > "$WANDB_DIR/wandb/sweep-${last##*/}/config-$$x$n.yaml"
}
case ${plan:-0} in
  idle) trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done ;;
  run) run; trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done ;;
  run-then-*) run; exit "${plan#run-then-}" ;;
  *) exit "${plan:-0}" ;;
esac
"""

BACKOFF = {"WANDB_SWEEPS_RESTART_BACKOFF_SECONDS": "1"}
"""Restarts 1 s (plus up to 1 s), then 2 s (plus up to 2 s) after the exit: fast tests."""


_launched: list[subprocess.Popen[str]] = []
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


@pytest.fixture
def stub_dir(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("wandb", PLANNED_STUB), ("python3", STATE_STUB)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    set_state(tmp_path, "RUNNING")
    (tmp_path / "wandb-dir").mkdir()
    return tmp_path


def launcher_env(stub_dir: Path, **settings: str) -> dict[str, str]:
    env = {
        "PATH": f"{stub_dir / 'bin'}:/usr/bin:/bin",
        "HOME": str(stub_dir),
        "STUB_DIR": str(stub_dir),
        "SWEEP_PATH": SWEEP,
        "WANDB_API_KEY": KEY,
        "WANDB_BASE_URL": "https://wandb.example.com",
        "WANDB_DIR": str(stub_dir / "wandb-dir"),
    }
    env.update(settings)
    return env


def set_state(stub_dir: Path, answer: str) -> None:
    (stub_dir / "state").write_text(answer + "\n")


def queries(stub_dir: Path) -> list[list[str]]:
    """The state queries the stub answered: the arguments after `-c QUERY`."""
    return [record.read_text().splitlines() for record in stub_dir.glob("query.*")]


def wait_for(condition: Callable[[], object], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def plan(stub_dir: Path, agent: int, *behaviours: str) -> None:
    (stub_dir / f"plan.agent-{agent}").write_text("\n".join(behaviours) + "\n")


def starts(stub_dir: Path, agent: int) -> list[tuple[float, str]]:
    """When agent `agent` was started, and with which arguments, in order."""
    path = stub_dir / f"starts.agent-{agent}"
    if not path.exists():
        return []
    return [
        (float(t), argv) for t, _, argv in (line.partition(" ") for line in path.read_text().splitlines())
    ]


def start(stub_dir: Path, **settings: str) -> subprocess.Popen[str]:
    log = (stub_dir / "launcher.log").open("w")
    process = subprocess.Popen(
        [*LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
        env=launcher_env(stub_dir, **settings),
        cwd=stub_dir,
        stdout=log,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    _launched.append(process)
    return process


def output(stub_dir: Path) -> str:
    text = (stub_dir / "launcher.log").read_text()
    assert KEY not in text, "the API key is in the launcher's output"
    return text


def finish(process: subprocess.Popen[str], stub_dir: Path, timeout: float = 30) -> tuple[int, str]:
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"launcher still running after {timeout} s\n{output(stub_dir)}")
    return code, output(stub_dir)


# -- restarts ----------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["RUNNING", "PENDING"])
def test_an_agent_that_exits_1_while_the_sweep_runs_is_restarted_after_a_backoff(
    stub_dir: Path, state: str
) -> None:
    """W&B kept answering 429 to its start-up calls, and `wandb agent` gave up (exit 1):
    the pod does not fail; the agent starts again 1-2 s later, and then works."""
    set_state(stub_dir, state)
    plan(stub_dir, 0, "1", "run")
    plan(stub_dir, 1, "run")
    process = start(stub_dir, AGENTS_PER_POD="2", AGENT_RESTARTS="3", **BACKOFF)
    wait_for(lambda: len(starts(stub_dir, 0)) == 2, "agent 0 to be restarted", timeout=15)
    (first, _), (second, _) = starts(stub_dir, 0)
    log = output(stub_dir)
    assert process.poll() is None, log
    assert f"agent 0 exited with status 1 while the sweep is {state}" in log
    assert "restarting it in 1 s, restart 1 of 3 (AGENT_RESTARTS)" in log
    assert 1.0 <= second - first < 3.5, second - first
    assert "stopping the other agents" not in log
    assert queries(stub_dir) == [[SWEEP]]  # one query: is the sweep over?
    process.send_signal(signal.SIGTERM)
    code, log = finish(process, stub_dir)
    assert code == 143, log


def test_restarts_are_bounded_then_the_pod_fails_with_1(stub_dir: Path) -> None:
    plan(stub_dir, 0, "1", "1", "1", "1")
    plan(stub_dir, 1, "run")
    process = start(stub_dir, AGENTS_PER_POD="2", AGENT_RESTARTS="2", **BACKOFF)
    code, log = finish(process, stub_dir)
    assert code == 1, log
    assert len(starts(stub_dir, 0)) == 3  # the first start and 2 restarts
    assert "restart 1 of 2" in log and "restart 2 of 2" in log and "restart 3" not in log
    # The back-off doubles: 1 s (+ up to 1 s), then 2 s (+ up to 2 s).
    times = [t for t, _ in starts(stub_dir, 0)]
    assert 1.0 <= times[1] - times[0] < 3.5 and 2.0 <= times[2] - times[1] < 5.5, times
    assert "stopping the other agents (SIGTERM)" in log
    assert len(queries(stub_dir)) == 3  # one per exit


def test_restarts_in_a_row_start_again_once_the_agent_started_a_run(stub_dir: Path) -> None:
    """A run started between two failures means W&B answered: the count starts again."""
    plan(stub_dir, 0, "1", "run-then-1", "1", "1")
    process = start(stub_dir, AGENT_RESTARTS="1", **BACKOFF)
    code, log = finish(process, stub_dir)
    assert code == 1, log
    # exit 1: restart 1 of 1; a run, then exit 1: restart 1 of 1 again; exit 1: none left.
    assert len(starts(stub_dir, 0)) == 3
    assert log.count("restart 1 of 1") == 2, log


def test_a_restarted_agent_is_given_the_runs_it_has_left(stub_dir: Path) -> None:
    plan(stub_dir, 0, "run-then-1", "run-then-0")
    process = start(stub_dir, AGENT_RESTARTS="3", RUNS_PER_AGENT="2", **BACKOFF)
    code, log = finish(process, stub_dir)
    assert code == 0, log
    assert [argv for _, argv in starts(stub_dir, 0)] == [
        f"agent -f --count 2 {SWEEP}",
        f"agent -f --count 1 {SWEEP}",
    ]
    assert "agent 0 is done: it started its 2 run(s) (RUNS_PER_AGENT)" in log


@pytest.mark.parametrize(
    ("state", "expected"), [("PAUSED", 1), ("ERROR", 1), ("FINISHED", 0), ("CANCELED", 0)]
)
def test_other_states_keep_todays_rule_even_with_restarts(stub_dir: Path, state: str, expected: int) -> None:
    """PAUSED (W&B may refuse agents there), an unreadable state and a sweep that is over are
    judged as before: no restart."""
    set_state(stub_dir, state)
    plan(stub_dir, 0, "1", "run")
    code, log = finish(start(stub_dir, AGENT_RESTARTS="3", **BACKOFF), stub_dir)
    assert code == expected, log
    assert len(starts(stub_dir, 0)) == 1
    assert "restarting" not in log


@pytest.mark.parametrize("status", ["2", "3"])
def test_only_status_1_is_restarted(stub_dir: Path, status: str) -> None:
    plan(stub_dir, 0, status, "run")
    code, log = finish(start(stub_dir, AGENT_RESTARTS="3", **BACKOFF), stub_dir)
    assert code == int(status), log
    assert len(starts(stub_dir, 0)) == 1


def test_sigterm_during_a_restart_backoff_ends_the_pod_at_once(stub_dir: Path) -> None:
    plan(stub_dir, 0, "1", "run")
    process = start(stub_dir, AGENT_RESTARTS="3", WANDB_SWEEPS_RESTART_BACKOFF_SECONDS="60")
    wait_for(lambda: "restarting it in" in output(stub_dir), "the restart to be planned")
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code, log = finish(process, stub_dir, timeout=10)
    assert code == 143, log
    assert time.monotonic() - sent < 3
    assert len(starts(stub_dir, 0)) == 1  # never started again


# -- start delays ------------------------------------------------------------------------


def test_agents_start_at_random_times_within_the_spread(stub_dir: Path) -> None:
    for agent in range(8):
        plan(stub_dir, agent, "run")
    began = time.time()
    process = start(stub_dir, AGENTS_PER_POD="8", AGENT_START_SPREAD_SECONDS="2")
    wait_for(lambda: all(starts(stub_dir, a) for a in range(8)), "every agent to start", timeout=10)
    delays = sorted(starts(stub_dir, a)[0][0] - began for a in range(8))
    log = output(stub_dir)
    print(f"8 agents, AGENT_START_SPREAD_SECONDS=2: started after {[round(d, 2) for d in delays]} s")
    assert log.count("starts in") == 8, log  # one line per agent
    assert "(a random 0 to 2 s, AGENT_START_SPREAD_SECONDS" in log
    assert delays[0] >= 0 and delays[-1] < 2.5
    assert delays[-1] - delays[0] > 0.3, "the agents started together"
    process.send_signal(signal.SIGTERM)
    assert finish(process, stub_dir)[0] == 143


def test_without_od_the_delays_still_differ(stub_dir: Path, tmp_path: Path) -> None:
    """Images without od (or /dev/urandom): a generator seeded with the launcher's pid."""
    no_od = tmp_path / "no-od"
    no_od.mkdir()
    for directory in ("/usr/bin", "/bin"):
        for tool in Path(directory).iterdir():
            if tool.name != "od" and not (no_od / tool.name).exists():
                (no_od / tool.name).symlink_to(tool)
    for agent in range(6):
        plan(stub_dir, agent, "run")
    process = start(
        stub_dir, AGENTS_PER_POD="6", AGENT_START_SPREAD_SECONDS="2", PATH=f"{stub_dir / 'bin'}:{no_od}"
    )
    wait_for(lambda: all(starts(stub_dir, a) for a in range(6)), "every agent to start", timeout=10)
    delays = {
        line.split("starts in ")[1].split(" ")[0]
        for line in output(stub_dir).splitlines()
        if "starts in" in line
    }
    assert len(delays) > 1, delays
    process.send_signal(signal.SIGTERM)
    assert finish(process, stub_dir)[0] == 143


def test_sigterm_during_the_start_delay_starts_no_agent(stub_dir: Path) -> None:
    process = start(stub_dir, AGENTS_PER_POD="2", AGENT_START_SPREAD_SECONDS="60")
    wait_for(lambda: output(stub_dir).count("starts in") == 2, "the delays")
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code, log = finish(process, stub_dir, timeout=10)
    assert code == 143, log
    assert time.monotonic() - sent < 3
    assert starts(stub_dir, 0) == starts(stub_dir, 1) == []


def test_no_spread_starts_every_agent_at_once_and_says_nothing(stub_dir: Path) -> None:
    for agent in range(4):
        plan(stub_dir, agent, "run")
    began = time.time()
    process = start(stub_dir, AGENTS_PER_POD="4", AGENT_START_SPREAD_SECONDS="0")
    wait_for(lambda: all(starts(stub_dir, a) for a in range(4)), "every agent to start")
    assert max(starts(stub_dir, a)[0][0] for a in range(4)) - began < 1.0
    assert "starts in" not in output(stub_dir)
    process.send_signal(signal.SIGTERM)
    assert finish(process, stub_dir)[0] == 143


@pytest.mark.parametrize(
    "name", ["AGENT_START_SPREAD_SECONDS", "AGENT_RESTARTS", "WANDB_SWEEPS_IDLE_REPORT_SECONDS"]
)
def test_a_setting_that_is_not_a_whole_number_is_named_and_the_default_used(
    stub_dir: Path, name: str
) -> None:
    set_state(stub_dir, "FINISHED")
    code, log = finish(start(stub_dir, **{name: "ten"}), stub_dir)
    assert code == 0, log
    assert f"wandb-sweeps: {name} must be a whole number, got 'ten'; using" in log


def test_each_agent_has_its_wandb_folder_before_it_starts(stub_dir: Path) -> None:
    """Else `wandb agent` writes its debug log to the system's temp folder, shared by all."""
    set_state(stub_dir, "FINISHED")
    code, log = finish(start(stub_dir, AGENTS_PER_POD="3"), stub_dir)
    assert code == 0, log
    assert [(stub_dir / f"debug.agent-{a}").read_text() for a in range(3)] == ["yes\n"] * 3


# -- idle agents -------------------------------------------------------------------------

HEARTBEAT_FAILURE = f"""2026-12-04 12:00:06 ERROR Error communicating with W&B.
Traceback (most recent call last):
  File "/usr/lib/python3/site-packages/wandb/apis/public/sweeps.py", line 1000, in _agent_heartbeat
    response = api._service_api.execute_graphql(
wandb.sdk.lib.service.service_connection.WandbApiFailedError: POST https://{KEY}@wandb.example.com/graphql giving up after 21 attempt(s)
while retrying: HTTP 429: {{"error": "rate limit exceeded"}}
2026-12-04 12:00:11 INFO Running runs: []
"""
"""What `wandb agent` 0.31 logs when a heartbeat meets 429s until wandb-core gives up (seen
with the real agent against tests/harness/wandb_server.py), with the key planted in it."""
SHOWN = (
    "WandbApiFailedError: POST https://<WANDB_API_KEY>@wandb.example.com/graphql giving up after 21 attempt(s) "
    'while retrying: HTTP 429: {"error": "rate limit exceeded"}'
)


def plant_failures(stub_dir: Path, agent: int, count: int) -> None:
    log = stub_dir / "wandb-dir" / f"agent-{agent}" / "wandb" / "debug-cli.pod.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(HEARTBEAT_FAILURE * count)


def report_lines(stub_dir: Path, agent: int) -> list[str]:
    return [
        line
        for line in output(stub_dir).splitlines()
        if line.startswith(f"wandb-sweeps: agent {agent}") and "(WANDB_SWEEPS_IDLE_REPORT_SECONDS)" in line
    ]


def test_an_agent_that_starts_no_run_is_reported_with_its_last_wandb_error(stub_dir: Path) -> None:
    plan(stub_dir, 0, "idle")
    plan(stub_dir, 1, "run")
    plant_failures(stub_dir, 0, 1)
    process = start(stub_dir, AGENTS_PER_POD="2", WANDB_SWEEPS_IDLE_REPORT_SECONDS="2")
    wait_for(lambda: report_lines(stub_dir, 0), "the first report", timeout=10)
    plant_failures(stub_dir, 0, 3)
    wait_for(lambda: len(report_lines(stub_dir, 0)) >= 2, "the second report", timeout=10)
    first, second = report_lines(stub_dir, 0)[:2]
    assert first == (
        "wandb-sweeps: agent 0 has started no run in 2 s while the sweep is RUNNING; 0 heartbeat(s) failed "
        f"since the last report; last W&B error in its debug log: {SHOWN} (WANDB_SWEEPS_IDLE_REPORT_SECONDS)"
    )
    assert "has started no run in 4 s while the sweep is RUNNING; 3 heartbeat(s) failed" in second
    assert report_lines(stub_dir, 1) == []  # it started a run
    assert process.poll() is None  # reported, not restarted or failed
    assert len(starts(stub_dir, 0)) == 1
    assert len(queries(stub_dir)) == 2  # one per round with an idle agent, not per agent
    process.send_signal(signal.SIGTERM)
    assert finish(process, stub_dir)[0] == 143


@pytest.mark.parametrize(
    ("state", "reported"),
    [
        ("PAUSED", None),
        ("PENDING", "while the sweep is PENDING"),
        ("ERROR", "while the sweep's state could not be read from W&B"),
    ],
)
def test_idle_while_paused_is_no_news_and_an_unreadable_state_is_said(
    stub_dir: Path, state: str, reported: str | None
) -> None:
    set_state(stub_dir, state)
    plan(stub_dir, 0, "idle")
    process = start(stub_dir, WANDB_SWEEPS_IDLE_REPORT_SECONDS="1")
    wait_for(lambda: len(queries(stub_dir)) >= 2, "two rounds")
    lines = report_lines(stub_dir, 0)
    if reported is None:
        assert lines == []
    else:
        assert lines and reported in lines[0] and "last W&B error in its debug log: none" in lines[0]
    process.send_signal(signal.SIGTERM)
    assert finish(process, stub_dir)[0] == 143


def test_repeated_heartbeat_failures_are_reported_for_a_busy_agent_too(stub_dir: Path) -> None:
    """Its run goes on, but W&B will not hear that it ended or hand it the next one."""
    plan(stub_dir, 0, "run")
    process = start(stub_dir, WANDB_SWEEPS_IDLE_REPORT_SECONDS="2")
    wait_for(lambda: starts(stub_dir, 0), "the agent to start")
    plant_failures(stub_dir, 0, 1)
    time.sleep(2.5)
    assert report_lines(stub_dir, 0) == []  # one failure is no repeat
    plant_failures(stub_dir, 0, 2)
    wait_for(lambda: report_lines(stub_dir, 0), "the report", timeout=10)
    assert report_lines(stub_dir, 0)[0] == (
        f"wandb-sweeps: agent 0: 2 heartbeats failed in the last 2 s; last W&B error in its debug log: {SHOWN} "
        "(WANDB_SWEEPS_IDLE_REPORT_SECONDS)"
    )
    assert queries(stub_dir) == []  # no idle agent: W&B was not asked
    process.send_signal(signal.SIGTERM)
    assert finish(process, stub_dir)[0] == 143

"""A sweep's progress as W&B reports it: runs by state, runs expected, the best run, agents.

What `wandb-sweeps status` shows, made from what the server answers (`status_queries`
asks). Pure: no request here, and `now` is passed in, so every rule is tested without
a server or a clock. The W&B semantics it relies on, each from the wandb 0.31 client
or W&B's `sweeps` package (the `wandb[sweeps]` extra, 0.3.0), which runs sweeps' searches:

- Run states: `running`, `pending`, `preempting` (alive), `finished`, `failed`,
  `crashed`, `killed`, `preempted` (`sweeps/run.py`, `RunState`; wandb's own
  `wandb/sdk/sweeps/run_state.py`, `RunState`, pairs each with "alive" or "dead").
  A run is done when its state is terminal (`sweeps/run.py`, `run_state_is_terminal`:
  finished, crashed, failed, killed); `preempted` is not, the sweep hands it out again.
- A run's config is JSON text whose values are wrapped as `{"value": v, "desc": ...}`,
  besides wandb's own `_wandb` and `wandb_version` (`wandb/apis/public/runs.py`,
  `Run._load_from_attrs`, `WANDB_INTERNAL_KEYS`). Its summary (`summaryMetrics`) is JSON
  text too (`_convert_to_dict`).
- The sweep's metric is `metric.name` of its config, a key of the run's summary taken as
  it is (`sweeps/run.py`, `SweepRun.summary_metric`: no dotted paths), whose value
  counts only if it is a finite number and not a boolean (`sweeps/run.py`, `is_number`);
  `metric.goal` is `minimize` unless it says `maximize` (`wandb/apis/public/sweeps.py`,
  `Sweep.order`). The best run is the run whose value is best, whatever its state, as
  `Sweep.best_run` orders all the sweep's runs by it.
- Runs expected: `runCountExpected` is what the server computes, the grid's size for a
  grid sweep (3 for `values: [1, 2, 3]`, 9 for a nested 3 x 3) and null for bayes and
  random (wandb's system test against a real server,
  `tests/system_tests/test_sweep/test_sweep_public_api.py`,
  `test_sweep_api_expected_run_count`). Whether the server also counts `run_cap` in it is
  unverified, so the config's `run_cap` is read here too, and the smaller of the two is
  what the sweep can run.
- Agents heartbeat every 5 seconds, busy or idle (`wandb/wandb_agent.py`,
  `Agent.POLL_INTERVAL`); an agent is alive here when its last heartbeat is at most
  AGENT_ALIVE_SECONDS old (twelve heartbeats missed).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .server import FINAL_STATES, SweepPath
from .sweep_file import parse_sweep_config

ALIVE_RUN_STATES = ("running", "pending", "preempting")
FAILED_RUN_STATES = ("failed", "crashed", "killed")
DONE_RUN_STATES = ("finished", *FAILED_RUN_STATES)
RUN_STATES = (*ALIVE_RUN_STATES, *DONE_RUN_STATES, "preempted")
"""Every run state W&B has, in the order the table shows them."""

OTHER_RUN_STATE = "other"
"""Where a run in a state this list does not know is counted."""

WANDB_INTERNAL_KEYS = frozenset({"_wandb", "wandb_version"})
"""Keys of a run's config that wandb itself writes (`wandb/apis/public/runs.py`)."""

AGENT_ALIVE_SECONDS = 60
"""An agent whose last heartbeat is older than this is not counted alive (it sends one
every 5 s)."""

GOALS = ("minimize", "maximize")


@dataclass(frozen=True)
class RunCounts:
    """The sweep's runs by state."""

    by_state: Mapping[str, int]
    """Every state of RUN_STATES (0 when none), and OTHER_RUN_STATE."""
    total: int
    """Runs in the sweep, as the server counts them (`runCount`), or as counted here."""
    counted: int
    """Runs the states were counted over: `total`, unless the sweep has more than one
    refresh reads (`status_queries.MAX_RUN_PAGES`)."""

    @property
    def done(self) -> int:
        return sum(self.by_state[state] for state in DONE_RUN_STATES)

    @property
    def alive(self) -> int:
        return sum(self.by_state[state] for state in ALIVE_RUN_STATES)

    @property
    def failed(self) -> int:
        return sum(self.by_state[state] for state in FAILED_RUN_STATES)


@dataclass(frozen=True)
class BestRun:
    """The run with the best value of the sweep's metric so far."""

    run: str
    """The run's id (its W&B `name`), the last part of its URL."""
    display_name: str
    metric: str
    goal: str
    value: float
    config: Mapping[str, Any]
    """The values the run got for the sweep's parameters (its whole config, wandb's own
    keys left out, when the sweep config names no parameters)."""
    state: str


@dataclass(frozen=True)
class AgentSeen:
    """An agent W&B has registered for the sweep."""

    name: str
    host: str
    state: str
    heartbeat_at: datetime | None
    """Its last heartbeat, UTC; None if it never sent one."""
    runs: int
    """Runs W&B handed it (`totalRuns`)."""

    def seconds_since_heartbeat(self, now: datetime) -> float | None:
        if self.heartbeat_at is None:
            return None
        return max(0.0, (now - self.heartbeat_at).total_seconds())

    def alive(self, now: datetime) -> bool:
        age = self.seconds_since_heartbeat(now)
        return age is not None and age <= AGENT_ALIVE_SECONDS


@dataclass(frozen=True)
class SweepConfigView:
    """What the status needs of the sweep config the server holds."""

    method: str | None = None
    metric: str | None = None
    goal: str = "minimize"
    run_cap: int | None = None
    parameters: tuple[str, ...] = ()
    readable: bool = True
    """False when the stored config could not be read (not YAML or JSON, or too large)."""


@dataclass(frozen=True)
class SweepStatus:
    """One refresh: the sweep and its runs and agents, as W&B reported them at `at`."""

    path: SweepPath
    display_name: str
    state: str
    config: SweepConfigView
    expected: int | None
    """Runs the sweep will run in all, where W&B or the config tells; None: no end known."""
    runs: RunCounts
    best: BestRun | None
    agents: tuple[AgentSeen, ...] | None
    """None when the server does not answer the agents query (older servers)."""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def final(self) -> bool:
        """FINISHED or CANCELED, or the FAILED/CRASHED the public API also names."""
        return self.state in FINAL_STATES or self.state in ("FAILED", "CRASHED")

    @property
    def agents_alive(self) -> int:
        return sum(agent.alive(self.at) for agent in self.agents or ())

    @property
    def only_failures_left(self) -> bool:
        """The sweep has runs, every one failed (failed, crashed or killed), none is alive
        and no agent is: nothing more will happen unless someone starts agents. A sweep
        whose agents gave up (`wandb agent` exits 0 after repeated failures) stays
        RUNNING on W&B for ever; this is how a watch sees it."""
        runs = self.runs
        return (
            runs.counted > 0
            and runs.failed == runs.counted
            and runs.total == runs.counted
            and self.agents_alive == 0
        )


def read_config(text: object) -> SweepConfigView:
    """The method, metric, goal, run_cap and parameter names of a stored sweep config
    (JSON, or YAML read with the sweep file's bounds); an unreadable one gives a view
    with `readable` False and nothing known."""
    if not isinstance(text, str):
        return SweepConfigView(readable=False)
    try:
        try:
            config = json.loads(text)
        except ValueError:
            config = parse_sweep_config(text)
    except Exception:  # noqa: BLE001 - YAML errors, past the bounds: shown as unreadable
        return SweepConfigView(readable=False)
    if not isinstance(config, dict):
        return SweepConfigView(readable=False)
    metric = config.get("metric")
    name = metric.get("name") if isinstance(metric, dict) else None
    goal = metric.get("goal") if isinstance(metric, dict) else None
    run_cap = config.get("run_cap")
    parameters = config.get("parameters")
    method = config.get("method")
    return SweepConfigView(
        method=method if isinstance(method, str) else None,
        metric=name if isinstance(name, str) and name else None,
        goal=goal if goal in GOALS else "minimize",
        run_cap=run_cap
        if isinstance(run_cap, int) and not isinstance(run_cap, bool) and run_cap > 0
        else None,
        parameters=tuple(str(p) for p in parameters) if isinstance(parameters, dict) else (),
    )


def expected_runs(run_count_expected: object, config: SweepConfigView) -> int | None:
    """The runs the sweep will run: the server's count and `run_cap`, the smaller."""
    known = [config.run_cap] if config.run_cap is not None else []
    server = run_count_expected
    if isinstance(server, int) and not isinstance(server, bool) and server >= 0:
        known.append(server)
    return min(known) if known else None


def json_object(text: object) -> dict[str, Any]:
    """A run's config or summary (JSON text, or already a mapping); {} when it is not one."""
    if isinstance(text, dict):
        return text
    if not isinstance(text, str | bytes):
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def user_config(raw: Mapping[str, Any], parameters: Iterable[str]) -> dict[str, Any]:
    """The run's config values (unwrapped), only the sweep's parameters when it names any."""
    values = {
        key: value["value"] if isinstance(value, dict) and "value" in value else value
        for key, value in raw.items()
        if key not in WANDB_INTERNAL_KEYS
    }
    wanted = list(parameters)
    return {key: values[key] for key in wanted if key in values} if wanted else values


def metric_value(summary: Mapping[str, Any], metric: str) -> float | None:
    """The metric's value in a run's summary, if it is a finite number (not a boolean)."""
    value = summary.get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def better(value: float, than: float, goal: str) -> bool:
    return value > than if goal == "maximize" else value < than


def count_states(states: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys((*RUN_STATES, OTHER_RUN_STATE), 0)
    for state in states:
        key = state.lower() if isinstance(state, str) else OTHER_RUN_STATE
        counts[key if key in counts else OTHER_RUN_STATE] += 1
    return counts


def parse_time(value: object) -> datetime | None:
    """A W&B DateTime (ISO 8601; the server's has no zone and means UTC), as UTC."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

"""The rules of `sweep_status`, without a server: which value is a metric, which run is
best, what a run's config holds, runs expected, when a sweep has only failures left."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from wandb_sweeps.wandb.server import SweepPath
from wandb_sweeps.wandb.sweep_status import (
    AgentSeen,
    RunCounts,
    SweepConfigView,
    SweepStatus,
    count_states,
    expected_runs,
    metric_value,
    parse_time,
    read_config,
    user_config,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.25, 0.25),
        (3, 3.0),
        (True, None),  # sweeps' is_number: not a boolean
        (float("nan"), None),
        (float("inf"), None),
        ("0.25", None),
        ({"min": 0.1}, None),  # define_metric(summary="min") keeps a mapping: not the metric
        (None, None),
        (10**400, None),  # too large for a float
    ],
)
def test_only_a_finite_number_counts_as_the_metric(value: object, expected: float | None) -> None:
    assert metric_value({"loss": value}, "loss") == expected


def test_the_metric_is_a_summary_key_as_it_is() -> None:
    assert metric_value({"val/loss": 0.5, "val": {"loss": 0.1}}, "val/loss") == 0.5
    assert metric_value({"val": {"loss": 0.1}}, "val.loss") is None


def test_a_run_s_config_is_unwrapped_without_wandb_s_own_keys() -> None:
    raw = {
        "lr": {"value": 0.01, "desc": None},
        "layers": {"value": {"n": 3}, "desc": None},
        "plain": 5,
        "_wandb": {"value": {"cli_version": "0.31.0"}},
        "wandb_version": {"value": "0.31.0"},
    }
    assert user_config(raw, ()) == {"lr": 0.01, "layers": {"n": 3}, "plain": 5}
    assert user_config(raw, ("lr", "missing")) == {"lr": 0.01}


@pytest.mark.parametrize(
    ("text", "method", "metric", "goal", "run_cap"),
    [
        (
            json.dumps({"method": "grid", "metric": {"name": "acc", "goal": "maximize"}}),
            "grid",
            "acc",
            "maximize",
            None,
        ),
        ("method: bayes\nmetric:\n  name: loss\nrun_cap: 20\n", "bayes", "loss", "minimize", 20),
        (
            "method: random\nmetric: {name: loss, goal: sideways}\nrun_cap: true\n",
            "random",
            "loss",
            "minimize",
            None,
        ),
        ("method: random\nrun_cap: 0\n", "random", None, "minimize", None),
    ],
)
def test_the_stored_config_gives_method_metric_goal_and_run_cap(
    text: str, method: str, metric: str | None, goal: str, run_cap: int | None
) -> None:
    view = read_config(text)
    assert (view.method, view.metric, view.goal, view.run_cap, view.readable) == (
        method,
        metric,
        goal,
        run_cap,
        True,
    )


@pytest.mark.parametrize(
    "text",
    [
        None,
        "- a list\n",
        "method: [unclosed\n",
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
            for i in range(9)
        ),
        "method: grid\n" + "# padding\n" * 5000,  # YAML past the sweep file's 32 KiB
    ],
    ids=["null", "list", "broken", "alias-bomb", "too-large"],
)
def test_an_unreadable_stored_config_is_said_to_be_unreadable(text: str | None) -> None:
    assert read_config(text) == SweepConfigView(readable=False)


def test_runs_expected_are_the_smaller_of_the_grid_and_run_cap() -> None:
    assert expected_runs(6, SweepConfigView(run_cap=4)) == 4
    assert expected_runs(6, SweepConfigView(run_cap=10)) == 6
    assert expected_runs(None, SweepConfigView(run_cap=7)) == 7
    assert expected_runs(None, SweepConfigView()) is None
    assert expected_runs(True, SweepConfigView()) is None
    assert expected_runs(-1, SweepConfigView()) is None


def test_states_are_counted_with_unknown_ones_apart() -> None:
    counts = count_states(["finished", "FINISHED", "running", "exploded", 7])  # type: ignore[list-item]
    assert (counts["finished"], counts["running"], counts["other"], counts["failed"]) == (2, 1, 2, 0)


def test_a_server_time_without_a_zone_is_utc() -> None:
    assert parse_time("2026-12-01T11:59:30") == NOW - timedelta(seconds=30)
    assert parse_time("2026-12-01T13:59:30+02:00") == NOW - timedelta(seconds=30)
    assert parse_time("yesterday") is None
    assert parse_time(17) is None


def _status(states: list[str], agents: list[AgentSeen], total: int | None = None) -> SweepStatus:
    counts = count_states(states)
    return SweepStatus(
        path=SweepPath("alice", "vision", "a1b2c3d4"),
        display_name="",
        state="RUNNING",
        config=SweepConfigView(),
        expected=None,
        runs=RunCounts(counts, total if total is not None else len(states), len(states)),
        best=None,
        agents=tuple(agents),
        at=NOW,
    )


def _agent(seconds_ago: float | None) -> AgentSeen:
    at = None if seconds_ago is None else NOW - timedelta(seconds=seconds_ago)
    return AgentSeen(name="a", host="pod", state="RUNNING", heartbeat_at=at, runs=1)


@pytest.mark.parametrize(
    ("states", "agents", "total", "left"),
    [
        (["failed", "crashed", "killed"], [_agent(61), _agent(None)], None, True),
        (["failed", "crashed", "killed"], [_agent(60)], None, False),  # an agent heartbeat a minute ago
        (["failed", "finished"], [], None, False),
        (["failed", "running"], [], None, False),
        (["failed", "preempted"], [], None, False),  # a preempted run is handed out again
        ([], [], None, False),
        (["failed"], [], 2001, False),  # runs not counted: cannot tell
    ],
)
def test_only_failures_left_needs_every_run_failed_and_nothing_alive(
    states: list[str], agents: list[AgentSeen], total: int | None, left: bool
) -> None:
    assert _status(states, agents, total).only_failures_left is left

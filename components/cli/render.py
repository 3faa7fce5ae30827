"""A sweep's status as people and programs read it: the table, the JSON object, the progress line.

Everything the server named (run names, hosts, parameter values) reaches the terminal
only cut and without escape sequences (`transport.printable`); the caller scrubs the
API key out of the whole text last (`WandbAccess.scrub`), so not even a run that logged
the key into its config can print it.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from ..wandb.sweep_status import AGENT_ALIVE_SECONDS, OTHER_RUN_STATE, RUN_STATES, AgentSeen, SweepStatus
from ..wandb.transport import printable

MAX_AGENTS_SHOWN = 10
"""Agents the table lists (most recent heartbeat first); the JSON has them all."""

BAR_WIDTH = 30
SPINNER = "|/-\\"

JSON_RUN_STATES = ("total", "running", "finished", "failed", "crashed")
"""The `runs` fields the issue names first; every other state follows."""


def as_json(status: SweepStatus, url: str) -> dict[str, Any]:
    """The `--json` object: one per refresh, its fields documented in docs/status.md."""
    runs: dict[str, Any] = {"total": status.runs.total}
    runs.update({state: status.runs.by_state[state] for state in (*RUN_STATES, OTHER_RUN_STATE)})
    runs["counted"] = status.runs.counted
    best = status.best
    return {
        "sweep": str(status.path),
        "url": url,
        "name": status.display_name,
        "state": status.state,
        "method": status.config.method,
        "metric": (
            {"name": status.config.metric, "goal": status.config.goal} if status.config.metric else None
        ),
        "runs": runs,
        "expected": status.expected,
        "best": None
        if best is None
        else {
            "run": best.run,
            "name": best.display_name,
            "metric": best.metric,
            "goal": best.goal,
            "value": best.value,
            "config": dict(best.config),
            "state": best.state,
        },
        "agents": None
        if status.agents is None
        else [
            {
                "name": agent.name,
                "host": agent.host,
                "state": agent.state,
                "heartbeat_at": agent.heartbeat_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                if agent.heartbeat_at
                else None,
                "seconds_since_heartbeat": _whole(agent.seconds_since_heartbeat(status.at)),
                "alive": agent.alive(status.at),
                "runs": agent.runs,
            }
            for agent in status.agents
        ],
        "at": status.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def json_text(status: SweepStatus, url: str) -> str:
    """The JSON object as one line of text; values that are not JSON (never from W&B's
    JSON) are shown as text."""
    return json.dumps(as_json(status, url), default=str, allow_nan=False)


def table(status: SweepStatus, url: str) -> str:
    """The human table: one `label  value` line per fact, indented continuation lines."""
    rows: list[tuple[str, str]] = [
        ("sweep", str(status.path)),
        ("name", status.display_name or "-"),
        ("state", status.state),
        ("url", url),
        ("runs", _runs_line(status)),
        ("expected", _expected_line(status)),
        ("best", _best_line(status)),
    ]
    if status.best is not None and status.best.config:
        rows.append(("", _config_line(status.best.config)))
    rows.extend(_agent_rows(status))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}".rstrip() for label, value in rows) + "\n"


def _runs_line(status: SweepStatus) -> str:
    runs = status.runs
    states = [
        f"{state} {runs.by_state[state]}" for state in (*RUN_STATES, OTHER_RUN_STATE) if runs.by_state[state]
    ]
    line = f"{runs.total}" + (f" ({', '.join(states)})" if states else "")
    if runs.counted < runs.total:
        line += f"; states counted over the newest {runs.counted}"
    return line


def _expected_line(status: SweepStatus) -> str:
    if status.expected is not None:
        return f"{status.expected} ({status.runs.done} done)"
    method = status.config.method or "this method"
    return f"no end known ({method}, no run_cap); {status.runs.done} done"


def _best_line(status: SweepStatus) -> str:
    best, config = status.best, status.config
    if not config.readable:
        return "- (W&B's copy of the sweep config could not be read)"
    if config.metric is None:
        return "- (the sweep config names no metric)"
    if best is None:
        return f"- (no run has reported {printable(config.metric, 80)} yet; goal: {config.goal})"
    run = f"{printable(best.display_name, 60)} ({best.run})" if best.display_name else best.run
    return f"{printable(best.metric, 80)} = {_number(best.value)} ({best.goal}), run {run}, {best.state}"


def _config_line(config: Any) -> str:
    parts = []
    for key, value in list(config.items())[:20]:
        try:
            text = json.dumps(value, default=str) if not isinstance(value, str) else value
        except (ValueError, RecursionError):
            text = "..."
        parts.append(f"{printable(str(key), 40)}={printable(text, 60)}")
    more = len(config) - 20
    return "  ".join(parts) + (f"  (+{more} more)" if more > 0 else "")


def _agent_rows(status: SweepStatus) -> list[tuple[str, str]]:
    if status.agents is None:
        return [("agents", "- (this W&B server does not report a sweep's agents)")]
    agents = sorted(status.agents, key=_newest_first)
    summary = f"{len(agents)} registered, {status.agents_alive} alive (heartbeat in the last {AGENT_ALIVE_SECONDS} s)"
    rows = [("agents", summary)]
    for agent in agents[:MAX_AGENTS_SHOWN]:
        age = agent.seconds_since_heartbeat(status.at)
        heard = "no heartbeat" if age is None else f"heartbeat {ago(age)}"
        rows.append(("", f"{printable(agent.host, 48) or '-'}  {agent.state}  {heard}  {agent.runs} runs"))
    if len(agents) > MAX_AGENTS_SHOWN:
        rows.append(("", f"... and {len(agents) - MAX_AGENTS_SHOWN} more (--json lists them all)"))
    return rows


def _newest_first(agent: AgentSeen) -> tuple[bool, float]:
    moment = agent.heartbeat_at
    return (moment is None, -moment.timestamp() if moment else 0.0)


def progress_line(status: SweepStatus, frame: int, *, bar: bool) -> str:
    """One refresh in one line: a bar of runs done against runs expected (a spinner
    where no end is known) when `bar`, plain words otherwise (a CI log)."""
    runs, done = status.runs, status.runs.done
    counts = f"running {runs.alive}, finished {runs.by_state['finished']}, failed {runs.failed}"
    best = ""
    if status.best is not None:
        best = f", best {printable(status.best.metric, 40)} {_number(status.best.value)}"
    agents = "" if status.agents is None else f", agents alive {status.agents_alive}"
    facts = f"{status.state}: {counts}{best}{agents}"
    if not bar:
        total = f"/{status.expected}" if status.expected is not None else ""
        return f"{_clock(status.at)} {facts}; runs done {done}{total}"
    if status.expected:
        filled = min(BAR_WIDTH, BAR_WIDTH * done // status.expected)
        return f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done}/{status.expected} done  {facts}"
    return f"{SPINNER[frame % len(SPINNER)]} {done} done  {facts}"


def ago(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s ago"
    if seconds < 7200:
        return f"{int(seconds // 60)} min ago"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def _number(value: float) -> str:
    return f"{value:.6g}"


def _whole(seconds: float | None) -> int | None:
    return None if seconds is None else math.floor(seconds)


def _clock(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

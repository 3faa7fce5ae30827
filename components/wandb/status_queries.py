"""The requests of one status refresh: the sweep, a page at a time of its runs, its agents.

Each is one plain GraphQL POST per attempt through `transport` (the deploy-time calls'
bounds: deadline, size, TLS, no redirect, proxies, named errors), never the wandb
client, whose `wandb.Api()` starts wandb-core and probes the server on every call. The
documents are the wandb 0.31 client's, trimmed to the fields used (so every field and
argument is one the real server has):

- the sweep, `GetSweep`: `wandb/apis/public/sweeps.py`, `_get_sweep` (`GET_SWEEP_GQL` in
  `wandb/apis/_generated/operations.py`, its `SweepFragment`), trimmed to `name
  displayName state config runCountExpected`. A server that refuses it gets the
  client's own fallback, `GetSweepLegacy` (`GET_SWEEP_LEGACY_GQL`: `name state config`),
  one request more.
- the runs, `Runs`: `wandb/apis/public/runs.py`, `_create_runs_query` with the full
  `RunFragment` (the lightweight one has no config or summary), trimmed to `runCount`
  and each run's `name displayName state config summaryMetrics`, with the sweep's filter
  as `_get_sweep` and `Sweep.best_run` build it (`{"$and": [{"sweep": <sweep id>}]}`),
  `first`/`after` paging (the next cursor is the last edge's `cursor`, as
  `Runs.cursor` takes it), newest first (`-created_at`: an order `Runs` documents), and
  RUN_PAGE_SIZE runs a page, the client's `per_page` default. Never `sampledHistory`,
  `history` or files: a run's history can be millions of rows.
- the agents, `GetSweepAgents`: `wandb/apis/public/sweeps.py`, `Sweep.agents`
  (`GET_SWEEP_AGENTS_GQL`), trimmed to `name host state totalRuns heartbeatAt`. A server
  that refuses it (one older than the client) gives no agents, not an error.

So a refresh costs 2 + ceil(runs / RUN_PAGE_SIZE) requests (3 up to 50 runs, and 1 page
for a sweep with none), at most 2 + MAX_RUN_PAGES, plus 1 on a server that needs the
legacy sweep query. Every value the server names is checked or shown only through
`transport.excerpt` (the key scrubbed, escape sequences out, cut).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from .server import SweepPath
from .sweep_status import (
    AgentSeen,
    BestRun,
    RunCounts,
    SweepStatus,
    better,
    count_states,
    expected_runs,
    json_object,
    metric_value,
    parse_time,
    read_config,
    user_config,
)
from .transport import (
    WandbAccess,
    WandbAuthError,
    WandbError,
    WandbRedirectError,
    WandbUnavailable,
    WandbUnreadableReply,
    WandbUntrustedError,
    call_graphql,
    excerpt,
    reply_field,
)

RUN_PAGE_SIZE = 50
"""Runs per request: the wandb client's own `per_page` for runs. A page of 50 runs with
their configs and summaries stays far below transport.MAX_REPLY_BYTES."""

MAX_RUN_PAGES = 40
"""Pages one refresh reads at most (2,000 runs, newest first): a refresh stays at most
42 requests however large the sweep grows. Past it, runs are counted over the newest
2,000 and the total is the server's `runCount` (the status says so)."""

_STATE = re.compile(r"[A-Za-z_]{1,32}")

_FATAL = (WandbAuthError, WandbUnavailable, WandbRedirectError, WandbUntrustedError, WandbUnreadableReply)
"""Errors that a fallback query cannot help: they are raised as they are."""


class WandbSweepNotFound(WandbError):
    """W&B has no such sweep, or none the key may see."""


_SWEEP_QUERY = """
query GetSweep($name: String!, $project: String, $entity: String) {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $name) { name displayName state config runCountExpected }
  }
}
"""


_LEGACY_SWEEP_QUERY = """
query GetSweepLegacy($name: String!, $project: String, $entity: String) {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $name) { name state config }
  }
}
"""


_RUNS_QUERY = """
query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String,
           $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    runCount(filters: $filters)
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
      edges { node { name displayName state config summaryMetrics } cursor }
      pageInfo { endCursor hasNextPage }
    }
  }
}
"""


_AGENTS_QUERY = """
query GetSweepAgents($sweep: String!, $entity: String, $project: String) {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $sweep) {
      agents { edges { node { name host state totalRuns heartbeatAt } } }
    }
  }
}
"""


def read_status(access: WandbAccess, path: SweepPath, now: datetime | None = None) -> SweepStatus:
    """One refresh of the sweep at `path`: its state, runs, best run and agents.

    Raises WandbSweepNotFound when W&B has no such sweep (or the key's user may not
    see it), and the transport's named errors (rejected key, unavailable, untrusted
    certificate, redirect, unreadable reply).
    """
    sweep = _sweep(access, path)
    config = read_config(sweep.get("config"))
    states: list[str] = []
    best: BestRun | None = None
    total: int | None = None
    for node, run_count in _runs(access, path):
        total = run_count if total is None else total
        state = node.get("state")
        states.append(state if isinstance(state, str) else "")
        if config.metric is not None:
            best = _better_run(access, node, config.metric, config.goal, config.parameters, best)
    counts = count_states(states)
    counted = len(states)
    state = sweep.get("state")
    if not (isinstance(state, str) and _STATE.fullmatch(state)):
        state = "UNKNOWN"
    return SweepStatus(
        path=path,
        display_name=excerpt(access, str(sweep.get("displayName") or ""), 120),
        state=state.upper(),
        config=config,
        expected=expected_runs(sweep.get("runCountExpected"), config),
        runs=RunCounts(counts, max(total or 0, counted), counted),
        best=best,
        agents=_agents(access, path),
        at=now or datetime.now(UTC),
    )


def _sweep(access: WandbAccess, path: SweepPath) -> dict[str, Any]:
    action = f"read sweep {path}"
    variables = {"entity": path.entity, "project": path.project, "name": path.sweep_id}
    try:
        data = call_graphql(access, action, _SWEEP_QUERY, variables)
    except _FATAL:
        raise
    except WandbError:
        # A server older than the client's SweepFragment: the client's own fallback.
        data = call_graphql(access, action, _LEGACY_SWEEP_QUERY, variables)
    sweep = reply_field(data, "project", "sweep")
    if not isinstance(sweep, dict):
        raise WandbSweepNotFound(
            f"W&B at {access.base_url} has no sweep {path}, or none this API key may see. Check "
            "the entity, project and id (the sweep's URL ends in ENTITY/PROJECT/sweeps/ID), and "
            "that WANDB_API_KEY is a key of a member of the entity."
        )
    return sweep


def _runs(access: WandbAccess, path: SweepPath) -> Iterator[tuple[dict[str, Any], int | None]]:
    """Each run of the sweep (a node with name, state, config and summary), newest first,
    with the server's `runCount`; at most MAX_RUN_PAGES pages, each run once."""
    action = f"list the runs of sweep {path}"
    variables: dict[str, Any] = {
        "entity": path.entity,
        "project": path.project,
        "filters": json.dumps({"$and": [{"sweep": path.sweep_id}]}),
        "order": "-created_at",
        "perPage": RUN_PAGE_SIZE,
        "cursor": None,
    }
    seen: set[str] = set()
    for _page in range(MAX_RUN_PAGES):
        project = reply_field(call_graphql(access, action, _RUNS_QUERY, variables), "project")
        run_count = project.get("runCount") if isinstance(project, dict) else None
        run_count = run_count if isinstance(run_count, int) and not isinstance(run_count, bool) else None
        edges = reply_field(project, "runs", "edges")
        edges = edges if isinstance(edges, list) else []
        for edge in edges:
            node = reply_field(edge, "node")
            name = node.get("name") if isinstance(node, dict) else None
            if isinstance(node, dict) and isinstance(name, str) and name not in seen:
                seen.add(name)  # a run created while paging may shift a page: counted once
                yield node, run_count
        cursor = reply_field(edges[-1], "cursor") if edges else None
        cursor = cursor or reply_field(project, "runs", "pageInfo", "endCursor")
        if not (
            reply_field(project, "runs", "pageInfo", "hasNextPage") and isinstance(cursor, str) and cursor
        ):
            return
        variables["cursor"] = cursor


def _better_run(
    access: WandbAccess,
    node: dict[str, Any],
    metric: str,
    goal: str,
    parameters: tuple[str, ...],
    best: BestRun | None,
) -> BestRun | None:
    """`best`, or the run of `node` if its metric value is better (the first of equals)."""
    value = metric_value(json_object(node.get("summaryMetrics")), metric)
    if value is None or (best is not None and not better(value, best.value, goal)):
        return best
    state = node.get("state")
    return BestRun(
        run=excerpt(access, str(node.get("name")), 64),
        display_name=excerpt(access, str(node.get("displayName") or ""), 120),
        metric=metric,
        goal=goal,
        value=value,
        config=user_config(json_object(node.get("config")), parameters),
        state=state.lower() if isinstance(state, str) and _STATE.fullmatch(state) else "unknown",
    )


def _agents(access: WandbAccess, path: SweepPath) -> tuple[AgentSeen, ...] | None:
    action = f"list the agents of sweep {path}"
    variables = {"entity": path.entity, "project": path.project, "sweep": path.sweep_id}
    try:
        data = call_graphql(access, action, _AGENTS_QUERY, variables)
    except _FATAL:
        raise
    except WandbError:
        return None  # a server without Sweep.agents: the status says it does not report them
    edges = reply_field(data, "project", "sweep", "agents", "edges")
    agents = []
    for edge in edges if isinstance(edges, list) else ():
        node = reply_field(edge, "node")
        if not isinstance(node, dict):
            continue
        runs = node.get("totalRuns")
        state = node.get("state")
        agents.append(
            AgentSeen(
                name=excerpt(access, str(node.get("name") or ""), 64),
                host=excerpt(access, str(node.get("host") or ""), 64),
                state=state.upper() if isinstance(state, str) and _STATE.fullmatch(state) else "UNKNOWN",
                heartbeat_at=parse_time(node.get("heartbeatAt")),
                runs=runs if isinstance(runs, int) and not isinstance(runs, bool) and runs >= 0 else 0,
            )
        )
    return tuple(agents)

"""One status refresh (`status_queries.read_status`) against the test W&B server: what it
costs however large the sweep grows, and a run that appears between two pages."""

from __future__ import annotations

from typing import Any

from wandb_server import DEFAULT_KEY, WandbServer

from wandb_sweeps.cli.render import table
from wandb_sweeps.wandb.server import SweepPath
from wandb_sweeps.wandb.status_queries import MAX_RUN_PAGES, RUN_PAGE_SIZE, read_status
from wandb_sweeps.wandb.transport import WandbAccess


def test_a_huge_sweep_costs_at_most_2_plus_max_run_pages_requests(server: WandbServer) -> None:
    sweep = server.create_sweep(
        {"method": "random", "metric": {"name": "acc", "goal": "maximize"}}, state="RUNNING"
    )
    runs = MAX_RUN_PAGES * RUN_PAGE_SIZE + 50
    for _ in range(runs - 1):
        server.log_run(sweep, state="finished", summary={"acc": 0.5})
    server.log_run(sweep, state="running", summary={"acc": 0.9})  # the newest
    mark = server.mark()
    status = read_status(
        WandbAccess(server.base_url, DEFAULT_KEY), SweepPath("alice", "uncategorized", sweep.name)
    )
    assert server.operation_counts(mark) == {"GetSweep": 1, "Runs": MAX_RUN_PAGES, "GetSweepAgents": 1}
    assert (status.runs.total, status.runs.counted) == (runs, MAX_RUN_PAGES * RUN_PAGE_SIZE)
    assert status.runs.by_state["running"] == 1, "newest first: the runs still going are counted"
    assert status.best is not None and status.best.value == 0.9
    assert not status.only_failures_left
    assert f"runs      {runs} (running 1, finished 1999); states counted over the newest 2000" in table(
        status, "u"
    )


def test_a_run_made_while_paging_is_counted_once(server: WandbServer) -> None:
    sweep = server.create_sweep({"method": "random"}, state="RUNNING")
    for _ in range(RUN_PAGE_SIZE + 10):
        server.log_run(sweep, state="finished")

    def after_first_page(body: dict[str, Any]) -> dict[str, Any]:
        server.log_run(sweep, state="running")  # newest first: it pushes the next page by one
        return body

    server.rewrite_replies("Runs", after_first_page)
    status = read_status(
        WandbAccess(server.base_url, DEFAULT_KEY), SweepPath("alice", "uncategorized", sweep.name)
    )
    assert status.runs.counted == RUN_PAGE_SIZE + 10
    assert status.runs.by_state["finished"] == RUN_PAGE_SIZE + 10

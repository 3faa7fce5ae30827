"""Day 2 with a cluster that acts between ups: deletes that are not over, Jobs the TTL
controller removed, Jobs Kueue holds suspended.

Each sequence runs under the engine model (`engine_model`), whose rules for these cases
are in `platform_rules` with their sources: FOREGROUND_LINGERS_SOURCE (a Job deleted with
Foreground propagation stays in the API, its name taken, while its pods stop, and
skipAwait does not wait for that), UPDATE_READS_LIVE_SOURCE and REFRESH_ALWAYS_SOURCE
(an update of a Job the TTL controller deleted fails unless a refresh drops it first),
SSA_WEBHOOK_FIELDS_SOURCE (an apply that omits `spec.suspend`, set by Kueue's webhook at
create, un-suspends the Job). `Stack.up` fails on any problem the model reports.
"""

from __future__ import annotations

import pytest
from engine_model import JOB_TYPE
from stacks import Stack, ops_by_kind
from wandb_server import DEFAULT_ENTITY, DEFAULT_KEY, WandbServer

IMAGE_A = "ghcr.io/example/wandb-sweeps-trainer:0.1.0"
IMAGE_B = "ghcr.io/example/wandb-sweeps-trainer:0.2.0"


@pytest.fixture
def stack(server: WandbServer, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("WANDB_BASE_URL", server.base_url)
    return Stack("dev", server, monkeypatch, {"wandbApiKey": DEFAULT_KEY, "pods": "2", "image": IMAGE_A})


def test_an_image_rolled_back_at_once_meets_no_job_still_being_deleted(stack: Stack) -> None:
    stack.up("first up")
    first_names = stack.job_names()
    stack.up("new image", image=IMAGE_B)
    rollback = stack.up("roll back within the old pods' grace period", image=IMAGE_A)
    assert ops_by_kind(rollback)["Job"] == {"replace"}
    assert stack.job_names() == first_names  # the same names come back


def test_scaling_down_and_up_again_at_once_meets_no_job_still_being_deleted(stack: Stack) -> None:
    stack.up("first up", pods="4")
    stack.up("scale to 2", pods="2")
    again = stack.up("scale to 4 within the grace period", pods="4")
    assert {n: again.steps[n].op for n in sorted(again.steps) if "-agent-" in n} == {
        "sweep-agent-0": "same",
        "sweep-agent-1": "same",
        "sweep-agent-2": "create",
        "sweep-agent-3": "create",
    }


def test_the_model_sees_a_name_still_taken() -> None:
    """The rule the two tests above rely on: with the default (Foreground) propagation and
    skipAwait, a deleted Job lingers; with Background it does not."""
    from platform_rules import lingers_after_delete

    job = {"metadata": {"annotations": {"pulumi.com/skipAwait": "true"}}}
    assert lingers_after_delete(JOB_TYPE, job)
    job["metadata"]["annotations"]["pulumi.com/deletionPropagationPolicy"] = "foreground"
    assert lingers_after_delete(JOB_TYPE, job)
    job["metadata"]["annotations"]["pulumi.com/deletionPropagationPolicy"] = "background"
    assert not lingers_after_delete(JOB_TYPE, job)


def test_jobs_the_ttl_controller_removed_do_not_break_the_next_up(stack: Stack, server: WandbServer) -> None:
    stack.up("first up", ttlSecondsAfterFinished="600")
    sweep = stack.sweep_outputs()
    server.set_sweep_state(DEFAULT_ENTITY, sweep["sweep_project"], sweep["sweep_id"], "FINISHED")
    stack.ttl_deletes_finished_jobs()
    later = stack.up("a new retriesPerPod after the Jobs are gone", retriesPerPod="5")
    assert later.refreshed, "the project refreshes before every update (Pulumi.yaml options.refresh)"
    # The refresh dropped them; the program's Jobs are made again, and their agents find
    # the sweep over and are done (the launcher's rule for a refused agent).
    assert ops_by_kind(later)["Job"] == {"create"}
    assert ops_by_kind(later)["Sweep"] == {"same"}


def test_an_up_does_not_unsuspend_a_job_kueue_holds(stack: Stack) -> None:
    stack.up("first up", queueName="team-a")
    changed = stack.up("a new retriesPerPod while Kueue holds the Jobs", retriesPerPod="5")
    assert ops_by_kind(changed)["Job"] == {"update"}

"""A slot's Job, from the parts the slots share, is the Job built for that slot alone.

`job_slots` builds the pod spec and the text of the names' digest once and cuts the text
at the slot label's value; each slot's Job must be exactly what building it on its own
gives (`agent_job_spec` of that slot's template, `job_name` of that spec): the same spec,
the same name. Also when the placeholder the text is cut at occurs in the user's own
values, where each slot's spec is serialized whole instead. No engine: the sweep's
identity is given as plain values here, and every Output made is resolved before the test
ends (the program's run under the mock engine is in tests/component/test_program.py, whose
exact names did not change).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi.runtime.sync_await import _sync_await
from pulumi_harness import ROOT

from wandb_sweeps.config.from_args import validate_args
from wandb_sweeps.kubernetes.agent_job import (
    AgentJobInputs,
    SweepRef,
    agent_job_labels,
    agent_job_spec,
    agent_pod_metadata,
    agent_pod_spec,
    job_name,
)
from wandb_sweeps.kubernetes.job_slots import SLOT_PLACEHOLDER, SlotNames, agent_job_slots, once_resolved

API_KEY = "local-" + "k" * 40
SWEEP = SweepRef(entity="team", project="proj", sweep_id="abcd1234", base_url="https://api.wandb.ai")


def job_inputs(**args: Any) -> AgentJobInputs:
    settings = validate_args(
        "sweep",
        {
            "project": "proj",
            "image": "ghcr.io/acme/trainer:1.0",
            "sweep_config": "sweep.yaml",
            "wandb_api_key": API_KEY,
            "pods": 4,
            **args,
        },
        stack="dev",
        cwd=ROOT,
    )
    return AgentJobInputs(
        pods=settings.agents,
        scheduling=settings.scheduling,
        runtime=settings.runtime,
        policy=settings.job_policy,
        sweep=SWEEP,
        namespace="ns",
        name=settings.name,
        metadata=settings.metadata,
        secret_env_names=tuple(settings.secret_env),
    )


def resolved(value: Any) -> Any:
    return _sync_await(value.future()) if isinstance(value, pulumi.Output) else value


def built_alone(job: AgentJobInputs, slot: int) -> tuple[dict[str, Any], str]:
    """Slot `slot`'s JobSpec and name, built for it alone (as the program did before job_slots)."""
    spec = agent_job_spec(job, {"metadata": agent_pod_metadata(job, slot), "spec": agent_pod_spec(job)})
    queue = job.metadata.queue_name
    return dict(spec), resolved(once_resolved(spec, lambda spec: job_name(job.name, slot, spec, queue)))


@pytest.mark.parametrize(
    ("args", "cut"),
    [
        ({}, True),
        ({"gpus_per_pod": 2, "memory": "16Gi", "queue_name": "team-a", "labels": {"team": "a"}}, True),
        ({"env": {"NOTE": '"wandb-sweeps/slot":"0"'}}, True),
        # The placeholder itself in a user's value: the text cannot be cut at it.
        ({"env": {"NOTE": SLOT_PLACEHOLDER}}, False),
        # Inside a longer value it is not the whole JSON string the text is cut at.
        ({"annotations": {"note": f"x{SLOT_PLACEHOLDER}y"}}, True),
    ],
    ids=[
        "dev",
        "gpus-queue-labels",
        "slot-label-text-in-env",
        "placeholder-in-env",
        "placeholder-inside-an-annotation",
    ],
)
def test_each_slots_job_is_the_job_built_for_that_slot_alone(args: dict[str, Any], cut: bool) -> None:
    job = job_inputs(**args)
    slots = agent_job_slots(job)
    slot_names = resolved(slots.names)
    assert isinstance(slot_names, SlotNames)
    assert (slot_names.cut is not None) == cut
    names = []
    for slot in range(job.pods.pods):
        spec, name = built_alone(job, slot)
        metadata = slots.metadata(slot)
        assert slots.spec(slot) == spec
        assert resolved(metadata["name"]) == name
        assert metadata["labels"] == agent_job_labels(job, slot)
        names.append(name)
    assert len(set(names)) == job.pods.pods
    assert resolved(slots.names_of(range(job.pods.pods))) == names


def test_the_slots_share_one_pod_spec_and_differ_only_in_the_slot_label() -> None:
    job = job_inputs()
    slots = agent_job_slots(job)
    first, second = slots.spec(0), slots.spec(1)
    assert first["template"]["spec"] is second["template"]["spec"]
    assert {k: v for k, v in first.items() if k != "template"} == {
        k: v for k, v in second.items() if k != "template"
    }
    labels = first["template"]["metadata"]["labels"], second["template"]["metadata"]["labels"]
    assert {k for k in labels[0] if labels[0][k] != labels[1][k]} == {"wandb-sweeps/slot"}

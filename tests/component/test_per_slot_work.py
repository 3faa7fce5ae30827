"""Per-slot work is only what differs per slot: counted, not timed.

Every agent Job runs the same pod; only its slot label, its labels and its name differ
(`kubernetes/job_slots.py`). At `pods: 1000` building the pod spec, its Outputs and the
names' digest per Job cost a third of the program's run (issue 21). The real
`__main__.py` runs here under the mock engine at 1 and at 50 pods, and three kinds of
work are counted:

- builds of the agent pod spec (`agent_job.agent_pod_spec`) and serializations of the
  JobSpec that the names digest (`agent_job.job_digest_text`): one per program run, at
  any `pods`;
- the pulumi Outputs made (every `Output` goes through `Output._track`, in pulumi 3.272's
  `output.py`): per extra slot, no more than registering a Job costs pulumi anyway, as a
  floor program that registers the very same objects with plain values measures it,
  plus what a slot needs of its own (`OWN_OUTPUTS_PER_SLOT`).

The bench times the same thing against the same floor (docs/performance.md); timings
stay out of the tests.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pytest
from engine_model import fresh_root
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
from pulumi_harness import ProgramRun, cli_config, run_program

from bench.programs import floor_program
from wandb_sweeps.kubernetes import agent_job, job_slots

API_KEY = "local-" + "k" * 40
OWN_OUTPUTS_PER_SLOT = 7
"""What a slot's Job needs beyond the floor's plain registration:
- its name, which waits for the sweep's identity: one `apply` (2 Outputs: the apply's own,
  and the one `apply` makes of the name it returns);
- its `depends_on` (the API key's Secret, the agents' scale ConfigMap of issue 22 and the
  sweep's lifecycle, which the floor does not declare): the SDK makes an Output of the list
  and one of each resource (pulumi/runtime/_depends_on.py, `_resolve_depends_on`): 4;
- its name in `job_names`: the one Output `apply` makes of each element of the list it
  returns (`Output.from_input` of a list is `Output.all` of its elements): 1."""
SLOTS = (1, 50)


class Counted:
    """Calls of the wrapped functions, by name, and Outputs made, while a program runs."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.outputs = 0


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counted]:
    counts = Counted()
    track = pulumi.Output._track

    def counting_track(output: pulumi.Output[Any]) -> None:
        counts.outputs += 1
        track(output)

    # Whatever an earlier test left on the shared event loop runs now, before anything is counted.
    run_program("dev", cli_config("dev", wandbApiKey=API_KEY), secret_keys=("wandbApiKey",))
    monkeypatch.setattr(pulumi.Output, "_track", counting_track)
    # Wrapped where they are defined and where they are imported: per-slot building put
    # back in either module is counted.
    for module in (agent_job, job_slots):
        for name in ("agent_pod_spec", "job_digest_text"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, _counting(getattr(module, name), name, counts))
    yield counts


def _counting(function: Callable[..., Any], name: str, counts: Counted) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counts.calls[name] += 1
        return function(*args, **kwargs)

    return wrapper


def program_run(counts: Counted, pods: int) -> tuple[Counted, ProgramRun]:
    counts.calls.clear()
    counts.outputs = 0
    run = run_program(
        "dev", cli_config("dev", wandbApiKey=API_KEY, pods=str(pods)), secret_keys=("wandbApiKey",)
    )
    snapshot = Counted()
    snapshot.calls, snapshot.outputs = Counter(counts.calls), counts.outputs
    return snapshot, run


class FloorMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def floor_outputs(counts: Counted, run: ProgramRun) -> int:
    """Outputs made by the bench's floor program for `run`'s registrations: the same
    objects with the same inputs, registered as plain values."""
    registrations = [
        {"type": r.typ, "name": r.name, "custom": r.custom, "inputs": r.inputs} for r in run.registrations
    ]
    source = compile(floor_program(json.loads(json.dumps(registrations))), "floor", "exec")
    fresh_root()
    pulumi.runtime.set_mocks(FloorMocks(), project="wandb-sweeps", stack="dev", preview=False)
    counts.outputs = 0
    _sync_await(run_pulumi_func(lambda: exec(source, {})))
    return counts.outputs


def test_the_pod_spec_and_the_names_digest_text_are_built_once_per_run_at_any_pods(counted: Counted) -> None:
    for pods in SLOTS:
        counts, run = program_run(counted, pods)
        assert len(run.by_type("kubernetes:batch/v1:Job")) == pods
        assert counts.calls == {"agent_pod_spec": 1, "job_digest_text": 1}, (pods, counts.calls)


def test_an_extra_slot_makes_no_more_outputs_than_registering_its_job_needs(counted: Counted) -> None:
    ours, floor = {}, {}
    for pods in SLOTS:
        counts, run = program_run(counted, pods)
        ours[pods] = counts.outputs
        floor[pods] = floor_outputs(counted, run)
    extra_slots = SLOTS[1] - SLOTS[0]
    per_slot = (ours[SLOTS[1]] - ours[SLOTS[0]]) / extra_slots
    floor_per_slot = (floor[SLOTS[1]] - floor[SLOTS[0]]) / extra_slots
    assert floor_per_slot > 0, floor  # the floor is counted at all
    assert per_slot <= floor_per_slot + OWN_OUTPUTS_PER_SLOT, (
        f"each extra slot makes {per_slot:g} Outputs; registering its Job with plain values makes "
        f"{floor_per_slot:g}, and a slot needs {OWN_OUTPUTS_PER_SLOT} of its own"
    )

"""Day 2: what the second, tenth and hundredth `pulumi up` do, as sequences.

Each step runs the real program twice under the engine model (`engine_model`,
rules and sources in `platform_rules`): first as `pulumi preview`, then as
`pulumi up` from the same state, and checks

- what happens to every resource (same, update, replace, create, delete), and
  that the preview said the same thing the update did (a preview that shows
  every Job replaced on a key rotation is a bug even if the update is right);
- that nothing trips a provider rule (a same-name replacement of a Job whose
  delete is not awaited fails with AlreadyExists);
- what W&B saw: the sweep providers run for real, in this process, against
  the local W&B server (requests counted, sweep states read back).

The sequence for each example stack: first up, an up with nothing changed,
a new image, a rotated key (in the stack, then from a teammate's shell),
scaling 2 -> 4 -> 2, a new sweep file, `entity` set to the entity already in
effect, an up from a shell with another WANDB_BASE_URL, and destroy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from engine_model import (
    JOB_TYPE,
    LIFECYCLE_TYPE,
    SWEEP_TYPE,
    Resource,
    ServerWandb,
    deploy,
    destroy,
    refreshed,
)
from pulumi_harness import cli_config
from stacks import ROTATED_KEY, Stack, env_of, ops_by_kind, write_new_sweep_file
from wandb_server import DEFAULT_ENTITY, DEFAULT_KEY, WandbServer

TEAMMATE_KEY = "local-" + "t" * 40
REFRESH = 1
"""Requests of an `up` that changes nothing on W&B: the refresh before it (Pulumi.yaml
`options: refresh: always`) reads the sweep's state once."""
OTHER_SHELL_URL = "https://wandb.other.example"

SECRET = "kubernetes:core/v1:Secret"
NAMESPACE = "kubernetes:core/v1:Namespace"


@pytest.fixture
def new_sweep_file(project_tmp_path: Path) -> str:
    return write_new_sweep_file(project_tmp_path)


@pytest.mark.parametrize("stack_name", ["dev", "live"])
def test_a_stack_lives_through_day_2(
    server: WandbServer, monkeypatch: pytest.MonkeyPatch, new_sweep_file: str, stack_name: str
) -> None:
    server.api_keys.update({ROTATED_KEY: DEFAULT_ENTITY, TEAMMATE_KEY: DEFAULT_ENTITY})
    monkeypatch.setenv("WANDB_BASE_URL", server.base_url)
    stack = Stack(stack_name, server, monkeypatch, {"wandbApiKey": DEFAULT_KEY, "pods": "2"})
    final_state = {"dev": "CANCELED", "live": "FINISHED"}[stack_name]

    # 1. First up: everything is created; one sweep, made once, on the shell's server.
    first = stack.up("first up")
    assert set(first.ops().values()) == {"create"}
    assert len(server.sweeps) == 1 and server.sweeps[0].state == "PENDING"
    sweep = stack.sweep_outputs()
    assert (sweep["sweep_entity"], sweep["sweep_base_url"]) == (DEFAULT_ENTITY, server.base_url)
    for job in stack.jobs().values():
        assert env_of(job)["WANDB_BASE_URL"] == server.base_url

    # 2. Nothing changed: nothing happens, and W&B hears only the refresh's read.
    noop = stack.up("no-op up")
    assert set(noop.ops().values()) == {"same"}
    assert noop.requests == REFRESH  # type: ignore[attr-defined]

    # 3. A new image: every Job is replaced under a new name, created before the old
    #    one is deleted; the sweep, its lifecycle, the Secret and the Namespace stay.
    old_names = stack.job_names()
    image = stack.up("new image", image="ghcr.io/example/wandb-sweeps-trainer:0.2.0")
    assert ops_by_kind(image) == {
        "Job": {"replace"},
        "Namespace": {"same"},
        "Secret": {"same"},
        "Sweep": {"same"},
        "SweepLifecycle": {"same"},
    }
    assert not any(s.delete_before_replace for s in image.steps.values())
    assert stack.job_names().isdisjoint(old_names)
    assert image.requests == REFRESH  # type: ignore[attr-defined]

    # 4. A rotated key: the Secret is replaced (the provider's default: its data is
    #    immutable), the lifecycle records the new key for destroy, and no Job changes:
    #    running pods keep running, new pods read the new key from the Secret.
    names = stack.job_names()
    rotated = stack.up("rotated key", wandbApiKey=ROTATED_KEY)
    assert ops_by_kind(rotated) == {
        "Job": {"same"},
        "Namespace": {"same"},
        "Secret": {"replace"},
        "Sweep": {"same"},
        "SweepLifecycle": {"update"},
    }
    assert rotated.steps["sweep-api-key"].delete_before_replace
    assert stack.job_names() == names
    assert stack.lifecycle_outputs()["api_key"] == ROTATED_KEY
    assert rotated.requests == REFRESH  # type: ignore[attr-defined]

    # 4b. A teammate deploys from a shell with their own WANDB_API_KEY: the same, no more.
    monkeypatch.setenv("WANDB_API_KEY", TEAMMATE_KEY)
    teammate = stack.up("teammate's key", wandbApiKey=None)
    assert ops_by_kind(teammate)["Job"] == {"same"}
    assert ops_by_kind(teammate)["Secret"] == {"replace"}
    assert stack.lifecycle_outputs()["api_key"] == TEAMMATE_KEY
    stack.up("key back in the stack", wandbApiKey=ROTATED_KEY)

    # 5. Scaling 2 -> 4 -> 2 adds and removes whole Jobs; the others are not touched.
    before = stack.jobs()
    wider = stack.up("scale to 4", pods="4")
    assert {n: wider.steps[n].op for n in sorted(wider.steps) if "-agent-" in n} == {
        "sweep-agent-0": "same",
        "sweep-agent-1": "same",
        "sweep-agent-2": "create",
        "sweep-agent-3": "create",
    }
    narrower = stack.up("scale back to 2", pods="2")
    assert {n: narrower.steps[n].op for n in sorted(narrower.steps) if "-agent-" in n} == {
        "sweep-agent-0": "same",
        "sweep-agent-1": "same",
        "sweep-agent-2": "delete",
        "sweep-agent-3": "delete",
    }
    assert stack.jobs() == before
    assert wider.requests == narrower.requests == REFRESH  # type: ignore[attr-defined]

    # 6. A new sweep file: a new sweep (W&B cannot reconfigure a started one), the agents
    #    move to it, and only then is the old sweep stopped, as onDestroy says.
    old_sweep = stack.sweep_outputs()
    server.set_sweep_state(DEFAULT_ENTITY, sweep["sweep_project"], sweep["sweep_id"], "RUNNING")
    moved = stack.up("new sweep file", sweepConfig=new_sweep_file)
    assert ops_by_kind(moved) == {
        "Job": {"replace"},
        "Namespace": {"same"},
        "Secret": {"same"},
        "Sweep": {"replace"},
        "SweepLifecycle": {"replace"},
    }
    new_sweep = stack.sweep_outputs()
    assert new_sweep["sweep_id"] != old_sweep["sweep_id"]
    assert (
        server.find_sweep(DEFAULT_ENTITY, new_sweep["sweep_project"], old_sweep["sweep_id"]).state
        == final_state
    )
    assert (
        server.find_sweep(DEFAULT_ENTITY, new_sweep["sweep_project"], new_sweep["sweep_id"]).state
        == "PENDING"
    )
    for job in stack.jobs().values():
        assert env_of(job)["SWEEP_PATH"] == new_sweep["sweep_path"]
    # The old agents go before the old sweep is stopped.
    assert moved.deleted.index("sweep-agent-0") < moved.deleted.index("sweep-lifecycle")

    # 7. entity set to the entity already in effect: not a change. (It used to replace the
    #    sweep, adopt the same PENDING sweep by its name, and then cancel it.)
    pinned = stack.up("entity set to the resolved one", entity=DEFAULT_ENTITY)
    assert set(pinned.ops().values()) == {"same"}
    assert (
        server.find_sweep(DEFAULT_ENTITY, new_sweep["sweep_project"], new_sweep["sweep_id"]).state
        == "PENDING"
    )
    assert pinned.requests == REFRESH  # type: ignore[attr-defined]

    # 8. An up from a shell whose WANDB_BASE_URL points elsewhere: the sweep stays where it
    #    was created, the agents too, and the program says so.
    monkeypatch.setenv("WANDB_BASE_URL", OTHER_SHELL_URL)
    elsewhere = stack.up("shell with another WANDB_BASE_URL")
    assert set(elsewhere.ops().values()) == {"same"}
    assert any(OTHER_SHELL_URL in w and server.base_url in w for w in elsewhere.warnings), elsewhere.warnings
    for job in stack.jobs().values():
        assert env_of(job)["WANDB_BASE_URL"] == server.base_url
    assert elsewhere.requests == REFRESH  # type: ignore[attr-defined]

    # 9. Destroy: the agents go first, then the sweep is stopped with the current key.
    requests_before = len(server.requests)
    gone = destroy(stack.state, ServerWandb())
    assert gone.deleted.index("sweep-agent-0") < gone.deleted.index("sweep-lifecycle")
    assert (
        server.find_sweep(DEFAULT_ENTITY, new_sweep["sweep_project"], new_sweep["sweep_id"]).state
        == final_state
    )
    keys = {r.api_key for r in server.requests[requests_before:]}
    assert keys == {ROTATED_KEY}
    assert len(server.sweeps) == 2


def test_a_secret_env_value_goes_into_a_secret_and_rotating_it_touches_no_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`pulumi config set --secret --path env.HF_TOKEN ...` marks all of `env` secret."""
    config = cli_config("live", wandbApiKey=DEFAULT_KEY, env={"HF_TOKEN": "hf_first", "HF_HOME": "/data/hf"})
    keys = ("wandbApiKey", "env")
    first = deploy("live", config, secret_keys=keys)
    env_secret = first.state["sweep-env"]
    assert env_secret.inputs["metadata"]["name"] == "sweep-wandb-env"
    assert env_secret.inputs["stringData"] == {"HF_TOKEN": "hf_first", "HF_HOME": "/data/hf"}
    for job in (r.inputs for r in first.by_type(JOB_TYPE)):
        env = env_of(job)
        assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "sweep-wandb-env", "key": "HF_TOKEN"}}
        assert env["HF_HOME"] == {"secretKeyRef": {"name": "sweep-wandb-env", "key": "HF_HOME"}}
        assert "hf_first" not in repr(job)

    rotated_config = {**config, "env": '{"HF_TOKEN": "hf_second", "HF_HOME": "/data/hf"}'}
    preview = deploy("live", rotated_config, first.state, secret_keys=keys, preview=True)
    rotated = deploy("live", rotated_config, first.state, secret_keys=keys)
    assert preview.ops() == rotated.ops()
    assert rotated.steps["sweep-env"].op == "replace"
    assert {rotated.steps[r.name].op for r in rotated.by_type(JOB_TYPE)} == {"same"}
    assert rotated.problems() == {}


def holding(state: dict[str, Any], secret: str) -> list[str]:
    """Where in a state (every resource's inputs and outputs) `secret` is."""
    return [
        f"{name} {part}"
        for name, resource in state.items()
        for part in ("inputs", "outputs")
        if secret in json.dumps(getattr(resource, part), default=str)
    ]


@pytest.mark.parametrize("written_by", ["this version", "0.2.0"])
def test_after_a_key_rotation_the_old_key_is_nowhere_in_the_state_and_refresh_uses_the_new_one(
    server: WandbServer, monkeypatch: pytest.MonkeyPatch, written_by: str
) -> None:
    """Issue 16.8. Before, the sweep's identity kept the key it was created with among its
    outputs, which no `up` rewrites (it is never updated: a preview would show every Job
    replaced), and refresh read the sweep with that key: after a rotation the old key
    stayed in the state, and once it was revoked refresh could no longer look. Now the
    identity's outputs hold no key, and refresh reads the sweep through the lifecycle,
    whose key the rotation updated. A state written by 0.2.0 (its identity's outputs hold
    the key) loses it at the refresh before the rotation's `up`."""
    server.api_keys[ROTATED_KEY] = DEFAULT_ENTITY
    monkeypatch.setenv("WANDB_BASE_URL", server.base_url)
    stack = Stack("live", server, monkeypatch, {"wandbApiKey": DEFAULT_KEY, "pods": "2"})
    stack.up("first up")
    (sweep,) = (r for r in stack.state.values() if r.typ == SWEEP_TYPE)
    if written_by == "0.2.0":
        sweep.outputs = {**sweep.outputs, "api_key": DEFAULT_KEY}
    assert ("sweep-sweep outputs" in holding(stack.state, DEFAULT_KEY)) == (written_by == "0.2.0")

    rotated = stack.up("rotated key", wandbApiKey=ROTATED_KEY)
    assert ops_by_kind(rotated)["Sweep"] == {"same"} and ops_by_kind(rotated)["SweepLifecycle"] == {"update"}
    assert holding(stack.state, DEFAULT_KEY) == []
    assert sorted(holding(stack.state, ROTATED_KEY)) == [
        "sweep-api-key inputs",
        "sweep-api-key outputs",
        "sweep-lifecycle inputs",
        "sweep-lifecycle outputs",
        "sweep-sweep inputs",  # the create needs it; each `up` records the key in effect
    ]

    del server.api_keys[DEFAULT_KEY]  # the old key is revoked
    record = server.sweeps[0]
    server.set_sweep_state(record.entity, record.project, record.name, "CANCELED")
    mark = server.mark()
    state: dict[str, Resource] = refreshed(stack.state, ServerWandb())
    assert [(r.operation_name, r.api_key, r.status) for r in server.requests[mark:]] == [
        ("GetSweep", ROTATED_KEY, 200)
    ]
    (life,) = (r for r in state.values() if r.typ == LIFECYCLE_TYPE)
    assert life.outputs["sweep_state"] == "CANCELED"

    stack.up("an up after the old key was revoked")
    gone = destroy(stack.state, ServerWandb())
    assert "sweep-lifecycle" in gone.deleted
    assert {r.api_key for r in server.requests[mark:]} == {ROTATED_KEY}

"""Two researchers' stacks in one given namespace keep their own Secret and Jobs, and an
existing stack upgrades to the stack-derived names without losing its sweep.

Before 0.3.0 the program named its WandbSweep `sweep` in every stack, so two stacks with
`createNamespace: false` in one namespace rendered the same Secret `sweep-wandb-api-key`
(each `up` overwrote the other's key) and, attached to one sweep, the same Job names.
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi
from engine_model import JOB_TYPE, LIFECYCLE_TYPE, SWEEP_TYPE, FakeWandb, deploy
from pulumi_harness import ROOT, cli_config, run_program

from wandb_sweeps import WandbSweep, load_stack_config, read_pulumi_config
from wandb_sweeps.config.from_stack import program_component_name

API_KEY = "local-" + "k" * 40
SECRET = "kubernetes:core/v1:Secret"
SHARED = {"wandbApiKey": API_KEY, "createNamespace": "false", "namespace": "team-vision", "pods": "2"}


def names_of(stack: str) -> set[str]:
    run = run_program(stack, cli_config("dev", **SHARED), secret_keys=("wandbApiKey",))
    return {
        r.inputs["metadata"]["name"] for r in run.registrations if r.typ in (SECRET, JOB_TYPE)
    }


def test_two_stacks_in_one_given_namespace_render_different_objects() -> None:
    alice, bob = names_of("alice-dev"), names_of("bob-dev")
    assert alice.isdisjoint(bob), alice & bob
    assert "alice-dev-wandb-api-key" in alice and "bob-dev-wandb-api-key" in bob


def test_a_stack_that_creates_its_namespace_keeps_its_names() -> None:
    assert program_component_name("alice-dev", create_namespace=True) == "sweep"
    assert program_component_name("Alice_Dev.2", create_namespace=False) == "alice-dev-2"
    assert program_component_name("___", create_namespace=False) == "sweep"
    assert len(program_component_name("x" * 80, create_namespace=False)) == 40


def _program_before_0_3() -> None:
    """The program as 0.2 wrote it: its WandbSweep named `sweep` in every stack."""
    values, secret_keys = read_pulumi_config()
    settings = load_stack_config(
        values,
        secret_keys=secret_keys,
        environ=os.environ,
        stack=pulumi.get_stack(),
        project_root=Path(ROOT),
        component_name="sweep",
    )
    WandbSweep.from_settings(settings)


def test_an_existing_stack_in_a_given_namespace_upgrades_without_a_new_sweep() -> None:
    config = cli_config("dev", **SHARED)
    wandb = FakeWandb()
    before = deploy("dev", config, secret_keys=("wandbApiKey",), backend=wandb, program=_program_before_0_3)
    assert {r.name for r in before.by_type(SWEEP_TYPE)} == {"sweep-sweep"}

    after = deploy("dev", config, before.state, secret_keys=("wandbApiKey",), backend=wandb)
    assert after.problems() == {}
    # The sweep and its lifecycle are the same resources under their new names (aliases):
    # no second sweep on W&B, and the old one is not stopped.
    assert {r.name: after.steps[r.name].op for r in after.by_type(SWEEP_TYPE)} == {"dev-sweep": "same"}
    assert {r.name: after.steps[r.name].op for r in after.by_type(LIFECYCLE_TYPE)} == {"dev-lifecycle": "same"}
    assert wandb.stopped == []
    assert "sweep-sweep" not in after.deleted and "sweep-lifecycle" not in after.deleted
    # The Secret and Jobs take the stack's names: made first, the old ones deleted after.
    assert {after.steps[r.name].op for r in after.by_type(JOB_TYPE)} == {"replace"}
    assert not any(step.delete_before_replace for step in after.steps.values())
    assert {r.inputs["metadata"]["name"] for r in after.by_type(SECRET)} == {"dev-wandb-api-key"}

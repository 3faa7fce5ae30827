"""`scale_warnings`: what `wandb-sweeps check` says about a sweep too large for one API key."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_harness import ROOT, cli_config

from wandb_sweeps.config.from_stack import load_stack_config
from wandb_sweeps.config.scale_warnings import SCALE_WARNING_AGENTS, scale_warnings
from wandb_sweeps.config.settings import SweepSettings

API_KEY = "local-" + "k" * 40


def settings(**overrides: Any) -> SweepSettings:
    values = {f"wandb-sweeps:{k}": v for k, v in cli_config("dev", wandbApiKey=API_KEY, **overrides).items()}
    return load_stack_config(
        values, secret_keys={"wandb-sweeps:wandbApiKey"}, environ={}, stack="dev", project_root=ROOT
    )


@pytest.mark.parametrize(("pods", "agents"), [("1", "2"), ("200", "2"), ("100", "4")])
def test_up_to_the_threshold_there_is_no_warning(pods: str, agents: str) -> None:
    assert int(pods) * int(agents) <= SCALE_WARNING_AGENTS
    assert scale_warnings(settings(pods=pods, agentsPerPod=agents)) == []


def test_above_it_the_warning_says_what_the_agents_ask_of_wandb_and_what_to_do() -> None:
    [warning] = scale_warnings(settings(pods="1000", agentsPerPod="2"))
    assert warning.startswith("pods x agentsPerPod: 1000 x 2 = 2000 agents on one W&B API key, more than 400.")
    assert "about 400 heartbeats a second" in warning
    assert "6000 requests as they start, over about 100 s at agentStartsPerSecond 20" in warning
    assert "several stacks attached to this sweep (sweepId), each with its own user's API key" in warning
    assert "docs/performance.md#many-agents-what-a-sweep-asks-of-wb" in warning


def test_the_warning_says_when_the_agents_start_at_once() -> None:
    [warning] = scale_warnings(settings(pods="201", agentsPerPod="2", agentStartsPerSecond="0"))
    assert "402 agents" in warning and "all at once (agentStartsPerSecond 0)" in warning

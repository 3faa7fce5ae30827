"""What a sweep's size gives its pods (`kubernetes.agent_scale`), through the real program.

Under the mock engine: the scale ConfigMap a large sweep gets (its start spread and client
timeouts) and a small one does not, the pod template that names it for every slot alike,
and the env a user sets winning over it. Under the engine model (day 2): scaling and a new
`agentStartsPerSecond` replace the ConfigMap and no Job. And, measured: the launchers of
`pods: 100, agentsPerPod: 2`, run as rendered (with a stub `wandb` that records when it
starts), start their 200 agents across 10 s; the dev stack's start at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from engine_model import plain
from pulumi_harness import ROOT, cli_config, run_program
from stacks import Stack, ops_by_kind
from wandb_server import DEFAULT_KEY, WandbServer

from wandb_sweeps.config.from_stack import load_stack_config
from wandb_sweeps.errors import ConfigError
from wandb_sweeps.kubernetes.agent_scale import client_timeouts, start_spread_seconds
from wandb_sweeps.kubernetes.schema import MIN_KUBERNETES

API_KEY = "local-" + "k" * 40
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
JOB = "kubernetes:batch/v1:Job"


def load(**overrides: Any) -> None:
    """The dev stack's config with `overrides`, checked as the program checks it."""
    values = {f"wandb-sweeps:{k}": v for k, v in cli_config("dev", wandbApiKey=API_KEY, **overrides).items()}
    load_stack_config(
        values, secret_keys={"wandb-sweeps:wandbApiKey"}, environ={}, stack="dev", project_root=ROOT
    )


def rendered(stack: str = "dev", **overrides: Any) -> list[dict[str, Any]]:
    run = run_program(
        stack, cli_config(stack, wandbApiKey=API_KEY, **overrides), secret_keys=("wandbApiKey",)
    )
    return [
        {"typ": r.typ, "name": r.name, **plain(r.inputs)}
        for r in run.registrations
        if r.typ.startswith("kubernetes:")
    ]


def scale_maps(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["typ"] == CONFIG_MAP and o["metadata"]["name"].endswith("-agent-scale")]


def container(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]["containers"][0]


# -- the numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agents", "rate", "spread"),
    [(2, 20, 0), (19, 20, 0), (20, 20, 1), (200, 20, 10), (2000, 20, 100), (2000, 0, 0), (64_000, 1000, 64)],
)
def test_the_start_spread_is_the_agents_over_the_rate(agents: int, rate: int, spread: int) -> None:
    assert start_spread_seconds(agents, rate) == spread


@pytest.mark.parametrize(
    ("agents", "expected"),
    [
        (1, {}),
        (100, {}),
        (101, {"WANDB_HTTP_TIMEOUT": "70", "WANDB_INIT_TIMEOUT": "210"}),
        (200, {"WANDB_HTTP_TIMEOUT": "80", "WANDB_INIT_TIMEOUT": "240"}),
        (2000, {"WANDB_HTTP_TIMEOUT": "260", "WANDB_INIT_TIMEOUT": "780"}),
        (64_000, {"WANDB_HTTP_TIMEOUT": "600", "WANDB_INIT_TIMEOUT": "1800"}),
    ],
)
def test_client_timeouts_grow_with_the_agents_above_the_threshold(
    agents: int, expected: dict[str, str]
) -> None:
    assert client_timeouts(agents) == expected


# -- what the program renders ----------------------------------------------------------


def test_a_large_sweep_gets_a_scale_config_map_that_every_pod_reads() -> None:
    objects = rendered(pods="100", agentsPerPod="2")
    [config_map] = scale_maps(objects)
    assert config_map["metadata"]["name"] == "sweep-agent-scale"
    assert config_map["data"] == {
        "AGENT_START_SPREAD_SECONDS": "10",
        "WANDB_HTTP_TIMEOUT": "80",
        "WANDB_INIT_TIMEOUT": "240",
    }
    jobs = [o for o in objects if o["typ"] == JOB]
    assert len(jobs) == 100
    # The same pod spec for every slot: no slot-specific start offset, nothing of `pods`.
    specs = {json.dumps(job["spec"]["template"]["spec"], sort_keys=True) for job in jobs}
    assert len(specs) == 1
    agent = container(jobs[0])
    assert agent["envFrom"] == [{"configMapRef": {"name": "sweep-agent-scale", "optional": True}}]
    env = {e["name"]: e.get("value") for e in agent["env"]}
    assert env["AGENT_RESTARTS"] == "3"
    assert "WANDB_HTTP_TIMEOUT" not in env and "AGENT_START_SPREAD_SECONDS" not in env
    for obj in (config_map, jobs[0]):
        kubernetes_validate.validate(
            {k: v for k, v in obj.items() if k not in ("typ", "name")}, MIN_KUBERNETES, strict=True
        )


def test_a_small_sweep_renders_no_config_map_and_no_client_timeouts() -> None:
    """The dev stack (1 pod, 2 agents): its agents start at once with wandb's own timeouts."""
    objects = rendered()
    assert scale_maps(objects) == []
    [job] = [o for o in objects if o["typ"] == JOB]
    names = [e["name"] for e in container(job)["env"]]
    assert not {"WANDB_HTTP_TIMEOUT", "WANDB_INIT_TIMEOUT", "AGENT_START_SPREAD_SECONDS"} & set(names)
    assert container(job)["envFrom"] == [{"configMapRef": {"name": "sweep-agent-scale", "optional": True}}]


def test_a_timeout_set_in_env_is_the_users_and_wins() -> None:
    """Not a reserved name: the user's env entry is in the container's `env`, which
    Kubernetes puts above anything `envFrom` gives."""
    objects = rendered(pods="100", agentsPerPod="2", env={"WANDB_HTTP_TIMEOUT": "45"})
    job = next(o for o in objects if o["typ"] == JOB)
    assert {"name": "WANDB_HTTP_TIMEOUT", "value": "45"} in container(job)["env"]
    assert scale_maps(objects)[0]["data"]["WANDB_HTTP_TIMEOUT"] == "80"


@pytest.mark.parametrize("name", ["AGENT_START_SPREAD_SECONDS", "AGENT_RESTARTS"])
def test_the_launchers_own_variables_cannot_be_set_in_env(name: str) -> None:
    with pytest.raises(ConfigError, match=f"env: {name} is set by wandb-sweeps itself"):
        load(env={name: "5"})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1001", "agentStartsPerSecond: at most 1000 (far above W&B's documented 80 run creations"),
        ("-1", "agentStartsPerSecond: must be >= 0, got -1."),
        ("fast", "agentStartsPerSecond: must be a whole number, got 'fast'."),
    ],
)
def test_agent_starts_per_second_is_checked(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(agentStartsPerSecond=value)
    assert any(p.startswith(message) for p in raised.value.problems), raised.value.problems


# -- day 2 -----------------------------------------------------------------------------------


def test_scaling_a_large_sweep_replaces_its_config_map_and_no_job(
    server: WandbServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_BASE_URL", server.base_url)
    stack = Stack("dev", server, monkeypatch, {"wandbApiKey": DEFAULT_KEY, "pods": "60", "agentsPerPod": "2"})
    first = stack.up("first up")
    assert first.steps["sweep-agent-scale"].op == "create"

    before = stack.jobs()
    wider = stack.up("scale to 100 pods", pods="100")
    jobs = {n: s.op for n, s in wider.steps.items() if "-agent-" in n and n != "sweep-agent-scale"}
    assert {n: op for n, op in jobs.items() if op != "create"} == {
        f"sweep-agent-{i}": "same" for i in range(60)
    }
    assert sum(op == "create" for op in jobs.values()) == 40
    assert wider.steps["sweep-agent-scale"].op == "replace"
    assert {k: v for k, v in stack.jobs().items() if k in before} == before

    slower = stack.up("fewer starts per second", agentStartsPerSecond="10")
    assert ops_by_kind(slower)["Job"] == {"same"}
    assert slower.steps["sweep-agent-scale"].op == "replace"

    small = stack.up("scale down to 4 pods: 8 agents, fewer than 10 a second", pods="4")
    assert small.steps["sweep-agent-scale"].op == "delete"
    assert {n: s.op for n, s in small.steps.items() if n in (f"sweep-agent-{i}" for i in range(4))} == {
        f"sweep-agent-{i}": "same" for i in range(4)
    }


# -- measured: the rendered launchers ------------------------------------------------------

RECORDING_STUB = """#!/bin/sh
printf '%s %s\\n' "$(date +%s.%N)" "${WANDB_DIR%/agent-*}" > "$STUB_DIR/start.$$"
"""
FINISHED_PYTHON = """#!/bin/sh
echo FINISHED
"""


def launch_pods(
    stack_objects: list[dict[str, Any]], slots: int, tmp_path: Path
) -> tuple[float, list[float], str]:
    """Runs the rendered launcher of `slots` slots at once, as pods that start together,
    with the rendered env (the ConfigMap's through envFrom, a stand-in key through the
    Secret), a stub `wandb` that records when it starts and exits 0, and a stub Python that
    says the sweep is FINISHED. Returns when they started, the agents' start times and the
    launchers' output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("wandb", RECORDING_STUB), ("python3", FINISHED_PYTHON)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in stack_objects if o["typ"] == CONFIG_MAP}
    jobs = [o for o in stack_objects if o["typ"] == JOB]
    launchers = []
    began: dict[str, float] = {}
    for slot in range(slots):
        agent = container(jobs[slot])
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "STUB_DIR": str(tmp_path)}
        for source in agent.get("envFrom", []):  # what the kubelet does: envFrom, then env over it
            env.update(config_maps.get(source["configMapRef"]["name"], {}))
        env.update({e["name"]: e.get("value", API_KEY) for e in agent["env"]})
        env["WANDB_DIR"] = str(tmp_path / f"pod-{slot}")
        began[env["WANDB_DIR"]] = time.time()
        launchers.append(
            subprocess.Popen(
                agent["command"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        )
    outputs = []
    try:
        for launcher in launchers:
            outputs.append(launcher.communicate(timeout=60)[0])
            assert launcher.returncode == 0, outputs[-1]
    finally:
        for launcher in launchers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(launcher.pid, signal.SIGKILL)
    records = [p.read_text().split() for p in tmp_path.glob("start.*")]
    return sorted(float(at) - began[pod] for at, pod in records), "".join(outputs)


def test_a_hundred_pods_of_two_agents_start_their_agents_across_ten_seconds(tmp_path: Path) -> None:
    """Done-when of issue 22: `pods: 100, agentsPerPod: 2` as rendered, all 100 launchers
    started together (a first `up`, or every pod retried at once): 200 agents, started
    over the 10 s window at about agentStartsPerSecond (20) a second."""
    objects = rendered(pods="100", agentsPerPod="2")
    offsets, log = launch_pods(objects, 100, tmp_path)
    assert len(offsets) == 200, log
    per_second = [sum(1 for o in offsets if second <= o < second + 1) for second in range(11)]
    print(
        f"200 agents: first {offsets[0]:.2f} s, last {offsets[-1]:.2f} s after the pods started; "
        f"per second: {per_second}; busiest second {max(per_second)}"
    )
    assert log.count("starts in") == 200
    assert offsets[-1] - offsets[0] >= 9.0  # the window is [0, 10): the last within its last second
    assert offsets[-1] < 11.0
    # About 20 a second: 200 uniform draws over 10 s put 20 in each second on average, and
    # more than 40 in one of them almost never (a binomial of 200 and 0.1, 4.6 sd above).
    assert max(per_second) <= 40
    assert 60 <= sum(per_second[:5]) <= 140


def test_the_dev_stack_starts_its_agents_at_once(tmp_path: Path) -> None:
    offsets, log = launch_pods(rendered(), 1, tmp_path)
    assert len(offsets) == 2, log
    print(f"dev stack (1 pod, 2 agents): last agent started {offsets[-1] * 1000:.0f} ms after the pod")
    assert offsets[-1] < 1.0
    assert "starts in" not in log

"""Pure builders of the agent Jobs: plain pulumi-kubernetes typed dicts, no engine.

One Job per agent pod ("slot"), each with one pod at a time:
- scaling `pods` adds or removes whole Jobs, so the Jobs of running pods keep
  identical inputs and are never replaced (pulumi-kubernetes replaces a Job whose
  parallelism or completions change);
- each slot retries its own failed pod up to `backoffLimit` times, and one slot
  finishing (the sweep is done) does not stop the others;
- a preempted or evicted pod (`DisruptionTarget`) is not counted as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_kubernetes.batch.v1 import JobSpecArgsDict
from pulumi_kubernetes.core.v1 import ContainerArgsDict, EnvVarArgsDict, PodSpecArgsDict
from pulumi_kubernetes.meta.v1 import ObjectMetaArgsDict

from .settings import AgentPods


def _launcher_script() -> str:
    """agent_launcher.sh without its comment lines: the script stays documented in
    the repo while `kubectl describe` of an agent pod stays short."""
    source = Path(__file__).with_name("agent_launcher.sh").read_text(encoding="utf-8")
    kept = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return "\n".join(kept) + "\n"


LAUNCHER_SCRIPT = _launcher_script()
"""What each agent pod runs, as `sh -c LAUNCHER_SCRIPT`."""
API_KEY_ENTRY = "WANDB_API_KEY"
"""The entry of the Kubernetes Secret that holds the W&B API key."""
CONTAINER_NAME = "agent"
DEFAULT_BACKOFF_LIMIT = 3
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
"""Without it `pulumi up` waits for the Job to finish, i.e. for the whole sweep,
and fails after 10 minutes."""


@dataclass(frozen=True)
class SweepRef:
    """The sweep the agents work on, as known once the sweep resource exists."""

    entity: pulumi.Input[str]
    project: pulumi.Input[str]
    sweep_id: pulumi.Input[str]
    base_url: pulumi.Input[str]

    @property
    def path(self) -> pulumi.Output[str]:
        return pulumi.Output.concat(self.entity, "/", self.project, "/", self.sweep_id)


def common_labels(instance: str) -> dict[str, str]:
    """`app.kubernetes.io/*` labels shared by everything a stack creates."""
    return {
        "app.kubernetes.io/name": "wandb-sweeps",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/part-of": "wandb-sweeps",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def agent_labels(instance: str, slot: int) -> dict[str, str]:
    return {
        **common_labels(instance),
        "app.kubernetes.io/component": "sweep-agent",
        "wandb-sweeps/slot": str(slot),
    }


def job_name(slot: int) -> str:
    return f"wandb-agent-{slot}"


def agent_env(pods: AgentPods, sweep: SweepRef, secret_name: pulumi.Input[str]) -> list[EnvVarArgsDict]:
    """The agents' environment. The API key only by reference to the Secret."""
    env: list[EnvVarArgsDict] = [
        {
            "name": "WANDB_API_KEY",
            "value_from": {"secret_key_ref": {"name": secret_name, "key": API_KEY_ENTRY}},
        },
        {"name": "WANDB_BASE_URL", "value": sweep.base_url},
        {"name": "WANDB_ENTITY", "value": sweep.entity},
        {"name": "WANDB_PROJECT", "value": sweep.project},
        {"name": "SWEEP_PATH", "value": sweep.path},
        {"name": "AGENTS_PER_POD", "value": str(pods.agents_per_pod)},
        {"name": "GPUS_PER_POD", "value": str(pods.gpus_per_pod)},
    ]
    if pods.runs_per_agent is not None:
        env.append({"name": "RUNS_PER_AGENT", "value": str(pods.runs_per_agent)})
    return env


def agent_resources(pods: AgentPods) -> dict[str, dict[str, str]]:
    """Requests = limits for cpu/memory (Guaranteed QoS when both are set); GPUs as limits."""
    sized = {k: v for k, v in (("cpu", pods.cpu), ("memory", pods.memory)) if v is not None}
    limits = dict(sized)
    if pods.gpus_per_pod > 0:
        limits[pods.gpu_resource] = str(pods.gpus_per_pod)
    resources: dict[str, dict[str, str]] = {}
    if sized:
        resources["requests"] = dict(sized)
    if limits:
        resources["limits"] = limits
    return resources


def agent_container(pods: AgentPods, sweep: SweepRef, secret_name: pulumi.Input[str]) -> ContainerArgsDict:
    container: ContainerArgsDict = {
        "name": CONTAINER_NAME,
        "image": pods.image,
        "command": ["/bin/sh", "-c", LAUNCHER_SCRIPT],
        "env": agent_env(pods, sweep, secret_name),
    }
    resources = agent_resources(pods)
    if resources:
        container["resources"] = resources
    return container


def agent_pod_spec(pods: AgentPods, sweep: SweepRef, secret_name: pulumi.Input[str]) -> PodSpecArgsDict:
    return {
        "restart_policy": "Never",
        "containers": [agent_container(pods, sweep, secret_name)],
    }


def agent_job_metadata(namespace: pulumi.Input[str], instance: str, slot: int) -> ObjectMetaArgsDict:
    return {
        "name": job_name(slot),
        "namespace": namespace,
        "labels": agent_labels(instance, slot),
        "annotations": dict(SKIP_AWAIT),
    }


def agent_job_spec(
    pods: AgentPods,
    sweep: SweepRef,
    *,
    instance: str,
    slot: int,
    secret_name: pulumi.Input[str],
    backoff_limit: int = DEFAULT_BACKOFF_LIMIT,
) -> JobSpecArgsDict:
    return {
        "completions": 1,
        "parallelism": 1,
        "backoff_limit": backoff_limit,
        "pod_failure_policy": {
            "rules": [
                {
                    "action": "Ignore",
                    "on_pod_conditions": [{"type": "DisruptionTarget", "status": "True"}],
                }
            ]
        },
        "template": {
            "metadata": {"labels": agent_labels(instance, slot)},
            "spec": agent_pod_spec(pods, sweep, secret_name),
        },
    }

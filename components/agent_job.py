"""Pure builders of the agent Jobs: pulumi-kubernetes typed dicts, no engine.

One Job per agent pod ("slot"), each running one pod at a time:
- scaling `pods` adds or removes whole Jobs, so the Jobs of running pods keep
  identical inputs and are never replaced (pulumi-kubernetes replaces a Job whose
  parallelism or completions change, and Kubernetes forbids changing its template);
- each slot retries its own failed pod up to `retriesPerPod` times, and one slot
  finishing (the sweep is done) does not stop the others; this is what an Indexed
  Job with `backoffLimitPerIndex` gives, without needing Kubernetes 1.33;
- a preempted or evicted pod (`DisruptionTarget`) is not counted as a failure.

A Job's name ends in a digest of every field that cannot change in place, so
a change of pod shape (image, GPUs, the sweep ...) gives the new Job a new name:
pulumi-kubernetes then creates it before deleting the old one (it deletes first
only when the name stays: provider/pkg/provider/provider.go, `Diff`). That is
what makes `pulumi.com/skipAwait` safe here: for a Job it also skips the wait
for the delete (provider/pkg/metadata/overrides.go, `allowsSkipAwaitWithDelete`),
so a same-name replacement would race the old Job and fail with AlreadyExists.

Nothing here refers to another resource's outputs except the sweep's identity
and the namespace: the Secrets are named by plain strings, so replacing a
Secret (a rotated key) never makes the engine replace a Job
(pulumi/pulumi pkg/resource/deploy/step_generator.go,
`calculateDependentReplacements`, follows property dependencies only).

Our own keys are snake_case (the typed dicts); pieces users write themselves
(tolerations, volumes, ...) stay in Kubernetes' camelCase, which the provider
passes through unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi_kubernetes.batch.v1 import JobSpecArgsDict
from pulumi_kubernetes.core.v1 import (
    ContainerArgsDict,
    EnvVarArgsDict,
    PodSpecArgsDict,
    TolerationArgsDict,
    VolumeArgsDict,
    VolumeMountArgsDict,
)
from pulumi_kubernetes.meta.v1 import ObjectMetaArgsDict

from .pod_settings import SHM_VOLUME, AgentPods, JobPolicy, PodRuntime, PodScheduling


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
API_KEY_SECRET_NAME = "wandb-api-key"
ENV_SECRET_NAME = "wandb-sweeps-env"
"""The Kubernetes Secret holding `env` when it is marked secret."""
CONTAINER_NAME = "agent"
JOB_NAME_PREFIX = "wandb-agent"
MUTABLE_JOB_SPEC_FIELDS = frozenset(
    {"backoff_limit", "active_deadline_seconds", "ttl_seconds_after_finished"}
)
"""JobSpec fields Kubernetes lets change on a live Job (batch validation,
`ValidateJobSpecUpdate`) and pulumi-kubernetes does not replace on (provider/pkg/
provider/diff.go, `job`). Every other field is in the Job's name digest."""
JOB_ANNOTATIONS = {
    # Without it `pulumi up` waits for the Job to finish, i.e. for the whole
    # sweep, and fails after 10 minutes; and `pulumi refresh` reports every
    # running Job as failed to initialize (the Job await's Read). Safe only
    # because a replaced Job always gets a new name (see the module docstring).
    "pulumi.com/skipAwait": "true",
    # A removed Job (scale-down, destroy) takes its pods with it, and Pulumi waits
    # for them to stop: the Kubernetes API's own default for Jobs orphans them.
    "pulumi.com/deletionPropagationPolicy": "foreground",
}


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


@dataclass(frozen=True)
class AgentJobInputs:
    """Everything an agent Job is built from."""

    pods: AgentPods
    scheduling: PodScheduling
    runtime: PodRuntime
    policy: JobPolicy
    sweep: SweepRef
    namespace: pulumi.Input[str]
    instance: str
    """`app.kubernetes.io/instance`: the namespace name, unique per stack."""
    secret_env_names: Sequence[str] = field(default_factory=tuple)
    """Names of the `env` entries kept in the ENV_SECRET_NAME Secret."""


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


def job_name(slot: int, spec: Mapping[str, Any]) -> str:
    """`wandb-agent-<slot>-<digest>`: the digest covers every field of the (resolved)
    JobSpec that cannot change in place, so a Job is only ever replaced under a new name."""
    fixed = {k: v for k, v in spec.items() if k not in MUTABLE_JOB_SPEC_FIELDS}
    digest = hashlib.sha256(json.dumps(fixed, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"{JOB_NAME_PREFIX}-{slot}-{digest[:10]}"


def agent_env(job: AgentJobInputs) -> list[EnvVarArgsDict]:
    """The agents' environment. The API key only by reference to the Secret."""
    pods, sweep = job.pods, job.sweep
    env: list[EnvVarArgsDict] = [
        {
            "name": "WANDB_API_KEY",
            "value_from": {"secret_key_ref": {"name": API_KEY_SECRET_NAME, "key": API_KEY_ENTRY}},
        },
        {"name": "WANDB_BASE_URL", "value": sweep.base_url},
        {"name": "WANDB_ENTITY", "value": sweep.entity},
        {"name": "WANDB_PROJECT", "value": sweep.project},
        {"name": "SWEEP_PATH", "value": sweep.path},
        {"name": "AGENTS_PER_POD", "value": str(pods.agents_per_pod)},
        {"name": "GPUS_PER_POD", "value": str(pods.gpus_per_pod)},
        # How long agents the launcher stops itself get, like a SIGTERM from Kubernetes.
        {"name": "STOP_GRACE_SECONDS", "value": str(job.runtime.termination_grace_period_seconds)},
    ]
    if pods.runs_per_agent is not None:
        env.append({"name": "RUNS_PER_AGENT", "value": str(pods.runs_per_agent)})
    env.extend(job.runtime.env)  # type: ignore[arg-type]  # user EnvVar objects, camelCase
    env.extend(
        {"name": name, "value_from": {"secret_key_ref": {"name": ENV_SECRET_NAME, "key": name}}}
        for name in job.secret_env_names
    )
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


def _shm_volume(job: AgentJobInputs) -> tuple[list[VolumeArgsDict], list[VolumeMountArgsDict]]:
    if not job.runtime.shm_enabled(job.pods.gpus_per_pod):
        return [], []
    empty_dir: dict[str, Any] = {"medium": "Memory"}
    if job.runtime.shm_size_limit:
        empty_dir["size_limit"] = job.runtime.shm_size_limit
    return [{"name": SHM_VOLUME, "empty_dir": empty_dir}], [{"name": SHM_VOLUME, "mount_path": "/dev/shm"}]


def agent_container(job: AgentJobInputs) -> ContainerArgsDict:
    container: ContainerArgsDict = {
        "name": CONTAINER_NAME,
        "image": job.pods.image,
        "command": ["/bin/sh", "-c", LAUNCHER_SCRIPT],
        "env": agent_env(job),
        "security_context": {
            "allow_privilege_escalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    resources = agent_resources(job.pods)
    if resources:
        container["resources"] = resources
    mounts = _shm_volume(job)[1] + list(job.runtime.volume_mounts)  # type: ignore[operator]
    if mounts:
        container["volume_mounts"] = mounts
    return container


def agent_tolerations(job: AgentJobInputs) -> list[TolerationArgsDict]:
    tolerations: list[TolerationArgsDict] = []
    if job.pods.gpus_per_pod > 0 and job.scheduling.gpu_toleration:
        tolerations.append({"key": job.pods.gpu_resource, "operator": "Exists", "effect": "NoSchedule"})
    tolerations.extend(job.scheduling.tolerations)  # type: ignore[arg-type]
    return tolerations


def agent_pod_spec(job: AgentJobInputs) -> PodSpecArgsDict:
    runtime, scheduling = job.runtime, job.scheduling
    security: dict[str, Any] = {"seccomp_profile": {"type": "RuntimeDefault"}}
    if runtime.run_as_non_root:
        security["run_as_non_root"] = True
    if runtime.run_as_user is not None:
        security["run_as_user"] = runtime.run_as_user
    spec: PodSpecArgsDict = {
        "restart_policy": "Never",
        "termination_grace_period_seconds": runtime.termination_grace_period_seconds,
        # Agents never call the Kubernetes API: no token in the pod.
        "automount_service_account_token": False,
        "security_context": security,
        "containers": [agent_container(job)],
    }
    optional: dict[str, Any] = {
        "volumes": _shm_volume(job)[0] + list(runtime.volumes),
        "tolerations": agent_tolerations(job),
        "node_selector": dict(scheduling.node_selector),
        "affinity": scheduling.affinity,
        "priority_class_name": scheduling.priority_class_name,
        "service_account_name": runtime.service_account_name,
        "image_pull_secrets": [{"name": name} for name in runtime.image_pull_secrets],
    }
    spec.update({k: v for k, v in optional.items() if v})  # type: ignore[typeddict-item]
    return spec


def agent_job_metadata(job: AgentJobInputs, slot: int, spec: JobSpecArgsDict) -> ObjectMetaArgsDict:
    """`spec` is this slot's `agent_job_spec`: the name is derived from it once resolved."""
    return {
        "name": pulumi.Output.from_input(spec).apply(lambda resolved: job_name(slot, resolved)),
        "namespace": job.namespace,
        "labels": agent_labels(job.instance, slot),
        "annotations": dict(JOB_ANNOTATIONS),
    }


def agent_job_spec(job: AgentJobInputs, slot: int) -> JobSpecArgsDict:
    spec: JobSpecArgsDict = {
        "completions": 1,
        "parallelism": 1,
        "backoff_limit": job.policy.retries_per_pod,
        "pod_failure_policy": {
            "rules": [
                {
                    "action": "Ignore",
                    "on_pod_conditions": [{"type": "DisruptionTarget", "status": "True"}],
                }
            ]
        },
        "template": {
            "metadata": {"labels": agent_labels(job.instance, slot)},
            "spec": agent_pod_spec(job),
        },
    }
    if job.policy.active_deadline_seconds is not None:
        spec["active_deadline_seconds"] = job.policy.active_deadline_seconds
    if job.policy.ttl_seconds_after_finished is not None:
        spec["ttl_seconds_after_finished"] = job.policy.ttl_seconds_after_finished
    return spec

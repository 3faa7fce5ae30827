"""Pure builders of the agent Jobs: pulumi-kubernetes typed dicts, no engine.

One Job per agent pod ("slot"), each running one pod at a time:
- scaling `pods` adds or removes whole Jobs, so the Jobs of running pods keep
  identical inputs and are never replaced (pulumi-kubernetes replaces a Job whose
  parallelism or completions change, and Kubernetes forbids changing its template);
- each slot retries its own failed pod up to `retriesPerPod` times, and one slot
  finishing (the sweep is done) does not stop the others; this is what an Indexed
  Job with `backoffLimitPerIndex` gives, without needing Kubernetes 1.33;
- a preempted or evicted pod (`DisruptionTarget`) is not counted as a failure, and
  neither is a pod the launcher ended with 143 because the pod got SIGTERM (Kueue
  preemption: the suspended Job's pods are deleted with no `DisruptionTarget`).

A Job's name ends in a digest of every field that cannot change in place, so
a change of pod shape (image, GPUs, the sweep ...) gives the new Job a new name:
pulumi-kubernetes then creates it before deleting the old one (it deletes first
only when the name stays: provider/pkg/provider/provider.go, `Diff`). That is
what makes `pulumi.com/skipAwait` safe here: for a Job it also skips the wait
for the delete (provider/pkg/metadata/overrides.go, `allowsSkipAwaitWithDelete`),
so a same-name replacement would race the old Job and fail with AlreadyExists.

Nothing here refers to another resource's outputs except the sweep's identity
and the namespace: the Secrets (and the CA's ConfigMap) are named by plain strings, so
replacing a Secret (a rotated key) never makes the engine replace a Job
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
from functools import cached_property
from pathlib import Path
from typing import Any

import pulumi
from pulumi_kubernetes.batch.v1 import JobSpecArgsDict
from pulumi_kubernetes.core.v1 import (
    ContainerArgsDict,
    EmptyDirVolumeSourceArgsDict,
    EnvVarArgsDict,
    PodSecurityContextArgsDict,
    PodSpecArgsDict,
    PodTemplateSpecArgsDict,
    ResourceRequirementsArgsDict,
    TolerationArgsDict,
    VolumeArgsDict,
    VolumeMountArgsDict,
)
from pulumi_kubernetes.meta.v1 import ObjectMetaArgsDict

from .agent_scale import AGENT_RESTARTS, RESTARTS_ENV, scale_config_map_name
from .ca_bundle import ca_pod_env, ca_pod_volumes
from .pods import (
    KUEUE_QUEUE_LABEL,
    SHM_VOLUME,
    AgentPods,
    JobMetadata,
    JobPolicy,
    PodRuntime,
    PodScheduling,
)
from .secret_ref import DEFAULT_SECRET_KEY, SecretKeyRef

LAUNCHER_PARTS = ("setup.sh", "agents.sh", "watch.sh")
"""The launcher's parts in launcher/, in the order they run as one script (setup.sh's
header says what each holds): one file would be over the 500 lines a module may have."""


def launcher_source() -> str:
    """The launcher as one script, comments included: what shellcheck reads (`.ci/run`,
    tests/kubernetes/test_launcher_source.py), since its directives are comments."""
    folder = Path(__file__).with_name("launcher")
    return "".join((folder / part).read_text(encoding="utf-8") for part in LAUNCHER_PARTS)


def _launcher_script() -> str:
    """The launcher without its comment lines: the script stays documented in the repo
    while `kubectl describe` of an agent pod stays short."""
    kept = [
        line for line in launcher_source().splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    return "\n".join(kept) + "\n"


LAUNCHER_SCRIPT = _launcher_script()
"""What each agent pod runs, as `sh -c LAUNCHER_SCRIPT`."""
API_KEY_ENTRY = DEFAULT_SECRET_KEY
"""The entry of the Kubernetes Secret that holds the W&B API key."""
CONTAINER_NAME = "agent"
SIGTERM_EXIT = 143
"""The launcher's exit status when, and only when, the pod got SIGTERM (launcher/setup.sh)."""
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
    # A removed Job (scale-down, replaced, destroy) takes its pods with it (the Kubernetes
    # API's own default for a Job's delete orphans them). Background, not Foreground: with
    # skipAwait the provider does not wait for a delete, and under Foreground the Job stays
    # in the API, its name taken, until its pods have stopped (up to their grace period),
    # so a name that comes back at once (an image rolled back A -> B -> A, pods 4 -> 2 -> 4)
    # would meet AlreadyExists. Background frees the name at once; the garbage collector
    # still stops the pods, each with its grace period.
    "pulumi.com/deletionPropagationPolicy": "background",
}


@dataclass(frozen=True)
class SweepRef:
    """The sweep the agents work on, as known once the sweep resource exists."""

    entity: pulumi.Input[str]
    project: pulumi.Input[str]
    sweep_id: pulumi.Input[str]
    base_url: pulumi.Input[str]

    @cached_property
    def path(self) -> pulumi.Output[str]:
        """entity/project/id, one Output for the component: every Job's SWEEP_PATH and
        the `agent_command` share it."""
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
    name: str
    """The WandbSweep's name: the prefix of every Kubernetes name, and its instance label."""
    metadata: JobMetadata = field(default_factory=JobMetadata)
    secret_env_names: Sequence[str] = field(default_factory=tuple)
    """Names of the `env` entries kept in the `env_secret_name` Secret."""
    ca_config_map: str | None = None
    """The ConfigMap holding `caCertificate` (`ca_certificate.config_map_name`), if one is set."""
    api_key_secret: SecretKeyRef | None = None
    """`apiKeySecret`: the existing Secret the agents read the key from; None: `api_key_secret_name`."""

    @property
    def api_key_ref(self) -> SecretKeyRef:
        return self.api_key_secret or SecretKeyRef(api_key_secret_name(self.name), API_KEY_ENTRY)


def api_key_secret_name(name: str) -> str:
    """The Kubernetes Secret holding WANDB_API_KEY for the WandbSweep `name`."""
    return f"{name}-wandb-api-key"


def env_secret_name(name: str) -> str:
    """The Kubernetes Secret holding the secret env of the WandbSweep `name`."""
    return f"{name}-wandb-env"


def common_labels(instance: str) -> dict[str, str]:
    """`app.kubernetes.io/*` labels shared by everything a WandbSweep creates; `instance`
    is its name, so two sweeps in one namespace are told apart."""
    return {
        "app.kubernetes.io/name": "wandb-sweeps",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/part-of": "wandb-sweeps",
        "app.kubernetes.io/managed-by": "pulumi",
    }


POD_SECURITY_LABEL = "pod-security.kubernetes.io"


def namespace_labels(instance: str, *, allow_privileged_pods: bool) -> dict[str, str]:
    """Labels of a Namespace the stack creates: ours, and Pod Security Admission's.

    `enforce: restricted` makes the API server refuse any pod below Restricted in it,
    ours (should a bug render one) and anyone else's. Enforce judges Pods only, so a
    Job with a bad template would be accepted and its pods silently refused; `warn`
    and `audit` judge the Jobs' templates too, so `pulumi up` prints the API server's
    warning and the audit log records it. With allowPrivilegedPods, enforce is
    `privileged` (nothing refused; the user chose so), and warn and audit stay
    `restricted`, so the departure stays visible. Every mode follows `latest`: the
    pods meet the newest rules (tests/test_pod_security.py), and a pinned version
    would leave rules added by later Kubernetes releases unenforced in the namespace.
    """
    enforce = "privileged" if allow_privileged_pods else "restricted"
    labels = dict(common_labels(instance))
    for mode, level in (("enforce", enforce), ("warn", "restricted"), ("audit", "restricted")):
        labels[f"{POD_SECURITY_LABEL}/{mode}"] = level
        labels[f"{POD_SECURITY_LABEL}/{mode}-version"] = "latest"
    return labels


SLOT_LABEL = "wandb-sweeps/slot"
"""The one label, and the only part of a Job's pod template, that differs between slots."""


def agent_labels(instance: str, slot: int | str) -> dict[str, str]:
    return {
        **common_labels(instance),
        "app.kubernetes.io/component": "sweep-agent",
        SLOT_LABEL: str(slot),
    }


def job_name(name: str, slot: int, spec: Mapping[str, Any], queue_name: str | None = None) -> str:
    """`<name>-agent-<slot>-<digest>`: the digest covers every field of the (resolved)
    JobSpec that cannot change in place, so a Job is only ever replaced under a new
    name; and the Kueue queue, which Kueue does not let change on an admitted Job."""
    return job_name_of_text(name, slot, job_digest_text(spec, queue_name))


def job_digest_text(spec: Mapping[str, Any], queue_name: str | None) -> str:
    """The canonical text `job_name` digests: the fixed fields as sorted, compact JSON."""
    fixed = {k: v for k, v in spec.items() if k not in MUTABLE_JOB_SPEC_FIELDS}
    if queue_name:
        fixed["kueue_queue"] = queue_name
    return json.dumps(fixed, sort_keys=True, separators=(",", ":"))


def job_name_of_text(name: str, slot: int, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"{name}-agent-{slot}-{digest[:10]}"


def agent_env(job: AgentJobInputs) -> list[EnvVarArgsDict]:
    """The agents' environment. The API key only by reference to the Secret."""
    pods, sweep = job.pods, job.sweep
    env: list[EnvVarArgsDict] = [
        {
            "name": "WANDB_API_KEY",
            "value_from": {"secret_key_ref": {"name": job.api_key_ref.name, "key": job.api_key_ref.key}},
        },
        {"name": "WANDB_BASE_URL", "value": sweep.base_url},
        {"name": "WANDB_ENTITY", "value": sweep.entity},
        {"name": "WANDB_PROJECT", "value": sweep.project},
        {"name": "SWEEP_PATH", "value": sweep.path},
        {"name": "AGENTS_PER_POD", "value": str(pods.agents_per_pod)},
        {"name": "GPUS_PER_POD", "value": str(pods.gpus_per_pod)},
        # How long agents the launcher stops itself get, like a SIGTERM from Kubernetes.
        {"name": "STOP_GRACE_SECONDS", "value": str(job.runtime.termination_grace_period_seconds)},
        # An agent that exits 1 while the sweep runs is restarted this often (agent_scale).
        {"name": RESTARTS_ENV, "value": str(AGENT_RESTARTS)},
    ]
    if pods.gpus_per_pod > 0:
        # Which variables split the GPUs between the agents: amd.com/* adds HIP_VISIBLE_DEVICES.
        env.append({"name": "GPU_RESOURCE", "value": pods.gpu_resource})
    if pods.runs_per_agent is not None:
        env.append({"name": "RUNS_PER_AGENT", "value": str(pods.runs_per_agent)})
    if job.ca_config_map:
        env.extend(ca_pod_env())  # the launcher builds the CA bundle
    # gpusPerRun needs no variable of its own: AGENTS_PER_POD is GPUS_PER_POD / gpusPerRun, and
    # the launcher's equal split gives each agent that block. So setting gpusPerRun to the
    # split already in effect changes no Job (a GPUS_PER_RUN variable would replace them all).
    env.extend(job.runtime.env)  # type: ignore[arg-type]  # user EnvVar objects, camelCase
    env.extend(
        {"name": name, "value_from": {"secret_key_ref": {"name": env_secret_name(job.name), "key": name}}}
        for name in job.secret_env_names
    )
    return env


def agent_resources(pods: AgentPods) -> ResourceRequirementsArgsDict:
    """`cpu`/`memory` are limits, and the requests too unless `cpuRequest`/`memoryRequest`
    set lower ones (request = limit for both gives Guaranteed QoS); a request without a
    limit stays a request alone. GPUs are limits only: Kubernetes sets an extended
    resource's request to its limit, and refuses a different one."""
    limits = {k: v for k, v in (("cpu", pods.cpu), ("memory", pods.memory)) if v is not None}
    requests = {
        k: v
        for k, v in (("cpu", pods.cpu_request or pods.cpu), ("memory", pods.memory_request or pods.memory))
        if v is not None
    }
    if pods.gpus_per_pod > 0:
        limits[pods.gpu_resource] = str(pods.gpus_per_pod)
    resources: ResourceRequirementsArgsDict = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources


def _shm_volume(job: AgentJobInputs) -> tuple[list[VolumeArgsDict], list[VolumeMountArgsDict]]:
    if not job.runtime.shm_enabled(job.pods.gpus_per_pod):
        return [], []
    empty_dir: EmptyDirVolumeSourceArgsDict = {"medium": "Memory"}
    size_limit = job.runtime.shm_size_limit(job.pods.memory)
    if size_limit:
        empty_dir["size_limit"] = size_limit
    return [{"name": SHM_VOLUME, "empty_dir": empty_dir}], [{"name": SHM_VOLUME, "mount_path": "/dev/shm"}]


def _ca_volumes(job: AgentJobInputs) -> tuple[list[VolumeArgsDict], list[VolumeMountArgsDict]]:
    return ca_pod_volumes(job.ca_config_map) if job.ca_config_map else ([], [])


def _our_volumes(job: AgentJobInputs) -> tuple[list[VolumeArgsDict], list[VolumeMountArgsDict]]:
    """/dev/shm and the CA's volumes, and their mounts: the pod lists the one, the container the other."""
    shm, shm_mounts = _shm_volume(job)
    ca, ca_mounts = _ca_volumes(job)
    return shm + ca, shm_mounts + ca_mounts


def agent_container(job: AgentJobInputs, our_mounts: list[VolumeMountArgsDict]) -> ContainerArgsDict:
    container: ContainerArgsDict = {
        "name": CONTAINER_NAME,
        "image": job.pods.image,
        "image_pull_policy": job.runtime.pull_policy.value,
        "command": ["/bin/sh", "-c", LAUNCHER_SCRIPT],
        "env": agent_env(job),
        # The start spread and client timeouts that follow the sweep's size: in a ConfigMap, so
        # that scaling replaces no Job; a small sweep has none (agent_scale). `env` wins over it.
        "env_from": [{"config_map_ref": {"name": scale_config_map_name(job.name), "optional": True}}],
        "security_context": {
            "allow_privilege_escalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    resources = agent_resources(job.pods)
    if resources:
        container["resources"] = resources
    mounts = our_mounts + list(job.runtime.volume_mounts)
    if mounts:
        container["volume_mounts"] = mounts  # type: ignore[typeddict-item]  # user VolumeMount objects, camelCase
    return container


def agent_tolerations(job: AgentJobInputs) -> list[TolerationArgsDict]:
    tolerations: list[TolerationArgsDict] = []
    if job.pods.gpus_per_pod > 0 and job.scheduling.gpu_toleration:
        tolerations.append({"key": job.pods.gpu_resource, "operator": "Exists", "effect": "NoSchedule"})
    tolerations.extend(job.scheduling.tolerations)  # type: ignore[arg-type]  # user Toleration objects, camelCase
    return tolerations


def agent_pod_spec(job: AgentJobInputs) -> PodSpecArgsDict:
    """The pod meets the Restricted Pod Security Standard unless allowPrivilegedPods let the
    user's pieces take it below (pod_settings.pod_security_problems): seccomp RuntimeDefault
    and runAsNonRoot here, no capabilities and no privilege escalation in the container."""
    runtime, scheduling = job.runtime, job.scheduling
    our_volumes, our_mounts = _our_volumes(job)
    security: PodSecurityContextArgsDict = {"seccomp_profile": {"type": "RuntimeDefault"}}
    if runtime.run_as_non_root:
        security["run_as_non_root"] = True
    if runtime.run_as_user is not None:
        security["run_as_user"] = runtime.run_as_user
    if runtime.supplemental_groups:  # only when set: the pods of existing stacks stay as they were
        security["supplemental_groups"] = list(runtime.supplemental_groups)
    spec: PodSpecArgsDict = {
        "restart_policy": "Never",
        "termination_grace_period_seconds": runtime.termination_grace_period_seconds,
        # Agents never call the Kubernetes API: no token in the pod.
        "automount_service_account_token": False,
        "security_context": security,
        "containers": [agent_container(job, our_mounts)],
    }
    optional: dict[str, Any] = {
        "volumes": our_volumes + list(runtime.volumes),
        "tolerations": agent_tolerations(job),
        "node_selector": dict(scheduling.node_selector),
        "affinity": scheduling.affinity,
        "priority_class_name": scheduling.priority_class_name,
        "service_account_name": runtime.service_account_name,
        "image_pull_secrets": [{"name": name} for name in runtime.image_pull_secrets],
    }
    spec.update({k: v for k, v in optional.items() if v})  # type: ignore[typeddict-item]  # the keys above; user pieces camelCase
    return spec


def agent_job_labels(job: AgentJobInputs, slot: int) -> dict[str, str]:
    """Kueue reads its queue from the Job's labels; it creates the Job suspended and
    lets it run once admitted against the queue's quota."""
    labels = {**job.metadata.labels, **agent_labels(job.name, slot)}
    if job.metadata.queue_name:
        labels[KUEUE_QUEUE_LABEL] = job.metadata.queue_name
    return labels


def agent_job_annotations(job: AgentJobInputs) -> dict[str, str]:
    return {**job.metadata.annotations, **JOB_ANNOTATIONS}


def agent_pod_metadata(job: AgentJobInputs, slot: int | str) -> ObjectMetaArgsDict:
    metadata: ObjectMetaArgsDict = {"labels": {**job.metadata.labels, **agent_labels(job.name, slot)}}
    if job.metadata.annotations:
        metadata["annotations"] = dict(job.metadata.annotations)
    return metadata


def agent_job_spec(job: AgentJobInputs, template: PodTemplateSpecArgsDict) -> JobSpecArgsDict:
    """A Job running `template` (from `agent_pod_metadata` and `agent_pod_spec`), one pod at a time."""
    spec: JobSpecArgsDict = {
        "completions": 1,
        "parallelism": 1,
        "backoff_limit": job.policy.retries_per_pod,
        "pod_failure_policy": {
            "rules": [
                # Preempted or evicted by Kubernetes (drain, spot reclaim, the scheduler).
                {
                    "action": "Ignore",
                    "on_pod_conditions": [{"type": "DisruptionTarget", "status": "True"}],
                },
                # Stopped by a SIGTERM without that condition: a suspended Job's pods (Kueue
                # preemption or eviction; job controller `manageJob` deletes them as is).
                # The launcher exits 143 only when the pod got SIGTERM, never for an agent
                # that crashed, so a crash loop still uses up backoffLimit.
                {
                    "action": "Ignore",
                    "on_exit_codes": {
                        "container_name": CONTAINER_NAME,
                        "operator": "In",
                        "values": [SIGTERM_EXIT],
                    },
                },
            ]
        },
        "template": template,
    }
    if job.policy.active_deadline_seconds is not None:
        spec["active_deadline_seconds"] = job.policy.active_deadline_seconds
    if job.policy.ttl_seconds_after_finished is not None:
        spec["ttl_seconds_after_finished"] = job.policy.ttl_seconds_after_finished
    return spec

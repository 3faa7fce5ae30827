"""Typed, self-validating settings of the agent pods and their Jobs.

Pieces that users write in Kubernetes' own form (tolerations, affinity, volumes,
volume mounts, env) are kept in that form (camelCase dicts) and checked against
the official schema by `schema`; pulumi-kubernetes passes them through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pulumi

from ..checks import EXTENDED_RESOURCE, bytes_quantity, check_int, check_quantity, quantity_amount, shown
from ..errors import ProblemList
from .api_rules import (
    env_problems,
    is_label_value,
    label_problems,
    object_name_problems,
    scheduling_problems,
    supplemental_groups_problems,
    volume_problems,
)
from .schema import fragment_problems, fragments_of, is_list
from .size_limits import (
    MAX_IMAGE_CHARS,
    env_size_problems,
    metadata_size_problems,
    scheduling_size_problems,
    volume_size_problems,
)

DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"


DEFAULT_GRACE_SECONDS = 120


DEFAULT_RETRIES_PER_POD = 3


DEFAULT_AGENT_STARTS_PER_SECOND = 20
"""`agentStartsPerSecond`: 2,000 agents start over about 100 s, 20 or fewer at once (agent_scale)."""


SHM_VOLUME = "dshm"
"""The memory-backed volume mounted at SHM_MOUNT_PATH (PyTorch DataLoader workers need it)."""
SHM_MOUNT_PATH = "/dev/shm"


RESERVED_ENV = (
    "WANDB_API_KEY",
    "WANDB_BASE_URL",
    "WANDB_ENTITY",
    "WANDB_PROJECT",
    "SWEEP_PATH",
    "AGENTS_PER_POD",
    "GPUS_PER_POD",
    "RUNS_PER_AGENT",
    "STOP_GRACE_SECONDS",
    "CUDA_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "GPU_RESOURCE",
    "AGENT_START_SPREAD_SECONDS",
    "AGENT_RESTARTS",
)
"""Set by wandb-sweeps itself; `env` may not override them."""


OPT_OUT_KEY = "allowPrivilegedPods"
"""The one key that lets the pods fall below the Restricted Pod Security Standard."""


class ImagePullPolicy(StrEnum):
    """`imagePullPolicy` of the agent container (Kubernetes' own values)."""

    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


@dataclass(frozen=True)
class AgentPods:
    """The agent pods: how many, what runs in each, and what each gets."""

    image: pulumi.Input[str]
    """`image`: the agent image (training code + wandb); an Output is checked when it resolves."""
    pods: int = 1
    """`pods`: agent pods running at once; 0 pauses the sweep's agents."""
    agents_per_pod: int = 1
    """`agentsPerPod`: `wandb agent` processes per pod; `gpus_per_pod` with `agent_per_gpu`,
    `gpus_per_pod / gpus_per_run` with `gpus_per_run` (`config.from_args` derives it)."""
    runs_per_agent: int | None = None
    """`runsPerAgent`: `wandb agent --count`; None runs until the sweep ends."""
    gpus_per_pod: int = 0
    """`gpusPerPod`: GPUs per pod, set as a limit under `gpu_resource`."""
    gpus_per_run: int | None = None
    """`gpusPerRun`: GPUs each run needs, for runs that start one process per GPU
    (`accelerate launch`, `torchrun`): each agent gets a disjoint block of that many, so
    `agents_per_pod` must be `gpus_per_pod / gpus_per_run` (the launcher's equal split then
    makes the blocks). None: the GPUs are split between `agents_per_pod` agents."""
    gpu_resource: str = DEFAULT_GPU_RESOURCE
    """`gpuResource`: the extended resource that GPUs are requested as."""
    cpu: str | None = None
    """`cpu`: the CPU limit per pod, a Kubernetes quantity; also the request unless
    `cpu_request` is set."""
    memory: str | None = None
    """`memory`: the memory limit per pod, a Kubernetes quantity; also the request unless
    `memory_request` is set. An automatic /dev/shm gets half of it (`PodRuntime`)."""
    cpu_request: str | None = None
    """`cpuRequest`: the CPU the scheduler reserves per pod, at most `cpu`. Lower than
    `cpu`, the pod packs onto busier nodes and bursts into idle CPU (Burstable QoS);
    without `cpu` it is a request with no limit."""
    memory_request: str | None = None
    """`memoryRequest`: the memory the scheduler reserves per pod, at most `memory`. A pod
    above its request is among the first evicted when the node runs short of memory."""
    agent_per_gpu: bool = False
    """`agentPerGpu`: one agent per GPU, so that each run sees 1 GPU."""
    agent_starts_per_second: int = DEFAULT_AGENT_STARTS_PER_SECOND
    """`agentStartsPerSecond`: the sweep's agents start at about this rate; 0: at once."""

    def __post_init__(self) -> None:
        problems = ProblemList()
        if not isinstance(self.image, pulumi.Output) and (problem := image_problem(self.image)):
            problems.add(problem)
        check_int(problems, "pods", self.pods, minimum=0)
        for problem in self._agent_count_problems():
            problems.add(problem)
        if self.runs_per_agent is not None:
            check_int(problems, "runsPerAgent", self.runs_per_agent, minimum=1)
        check_int(problems, "agentStartsPerSecond", self.agent_starts_per_second, minimum=0)
        if not (isinstance(self.gpu_resource, str) and EXTENDED_RESOURCE.fullmatch(self.gpu_resource)):
            problems.add(
                f"gpuResource: must be an extended resource name such as "
                f"'nvidia.com/gpu' or 'amd.com/gpu', got {shown(self.gpu_resource)}."
            )
        check_quantity(problems, "cpu", self.cpu, "2, 500m")
        check_quantity(problems, "memory", self.memory, "16Gi, 512Mi")
        check_quantity(problems, "cpuRequest", self.cpu_request, "2, 500m")
        check_quantity(problems, "memoryRequest", self.memory_request, "16Gi, 512Mi")
        problems.raise_if_any()  # the checks below compare values of the right form
        for problem in self._request_problems():
            problems.add(problem)
        if not problems.problems and self.gpus_per_run is None and self._gpus_split_unevenly():
            problems.add(
                f"gpusPerPod: {self.gpus_per_pod} GPUs cannot be split equally between "
                f"{self.agents_per_pod} agents (agentsPerPod); use a multiple of "
                f"agentsPerPod, or fewer GPUs than agents to share them."
            )
        problems.raise_if_any()

    def _request_problems(self) -> list[str]:
        """A request above its limit: Kubernetes refuses the pod (requests must not exceed limits)."""
        found = []
        for request_key, request, limit_key, limit in (
            ("cpuRequest", self.cpu_request, "cpu", self.cpu),
            ("memoryRequest", self.memory_request, "memory", self.memory),
        ):
            if request is not None and limit is not None:
                asked, most = quantity_amount(request), quantity_amount(limit)
                if asked is not None and most is not None and asked > most:
                    found.append(
                        f"{request_key}: {request} is more than {limit_key} ({limit}), the limit; a request "
                        f"may be at most its limit: lower {request_key}, raise {limit_key}, or remove "
                        f"{request_key} (the request is then {limit_key})."
                    )
        return found

    def _agent_count_problems(self) -> list[str]:
        """The agent count's values, then the rule that ties them, checked here only (the
        launcher just splits GPUS_PER_POD between AGENTS_PER_POD agents) and reported with
        the other problems once its own values have the right form."""
        found = ProblemList()
        check_int(found, "agentsPerPod", self.agents_per_pod, minimum=1)
        check_int(found, "gpusPerPod", self.gpus_per_pod, minimum=0)
        if self.gpus_per_run is not None:
            check_int(found, "gpusPerRun", self.gpus_per_run, minimum=1)
        if not isinstance(self.agent_per_gpu, bool):
            found.add(f"agentPerGpu: must be true or false, got {shown(self.agent_per_gpu)}.")
        if not found.problems and (problem := self._agent_count_problem()):
            found.add(problem)
        return found.problems

    def _agent_count_problem(self) -> str | None:
        """Why `agents_per_pod` cannot be what `gpus_per_run` or `agent_per_gpu` make it, or
        why the pod's GPUs cannot be cut into runs of `gpus_per_run`, if so."""
        per_run, gpus, agents = self.gpus_per_run, self.gpus_per_pod, self.agents_per_pod
        if per_run is None:
            if not self.agent_per_gpu:
                return None
            if gpus < 1:
                return f"agentPerGpu: needs gpusPerPod >= 1 (one agent per GPU), got gpusPerPod {gpus}."
            if agents != gpus:
                return (
                    f"agentPerGpu: sets agentsPerPod to gpusPerPod ({gpus}), but agentsPerPod is {agents}; "
                    "remove agentsPerPod or set agentPerGpu to false."
                )
            return None
        if self.agent_per_gpu:
            return (
                f"gpusPerRun: cannot be combined with agentPerGpu: true, which gives each agent (and so each "
                f"run) 1 GPU, not {per_run}; remove agentPerGpu: with gpusPerRun, agentsPerPod follows "
                "gpusPerPod / gpusPerRun."
            )
        multiples = f"a multiple of {per_run} ({per_run}, {2 * per_run}, ...)"
        if gpus == 0:
            return (
                f"gpusPerRun: {per_run} GPUs per run needs GPUs in the pod; set gpusPerPod to {multiples}, "
                "or remove gpusPerRun."
            )
        if per_run > gpus:
            return (
                f"gpusPerRun: {per_run} GPUs per run do not fit in a pod of gpusPerPod {gpus}; set gpusPerPod "
                f"to {multiples}, or lower gpusPerRun."
            )
        if gpus % per_run:
            return (
                f"gpusPerRun: gpusPerPod {gpus} is not a multiple of {per_run}, so {gpus % per_run} GPU(s) "
                f"would sit idle; set gpusPerPod to {multiples}."
            )
        if agents != gpus // per_run:
            return (
                f"gpusPerRun: sets agentsPerPod to gpusPerPod / gpusPerRun ({gpus} / {per_run} = "
                f"{gpus // per_run}), but agentsPerPod is {agents}; remove agentsPerPod (or set it to "
                f"{gpus // per_run})."
            )
        return None

    def _gpus_split_unevenly(self) -> bool:
        """Agents get equal GPU blocks; with fewer GPUs than agents they share instead."""
        return self.gpus_per_pod >= self.agents_per_pod and self.gpus_per_pod % self.agents_per_pod != 0


@dataclass(frozen=True)
class PodScheduling:
    """Where agent pods may run."""

    node_selector: Mapping[str, str] = field(default_factory=dict)
    """`nodeSelector`: node labels the pods require."""
    tolerations: tuple[Mapping[str, Any], ...] = ()
    """`tolerations`: Kubernetes Toleration objects, added to the GPU toleration."""
    affinity: Mapping[str, Any] | None = None
    """`affinity`: a Kubernetes Affinity object."""
    priority_class_name: str | None = None
    """`priorityClassName`: e.g. a low class so sweeps yield to serving workloads."""
    gpu_toleration: bool = True
    """`gpuToleration`: when GPUs are requested, tolerate the taint named like
    `gpuResource` (`nvidia.com/gpu:NoSchedule`), which GPU node pools usually carry."""

    def __post_init__(self) -> None:
        problems = ProblemList()
        problems.extend(scheduling_size_problems(self.node_selector, self.tolerations, self.affinity))
        problems.raise_if_any()  # bounded before anything walks them
        problems.extend(object_name_problems("priorityClassName", self.priority_class_name))
        if not isinstance(self.gpu_toleration, bool):
            problems.add(f"gpuToleration: must be true or false, got {shown(self.gpu_toleration)}.")
        fragments = fragments_of(
            problems,
            nodeSelector=(self.node_selector, Mapping),
            tolerations=(self.tolerations, Sequence),
            affinity=(self.affinity or {}, Mapping),
        )
        problems.extend(fragment_problems(fragments))
        if not problems.problems:  # the schema's types hold: now the API server's own rules
            problems.extend(scheduling_problems(self.node_selector, self.tolerations))
        problems.raise_if_any()


@dataclass(frozen=True)
class PodRuntime:
    """What each agent pod gets besides GPUs: env, volumes, /dev/shm, identity, security."""

    env: tuple[Mapping[str, Any], ...] = ()
    """`env`: extra Kubernetes EnvVar objects for the agents and their runs."""
    volumes: tuple[Mapping[str, Any], ...] = ()
    """`volumes`: extra Kubernetes Volume objects (e.g. a dataset PVC)."""
    volume_mounts: tuple[Mapping[str, Any], ...] = ()
    """`volumeMounts`: where the agent container mounts them."""
    shm_size: str = "auto"
    """`shmSize`: "auto" mounts a memory-backed /dev/shm when GPUs are requested, with
    half of `memory` as its size limit; "off" never; a quantity (8Gi) always, with that
    size limit."""
    image_pull_secrets: tuple[str, ...] = ()
    """`imagePullSecrets`: names of Secrets in the namespace for a private registry."""
    service_account_name: str | None = None
    """`serviceAccountName`: e.g. for workload identity to a bucket; its token is
    still not mounted (agents never call the Kubernetes API)."""
    termination_grace_period_seconds: int = DEFAULT_GRACE_SECONDS
    """`terminationGracePeriodSeconds`: time the agents and runs get to stop after SIGTERM."""
    run_as_non_root: bool = True
    """`runAsNonRoot`: the kubelet refuses to start an image whose user is root (or not
    numeric, so that it cannot tell); the Restricted Pod Security Standard requires it."""
    run_as_user: int | None = None
    """`runAsUser`: the UID the containers run as; None keeps the image's."""
    supplemental_groups: tuple[int, ...] = ()
    """`supplementalGroups`: group ids the processes also get, e.g. render and video, which
    own /dev/kfd and /dev/dri/renderD* on AMD GPU nodes; empty: unset (pods as before)."""
    image_pull_policy: ImagePullPolicy | None = None
    """`imagePullPolicy`; None: Always with `image_pull_secrets`, else IfNotPresent."""
    allow_privileged_pods: bool = False
    """`allowPrivilegedPods`: the stack's explicit choice to let the pods fall below the
    Restricted Pod Security Standard (`pod_security_problems` lists what that allows);
    a Namespace the stack creates is then labelled to enforce nothing, warn still."""

    def __post_init__(self) -> None:
        problems = ProblemList()
        problems.extend(volume_size_problems(self.volumes, self.volume_mounts, self.image_pull_secrets))
        if isinstance(self.env, Sequence) and not isinstance(self.env, str):
            problems.extend(env_size_problems(self.env, {}))
        problems.raise_if_any()  # bounded before anything walks them
        if not (isinstance(self.shm_size, str) and self.shm_size in ("auto", "off")):
            check_quantity(problems, "shmSize", self.shm_size, "'auto', 'off' or 8Gi")
        if is_list(self.image_pull_secrets, problems, "imagePullSecrets"):
            for index, name in enumerate(self.image_pull_secrets):
                problems.extend(object_name_problems("imagePullSecrets", name, f"imagePullSecrets[{index}]"))
        problems.extend(object_name_problems("serviceAccountName", self.service_account_name))
        problems.extend(supplemental_groups_problems(self.supplemental_groups))
        check_int(problems, "terminationGracePeriodSeconds", self.termination_grace_period_seconds, minimum=0)
        if self.run_as_user is not None:
            check_int(problems, "runAsUser", self.run_as_user, minimum=0)
        if not isinstance(self.run_as_non_root, bool):
            problems.add(f"runAsNonRoot: must be true or false, got {shown(self.run_as_non_root)}.")
        if not isinstance(self.allow_privileged_pods, bool):
            problems.add(f"{OPT_OUT_KEY}: must be true or false, got {shown(self.allow_privileged_pods)}.")
        if self.image_pull_policy is not None and not isinstance(self.image_pull_policy, ImagePullPolicy):
            problems.add(pull_policy_problem(self.image_pull_policy))
        fragments = fragments_of(
            problems,
            env=(self.env, Sequence),
            volumes=(self.volumes, Sequence),
            volumeMounts=(self.volume_mounts, Sequence),
        )
        problems.extend(fragment_problems(fragments))
        if not problems.problems:  # the schema's types hold: now the API server's own rules
            problems.extend(env_problems(self.env) + volume_problems(self.volumes, self.volume_mounts))
        if not problems.problems:
            self._check_names(problems)
        problems.raise_if_any()

    def _check_names(self, problems: ProblemList) -> None:
        both = [e["name"] for e in self.env if e.get("value") and "valueFrom" in e]
        if both:
            problems.add(f"env: {', '.join(both)} has both value and valueFrom; keep one.")
        reserved = [e["name"] for e in self.env if e["name"] in RESERVED_ENV]
        if reserved:
            problems.add(
                f"env: {', '.join(reserved)} is set by wandb-sweeps itself (from the config keys); "
                "remove it from env."
            )
        volume_names = [v["name"] for v in self.volumes]
        if SHM_VOLUME in volume_names:
            problems.add(
                f"volumes: the name '{SHM_VOLUME}' is reserved for /dev/shm (shmSize); rename the volume."
            )
        unknown = [m["name"] for m in self.volume_mounts if m["name"] not in volume_names]
        if unknown:
            problems.add(
                f"volumeMounts: {', '.join(map(repr, unknown))} is not one of the volumes "
                f"({', '.join(map(repr, volume_names)) or 'none'}); add it to volumes."
            )

    def shm_enabled(self, gpus_per_pod: int) -> bool:
        return self.shm_size != "off" and (self.shm_size != "auto" or gpus_per_pod > 0)

    def shm_size_limit(self, memory: str | None) -> str | None:
        """The size limit of /dev/shm. `auto`: half of the pod's `memory` limit, none without
        one. Memory-backed files count against the container's memory limit, so an unbounded
        /dev/shm lets DataLoader workers' shared batches take the whole limit and have the
        trainer OOM-killed; half leaves the other half to the processes themselves."""
        if self.shm_size == "off":
            return None
        if self.shm_size != "auto":
            return self.shm_size
        amount = quantity_amount(memory) if isinstance(memory, str) else None
        if amount is None or amount < 2:
            return None
        return bytes_quantity(amount / 2)

    @property
    def pull_policy(self) -> ImagePullPolicy:
        """Always for an image behind pull secrets: the kubelet then asks the registry, with
        this pod's credentials, before it starts a container from the node's cache, so a
        private image pulled for us does not start for another tenant's pod that has no
        secret (unless the cluster runs the AlwaysPullImages admission plugin). A digest
        reference costs one manifest request per pod start; else IfNotPresent."""
        if self.image_pull_policy is not None:
            return self.image_pull_policy
        return ImagePullPolicy.ALWAYS if self.image_pull_secrets else ImagePullPolicy.IF_NOT_PRESENT


def pull_policy_problem(value: object) -> str:
    allowed = ", ".join(policy.value for policy in ImagePullPolicy)
    return (
        f"imagePullPolicy: must be one of {allowed} (or empty: Always when imagePullSecrets are given, "
        f"else IfNotPresent), got {shown(value)}."
    )


@dataclass(frozen=True)
class JobPolicy:
    """How long agent Jobs may run and how they are retried and cleaned up."""

    retries_per_pod: int = DEFAULT_RETRIES_PER_POD
    """`retriesPerPod`: failed pods a slot replaces before its Job fails (backoffLimit).
    Preempted or evicted pods do not count."""
    active_deadline_seconds: int | None = None
    """`activeDeadlineSeconds`: stop each agent Job after this long; None: no limit."""
    ttl_seconds_after_finished: int | None = None
    """`ttlSecondsAfterFinished`: delete a finished Job after this long; None keeps it
    (and its logs) until `pulumi destroy`."""

    def __post_init__(self) -> None:
        problems = ProblemList()
        check_int(problems, "retriesPerPod", self.retries_per_pod, minimum=0)
        if self.active_deadline_seconds is not None:
            check_int(problems, "activeDeadlineSeconds", self.active_deadline_seconds, minimum=1)
        if self.ttl_seconds_after_finished is not None:
            check_int(problems, "ttlSecondsAfterFinished", self.ttl_seconds_after_finished, minimum=1)
        problems.raise_if_any()


OWN_LABEL_PREFIXES = ("app.kubernetes.io/", "wandb-sweeps/", "kueue.x-k8s.io/")
"""Label keys wandb-sweeps sets (or Kueue reads) on the agent Jobs and pods."""


OWN_ANNOTATION_PREFIXES = ("pulumi.com/", "wandb-sweeps/")
"""Annotation keys that steer pulumi-kubernetes (skipAwait, ...) or are wandb-sweeps'."""


KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


@dataclass(frozen=True)
class JobMetadata:
    """What the cluster's own tooling reads on the agent Jobs: Kueue's queue, labels, annotations."""

    queue_name: str | None = None
    """`queueName`: the Kueue LocalQueue in the namespace; Kueue admits the Jobs against its quota."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """`labels`: extra labels for the Jobs and their pods (cost allocation, policies)."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """`annotations`: extra annotations for the Jobs and their pods."""

    def __post_init__(self) -> None:
        problems = ProblemList()
        problems.extend(metadata_size_problems(self.labels, self.annotations))
        problems.raise_if_any()  # bounded before anything walks them
        if self.queue_name is not None and not (
            isinstance(self.queue_name, str) and self.queue_name and is_label_value(self.queue_name)
        ):
            problems.add(
                f"queueName: must be the name of a Kueue LocalQueue (a Kubernetes label value), "
                f"got {shown(self.queue_name)}."
            )
        problems.extend(label_problems("labels", self.labels, values_are_labels=True))
        problems.extend(label_problems("annotations", self.annotations, values_are_labels=False))
        for key, own in (("labels", OWN_LABEL_PREFIXES), ("annotations", OWN_ANNOTATION_PREFIXES)):
            value = getattr(self, key)
            taken = (
                [k for k in value if isinstance(k, str) and k.startswith(own)]
                if isinstance(value, dict)
                else []
            )
            if taken:
                problems.add(
                    f"{key}: {', '.join(taken)} is set by wandb-sweeps (or read by Kueue or Pulumi) "
                    f"under {', '.join(own)}; remove it{' (set queueName for Kueue)' if key == 'labels' else ''}."
                )
        problems.raise_if_any()


def image_problem(image: object) -> str | None:
    """Why `image` cannot be an image reference (printable ASCII without spaces), if it cannot."""
    if isinstance(image, str) and len(image) > MAX_IMAGE_CHARS:
        return (
            f"image: at most {MAX_IMAGE_CHARS} characters (a 255-character name, a tag and a digest fit), "
            f"got {len(image)}."
        )
    if (
        isinstance(image, str)
        and bool(image)
        and image.isascii()
        and image.isprintable()
        and not any(c.isspace() for c in image)
    ):
        return None
    return (
        f"image: must be a container image reference without spaces, such as "
        f"'ghcr.io/acme/trainer:1.0', got {shown(image)}."
    )

"""The keys a WandbSweep is configured with: stack config keys and the component's args.

`CONFIG_KEYS` is the public interface of the stack config: Pulumi.yaml declares the
same keys with the same defaults (a test keeps them in step) and docs/configuration.md
documents each one. The component's args (`args.WandbSweepArgs`) are the same
keys in snake_case (`gpusPerPod` <-> `gpus_per_pod`), plus two that only code can
give (`env_vars`, `secret_env`; the stack key `env` holds either form).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..kubernetes.agent_scale import MAX_AGENT_STARTS_PER_SECOND
from ..kubernetes.api_rules import MAX_SUPPLEMENTAL_GROUPS
from ..kubernetes.pods import (
    DEFAULT_AGENT_STARTS_PER_SECOND,
    DEFAULT_GPU_RESOURCE,
    DEFAULT_GRACE_SECONDS,
    DEFAULT_RETRIES_PER_POD,
)
from ..wandb.server import DEFAULT_BASE_URL, DEFAULT_CALL_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, OnDestroy

PROJECT = "wandb-sweeps"
YEAR_SECONDS = 365 * 86_400

Kind = Literal["string", "integer", "boolean", "array", "object", "list"]


@dataclass(frozen=True)
class ConfigKey:
    name: str
    kind: Kind
    """string, integer, boolean, array (of `items`): declared in Pulumi.yaml.
    object and list (of objects) cannot be declared there (the project-config
    schema has no object type), so the CLI passes them through as JSON and this
    module checks them."""
    default: str | int | bool | list[Any] | dict[str, Any] | None
    """None: required. For optional keys without a natural default, an empty
    value ("", 0, [], {}) stands for "unset", because Pulumi.yaml cannot declare
    an optional key without a default."""
    description: str
    maximum: int | str | None = None
    """The upper bound of a count, size or duration key: a whole number, or a
    Kubernetes quantity for `cpu`, `memory`, their requests and `shmSize`. Every bound
    is far above what a large real cluster needs (docs/configuration.md gives the reason for each); it
    exists so that a typo or a generated value (`pods: 2147483647`) is an error
    instead of a program that runs for hours or a pod no node can hold."""
    why: str = ""
    """What the maximum amounts to, for people ("a day")."""
    items: Literal["string", "integer"] = "string"
    """The type of an array's items, as Pulumi.yaml declares it."""

    @property
    def bound(self) -> str:
        """The maximum as messages and docs/configuration.md give it: `86400 (a day)`."""
        return f"{self.maximum}{f' ({self.why})' if self.why else ''}"

    @property
    def declared_in_project(self) -> bool:
        return self.kind in ("string", "integer", "boolean", "array")


def _key(
    name: str,
    kind: Kind,
    default: Any,
    description: str,
    *,
    maximum: int | str | None = None,
    why: str = "",
    items: Literal["string", "integer"] = "string",
) -> ConfigKey:
    """A key; a bounded one says its bound (and what it amounts to) in its description,
    which Pulumi.yaml and docs/configuration.md repeat."""
    key = ConfigKey(name, kind, default, description, maximum, why, items)
    if maximum is None:
        return key
    return ConfigKey(name, kind, default, f"{description} At most {key.bound}.", maximum, why, items)


CONFIG_KEYS: tuple[ConfigKey, ...] = (
    # The sweep on W&B
    _key("project", "string", None, "W&B project the sweep belongs to."),
    _key(
        "entity",
        "string",
        "",
        "W&B entity (user or team); empty: the API key's default entity, resolved when the sweep is made.",
    ),
    _key(
        "sweepConfig",
        "string",
        "sweep.yaml",
        "W&B sweep config file inside the Pulumi project folder, relative to it; copy a sweep kept "
        "elsewhere into that folder.",
    ),
    _key(
        "sweepId",
        "string",
        "",
        "Run agents for this existing sweep instead of creating one; empty: create one.",
    ),
    _key(
        "wandbApiKey",
        "string",
        "",
        "W&B API key; set with --secret. Empty: WANDB_API_KEY from the deploying shell.",
    ),
    _key(
        "baseUrl",
        "string",
        "",
        f"W&B server URL; empty: WANDB_BASE_URL of the shell that makes the sweep, else {DEFAULT_BASE_URL}.",
    ),
    _key(
        "caCertificate",
        "string",
        "",
        "PEM file of a private CA, inside the Pulumi project folder, that the deploying machine and "
        "the agent pods trust besides the public roots; empty: public roots only.",
    ),
    _key(
        "wandbRequestTimeoutSeconds",
        "integer",
        DEFAULT_REQUEST_TIMEOUT,
        "Seconds one HTTP request to W&B may take before it is retried.",
        maximum=600,
        why="10 minutes",
    ),
    _key(
        "wandbCallTimeoutSeconds",
        "integer",
        DEFAULT_CALL_TIMEOUT,
        "Seconds one W&B call may take in all, retries included, before it fails.",
        maximum=3600,
        why="an hour",
    ),
    _key(
        "onDestroy",
        "string",
        OnDestroy.FINISH.value,
        "What destroy or a replaced sweep does to the old sweep: finish, cancel or keep.",
    ),
    # Where the Kubernetes objects go
    _key(
        "renderYamlTo",
        "string",
        "",
        "Write the Kubernetes objects as YAML manifests into this directory inside the Pulumi project "
        "folder, for Argo CD or Flux to apply, instead of applying them; needs apiKeySecret. Empty: apply "
        "them to the cluster.",
    ),
    _key(
        "apiKeySecret",
        "string",
        "",
        "The agents read their W&B API key from this existing Secret in the namespace, NAME or NAME/KEY "
        "(key default WANDB_API_KEY), which the stack does not create. Empty: a Secret made from wandbApiKey.",
    ),
    # The agent pods
    _key("image", "string", None, "Agent image: your training code plus wandb."),
    _key("namespace", "string", "", "Namespace of the Secrets and Jobs; empty: wandb-sweeps-<stack>."),
    _key(
        "createNamespace",
        "boolean",
        True,
        "Create the namespace (and delete it at destroy); false: it exists already.",
    ),
    _key(
        "pods",
        "integer",
        1,
        "Agent pods running at once; 0 pauses the agents and keeps everything else.",
        maximum=1000,
    ),
    _key("agentsPerPod", "integer", 1, "`wandb agent` processes in each pod.", maximum=64),
    _key(
        "agentPerGpu",
        "boolean",
        False,
        "One agent per GPU: agentsPerPod follows gpusPerPod, and each run sees 1 GPU; "
        "for runs on several GPUs, set gpusPerRun instead.",
    ),
    _key(
        "runsPerAgent",
        "integer",
        0,
        "Runs each agent does (`wandb agent --count`); 0: until the sweep ends.",
        maximum=100_000,
    ),
    _key(
        "agentStartsPerSecond",
        "integer",
        DEFAULT_AGENT_STARTS_PER_SECOND,
        "The sweep's agents, and a retried pod's, start at about this many per second: each waits a random "
        "0 to pods x agentsPerPod / agentStartsPerSecond seconds; 0: all at once.",
        maximum=MAX_AGENT_STARTS_PER_SECOND,
        why="far above W&B's documented 80 run creations per second per project",
    ),
    _key("gpusPerPod", "integer", 0, "GPUs per pod, set as a limit under gpuResource.", maximum=16),
    _key(
        "gpusPerRun",
        "integer",
        0,
        "GPUs each run needs (accelerate launch, torchrun): each agent gets that many, and agentsPerPod "
        "follows gpusPerPod / gpusPerRun; 0: the GPUs are split between agentsPerPod agents.",
        maximum=16,
        why="the GPUs of one pod",
    ),
    _key(
        "gpuResource",
        "string",
        DEFAULT_GPU_RESOURCE,
        "Extended resource name of the GPUs (nvidia.com/gpu, amd.com/gpu, ...).",
    ),
    _key(
        "cpu",
        "string",
        "",
        "CPU limit per pod, a Kubernetes quantity, and its request unless cpuRequest is set; empty: none set.",
        maximum="4096",
    ),
    _key(
        "cpuRequest",
        "string",
        "",
        "CPU request per pod, at most cpu (a lower one is Burstable); empty: cpu. Without cpu: a request, no limit.",
        maximum="4096",
    ),
    _key(
        "memory",
        "string",
        "",
        "Memory limit per pod, a Kubernetes quantity, and its request unless memoryRequest is set; "
        "empty: none set.",
        maximum="64Ti",
    ),
    _key(
        "memoryRequest",
        "string",
        "",
        "Memory request per pod, at most memory; empty: memory. Without memory: a request, no limit.",
        maximum="64Ti",
    ),
    _key(
        "shmSize",
        "string",
        "auto",
        "Memory-backed /dev/shm: auto (when GPUs are requested, size limit half of memory, none without "
        "memory), off, or a size limit such as 8Gi.",
        maximum="64Ti",
    ),
    # Where the pods run
    _key(
        "gpuToleration",
        "boolean",
        True,
        "When GPUs are requested, tolerate the <gpuResource>:NoSchedule taint.",
    ),
    _key("nodeSelector", "object", {}, "Node labels the pods require (a mapping)."),
    _key("tolerations", "list", [], "Extra Kubernetes tolerations (a list of Toleration objects)."),
    _key("affinity", "object", {}, "A Kubernetes Affinity object."),
    _key("priorityClassName", "string", "", "PriorityClass of the agent pods; empty: the cluster default."),
    _key("queueName", "string", "", "Kueue LocalQueue for the agent Jobs; empty: none."),
    _key("labels", "object", {}, "Extra labels for the agent Jobs and their pods (a mapping)."),
    _key("annotations", "object", {}, "Extra annotations for the agent Jobs and their pods (a mapping)."),
    # What the pods get
    _key(
        "env",
        "object",
        {},
        "Extra environment: a mapping NAME: value, or a list of Kubernetes EnvVar objects; "
        "set it --secret to keep the values in a Kubernetes Secret.",
    ),
    _key("volumes", "list", [], "Extra Kubernetes Volume objects, e.g. a dataset PVC."),
    _key("volumeMounts", "list", [], "Where the agent container mounts those volumes (VolumeMount objects)."),
    _key("imagePullSecrets", "array", [], "Names of Secrets in the namespace for pulling the image."),
    _key(
        "imagePullPolicy",
        "string",
        "",
        "Always, IfNotPresent or Never; empty: Always when imagePullSecrets are given, else IfNotPresent.",
    ),
    _key(
        "serviceAccountName",
        "string",
        "",
        "ServiceAccount of the pods (its token is not mounted); empty: default.",
    ),
    _key(
        "runAsNonRoot",
        "boolean",
        True,
        "Refuse to start an image that runs as root; false needs allowPrivilegedPods.",
    ),
    _key("runAsUser", "integer", 0, "UID the containers run as; 0: the image's user."),
    _key(
        "supplementalGroups",
        "array",
        [],
        "Group ids (0 to 2147483647) the containers also get, e.g. the render and video groups that own "
        "/dev/kfd and /dev/dri on AMD GPU nodes; empty: none set.",
        maximum=MAX_SUPPLEMENTAL_GROUPS,
        why="group ids",
        items="integer",
    ),
    _key(
        "allowPrivilegedPods",
        "boolean",
        False,
        "Let the pods fall below the Restricted Pod Security Standard and reach past themselves: other volume "
        "types (hostPath), projected API tokens, tolerations of every taint or of control-plane nodes, "
        "system-* priority classes, AppArmor overrides, TLS-disabling env, runAsNonRoot false.",
    ),
    _key(
        "terminationGracePeriodSeconds",
        "integer",
        DEFAULT_GRACE_SECONDS,
        "Seconds agents and runs get to stop after SIGTERM (scale-down, destroy, preemption).",
        maximum=86_400,
        why="a day",
    ),
    # The agent Jobs
    _key(
        "retriesPerPod",
        "integer",
        DEFAULT_RETRIES_PER_POD,
        "Failed pods each slot replaces before its Job fails; preemptions do not count.",
        maximum=100,
    ),
    _key(
        "activeDeadlineSeconds",
        "integer",
        0,
        "Stop each agent Job after this many seconds; 0: no limit.",
        maximum=YEAR_SECONDS,
        why="365 days",
    ),
    _key(
        "ttlSecondsAfterFinished",
        "integer",
        0,
        "Delete finished agent Jobs after this many seconds; 0: keep them (and their logs).",
        maximum=YEAR_SECONDS,
        why="365 days",
    ),
)
KEYS_BY_NAME = {key.name: key for key in CONFIG_KEYS}
ARGS_ONLY_DEFAULTS: dict[str, Any] = {"envVars": [], "secretEnv": {}}
"""The args that have no stack key of their own (the stack key `env` holds either form)."""
SECRET_CAPABLE_KEYS = ("wandbApiKey", "env")
"""Keys whose secret marking wandb-sweeps keeps: their values reach the pods only
through Kubernetes Secrets. Any other key's value lands in the Job spec, the
state or the outputs in plain text, so marking it secret is refused."""
INPUT_KEYS = frozenset({"image", "namespace", "wandbApiKey"})
"""String keys whose value may be a pulumi.Output (checked when it resolves)."""


def camel(snake: str) -> str:
    """`gpus_per_pod` -> `gpusPerPod`: an arg's stack key and schema name."""
    first, *rest = snake.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def default_of(name: str) -> Any:
    """The default of a key (camelCase); None for a required one."""
    if name in ARGS_ONLY_DEFAULTS:
        return ARGS_ONLY_DEFAULTS[name]
    return KEYS_BY_NAME[name].default

"""The arguments of the WandbSweep component: a TypedDict, every field documented.

TypedDict-style and free of unions (but Optional) so that Pulumi's component
schema inference (`pulumi.provider.experimental.analyzer.Analyzer`) can build a
schema from it: a hosted component receives a plain dict, and class-style args
fail there (pulumi/pulumi#18526). The schema names are the fields in camelCase
(`gpus_per_pod` -> `gpusPerPod`), which are also this project's stack config
keys, so an error names the same key whichever way the value came in.

No `from __future__ import annotations` here: the analyzer reads the annotations
at run time and does not evaluate strings.

Values are plain, except those marked `pulumi.Input`, which may also be Outputs
of other resources (an image built in the same program, a namespace made by
another component): plain values are checked when the component is built,
Outputs when they resolve, with the same message.
"""

from typing import Any, NotRequired, TypedDict

import pulumi


class WandbSweepArgs(TypedDict):
    """A W&B sweep and the Kubernetes Jobs whose pods run its agents."""

    project: str
    """W&B project the sweep belongs to."""
    image: pulumi.Input[str]
    """Agent image: the training code plus wandb (an image reference, e.g. from a build in the same program)."""

    entity: NotRequired[str]
    """W&B entity (user or team). Default: the API key's default entity, resolved when the sweep is made and kept."""
    sweep_config: NotRequired[str]
    """Path of the W&B sweep config (YAML), relative to the program's working directory (the Pulumi project folder), which it must stay inside: copy a sweep kept elsewhere into it. Default: sweep.yaml."""
    sweep_id: NotRequired[str]
    """Run agents for this existing sweep instead of creating one (the end of the sweep URL); it is never stopped."""
    wandb_api_key: NotRequired[pulumi.Input[str]]
    """W&B API key, kept secret. Default: WANDB_API_KEY of the deploying shell."""
    base_url: NotRequired[str]
    """W&B server URL. Default: WANDB_BASE_URL of the shell that makes the sweep, else https://api.wandb.ai; kept from then on."""
    ca_certificate: NotRequired[str]
    """PEM file of a private CA (relative to the program's working directory, the Pulumi project folder, which it must stay inside), trusted besides the public roots by the W&B calls at deploy time and by the agent pods. Default: public roots only."""
    wandb_request_timeout_seconds: NotRequired[int]
    """Seconds one HTTP request to W&B may take before it is retried. Default: 20; at most 600."""
    wandb_call_timeout_seconds: NotRequired[int]
    """Seconds one W&B call may take in all, retries included. Default: 30; at most 3600."""
    on_destroy: NotRequired[str]
    """What destroy, or a replaced sweep, does to the old sweep: finish, cancel or keep. Default: finish."""

    render_yaml_to: NotRequired[str]
    """Write the Kubernetes objects as YAML manifests into this directory (relative to the program's working directory, the Pulumi project folder, which it must stay inside) for Argo CD or Flux to apply, instead of applying them; needs api_key_secret. Default: apply them."""
    api_key_secret: NotRequired[str]
    """The agents read their W&B API key from this existing Secret in the namespace, NAME or NAME/KEY (key default WANDB_API_KEY); the component then makes no Secret from wandb_api_key, which the deploy-time W&B calls still use. Default: a Secret made from wandb_api_key."""

    namespace: NotRequired[pulumi.Input[str]]
    """Kubernetes namespace of the Secrets and Jobs. Default: wandb-sweeps-<stack>."""
    create_namespace: NotRequired[bool]
    """Create the namespace (and delete it at destroy); false: it exists already, e.g. given by a platform team. Default: true."""
    queue_name: NotRequired[str]
    """Kueue LocalQueue for the agent Jobs (the kueue.x-k8s.io/queue-name label). Default: none."""
    labels: NotRequired[dict[str, str]]
    """Extra labels for the agent Jobs and their pods; wandb-sweeps' own labels cannot be overridden."""
    annotations: NotRequired[dict[str, str]]
    """Extra annotations for the agent Jobs and their pods; wandb-sweeps' own cannot be overridden, and AppArmor overrides need allow_privileged_pods."""

    pods: NotRequired[int]
    """Agent pods running at once; 0 pauses the agents and keeps everything else. Default: 1; at most 1000."""
    agents_per_pod: NotRequired[int]
    """`wandb agent` processes in each pod. Default: 1; at most 64."""
    agent_per_gpu: NotRequired[bool]
    """One agent per GPU: agents_per_pod follows gpus_per_pod, and each run sees 1 GPU (for runs on several GPUs, set gpus_per_run instead). Default: false."""
    runs_per_agent: NotRequired[int]
    """Runs each agent does (`wandb agent --count`); 0: until the sweep ends. Default: 0; at most 100000."""
    agent_starts_per_second: NotRequired[int]
    """The sweep's agents, and a retried pod's, start at about this many per second: each waits a random 0 to pods x agents_per_pod / agent_starts_per_second seconds; 0: all at once. Default: 20; at most 1000."""
    gpus_per_pod: NotRequired[int]
    """GPUs per pod, set as a limit under gpu_resource. Default: 0; at most 16."""
    gpus_per_run: NotRequired[int]
    """GPUs each run needs (accelerate launch, torchrun): each agent gets a disjoint block of that many, and agents_per_pod follows gpus_per_pod / gpus_per_run; 0: the GPUs are split between agents_per_pod agents. Default: 0; at most 16."""
    gpu_resource: NotRequired[str]
    """Extended resource name of the GPUs (nvidia.com/gpu, amd.com/gpu, ...). Default: nvidia.com/gpu."""
    cpu: NotRequired[str]
    """CPU limit per pod, a Kubernetes quantity, at most 4096; also the request unless cpu_request is set. Default: none set."""
    cpu_request: NotRequired[str]
    """CPU request per pod, at most cpu (lower gives Burstable QoS); without cpu, a request with no limit. Default: cpu."""
    memory: NotRequired[str]
    """Memory limit per pod, a Kubernetes quantity, at most 64Ti; also the request unless memory_request is set. Default: none set."""
    memory_request: NotRequired[str]
    """Memory request per pod, at most memory; without memory, a request with no limit. Default: memory."""
    shm_size: NotRequired[str]
    """Memory-backed /dev/shm: auto (when GPUs are requested, with half of memory as its size limit, none without memory), off, or a size limit such as 8Gi (at most 64Ti). Default: auto."""

    gpu_toleration: NotRequired[bool]
    """When GPUs are requested, tolerate the <gpu_resource>:NoSchedule taint. Default: true."""
    node_selector: NotRequired[dict[str, str]]
    """Node labels the pods require."""
    tolerations: NotRequired[list[dict[str, Any]]]
    """Extra Kubernetes Toleration objects, in Kubernetes' own (camelCase) form; one with operator Exists and no key needs allow_privileged_pods."""
    affinity: NotRequired[dict[str, Any]]
    """A Kubernetes Affinity object, in Kubernetes' own (camelCase) form."""
    priority_class_name: NotRequired[str]
    """PriorityClass of the agent pods; system-* classes need allow_privileged_pods. Default: the cluster default."""

    env: NotRequired[dict[str, pulumi.Input[str]]]
    """Extra environment of the agents and their runs, NAME -> value."""
    env_vars: NotRequired[list[dict[str, Any]]]
    """Extra environment as Kubernetes EnvVar objects (camelCase), e.g. to use valueFrom."""
    secret_env: NotRequired[dict[str, pulumi.Input[str]]]
    """Secret environment, NAME -> value: kept in a Kubernetes Secret, read by the pods through secretKeyRef."""
    volumes: NotRequired[list[dict[str, Any]]]
    """Extra Kubernetes Volume objects (camelCase), e.g. a dataset PVC; types outside the Restricted Pod Security Standard (hostPath, nfs, ...) need allow_privileged_pods."""
    volume_mounts: NotRequired[list[dict[str, Any]]]
    """Where the agent container mounts those volumes (VolumeMount objects, camelCase)."""
    image_pull_secrets: NotRequired[list[str]]
    """Names of Secrets in the namespace for pulling the image."""
    image_pull_policy: NotRequired[str]
    """Always, IfNotPresent or Never. Default: Always when image_pull_secrets are given, else IfNotPresent."""
    service_account_name: NotRequired[str]
    """ServiceAccount of the pods (its token is not mounted). Default: default."""
    run_as_non_root: NotRequired[bool]
    """Refuse to start an image that runs as root (the Restricted Pod Security Standard); false needs allow_privileged_pods. Default: true."""
    run_as_user: NotRequired[int]
    """UID the containers run as; 0: the image's user. Default: 0."""
    supplemental_groups: NotRequired[list[int]]
    """Group ids (0 to 2147483647) the containers' processes also get (the pod's securityContext.supplementalGroups), e.g. the render and video groups that own /dev/kfd and /dev/dri/renderD* on AMD GPU nodes. Default: none; at most 32."""
    allow_privileged_pods: NotRequired[bool]
    """Let the pods fall below the Restricted Pod Security Standard and reach past themselves (hostPath and other volume types, projected API tokens, tolerations of every taint or of control-plane nodes, system-* priority classes, AppArmor overrides, TLS-disabling env, run_as_non_root false); a namespace the component creates then enforces nothing. Default: false."""
    termination_grace_period_seconds: NotRequired[int]
    """Seconds agents and runs get to stop after SIGTERM. Default: 120; at most 86400 (a day)."""

    retries_per_pod: NotRequired[int]
    """Failed pods each slot replaces before its Job fails; preemptions do not count. Default: 3; at most 100."""
    active_deadline_seconds: NotRequired[int]
    """Stop each agent Job after this many seconds; 0: no limit. Default: 0; at most 31536000 (365 days)."""
    ttl_seconds_after_finished: NotRequired[int]
    """Delete finished agent Jobs after this many seconds; 0: keep them. Default: 0; at most 31536000 (365 days)."""

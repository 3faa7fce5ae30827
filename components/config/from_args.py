"""A WandbSweep's args -> its checked `SweepSettings`, before anything is registered.

One path for every caller: the component checks the args it is given, and the
stack-config loader builds args and checks them here too, so every problem is
reported together, naming the key (camelCase: the stack key, and the name in the
component's schema). Values are read by shape first, because they may be text
from the Pulumi CLI or any Python value from a program. A value that is a
pulumi.Output (image, namespace, API key, env values) is checked when it
resolves, with the same message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pulumi

from ..checks import check_dns_label, file_in_project, shown, type_name
from ..errors import ConfigError, ProblemList
from ..kubernetes.ca_bundle import pod_conflicts
from ..kubernetes.pod_security import pod_security_problems
from ..kubernetes.pods import (
    DEFAULT_GPU_RESOURCE,
    OPT_OUT_KEY,
    SHM_MOUNT_PATH,
    AgentPods,
    ImagePullPolicy,
    JobMetadata,
    JobPolicy,
    PodRuntime,
    PodScheduling,
    image_problem,
    pull_policy_problem,
)
from ..kubernetes.secret_ref import SecretKeyRef
from ..kubernetes.size_limits import env_size_problems, pod_pieces_problem
from ..wandb.server import DEFAULT_BASE_URL, OnDestroy
from ..wandb.sweep_file import load_sweep_file
from .ca_file import CaCertificate, load_ca_file
from .keys import KEYS_BY_NAME, PROJECT, camel
from .reader import Reader, api_key_problem, env_text, raise_problem
from .settings import SweepSettings, SweepSource, WandbTarget

T = TypeVar("T")


ARG_NAMES = frozenset(KEYS_BY_NAME) - {"env"} | {"env", "envVars", "secretEnv"}
"""The args' names in camelCase; `env` is a mapping in args, and envVars holds EnvVar objects."""


WANDB_TARGET_KEYS = (
    "project",
    "entity",
    "baseUrl",
    "caCertificate",
    "wandbRequestTimeoutSeconds",
    "wandbCallTimeoutSeconds",
)
"""The keys `wandb_target` reads."""


def default_namespace(stack: str) -> str:
    """`wandb-sweeps-<stack>`, made a valid DNS label whatever the stack is called."""
    label = re.sub(r"[^a-z0-9-]+", "-", f"{PROJECT}-{stack}".lower())
    return label[:63].strip("-")


def _build(problems: ProblemList, factory: Callable[[], T]) -> T | None:
    """Build one typed part, adding its problems to the list instead of stopping.

    A key already reported (e.g. `project: required`) is not reported twice by
    the part's own validation.
    """
    try:
        return factory()
    except ConfigError as error:
        reported = {p.split(":", 1)[0] for p in problems.problems}
        problems.problems.extend(p for p in error.problems if p.split(":", 1)[0] not in reported)
        return None


def validate_args(
    name: str,
    args: Mapping[str, Any],
    *,
    stack: str,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> SweepSettings:
    """Check a WandbSweep's args (`args.WandbSweepArgs`) and build its settings.

    `environ` (default: this process's) supplies WANDB_API_KEY and WANDB_BASE_URL
    when the args do not; `cwd` (default: the working directory, which Pulumi sets
    to the project folder) is where a relative `sweep_config` is found. Raises
    ConfigError with every problem; nothing has been registered at that point.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    problems = ProblemList()
    raw: dict[str, Any] = {}
    if not isinstance(args, Mapping):
        raise ConfigError(
            [f"WandbSweep {shown(name)}: args must be a mapping (WandbSweepArgs), got {type_name(args)}."]
        )
    for field, value in args.items():
        key = camel(field) if isinstance(field, str) else field
        if key in ARG_NAMES:
            raw[key] = value
        else:
            problems.add(f"{shown(field)}: not an argument of WandbSweep (see WandbSweepArgs).")
    read = Reader(raw, problems)
    env = _env(read)
    parts: dict[str, Any] = {
        "wandb": _build(problems, lambda: wandb_target(read, environ, cwd)),
        "sweep": _build(problems, lambda: sweep_source(read, cwd)),
        "agents": _build(problems, lambda: _agent_pods(read)),
        "scheduling": _build(problems, lambda: _pod_scheduling(read)),
        "runtime": _build(problems, lambda: _pod_runtime(read, env)),
        "job_policy": _build(problems, lambda: _job_policy(read)),
        "metadata": _build(problems, lambda: _job_metadata(read)),
    }
    secret_env = _secret_env(read)
    if not read.boolean(OPT_OUT_KEY):  # the one way below Restricted: see pod_security_problems
        for problem in pod_security_problems(
            parts["scheduling"], parts["runtime"], parts["metadata"], secret_env_names=secret_env
        ):
            problems.add(problem)
    if parts["wandb"] and parts["wandb"].ca_certificate and parts["runtime"]:
        env_names = [e.get("name") for e in parts["runtime"].env] + list(secret_env)
        for problem in pod_conflicts(env_names, parts["runtime"].volumes, parts["runtime"].volume_mounts):
            problems.add(problem)
    for problem in _pod_api_problems(parts["agents"], parts["runtime"], parts["metadata"]):
        problems.add(problem)
    if not problems.problems and (too_large := _pod_pieces_problem(parts, secret_env)):
        problems.add(too_large)
    namespace = _checked(read.string("namespace") or default_namespace(stack), _namespace_problem, problems)
    fields = {
        "name": name,
        "namespace": namespace,
        "create_namespace": read.boolean("createNamespace"),
        "api_key": _api_key(read, environ),
        "on_destroy": read.choice("onDestroy", OnDestroy),
        "secret_env": secret_env,
        "render_directory": _render_directory(read, cwd),
        "api_key_secret": _build(problems, lambda: _api_key_secret(read)),
        **parts,
    }
    problems.raise_if_any()
    settings = _build(problems, lambda: SweepSettings(**fields))
    problems.raise_if_any()
    assert settings is not None
    return settings


def _pod_api_problems(
    agents: AgentPods | None, runtime: PodRuntime | None, metadata: JobMetadata | None
) -> list[str]:
    """The API server's rules that need what wandb-sweeps adds to the user's pieces (parts
    that failed their own checks are None and left out): mount paths are unique in a
    container ([core] ValidateVolumeMounts), ours (/dev/shm) included. (An object's annotations,
    ours included, may hold 256 KiB, [meta] ValidateAnnotations: size_limits.MAX_ANNOTATIONS_BYTES
    keeps the user's far below that.)"""
    problems = []
    shm = agents is not None and runtime is not None and runtime.shm_enabled(agents.gpus_per_pod)
    if shm and runtime and any(mount["mountPath"] == SHM_MOUNT_PATH for mount in runtime.volume_mounts):
        problems.append(
            f"volumeMounts: {SHM_MOUNT_PATH!r} is where the memory-backed volume of shmSize is mounted; "
            "set shmSize: off to mount your own volume there, or mount it elsewhere."
        )
    return problems


def _pod_pieces_problem(parts: Mapping[str, Any], secret_env: Mapping[str, Any]) -> str | None:
    """What the stack copies into each agent Job, all together (size_limits.MAX_POD_PIECES_BYTES):
    labels and annotations twice (the Job and its pod template); Outputs count when they resolve."""
    agents, scheduling, runtime, metadata = (
        parts[k] for k in ("agents", "scheduling", "runtime", "metadata")
    )
    if not (agents and scheduling and runtime and metadata):
        return None
    known = {name: value for name, value in secret_env.items() if isinstance(value, str)}
    return pod_pieces_problem(
        {
            "env": [list(runtime.env), known],
            "volumes": list(runtime.volumes),
            "volumeMounts": list(runtime.volume_mounts),
            "nodeSelector": dict(scheduling.node_selector),
            "tolerations": list(scheduling.tolerations),
            "affinity": scheduling.affinity or {},
            "labels": [dict(metadata.labels)] * 2,
            "annotations": [dict(metadata.annotations)] * 2,
            "image": agents.image if isinstance(agents.image, str) else "",
            "imagePullSecrets": list(runtime.image_pull_secrets),
        }
    )


def _checked(value: Any, problem_of: Callable[[Any], str | None], problems: ProblemList) -> Any:
    """A plain value checked now; an Output checked when it resolves (its problem raised then)."""
    if isinstance(value, pulumi.Output):

        def check(resolved: Any) -> Any:
            problem = problem_of(resolved)
            if problem:
                raise ConfigError([problem])
            return resolved

        return value.apply(check)
    problem = problem_of(value)
    if problem:
        problems.add(problem)
    return value


def _namespace_problem(value: Any) -> str | None:
    found = ProblemList()
    check_dns_label(found, "namespace", value)
    return found.problems[0] if found.problems else None


def wandb_target(read: Reader, environ: Mapping[str, str], cwd: Path) -> WandbTarget:
    """Where the sweep lives on W&B and how it is reached (the keys of WANDB_TARGET_KEYS),
    checked: what the deploy-time calls use, and `wandb-sweeps status -s` too."""
    return WandbTarget(
        project=read.required("project", "the W&B project of the sweep"),
        entity=read.string("entity"),
        base_url=read.string("baseUrl"),
        default_base_url=(environ.get("WANDB_BASE_URL") or "").strip() or DEFAULT_BASE_URL,
        request_timeout=read.integer("wandbRequestTimeoutSeconds"),
        call_timeout=read.integer("wandbCallTimeoutSeconds"),
        ca_certificate=_ca_certificate(read, cwd),
    )


def _ca_certificate(read: Reader, cwd: Path) -> CaCertificate | None:
    """`caCertificate`'s file, read and checked now: the deploy-time calls and the pods
    both need it, and a bad one must stop the preview before anything is registered."""
    path = read.string("caCertificate")
    if path is None:
        return None
    try:
        return load_ca_file(cwd, path)
    except ConfigError as error:
        for problem in error.problems:
            read.problems.add(problem)
        return None


def _render_directory(read: Reader, cwd: Path) -> Path | None:
    """`renderYamlTo`: a directory inside the project folder (it may not exist yet), relative
    to it: the render provider runs there too (the engine starts every plugin in the project
    folder: pulumi/pulumi sdk/go/common/resource/plugin/provider_plugin.go NewProvider,
    plugin.go execPlugin `cmd.Dir = pwd`), and a relative path keeps the provider's inputs the
    same on every machine (a changed directory replaces the provider and all it rendered)."""
    relative = read.string("renderYamlTo")
    if relative is None:
        return None
    try:
        path, named = file_in_project(cwd, relative, "renderYamlTo", "the render directory")
    except ConfigError as error:
        read.problems.extend(error.problems)
        return None
    try:
        not_a_directory = path == cwd.resolve() or (path.exists() and not path.is_dir())
    except OSError as error:  # a name too long for the file system
        read.problems.add(f"{named} is not a usable directory path: {error.strerror}.")
        return None
    if not_a_directory:
        read.problems.add(
            f"{named} must be a directory of its own inside the project folder, such as deploy/sweeps: "
            "pulumi-kubernetes writes one file per object there, and Argo CD or Flux applies all of it."
        )
        return None
    return Path(path.relative_to(cwd.resolve()).as_posix())


def _api_key_secret(read: Reader) -> SecretKeyRef | None:
    text = read.string("apiKeySecret")
    return None if text is None else SecretKeyRef.parse(text)


def sweep_source(read: Reader, cwd: Path) -> SweepSource:
    """The sweep the input names: `sweepId`, or `sweepConfig`'s file read and checked
    through layer 2 (`load_sweep_file`). Raises ConfigError."""
    sweep_id = read.string("sweepId")
    if sweep_id is not None:
        return SweepSource(existing_sweep_id=sweep_id)
    config_file = read.string("sweepConfig") or "sweep.yaml"
    return SweepSource(config_yaml=load_sweep_file(cwd, config_file).text, config_source=repr(config_file))


def _agent_pods(read: Reader) -> AgentPods:
    runs = read.integer("runsPerAgent")
    if runs < 0:
        read.problems.add(f"runsPerAgent: must be >= 1, or 0 for runs until the sweep ends, got {runs}.")
    image = read.required("image", "the agent image with your training code and wandb")
    agents, per_run = read.integer("agentsPerPod"), read.integer("gpusPerRun")
    if per_run < 0:
        read.problems.add(
            f"gpusPerRun: must be >= 1, or 0 to split the GPUs between agentsPerPod agents, got {per_run}."
        )
    agent_per_gpu, gpus = read.boolean("agentPerGpu"), read.integer("gpusPerPod")
    return AgentPods(
        image=_checked(image, image_problem, ProblemList()) if isinstance(image, pulumi.Output) else image,
        pods=read.integer("pods"),
        agents_per_pod=_agents_per_pod(agents, gpus, per_run, agent_per_gpu),
        agent_per_gpu=agent_per_gpu,
        runs_per_agent=runs if runs > 0 else None,
        agent_starts_per_second=read.integer("agentStartsPerSecond"),
        gpus_per_pod=gpus,
        gpus_per_run=per_run if per_run > 0 else None,
        gpu_resource=read.string("gpuResource") or DEFAULT_GPU_RESOURCE,
        cpu=read.quantity("cpu"),
        memory=read.quantity("memory"),
        cpu_request=read.quantity("cpuRequest"),
        memory_request=read.quantity("memoryRequest"),
    )


def _pod_scheduling(read: Reader) -> PodScheduling:
    return PodScheduling(
        node_selector=read.structured("nodeSelector"),
        tolerations=tuple(read.structured("tolerations")),
        affinity=read.structured("affinity") or None,
        priority_class_name=read.string("priorityClassName"),
        gpu_toleration=read.boolean("gpuToleration"),
    )


def _pod_runtime(read: Reader, env: tuple[Any, ...]) -> PodRuntime:
    return PodRuntime(
        env=env,
        volumes=tuple(read.structured("volumes")),
        volume_mounts=tuple(read.structured("volumeMounts")),
        shm_size=read.quantity("shmSize") or "auto",
        image_pull_secrets=read.strings("imagePullSecrets"),
        image_pull_policy=_pull_policy(read),
        service_account_name=read.string("serviceAccountName"),
        run_as_non_root=read.boolean("runAsNonRoot"),
        run_as_user=read.positive_or_unset("runAsUser"),
        supplemental_groups=_supplemental_groups(read),
        allow_privileged_pods=read.boolean(OPT_OUT_KEY),
        termination_grace_period_seconds=read.integer("terminationGracePeriodSeconds"),
    )


def _supplemental_groups(read: Reader) -> Any:
    """`supplementalGroups` as a tuple when it is a list (PodRuntime checks the ids and
    the length), else as it came, for PodRuntime to refuse."""
    value = read.structured("supplementalGroups")
    return tuple(value) if isinstance(value, list | tuple) else value


def _pull_policy(read: Reader) -> ImagePullPolicy | None:
    text = read.string("imagePullPolicy")
    if text is None:
        return None
    try:
        return ImagePullPolicy(text)
    except ValueError:
        read.problems.add(pull_policy_problem(text))
        return None


def _job_policy(read: Reader) -> JobPolicy:
    return JobPolicy(
        retries_per_pod=read.integer("retriesPerPod"),
        active_deadline_seconds=read.positive_or_unset("activeDeadlineSeconds"),
        ttl_seconds_after_finished=read.positive_or_unset("ttlSecondsAfterFinished"),
    )


def _job_metadata(read: Reader) -> JobMetadata:
    return JobMetadata(
        queue_name=read.string("queueName"),
        labels=read.structured("labels"),
        annotations=read.structured("annotations"),
    )


def _agents_per_pod(agents: int, gpus: int, per_run: int, agent_per_gpu: bool) -> int:
    """agentsPerPod, else the count gpusPerRun or agentPerGpu gives: gpusPerPod / gpusPerRun,
    gpusPerPod. Whether they agree, and whether the GPUs fit, is AgentPods' rule.

    agentsPerPod 1 counts as unset: the CLI passes Pulumi.yaml's default along with the
    stack's keys, so an explicit 1 cannot be told from it.
    """
    if agents != 1:
        return agents
    if per_run > 0:
        return gpus // per_run if gpus >= per_run else agents
    if agent_per_gpu and gpus >= 1:
        return gpus
    return agents


def _env(read: Reader) -> tuple[Any, ...]:
    """`env` (NAME -> value) and `envVars` (EnvVar objects) as one list of EnvVar objects.

    `env` may also be a list of EnvVar objects, as the stack key allows.
    """
    env = read.structured("env")
    entries: list[Any] = (
        [{"name": n, "value": _checked_env_value(n, v)} for n, v in env.items()]
        if isinstance(env, dict)
        else list(env)
    )
    return (*entries, *read.structured("envVars"))


def _checked_env_value(name: Any, value: Any) -> Any:
    value = env_text(value)
    if isinstance(value, pulumi.Output):

        def checked(resolved: Any) -> Any:
            if not isinstance(resolved, str):
                raise_problem(f"env: the value of {shown(name)} must be text, got {type_name(resolved)}.")
            if too_large := env_size_problems([{"name": name, "value": resolved}], {}):
                raise_problem(too_large[0])
            return resolved

        return value.apply(checked)
    return value


def _secret_env(read: Reader) -> dict[str, Any]:
    value = read.raw.get("secretEnv", {})
    if not isinstance(value, dict):
        read.problems.add(f"secretEnv: must be a mapping of NAME to value, got {type_name(value)}.")
        return {}
    return {n: _checked_env_value(n, v) if isinstance(v, pulumi.Output) else v for n, v in value.items()}


def _api_key(read: Reader, environ: Mapping[str, str]) -> Any:
    """The W&B API key (args, else WANDB_API_KEY), checked without ever putting it in a message."""
    configured = read.raw.get("wandbApiKey")
    if isinstance(configured, pulumi.Output):
        return configured.apply(
            lambda key: (
                raise_problem(problem) if (problem := api_key_problem("wandbApiKey", key)) else key.strip()
            )
        )
    if configured is not None and configured != "":
        source, key = "wandbApiKey", configured
    elif environ.get("WANDB_API_KEY"):
        source, key = "WANDB_API_KEY (environment)", environ["WANDB_API_KEY"]
    else:
        read.problems.add(
            "wandbApiKey: required; set it with `pulumi config set --secret wandb-sweeps:wandbApiKey KEY` "
            "(or pass wandb_api_key), or export WANDB_API_KEY before `pulumi up`."
        )
        return ""
    problem = api_key_problem(source, key)
    if problem:
        read.problems.add(problem)
        return ""
    assert isinstance(key, str)  # api_key_problem refuses anything else
    return key.strip()

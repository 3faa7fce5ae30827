"""Stack config -> validated `WandbSweepArgs`, before any resource is registered.

`CONFIG_KEYS` is the public interface: Pulumi.yaml declares the same keys with the
same defaults (a test keeps them in step) and the README documents each one.
Pulumi passes every value as a string and passes undeclared keys through
silently, so this module converts types itself and turns a typo such as
`gpu_per_pod` into a "did you mean" error instead of a silent no-op.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

from .checks import INT32_MAX, check_dns_label, shown, type_name
from .errors import ConfigError, ProblemList
from .k8s_fragments import fragment_problems
from .pod_settings import (
    DEFAULT_GPU_RESOURCE,
    DEFAULT_GRACE_SECONDS,
    DEFAULT_RETRIES_PER_POD,
    AgentPods,
    JobPolicy,
    PodRuntime,
    PodScheduling,
)
from .settings import (
    DEFAULT_BASE_URL,
    DEFAULT_CALL_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
    OnDestroy,
    SweepSource,
    WandbSweepArgs,
    WandbTarget,
)
from .sweep_file import load_sweep_file

PROJECT = "wandb-sweeps"

Kind = Literal["string", "integer", "boolean", "array", "object", "list"]
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class ConfigKey:
    name: str
    kind: Kind
    """string, integer, boolean, array (of strings): declared in Pulumi.yaml.
    object and list (of objects) cannot be declared there (the project-config
    schema has no object type), so the CLI passes them through as JSON and this
    module checks them."""
    default: str | int | bool | list[Any] | dict[str, Any] | None
    """None: required. For optional keys without a natural default, an empty
    value ("", 0, [], {}) stands for "unset", because Pulumi.yaml cannot declare
    an optional key without a default."""
    description: str

    @property
    def declared_in_project(self) -> bool:
        return self.kind in ("string", "integer", "boolean", "array")


def _key(name: str, kind: Kind, default: Any, description: str) -> ConfigKey:
    return ConfigKey(name, kind, default, description)


CONFIG_KEYS: tuple[ConfigKey, ...] = (
    # The sweep on W&B
    _key("project", "string", None, "W&B project the sweep belongs to."),
    _key(
        "entity",
        "string",
        "",
        "W&B entity (user or team); empty: the API key's default entity, resolved when the sweep is made.",
    ),
    _key("sweepConfig", "string", "sweep.yaml", "W&B sweep config file, relative to the project root."),
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
        "wandbRequestTimeoutSeconds",
        "integer",
        DEFAULT_REQUEST_TIMEOUT,
        "Seconds one HTTP request to W&B may take before it is retried.",
    ),
    _key(
        "wandbCallTimeoutSeconds",
        "integer",
        DEFAULT_CALL_TIMEOUT,
        "Seconds one W&B call may take in all, retries included, before it fails.",
    ),
    _key(
        "onDestroy",
        "string",
        OnDestroy.FINISH.value,
        "What destroy or a replaced sweep does to the old sweep: finish, cancel or keep.",
    ),
    # The agent pods
    _key("image", "string", None, "Agent image: your training code plus wandb."),
    _key("namespace", "string", "", "Namespace the stack creates and owns; empty: wandb-sweeps-<stack>."),
    _key("pods", "integer", 1, "Agent pods running at once; 0 pauses the agents and keeps everything else."),
    _key("agentsPerPod", "integer", 1, "`wandb agent` processes in each pod."),
    _key("agentPerGpu", "boolean", False, "One agent per GPU: agentsPerPod follows gpusPerPod."),
    _key(
        "runsPerAgent", "integer", 0, "Runs each agent does (`wandb agent --count`); 0: until the sweep ends."
    ),
    _key("gpusPerPod", "integer", 0, "GPUs per pod, set as a limit under gpuResource."),
    _key(
        "gpuResource",
        "string",
        DEFAULT_GPU_RESOURCE,
        "Extended resource name of the GPUs (nvidia.com/gpu, amd.com/gpu, ...).",
    ),
    _key("cpu", "string", "", "CPU per pod (request = limit), a Kubernetes quantity; empty: none set."),
    _key("memory", "string", "", "Memory per pod (request = limit), a Kubernetes quantity; empty: none set."),
    _key(
        "shmSize",
        "string",
        "auto",
        "Memory-backed /dev/shm: auto (when GPUs are requested, no size limit), off, or a size limit such as 8Gi.",
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
        "serviceAccountName",
        "string",
        "",
        "ServiceAccount of the pods (its token is not mounted); empty: default.",
    ),
    _key("runAsNonRoot", "boolean", False, "Refuse to start an image that runs as root."),
    _key("runAsUser", "integer", 0, "UID the containers run as; 0: the image's user."),
    _key(
        "terminationGracePeriodSeconds",
        "integer",
        DEFAULT_GRACE_SECONDS,
        "Seconds agents and runs get to stop after SIGTERM (scale-down, destroy, preemption).",
    ),
    # The agent Jobs
    _key(
        "retriesPerPod",
        "integer",
        DEFAULT_RETRIES_PER_POD,
        "Failed pods each slot replaces before its Job fails; preemptions do not count.",
    ),
    _key("activeDeadlineSeconds", "integer", 0, "Stop each agent Job after this many seconds; 0: no limit."),
    _key(
        "ttlSecondsAfterFinished",
        "integer",
        0,
        "Delete finished agent Jobs after this many seconds; 0: keep them (and their logs).",
    ),
)
KEYS_BY_NAME = {key.name: key for key in CONFIG_KEYS}

# Names users reach for that difflib would not map to the right key.
_LIKELY_MEANT = {
    "agentcount": "agentsPerPod",
    "agents": "agentsPerPod",
    "numagents": "agentsPerPod",
    "replicas": "pods",
    "parallelism": "pods",
    "podcount": "pods",
    "gpus": "gpusPerPod",
    "gpu": "gpusPerPod",
    "count": "runsPerAgent",
    "apikey": "wandbApiKey",
    "wandbkey": "wandbApiKey",
    "wandbproject": "project",
    "wandbentity": "entity",
    "sweep": "sweepConfig",
    "sweepfile": "sweepConfig",
    "wandbbaseurl": "baseUrl",
    "host": "baseUrl",
}

API_KEY = re.compile(r"^([A-Za-z0-9]+-)?[A-Za-z0-9_]{40,}$")
SECRET_CAPABLE_KEYS = ("wandbApiKey", "env")
"""Keys whose secret marking wandb-sweeps keeps: their values reach the pods only
through Kubernetes Secrets. Any other key's value lands in the Job spec, the
state or the outputs in plain text, so marking it secret is refused."""


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]", "", name).lower()


def suggest_key(unknown: str) -> str | None:
    """The known key a misspelled one most likely meant, if any."""
    norm = _normalized(unknown)
    if norm in _LIKELY_MEANT:
        return _LIKELY_MEANT[norm]
    by_norm = {_normalized(k.name): k.name for k in CONFIG_KEYS}
    close = difflib.get_close_matches(norm, list(by_norm), n=1, cutoff=0.75)
    return by_norm[close[0]] if close else None


def default_namespace(stack: str) -> str:
    """`wandb-sweeps-<stack>`, made a valid DNS label whatever the stack is called."""
    label = re.sub(r"[^a-z0-9-]+", "-", f"{PROJECT}-{stack}".lower())
    return label[:63].strip("-")


class _Reader:
    """Typed access to the raw values, recording a problem per bad key.

    Each reader checks the value's shape before it uses it: values arrive as text
    from the CLI (structured ones as JSON text) or as any Python value from code.
    Messages about a key marked secret say what type it has, never what it is.
    """

    def __init__(
        self, raw: Mapping[str, object], problems: ProblemList, secret: Collection[str] = ()
    ) -> None:
        self.raw = raw
        self.problems = problems
        self.secret = secret

    def _value(self, name: str) -> object:
        return self.raw.get(name, KEYS_BY_NAME[name].default)

    def show(self, name: str, value: object) -> str:
        """`value` for a message about `name`: cut to length, and only its type if secret."""
        return type_name(value) if name in self.secret else shown(value)

    def string(self, name: str) -> str | None:
        """The value, or None when unset or empty (Pulumi.yaml's "unset")."""
        value = self._value(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.problems.add(f"{name}: must be a string, got {self.show(name, value)}.")
            return None
        return value.strip()

    def integer(self, name: str) -> int:
        """The value; after recording a problem, the default (so building can go on)."""
        value = self._value(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        number = re.fullmatch(r"\s*([-+]?)0*([0-9]+)\s*", value, re.ASCII) if isinstance(value, str) else None
        if number and len(number[2]) > len(str(INT32_MAX)):
            # int() refuses more than 4300 digits; nothing past int32 fits the fields anyway.
            self.problems.add(
                f"{name}: must be a whole number up to {INT32_MAX}, got a number of {len(number[2])} digits."
            )
        elif number:
            return int(number[1] + number[2])
        else:
            self.problems.add(f"{name}: must be a whole number, got {self.show(name, value)}.")
        return int(KEYS_BY_NAME[name].default or 0)

    def boolean(self, name: str) -> bool:
        value = self._value(name)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.problems.add(f"{name}: must be true or false, got {self.show(name, value)}.")
        return bool(KEYS_BY_NAME[name].default)

    def structured(self, name: str) -> Any:
        """An object or list value; the CLI passes these as JSON text."""
        value = self._value(name)
        if isinstance(value, str):
            if not value.strip():
                return KEYS_BY_NAME[name].default
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass  # not JSON: text, reported below as the wrong type
            except (ValueError, RecursionError):  # a number past int()'s 4300 digits; nesting
                self.problems.add(
                    f"{name}: cannot be read: it is nested too deeply or holds a number of thousands of digits."
                )
                return KEYS_BY_NAME[name].default
        expected = {"object": dict, "list": list, "array": list}[KEYS_BY_NAME[name].kind]
        if isinstance(value, expected):
            return value
        if name == "env" and isinstance(value, list):
            return value
        shape = "a mapping (key: value lines under the key)" if expected is dict else "a list (- items)"
        if name == "env":
            shape = "a mapping (NAME: value lines under the key) or a list of EnvVar objects"
        self.problems.add(f"{name}: must be {shape} in the stack file, got {self.show(name, value)}.")
        return KEYS_BY_NAME[name].default

    def strings(self, name: str) -> tuple[str, ...]:
        values = self.structured(name)
        odd = [v for v in values if not isinstance(v, str)]
        if not odd:
            return tuple(values)
        self.problems.add(f"{name}: must be a list of names, got {self.show(name, odd[0])} among them.")
        return ()

    def positive_or_unset(self, name: str) -> int | None:
        """Integer keys where 0 means "unset"."""
        return self.integer(name) or None

    def required(self, name: str, what: str) -> str:
        value = self.string(name)
        if value is None:
            self.problems.add(
                f"{name}: required ({what}). Set it with `pulumi config set {PROJECT}:{name} VALUE`."
            )
        return value or ""

    def choice(self, name: str, enum: type[E]) -> E:
        text = self.string(name) or str(KEYS_BY_NAME[name].default)
        try:
            return enum(text)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            self.problems.add(f"{name}: must be one of {allowed}, got {self.show(name, text)}.")
            return enum(KEYS_BY_NAME[name].default)


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


def _unknown_key_problem(name: str) -> str:
    hint = suggest_key(name[:200])
    advice = f"; did you mean '{hint}'?" if hint else ". Known keys: " + ", ".join(KEYS_BY_NAME) + "."
    if len(name) <= 100 and name.isprintable():
        return (
            f"{name}: not a wandb-sweeps config key{advice} "
            f"Remove it with `pulumi config rm {PROJECT}:{name}`."
        )
    return f"{shown(name)}: not a wandb-sweeps config key{advice} Remove it with `pulumi config rm`."


def load_stack_config(
    values: Mapping[str, object],
    *,
    secret_keys: Collection[str],
    environ: Mapping[str, str],
    stack: str,
    project_root: Path,
) -> WandbSweepArgs:
    """Validate the project's config values and build the component's args.

    `values` maps full keys ("wandb-sweeps:pods") to what Pulumi passed (strings);
    keys of other namespaces (kubernetes:context, ...) are ignored. Raises
    ConfigError listing every problem; nothing has been created at that point.
    """
    problems = ProblemList()
    raw: dict[str, object] = {}
    for full_key, value in values.items():
        namespace, _, name = full_key.partition(":")
        if namespace != PROJECT:
            continue
        if name in KEYS_BY_NAME:
            raw[name] = value
        else:
            problems.add(_unknown_key_problem(name))
    secret = {name for name in raw if f"{PROJECT}:{name}" in secret_keys}
    read = _Reader(raw, problems, secret)
    unkeepable = sorted(secret - set(SECRET_CAPABLE_KEYS))
    for name in unkeepable:
        problems.add(_unkeepable_secret_problem(name))
    on_destroy = read.choice("onDestroy", OnDestroy)
    namespace = read.string("namespace") or default_namespace(stack)
    check_dns_label(problems, "namespace", namespace)
    api_key = _api_key(problems, raw, secret_keys, environ)
    env, secret_env = _split_env(problems, read.structured("env"), secret="env" in secret)
    parts = {
        "wandb": _build(problems, lambda: _wandb_target(read, environ)),
        "sweep": _build(problems, lambda: _sweep_source(read, project_root)),
        "agents": _build(problems, lambda: _agent_pods(read)),
        "scheduling": _build(problems, lambda: _pod_scheduling(read)),
        "runtime": _build(problems, lambda: _pod_runtime(read, env)),
        "job_policy": _build(problems, lambda: _job_policy(read)),
    }
    _hide_values_of(problems, unkeepable)
    problems.raise_if_any()
    return _build_args(
        problems,
        namespace=namespace,
        api_key=api_key,
        on_destroy=on_destroy,
        secret_env=secret_env,
        **parts,
    )


def _build_args(problems: ProblemList, **fields: Any) -> WandbSweepArgs:
    args = _build(problems, lambda: WandbSweepArgs(**fields))
    problems.raise_if_any()
    assert args is not None
    return args


def _hide_values_of(problems: ProblemList, names: Collection[str]) -> None:
    """Keep only the "is marked secret" problem of each of `names`: the others may quote the value."""
    keep = {_unkeepable_secret_problem(name) for name in names}
    problems.problems[:] = [p for p in problems.problems if p in keep or p.split(":", 1)[0] not in names]


def _unkeepable_secret_problem(name: str) -> str:
    return (
        f"{name}: is marked secret in the stack config, but its value would reach the agent Jobs, "
        f"the state or the stack outputs in plain text; only {' and '.join(SECRET_CAPABLE_KEYS)} are "
        f"kept secret. Put a secret value in env (it goes into a Kubernetes Secret), or set {name} "
        f"without --secret: `pulumi config set {PROJECT}:{name} VALUE`."
    )


def _wandb_target(read: _Reader, environ: Mapping[str, str]) -> WandbTarget:
    return WandbTarget(
        project=read.required("project", "the W&B project of the sweep"),
        entity=read.string("entity"),
        base_url=read.string("baseUrl"),
        default_base_url=environ.get("WANDB_BASE_URL", "").strip() or DEFAULT_BASE_URL,
        request_timeout=read.integer("wandbRequestTimeoutSeconds"),
        call_timeout=read.integer("wandbCallTimeoutSeconds"),
    )


def _sweep_source(read: _Reader, project_root: Path) -> SweepSource:
    sweep_id = read.string("sweepId")
    if sweep_id is not None:
        return SweepSource(existing_sweep_id=sweep_id)
    config_file = read.string("sweepConfig") or "sweep.yaml"
    return SweepSource(config_yaml=load_sweep_file(project_root, config_file).text)


def _agent_pods(read: _Reader) -> AgentPods:
    runs = read.integer("runsPerAgent")
    if runs < 0:
        read.problems.add(f"runsPerAgent: must be >= 1, or 0 for runs until the sweep ends, got {runs}.")
    return AgentPods(
        image=read.required("image", "the agent image with your training code and wandb"),
        pods=read.integer("pods"),
        agents_per_pod=_agents_per_pod(read),
        runs_per_agent=runs if runs > 0 else None,
        gpus_per_pod=read.integer("gpusPerPod"),
        gpu_resource=read.string("gpuResource") or DEFAULT_GPU_RESOURCE,
        cpu=read.string("cpu"),
        memory=read.string("memory"),
    )


def _pod_scheduling(read: _Reader) -> PodScheduling:
    return PodScheduling(
        node_selector=read.structured("nodeSelector"),
        tolerations=tuple(read.structured("tolerations")),
        affinity=read.structured("affinity") or None,
        priority_class_name=read.string("priorityClassName"),
        gpu_toleration=read.boolean("gpuToleration"),
    )


def _pod_runtime(read: _Reader, env: tuple[dict[str, Any], ...]) -> PodRuntime:
    return PodRuntime(
        env=env,
        volumes=tuple(read.structured("volumes")),
        volume_mounts=tuple(read.structured("volumeMounts")),
        shm_size=read.string("shmSize") or "auto",
        image_pull_secrets=read.strings("imagePullSecrets"),
        service_account_name=read.string("serviceAccountName"),
        run_as_non_root=read.boolean("runAsNonRoot"),
        run_as_user=read.positive_or_unset("runAsUser"),
        termination_grace_period_seconds=read.integer("terminationGracePeriodSeconds"),
    )


def _job_policy(read: _Reader) -> JobPolicy:
    return JobPolicy(
        retries_per_pod=read.integer("retriesPerPod"),
        active_deadline_seconds=read.positive_or_unset("activeDeadlineSeconds"),
        ttl_seconds_after_finished=read.positive_or_unset("ttlSecondsAfterFinished"),
    )


def _agents_per_pod(read: _Reader) -> int:
    """agentsPerPod, or gpusPerPod when agentPerGpu asks for one agent per GPU."""
    agents = read.integer("agentsPerPod")
    if not read.boolean("agentPerGpu"):
        return agents
    gpus = read.integer("gpusPerPod")
    if gpus < 1:
        read.problems.add(f"agentPerGpu: needs gpusPerPod >= 1 (one agent per GPU), got gpusPerPod {gpus}.")
        return agents
    if agents not in (1, gpus):
        read.problems.add(
            f"agentPerGpu: sets agentsPerPod to gpusPerPod ({gpus}), but agentsPerPod is {agents}; "
            "remove agentsPerPod or set agentPerGpu to false."
        )
        return agents
    return gpus


def _env_text(value: Any) -> Any:
    """A value of the NAME: value form as the text the variable gets (numbers as JSON)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, allow_nan=False)
    except (ValueError, TypeError, RecursionError):  # NaN, a 5000-digit int, ...: reported as not text
        return value


def _env_vars(value: Any) -> tuple[Any, ...]:
    """`env` as Kubernetes EnvVar objects; a NAME: value mapping is the short form."""
    if isinstance(value, dict):
        return tuple({"name": name, "value": _env_text(v)} for name, v in value.items())
    return tuple(value)


def _split_env(
    problems: ProblemList, value: Any, *, secret: bool
) -> tuple[tuple[dict[str, Any], ...], dict[str, str]]:
    """(plain EnvVar objects, secret NAME -> value).

    `pulumi config set --secret --path env.HF_TOKEN ...` marks the whole `env` key
    secret (Pulumi records secrecy per top-level key), so when `env` is secret every
    literal value in it is treated as one; `valueFrom` entries hold no value and
    stay as they are. Problems with a secret env name the entry, never a value.
    """
    env = _env_vars(value)
    if not secret:
        return env, {}
    plain: list[dict[str, Any]] = []
    values: dict[str, str] = {}
    for index, entry in enumerate(env):
        if not isinstance(entry, dict):
            problems.add(
                f"env: env[{index}] must be a mapping with name and value (or valueFrom), "
                f"got {type_name(entry)}."
            )
            continue
        if "valueFrom" in entry or "value" not in entry:
            plain.append(entry)
            continue
        name = entry.get("name")
        if not isinstance(name, str):
            problems.add(f"env: env[{index}].name must be text, got {type_name(name)}.")
        elif not isinstance(entry["value"], str):
            problems.add(f"env: the value of {shown(name)} must be text, got {type_name(entry['value'])}.")
        elif name in values:
            problems.add(f"env: {shown(name)} is given twice; keep one.")
        else:
            values[name] = entry["value"]
    # The entries that stay in the Job spec are checked here, where their messages
    # leave out values; PodRuntime would quote them.
    found = fragment_problems({"env": plain}, secret={"env"})
    for problem in found:
        problems.add(problem)
    return (() if found else tuple(plain)), values


def _api_key(
    problems: ProblemList,
    raw: Mapping[str, object],
    secret_keys: Collection[str],
    environ: Mapping[str, str],
) -> str:
    """The W&B API key, checked without ever putting it in a message."""
    configured = raw.get("wandbApiKey")
    set_with = "set it with `pulumi config set --secret wandb-sweeps:wandbApiKey KEY`"
    if configured is not None and not isinstance(configured, str):
        problems.add(f"wandbApiKey: must be the API key as text ({set_with}), got {type_name(configured)}.")
        return ""
    if isinstance(configured, str) and configured:
        if f"{PROJECT}:wandbApiKey" not in secret_keys:
            problems.add(
                f"wandbApiKey: is stored in plain text in the stack config; {set_with} so it is encrypted."
            )
            return ""
        key, source = configured.strip(), "wandbApiKey"
    elif environ.get("WANDB_API_KEY"):
        key, source = environ["WANDB_API_KEY"].strip(), "WANDB_API_KEY (environment)"
    else:
        problems.add(f"wandbApiKey: required; {set_with}, or export WANDB_API_KEY before `pulumi up`.")
        return ""
    if not API_KEY.match(key):
        problems.add(
            f"{source}: is not a W&B API key (at least 40 letters, digits or '_', "
            f"optionally after a 'prefix-'; it is {len(key)} characters). "
            "Copy it from https://wandb.ai/authorize."
        )
        return ""
    return key


def read_pulumi_config() -> tuple[dict[str, object], set[str]]:
    """Every config value the engine passed to this program, and which are secret.

    The SDK has no public call that lists config keys, and listing them is the
    only way to catch a misspelled key, so this reads the runtime's own store:
    values set in-process (tests) over those the CLI passes in PULUMI_CONFIG.
    """
    from pulumi.runtime import config as runtime_config

    values: dict[str, object] = dict(runtime_config.get_config_env())
    values.update(runtime_config.CONFIG.get())
    secret = {key for key in values if runtime_config.is_config_secret(key)}
    secret.update(runtime_config.get_config_secret_keys_env())
    return values, secret

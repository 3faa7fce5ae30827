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

import json
import os
import re
from collections.abc import Callable, Collection, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import pulumi

from .ca_certificate import CaCertificate, load_ca_file, pod_conflicts
from .checks import INT32_MAX, check_dns_label, quantity_amount, shown, type_name
from .config_keys import INPUT_KEYS, KEYS_BY_NAME, PROJECT, camel, default_of
from .errors import ConfigError, ProblemList
from .pod_settings import (
    DEFAULT_GPU_RESOURCE,
    OPT_OUT_KEY,
    AgentPods,
    ImagePullPolicy,
    JobMetadata,
    JobPolicy,
    PodRuntime,
    PodScheduling,
    image_problem,
    pod_security_problems,
    pull_policy_problem,
)
from .settings import (
    DEFAULT_BASE_URL,
    OnDestroy,
    SweepSettings,
    SweepSource,
    WandbTarget,
)
from .sweep_file import load_sweep_file

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
API_KEY = re.compile(r"([A-Za-z0-9]+-)?[A-Za-z0-9_]{40,}", re.ASCII)
ARG_NAMES = frozenset(KEYS_BY_NAME) - {"env"} | {"env", "envVars", "secretEnv"}
"""The args' names in camelCase; `env` is a mapping in args, and envVars holds EnvVar objects."""


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
        return self.raw.get(name, default_of(name))

    def show(self, name: str, value: object) -> str:
        """`value` for a message about `name`: cut to length, and only its type if secret."""
        return type_name(value) if name in self.secret else shown(value)

    def string(self, name: str) -> Any:
        """The value, or None when unset or empty (Pulumi.yaml's "unset"); for INPUT_KEYS
        a pulumi.Output as it is (it is checked when it resolves)."""
        value = self._value(name)
        if value is None or value == "":
            return None
        if name in INPUT_KEYS and isinstance(value, pulumi.Output):
            return value
        if not isinstance(value, str):
            self.problems.add(f"{name}: must be a string, got {self.show(name, value)}.")
            return None
        return value.strip()

    def integer(self, name: str) -> int:
        """The value; after recording a problem, the default (so building can go on).

        A key with a `maximum` (config_keys) is checked against it here, the one
        place every value passes, from the stack or from the component's args.
        """
        value = self._value(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return self.integer_within(name, value)
        number = re.fullmatch(r"\s*([-+]?)0*([0-9]+)\s*", value, re.ASCII) if isinstance(value, str) else None
        digits = len(number[2]) if number else 0
        if number and number[1] != "-" and _maximum(name) is not None and digits > _INT_DIGITS:
            # int() refuses more than 4300 digits, and a bounded key is past its bound anyway.
            got = number[1] + number[2] if digits <= 40 else f"a number of {digits} digits"
            self.problems.add(f"{name}: at most {_bound_text(name)}, got {got}.")
        elif number and digits > _INT_DIGITS:
            # Nothing past int32 fits the Kubernetes fields these keys go to.
            self.problems.add(
                f"{name}: must be a whole number up to {INT32_MAX}, got a number of {digits} digits."
            )
        elif number:
            return self.integer_within(name, int(number[1] + number[2]))
        else:
            self.problems.add(f"{name}: must be a whole number, got {self.show(name, value)}.")
        return int(default_of(name) or 0)

    def integer_within(self, name: str, value: int) -> int:
        """`value`, or the default after recording that it is above the key's maximum."""
        maximum = _maximum(name)
        if isinstance(maximum, int) and value > maximum:
            self.problems.add(f"{name}: at most {_bound_text(name)}, got {shown(value)}.")
            return int(default_of(name) or 0)
        return value

    def quantity(self, name: str) -> Any:
        """A Kubernetes quantity key (`cpu`, `memory`, `shmSize`), checked against its
        maximum; its form is checked by the settings that take it."""
        value = self.string(name)
        maximum = _maximum(name)
        if isinstance(value, str) and isinstance(maximum, str):
            amount = quantity_amount(value)
            if amount is not None and amount > quantity_amount(maximum):  # type: ignore[operator]
                self.problems.add(f"{name}: at most {maximum}, got {self.show(name, value)}.")
                return None
        return value

    def boolean(self, name: str) -> bool:
        value = self._value(name)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.problems.add(f"{name}: must be true or false, got {self.show(name, value)}.")
        return bool(default_of(name))

    def structured(self, name: str) -> Any:
        """An object or list value; the CLI passes these as JSON text."""
        value = self._value(name)
        if isinstance(value, str):
            if not value.strip():
                return default_of(name)
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass  # not JSON: text, reported below as the wrong type
            except (ValueError, RecursionError):  # a number past int()'s 4300 digits; nesting
                self.problems.add(
                    f"{name}: cannot be read: it is nested too deeply or holds a number of thousands of digits."
                )
                return default_of(name)
        expected = dict if isinstance(default_of(name), dict) else list
        if isinstance(value, expected):
            return value
        if name == "env" and isinstance(value, list):
            return value
        shape = "a mapping (key: value lines under the key)" if expected is dict else "a list (- items)"
        if name == "env":
            shape = "a mapping (NAME: value lines under the key) or a list of EnvVar objects"
        self.problems.add(f"{name}: must be {shape} in the stack file, got {self.show(name, value)}.")
        return default_of(name)

    def strings(self, name: str) -> tuple[str, ...]:
        values = self.structured(name)
        odd = [v for v in values if not isinstance(v, str)]
        if not odd:
            return tuple(values)
        hint = ""
        if isinstance(odd[0], dict) and isinstance(odd[0].get("name"), str):  # Kubernetes' {name: ...} form
            hint = f"; write the name alone, [{odd[0]['name'][:63]}]"
        self.problems.add(f"{name}: must be a list of names, got {self.show(name, odd[0])} among them{hint}.")
        return ()

    def positive_or_unset(self, name: str) -> int | None:
        """Integer keys where 0 means "unset"."""
        return self.integer(name) or None

    def required(self, name: str, what: str) -> Any:
        value = self.string(name)
        if value is None:
            self.problems.add(
                f"{name}: required ({what}). Set it with `pulumi config set {PROJECT}:{name} VALUE`."
            )
        return value or ""

    def choice(self, name: str, enum: type[E]) -> E:
        text = self.string(name) or str(default_of(name))
        try:
            return enum(text)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            self.problems.add(f"{name}: must be one of {allowed}, got {self.show(name, text)}.")
            return enum(default_of(name))


_INT_DIGITS = len(str(INT32_MAX))


def _maximum(name: str) -> int | str | None:
    key = KEYS_BY_NAME.get(name)
    return key.maximum if key else None


def _bound_text(name: str) -> str:
    return KEYS_BY_NAME[name].bound


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
    read = _Reader(raw, problems)
    env = _env(read)
    parts: dict[str, Any] = {
        "wandb": _build(problems, lambda: _wandb_target(read, environ, cwd)),
        "sweep": _build(problems, lambda: _sweep_source(read, cwd)),
        "agents": _build(problems, lambda: _agent_pods(read)),
        "scheduling": _build(problems, lambda: _pod_scheduling(read)),
        "runtime": _build(problems, lambda: _pod_runtime(read, env)),
        "job_policy": _build(problems, lambda: _job_policy(read)),
        "metadata": _build(problems, lambda: _job_metadata(read)),
    }
    if not read.boolean(OPT_OUT_KEY):  # the one way below Restricted: see pod_security_problems
        for problem in pod_security_problems(parts["scheduling"], parts["runtime"], parts["metadata"]):
            problems.add(problem)
    secret_env = _secret_env(read)
    if parts["wandb"] and parts["wandb"].ca_certificate and parts["runtime"]:
        env_names = [e.get("name") for e in parts["runtime"].env] + list(secret_env)
        for problem in pod_conflicts(env_names, parts["runtime"].volumes, parts["runtime"].volume_mounts):
            problems.add(problem)
    namespace = _checked(read.string("namespace") or default_namespace(stack), _namespace_problem, problems)
    fields = {
        "name": name,
        "namespace": namespace,
        "create_namespace": read.boolean("createNamespace"),
        "api_key": _api_key(read, environ),
        "on_destroy": read.choice("onDestroy", OnDestroy),
        "secret_env": secret_env,
        **parts,
    }
    problems.raise_if_any()
    settings = _build(problems, lambda: SweepSettings(**fields))
    problems.raise_if_any()
    assert settings is not None
    return settings


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


def _wandb_target(read: _Reader, environ: Mapping[str, str], cwd: Path) -> WandbTarget:
    return WandbTarget(
        project=read.required("project", "the W&B project of the sweep"),
        entity=read.string("entity"),
        base_url=read.string("baseUrl"),
        default_base_url=(environ.get("WANDB_BASE_URL") or "").strip() or DEFAULT_BASE_URL,
        request_timeout=read.integer("wandbRequestTimeoutSeconds"),
        call_timeout=read.integer("wandbCallTimeoutSeconds"),
        ca_certificate=_ca_certificate(read, cwd),
    )


def _ca_certificate(read: _Reader, cwd: Path) -> CaCertificate | None:
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


def _sweep_source(read: _Reader, cwd: Path) -> SweepSource:
    sweep_id = read.string("sweepId")
    if sweep_id is not None:
        return SweepSource(existing_sweep_id=sweep_id)
    config_file = read.string("sweepConfig") or "sweep.yaml"
    return SweepSource(config_yaml=load_sweep_file(cwd, config_file).text, config_source=repr(config_file))


def _agent_pods(read: _Reader) -> AgentPods:
    runs = read.integer("runsPerAgent")
    if runs < 0:
        read.problems.add(f"runsPerAgent: must be >= 1, or 0 for runs until the sweep ends, got {runs}.")
    image = read.required("image", "the agent image with your training code and wandb")
    agents, gpus_per_run = _agents_per_pod(read)
    return AgentPods(
        image=_checked(image, image_problem, ProblemList()) if isinstance(image, pulumi.Output) else image,
        pods=read.integer("pods"),
        agents_per_pod=agents,
        runs_per_agent=runs if runs > 0 else None,
        gpus_per_pod=read.integer("gpusPerPod"),
        gpus_per_run=gpus_per_run,
        gpu_resource=read.string("gpuResource") or DEFAULT_GPU_RESOURCE,
        cpu=read.quantity("cpu"),
        memory=read.quantity("memory"),
        cpu_request=read.quantity("cpuRequest"),
        memory_request=read.quantity("memoryRequest"),
    )


def _pod_scheduling(read: _Reader) -> PodScheduling:
    return PodScheduling(
        node_selector=read.structured("nodeSelector"),
        tolerations=tuple(read.structured("tolerations")),
        affinity=read.structured("affinity") or None,
        priority_class_name=read.string("priorityClassName"),
        gpu_toleration=read.boolean("gpuToleration"),
    )


def _pod_runtime(read: _Reader, env: tuple[Any, ...]) -> PodRuntime:
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
        allow_privileged_pods=read.boolean(OPT_OUT_KEY),
        termination_grace_period_seconds=read.integer("terminationGracePeriodSeconds"),
    )


def _pull_policy(read: _Reader) -> ImagePullPolicy | None:
    text = read.string("imagePullPolicy")
    if text is None:
        return None
    try:
        return ImagePullPolicy(text)
    except ValueError:
        read.problems.add(pull_policy_problem(text))
        return None


def _job_policy(read: _Reader) -> JobPolicy:
    return JobPolicy(
        retries_per_pod=read.integer("retriesPerPod"),
        active_deadline_seconds=read.positive_or_unset("activeDeadlineSeconds"),
        ttl_seconds_after_finished=read.positive_or_unset("ttlSecondsAfterFinished"),
    )


def _job_metadata(read: _Reader) -> JobMetadata:
    return JobMetadata(
        queue_name=read.string("queueName"),
        labels=read.structured("labels"),
        annotations=read.structured("annotations"),
    )


def _agents_per_pod(read: _Reader) -> tuple[int, int | None]:
    """(agents per pod, GPUs per run or None): agentsPerPod; gpusPerPod / gpusPerRun when
    each run needs several GPUs; gpusPerPod when agentPerGpu asks for one agent per GPU.

    agentsPerPod 1 counts as unset, as for agentPerGpu: the CLI passes Pulumi.yaml's
    default along with the stack's keys, so an explicit 1 cannot be told from it.
    """
    agents = read.integer("agentsPerPod")
    per_run = read.integer("gpusPerRun")
    if per_run < 0:
        read.problems.add(
            f"gpusPerRun: must be >= 1, or 0 to split the GPUs between agentsPerPod agents, got {per_run}."
        )
    if per_run > 0:
        return _agents_for_runs(read, agents, per_run)
    if not read.boolean("agentPerGpu"):
        return agents, None
    gpus = read.integer("gpusPerPod")
    if gpus < 1:
        read.problems.add(f"agentPerGpu: needs gpusPerPod >= 1 (one agent per GPU), got gpusPerPod {gpus}.")
        return agents, None
    if agents not in (1, gpus):
        read.problems.add(
            f"agentPerGpu: sets agentsPerPod to gpusPerPod ({gpus}), but agentsPerPod is {agents}; "
            "remove agentsPerPod or set agentPerGpu to false."
        )
        return agents, None
    return gpus, None


def _agents_for_runs(read: _Reader, agents: int, per_run: int) -> tuple[int, int | None]:
    """gpusPerRun set: one agent per block of gpusPerRun GPUs. What cannot be cut into
    such blocks is reported by AgentPods; here, what contradicts the derived count. The
    count is returned even then, so that the problem is not reported twice over."""
    if read.boolean("agentPerGpu"):
        read.problems.add(
            f"gpusPerRun: cannot be combined with agentPerGpu: true, which gives each agent (and so each "
            f"run) 1 GPU, not {per_run}; remove agentPerGpu: with gpusPerRun, agentsPerPod follows "
            "gpusPerPod / gpusPerRun."
        )
    gpus = read.integer("gpusPerPod")
    if gpus < per_run or gpus % per_run:
        return agents, per_run
    derived = gpus // per_run
    if agents not in (1, derived):
        read.problems.add(
            f"gpusPerRun: sets agentsPerPod to gpusPerPod / gpusPerRun ({gpus} / {per_run} = {derived}), "
            f"but agentsPerPod is {agents}; remove agentsPerPod (or set it to {derived})."
        )
    return derived, per_run


def env_text(value: Any) -> Any:
    """A value of the NAME: value form as the text the variable gets (numbers as JSON)."""
    if isinstance(value, str | pulumi.Output):
        return value
    try:
        return json.dumps(value, allow_nan=False)
    except (ValueError, TypeError, RecursionError):  # NaN, a 5000-digit int, ...: reported as not text
        return value


def _env(read: _Reader) -> tuple[Any, ...]:
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
        return value.apply(
            lambda v: (
                v
                if isinstance(v, str)
                else _raise(f"env: the value of {shown(name)} must be text, got {type_name(v)}.")
            )
        )
    return value


def _raise(problem: str) -> Any:
    raise ConfigError([problem])


def _secret_env(read: _Reader) -> dict[str, Any]:
    value = read.raw.get("secretEnv", {})
    if not isinstance(value, dict):
        read.problems.add(f"secretEnv: must be a mapping of NAME to value, got {type_name(value)}.")
        return {}
    return {n: _checked_env_value(n, v) if isinstance(v, pulumi.Output) else v for n, v in value.items()}


def _api_key(read: _Reader, environ: Mapping[str, str]) -> Any:
    """The W&B API key (args, else WANDB_API_KEY), checked without ever putting it in a message."""
    configured = read.raw.get("wandbApiKey")
    if isinstance(configured, pulumi.Output):
        return configured.apply(
            lambda key: _raise(problem) if (problem := api_key_problem("wandbApiKey", key)) else key.strip()
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
    return key.strip()


def api_key_problem(source: str, key: Any) -> str | None:
    if not isinstance(key, str):
        return f"{source}: must be the API key as text, got {type_name(key)}."
    if not API_KEY.fullmatch(key.strip()):
        return (
            f"{source}: is not a W&B API key (at least 40 letters, digits or '_', "
            f"optionally after a 'prefix-'; it is {len(key.strip())} characters). "
            "Copy it from https://wandb.ai/authorize."
        )
    return None

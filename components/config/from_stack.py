"""Stack config -> the WandbSweep's args, checked before any resource is registered.

Pulumi passes every value as text and passes undeclared keys through silently,
so this module converts types itself and turns a typo such as `gpu_per_pod` into
a "did you mean" error instead of a silent no-op. It also owns what only the
stack config has: which keys are marked secret, the API key's source, and `env`,
which holds a mapping or a list of EnvVar objects and may be secret as a whole.
Everything else is checked by `validation`, the same code the component runs.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, cast

from ..args import WandbSweepArgs
from ..checks import MAX_COMPONENT_NAME, shown, type_name
from ..errors import ConfigError, ProblemList
from ..kubernetes.schema import fragment_problems
from .from_args import WANDB_TARGET_KEYS, default_namespace, sweep_source, validate_args, wandb_target
from .keys import CONFIG_KEYS, KEYS_BY_NAME, PROJECT, SECRET_CAPABLE_KEYS, ConfigKey
from .reader import Reader, env_text
from .settings import SweepSettings, SweepSource, WandbTarget

__all__ = [
    "CONFIG_KEYS",
    "KEYS_BY_NAME",
    "PROJECT",
    "SECRET_CAPABLE_KEYS",
    "ConfigKey",
    "args_from_stack_config",
    "default_namespace",
    "likely_keys",
    "load_stack_config",
    "read_pulumi_config",
    "stack_sweep_source",
    "suggest_key",
    "wandb_target_from_stack",
]

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
    "cpulimit": "cpu",
    "memorylimit": "memory",
    "requestcpu": "cpuRequest",
    "requestmemory": "memoryRequest",
    "nprocpernode": "gpusPerRun",
    "numprocesses": "gpusPerRun",
}
MAX_SUGGESTED = 3
"""Keys an unknown key's message names at most: the close ones, not the whole list."""
_CLOSE = 0.6
"""difflib's ratio a known key needs to be named at all (`gpu_per_pod` ~ gpusPerPod: 0.95)."""
_NEAR_BEST = 0.1
"""How far below the closest key another may be and still be named: `gpu_per_pod` names
gpusPerPod alone, `tolerations_` (1.0) not also gpuToleration (0.83)."""


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]", "", name).lower()


def likely_keys(unknown: str) -> list[str]:
    """The known keys a misspelled one most likely meant, best first: at most
    MAX_SUGGESTED, those about as close as the closest; none if nothing is close."""
    import difflib  # only for a key that is wrong: not on every program run's import path

    norm = _normalized(unknown)
    if norm in _LIKELY_MEANT:
        return [_LIKELY_MEANT[norm]]
    by_norm = {_normalized(k.name): k.name for k in CONFIG_KEYS}
    scored = sorted(
        ((difflib.SequenceMatcher(None, norm, known).ratio(), known) for known in by_norm),
        key=lambda pair: -pair[0],
    )
    if not scored or scored[0][0] < _CLOSE:
        return []
    best = scored[0][0]
    return [
        by_norm[known] for ratio, known in scored[:MAX_SUGGESTED] if ratio >= max(_CLOSE, best - _NEAR_BEST)
    ]


def suggest_key(unknown: str) -> str | None:
    """The known key a misspelled one most likely meant, if any."""
    found = likely_keys(unknown)
    return found[0] if found else None


def _unknown_key_problem(name: str) -> str:
    hints = likely_keys(name[:200])
    if hints:
        quoted = [f"'{hint}'" for hint in hints]
        advice = f"; did you mean {', '.join(quoted[:-1]) + ' or ' if len(quoted) > 1 else ''}{quoted[-1]}?"
    else:
        advice = ". The keys are listed in docs/configuration.md."
    if len(name) <= 100 and name.isprintable():
        return (
            f"{name}: not a wandb-sweeps config key{advice} "
            f"Remove it with `pulumi config rm {PROJECT}:{name}`."
        )
    return f"{shown(name)}: not a wandb-sweeps config key{advice} Remove it with `pulumi config rm`."


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


FORMER_COMPONENT_NAME = "sweep"
"""What the program named its WandbSweep in every stack before 0.3.0."""


def program_component_name(stack: str, *, create_namespace: bool) -> str:
    """The name of the program's WandbSweep, the prefix of its Kubernetes objects' names.

    In a namespace the stack creates, nothing else can take its names: `sweep`, as
    always. In a namespace it is given (createNamespace: false), which other stacks may
    share, the stack's name made a DNS label: two researchers' stacks then keep their
    own Secret and Jobs. The program aliases a renamed component to its former name, so
    its W&B sweep carries over.
    """
    if create_namespace:
        return FORMER_COMPONENT_NAME
    label = re.sub(r"[^a-z0-9-]+", "-", stack.lower())[:MAX_COMPONENT_NAME].strip("-")
    return label or FORMER_COMPONENT_NAME


def snake(name: str) -> str:
    """`gpusPerPod` -> `gpus_per_pod`: a stack key's arg name."""
    return re.sub(r"([A-Z])", r"_\1", name).lower()


def args_from_stack_config(
    values: Mapping[str, object],
    *,
    secret_keys: Collection[str],
    environ: Mapping[str, str],
    stack: str,
    project_root: Path,
    component_name: str | None = None,
) -> WandbSweepArgs:
    """The args of the stack's WandbSweep, from the project's config values, checked.

    `values` maps full keys ("wandb-sweeps:pods") to what Pulumi passed (text);
    keys of other namespaces (kubernetes:context, ...) are ignored. Raises
    ConfigError listing every problem; nothing has been created at that point.
    """
    return _load(values, secret_keys, environ, stack, project_root, component_name)[0]


def load_stack_config(
    values: Mapping[str, object],
    *,
    secret_keys: Collection[str],
    environ: Mapping[str, str],
    stack: str,
    project_root: Path,
    component_name: str | None = None,
) -> SweepSettings:
    """The settings the stack config gives: what `WandbSweep` builds from those args."""
    return _load(values, secret_keys, environ, stack, project_root, component_name)[1]


def _load(
    values: Mapping[str, object],
    secret_keys: Collection[str],
    environ: Mapping[str, str],
    stack: str,
    project_root: Path,
    component_name: str | None,
) -> tuple[WandbSweepArgs, SweepSettings]:
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
    unkeepable = sorted(secret - set(SECRET_CAPABLE_KEYS))
    for name in unkeepable:
        problems.add(_unkeepable_secret_problem(name))
    read = Reader(raw, problems, secret)
    args: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        if key.name in raw and key.name not in ("env", "wandbApiKey"):
            value = _typed(read, key)
            if value not in (None, "", [], {}) or key.kind in ("integer", "boolean"):
                args[snake(key.name)] = value
    _put_api_key(args, raw, secret, problems)
    _put_env(args, problems, read.structured("env"), secret="env" in secret)
    settings = None
    try:
        create_namespace = args.get("create_namespace", True) is not False
        name = component_name or program_component_name(stack, create_namespace=create_namespace)
        settings = validate_args(name, args, stack=stack, environ=environ, cwd=project_root)
    except ConfigError as error:
        reported = {p.split(":", 1)[0] for p in problems.problems}
        problems.problems.extend(p for p in error.problems if p.split(":", 1)[0] not in reported)
    _hide_values_of(problems, unkeepable)
    problems.raise_if_any()
    assert settings is not None
    return cast(WandbSweepArgs, args), settings


def stack_sweep_source(values: Mapping[str, object], *, project_root: Path) -> SweepSource:
    """The sweep the stack config names, alone: `sweepId`, or the sweep file read and
    checked as the program reads it. `wandb-sweeps check` runs W&B's schema on it even
    when other keys are bad, so that one run shows every problem. Raises ConfigError."""
    raw = {name: value for key, value in values.items() for ns, _, name in [key.partition(":")] if ns == PROJECT}
    problems = ProblemList()
    source = sweep_source(Reader(raw, problems), project_root)
    problems.raise_if_any()
    return source


def wandb_target_from_stack(
    values: Mapping[str, object], *, environ: Mapping[str, str], project_root: Path
) -> WandbTarget:
    """Where a deployed stack's sweep lives on W&B and how it is reached: `baseUrl` (else
    WANDB_BASE_URL of `environ`, as when the sweep was made), `caCertificate` (read from
    `project_root`) and the two timeouts, checked as `load_stack_config` checks them.

    Only these keys are read (WANDB_TARGET_KEYS): `wandb-sweeps status -s` must work
    whatever else the stack holds, with no API key in the config and no sweep file or
    image to check. `values` maps full keys, as for `load_stack_config`. Raises
    ConfigError naming the key.
    """
    problems = ProblemList()
    raw = {
        name: value
        for full_key, value in values.items()
        for namespace, _, name in [full_key.partition(":")]
        if namespace == PROJECT and name in WANDB_TARGET_KEYS
    }
    target = None
    try:
        target = wandb_target(Reader(raw, problems), environ, project_root)
    except ConfigError as error:
        problems.extend(error.problems)
    problems.raise_if_any()
    assert target is not None
    return target


def _typed(read: Reader, key: ConfigKey) -> Any:
    """The value of `key` as the Python type its arg has (the CLI passes text)."""
    if key.kind == "integer":
        return read.integer(key.name)
    if key.kind == "boolean":
        return read.boolean(key.name)
    if key.kind == "array" and key.items == "string":
        return list(read.strings(key.name))
    if key.kind in ("object", "list", "array"):  # an array of integers: PodRuntime checks its items
        return read.structured(key.name)
    return read.string(key.name)


def _put_api_key(
    args: dict[str, Any], raw: Mapping[str, object], secret: Collection[str], problems: ProblemList
) -> None:
    """`wandbApiKey` from the stack, which must be encrypted there; unset: WANDB_API_KEY."""
    configured = raw.get("wandbApiKey")
    set_with = "set it with `pulumi config set --secret wandb-sweeps:wandbApiKey KEY`"
    if configured is None or configured == "":
        return
    if not isinstance(configured, str):
        problems.add(f"wandbApiKey: must be the API key as text ({set_with}), got {type_name(configured)}.")
    elif "wandbApiKey" not in secret:
        problems.add(
            f"wandbApiKey: is stored in plain text in the stack config; {set_with} so it is encrypted."
        )
    else:
        args["wandb_api_key"] = configured


def _put_env(args: dict[str, Any], problems: ProblemList, value: Any, *, secret: bool) -> None:
    """The stack key `env` (a mapping or a list of EnvVar objects, maybe secret) as args."""
    if not secret:
        if isinstance(value, dict) and value:
            args["env"] = value
        elif isinstance(value, list) and value:
            args["env_vars"] = value
        return
    plain, values = _split_env(problems, value, secret=True)
    if plain:
        args["env_vars"] = list(plain)
    if values:
        args["secret_env"] = values


def _env_vars(value: Any) -> tuple[Any, ...]:
    """`env` as Kubernetes EnvVar objects; a NAME: value mapping is the short form."""
    if isinstance(value, dict):
        return tuple({"name": name, "value": env_text(v)} for name, v in value.items())
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

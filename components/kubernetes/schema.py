"""Check the pieces of pod spec that users write themselves (tolerations, volumes, ...).

They are validated against the official Kubernetes schema of the minimum
version we support, inside a probe Pod, with `kubernetes-validate` in strict
mode: a misspelled field (`operatr`) or a wrong type is reported against the
config key that holds it, before anything is created.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeGuard

import pulumi

from ..checks import type_name
from ..errors import ProblemList

MIN_KUBERNETES = "1.31"
"""The oldest Kubernetes the agent Jobs are built for (podFailurePolicy is GA in 1.31)."""

# Where each config key's value sits in the probe pod.
_KEY_AT_PATH: dict[tuple[Any, ...], str] = {
    ("spec", "nodeSelector"): "nodeSelector",
    ("spec", "tolerations"): "tolerations",
    ("spec", "affinity"): "affinity",
    ("spec", "volumes"): "volumes",
    ("spec", "containers", 0, "volumeMounts"): "volumeMounts",
    ("spec", "containers", 0, "env"): "env",
}


def _probe_pod(fragments: Mapping[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "probe", "image": "probe"}
    spec: dict[str, Any] = {"containers": [container]}
    for path, key in _KEY_AT_PATH.items():
        if key in fragments:
            target = spec if path[1] != "containers" else container
            target[path[-1]] = fragments[key]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"}, "spec": spec}


def _describe(path: Sequence[Any]) -> tuple[str, str]:
    """('tolerations', 'tolerations[0].operator') for a path into the probe pod."""
    for prefix, key in _KEY_AT_PATH.items():
        if tuple(path[: len(prefix)]) == prefix:
            where = key
            for part in path[len(prefix) :]:
                where += f"[{part}]" if isinstance(part, int) else f".{part}"
            return key, shown_message(where, 200)
    return "pod", ".".join(str(p) for p in path)


def fragment_problems(fragments: Mapping[str, Any], *, secret: Collection[str] = ()) -> list[str]:
    """Problems with user-written pod spec pieces, keyed by config key name.

    `fragments` maps config keys (`tolerations`, `volumes`, ...) to their values
    in Kubernetes' own (camelCase) form. A message about a key in `secret` says
    what is wrong and where, never what the value is. Never raises: a validator
    that fails on an odd shape is reported against the keys it was given.
    """
    if not any(fragments.values()):
        return []
    import kubernetes_validate

    try:
        kubernetes_validate.validate(_probe_pod(fragments), MIN_KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as error:  # a jsonschema error, first one found
        key, where = _describe(list(error.absolute_path))
        what = _secret_safe_message(error) if key in secret else shown_message(error.message)
        return [
            f"{key}: {what} at {where} (Kubernetes {MIN_KUBERNETES} schema; "
            f"see `kubectl explain pod.spec.{_explain_path(key)}`)."
        ]
    except Exception as error:  # noqa: BLE001 - a validator crash must not become a traceback
        keys = ", ".join(key for key, value in fragments.items() if value)
        return [
            f"{keys}: could not be checked against the Kubernetes {MIN_KUBERNETES} schema "
            f"({type(error).__name__}); write them as Kubernetes objects (mappings of text keys)."
        ]
    return []


def shown_message(message: str, limit: int = 300) -> str:
    """A validator's message, cut to a readable length (it quotes the value it rejects)."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _secret_safe_message(error: Any) -> str:
    """What a schema error says, without the value it is about."""
    rule, expected = error.validator, error.validator_value
    if rule == "type":
        return f"must be of type {expected}"
    if rule == "enum":
        return f"must be one of {', '.join(map(str, expected))}"
    if rule in ("required", "additionalProperties"):
        return shown_message(error.message)  # names properties, not values
    return f"breaks the schema's {rule!r} rule"


def _explain_path(key: str) -> str:
    return {"volumeMounts": "containers.volumeMounts", "env": "containers.env"}.get(key, key)


def without_outputs(value: Any) -> Any:
    """`value` with every pulumi.Output in it replaced by text, for the schema check
    (an Output value is checked when it resolves)."""
    if isinstance(value, pulumi.Output):
        return "resolved-at-deploy-time"
    if isinstance(value, Mapping):
        return {k: without_outputs(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_outputs(v) for v in value]
    return value


def is_list(value: object, problems: ProblemList, key: str) -> TypeGuard[Sequence[Any]]:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return True
    problems.add(f"{key}: must be a list, got {type_name(value)}.")
    return False


def fragments_of(problems: ProblemList, **values: tuple[object, type]) -> dict[str, Any]:
    """The pieces of the right outer shape, as plain dicts and lists, for the schema check."""
    fragments: dict[str, Any] = {}
    for key, (value, shape) in values.items():
        value = without_outputs(value) if isinstance(value, Mapping | list | tuple) else value
        if shape is Mapping and isinstance(value, Mapping):
            fragments[key] = dict(value)
        elif shape is Sequence and is_list(value, problems, key):
            items = list(value)
            odd = [i for i, item in enumerate(items) if not isinstance(item, Mapping)]
            if odd:
                # The schema lets null items through; Kubernetes (and the checks after it) do not.
                problems.add(
                    f"{key}: {key}[{odd[0]}] must be a Kubernetes object (a mapping), "
                    f"got {type_name(items[odd[0]])}."
                )
            else:
                fragments[key] = items
        elif shape is Mapping:
            problems.add(f"{key}: must be a mapping, got {type_name(value)}.")
    return fragments

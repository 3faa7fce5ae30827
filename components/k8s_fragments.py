"""Check the pieces of pod spec that users write themselves (tolerations, volumes, ...).

They are validated against the official Kubernetes schema of the minimum
version we support, inside a probe Pod, with `kubernetes-validate` in strict
mode: a misspelled field (`operatr`) or a wrong type is reported against the
config key that holds it, before anything is created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
            return key, where
    return "pod", ".".join(str(p) for p in path)


def fragment_problems(fragments: Mapping[str, Any]) -> list[str]:
    """Problems with user-written pod spec pieces, keyed by config key name.

    `fragments` maps config keys (`tolerations`, `volumes`, ...) to their values
    in Kubernetes' own (camelCase) form.
    """
    if not any(fragments.values()):
        return []
    import kubernetes_validate

    try:
        kubernetes_validate.validate(_probe_pod(fragments), MIN_KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as error:  # a jsonschema error, first one found
        key, where = _describe(list(error.absolute_path))
        return [
            f"{key}: {error.message} at {where} (Kubernetes {MIN_KUBERNETES} schema; "
            f"see `kubectl explain pod.spec.{_explain_path(key)}`)."
        ]
    return []


def _explain_path(key: str) -> str:
    return {"volumeMounts": "containers.volumeMounts", "env": "containers.env"}.get(key, key)

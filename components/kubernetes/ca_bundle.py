"""What a private CA (`caCertificate`) adds to the agent pods: a ConfigMap, two volumes, env.

A ConfigMap `<name>-wandb-ca-<digest>` holds the certificates, mounted read-only, and a
small writable emptyDir is where the launcher writes ONE bundle, the image's public
roots followed by the CA, and points `SSL_CERT_FILE` (wandb-core is Go: crypto/x509
reads it; Python's ssl too) and `REQUESTS_CA_BUNDLE` (Python requests, which uses a
bundle INSTEAD of certifi: artifact downloads) at it. wandb has no CA setting of its own.

Why the ConfigMap's name carries a digest of the certificates: pulumi-kubernetes
replaces a ConfigMap whose data changes (provider/pkg/provider/diff.go,
`forceNewProperties`, unless the provider option enableConfigMapMutable is set) and
deletes a fixed-name object BEFORE creating its replacement. A new name instead is
created first; the Jobs refer to it by name, so their pod template, and with it their
name digest, changes: new Jobs (whose pods build their bundle from the new CA) are
created before the old ones are deleted, and the old ConfigMap goes last, after the
old Jobs (dependents first). No pod ever sees a missing ConfigMap, nothing is
deleted and re-created under one name, and every pod after the `up` trusts the new CA.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the types only: pulumi-kubernetes is imported where the pods are built
    from pulumi_kubernetes.core.v1 import EnvVarArgsDict, VolumeArgsDict, VolumeMountArgsDict

CA_KEY = "caCertificate"


CA_ENTRY = "ca.crt"
"""The ConfigMap's one key, and the file name in the pod."""


CA_VOLUME = "wandb-sweeps-ca"


CA_MOUNT_DIR = "/etc/wandb-sweeps/ca"


TRUST_VOLUME = "wandb-sweeps-trust"


TRUST_MOUNT_DIR = "/etc/wandb-sweeps/trust"
"""A writable emptyDir: the launcher writes the bundle here, whatever the image's user
may write elsewhere (and with a read-only root filesystem too)."""


TRUST_SIZE_LIMIT = "16Mi"
"""The bundle is the image's public roots (about 200 KB) plus the CA."""


CA_FILE_ENV = "WANDB_SWEEPS_CA_FILE"


TRUST_DIR_ENV = "WANDB_SWEEPS_TRUST_DIR"


TRUST_ENV = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
"""What the launcher exports to the agents and their runs when a CA is given."""


def config_map_name(name: str, ca_digest: str) -> str:
    """`<name>-wandb-ca-<digest>`: a new CA is a new ConfigMap (module docstring)."""
    return f"{name}-wandb-ca-{ca_digest}"


def pod_conflicts(
    env_names: Iterable[Any], volumes: Iterable[Mapping[str, Any]], mounts: Iterable[Mapping[str, Any]]
) -> list[str]:
    """What of the user's `env`, `volumes` and `volumeMounts` would collide with what a CA
    adds to the pods: the launcher's variables, the variables it exports (which it would
    silently override), and the two volumes' names and mount paths."""
    problems = []
    taken = [n for n in env_names if n in (CA_FILE_ENV, TRUST_DIR_ENV, *TRUST_ENV)]
    if taken:
        problems.append(
            f"env: {', '.join(dict.fromkeys(taken))} is set by wandb-sweeps when {CA_KEY} is set (the "
            f"launcher points SSL_CERT_FILE and REQUESTS_CA_BUNDLE at the image's public roots plus "
            f"{CA_KEY}); remove it from env."
        )
    names = [v.get("name") for v in volumes if isinstance(v, Mapping)]
    for reserved in (CA_VOLUME, TRUST_VOLUME):
        if reserved in names:
            problems.append(
                f"volumes: the name '{reserved}' is reserved for {CA_KEY} in the pods; rename the volume."
            )
    paths = {m.get("mountPath") for m in mounts if isinstance(m, Mapping)}
    for reserved in (CA_MOUNT_DIR, TRUST_MOUNT_DIR):
        if reserved in paths:
            problems.append(
                f"volumeMounts: the path '{reserved}' is where {CA_KEY} is mounted in the pods; mount "
                "your volume elsewhere."
            )
    return problems


def ca_pod_volumes(config_map: str) -> tuple[list[VolumeArgsDict], list[VolumeMountArgsDict]]:
    """(volumes, volume mounts) for the agent pods: the CA read-only, the bundle's directory."""
    volumes: list[VolumeArgsDict] = [
        {"name": CA_VOLUME, "config_map": {"name": config_map}},
        {"name": TRUST_VOLUME, "empty_dir": {"size_limit": TRUST_SIZE_LIMIT}},
    ]
    mounts: list[VolumeMountArgsDict] = [
        {"name": CA_VOLUME, "mount_path": CA_MOUNT_DIR, "read_only": True},
        {"name": TRUST_VOLUME, "mount_path": TRUST_MOUNT_DIR},
    ]
    return volumes, mounts


def ca_pod_env() -> list[EnvVarArgsDict]:
    """The launcher's inputs: where the CA is, and where to write the bundle."""
    return [
        {"name": CA_FILE_ENV, "value": f"{CA_MOUNT_DIR}/{CA_ENTRY}"},
        {"name": TRUST_DIR_ENV, "value": TRUST_MOUNT_DIR},
    ]

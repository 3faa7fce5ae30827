"""Size bounds on what a stack copies into every agent Job (up to 1,000 of them).

Kubernetes refuses an oversized object only when it is created, after the sweep
exists on W&B, and some pieces have no bound of their own there (env, the number of
labels or tolerations). So every piece users write has a bound here, checked before
anything is made, and far above what a real sweep needs:

- an object, once serialized, must fit etcd's request limit (1.5 MiB,
  `DefaultMaxRequestBytes`, etcd server/embed/config.go) and the API server's request
  body limit (3 MiB, `MaxRequestBodyBytes`, k8s.io/apiserver/pkg/server/config.go);
  MAX_POD_PIECES_BYTES keeps a Job at a few hundred KiB, well under both;
- an environment variable reaches the process through execve, where one `NAME=value`
  string may be at most 128 KiB (MAX_ARG_STRLEN, include/uapi/linux/binfmts.h) and
  all of them together share a quarter of the stack limit with the arguments
  (fs/exec.c, get_arg_page);
- an image reference's repository name is at most 255 characters
  (`NameTotalLengthMax`, distribution/reference reference.go), its tag 128.

Each check counts before it looks inside, so a huge value costs one `len`, not a
schema walk. The bounds and their reasons are the rows of docs/configuration.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

KIB = 1024

MAX_ENV_ENTRIES = 128
"""`env` entries, plain and secret together."""
MAX_ENV_NAME_CHARS = 256
MAX_ENV_VALUE_BYTES = 32 * KIB
"""One value (UTF-8 bytes); a quarter of execve's per-string limit."""
MAX_ENV_BYTES = 128 * KIB
"""All names and values together, plain and secret (UTF-8 bytes)."""
MAX_LABELS = 64
MAX_ANNOTATIONS = 64
MAX_ANNOTATIONS_BYTES = 64 * KIB
"""Keys and values together; Kubernetes allows 256 KiB per object, and the Job
carries these twice (itself and its pod template)."""
MAX_NODE_SELECTOR = 32
MAX_TOLERATIONS = 64
MAX_VOLUMES = 64
MAX_VOLUME_MOUNTS = 128
MAX_IMAGE_PULL_SECRETS = 32
MAX_AFFINITY_BYTES = 64 * KIB
MAX_VOLUMES_BYTES = 64 * KIB
"""`volumes` and `volumeMounts` together, as JSON."""
MAX_IMAGE_CHARS = 512
"""A 255-character name, a 128-character tag and a sha256 digest fit."""
MAX_POD_PIECES_BYTES = 256 * KIB
"""Everything users write into one agent Job, as JSON: env (secret values counted),
volumes, mounts, scheduling, labels and annotations (twice), the image."""


def count_problem(key: str, value: object, most: int, what: str) -> str | None:
    """`key` holds more than `most` entries: one problem, before anything looks inside."""
    if isinstance(value, Mapping | Sequence) and not isinstance(value, str) and len(value) > most:
        return f"{key}: at most {most} {what}, got {len(value)}."
    return None


def json_bytes(value: object) -> int:
    """The size of `value` as the API server receives it (compact JSON, UTF-8)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def bytes_problem(key: str, value: object, most: int, what: str = "as JSON") -> str | None:
    size = json_bytes(value)
    if size > most:
        return f"{key}: at most {most // KIB} KiB {what}, got {_kib(size)}; keep large data in a volume."
    return None


def env_size_problems(plain: Sequence[Mapping[str, Any]], secret: Mapping[str, Any]) -> list[str]:
    """`env`: the count, each name and each value (never shown: it may be secret), and the whole."""
    problems = []
    entries = len(plain) + len(secret)
    if entries > MAX_ENV_ENTRIES:
        return [f"env: at most {MAX_ENV_ENTRIES} variables (plain and secret together), got {entries}."]
    total = 0
    named = [(entry.get("name"), entry.get("value")) for entry in plain if isinstance(entry, Mapping)]
    named += list(secret.items())
    for name, value in named:
        name_text = name if isinstance(name, str) else ""
        value_bytes = len(value.encode()) if isinstance(value, str) else 0
        total += len(name_text.encode()) + value_bytes
        if len(name_text) > MAX_ENV_NAME_CHARS:
            problems.append(
                f"env: a variable name of {len(name_text)} characters ({name_text[:40]}...); "
                f"at most {MAX_ENV_NAME_CHARS}."
            )
        elif value_bytes > MAX_ENV_VALUE_BYTES:
            problems.append(
                f"env: the value of {name_text} is {_kib(value_bytes)}; at most {MAX_ENV_VALUE_BYTES // KIB} "
                "KiB per value: put large data in a volume (a ConfigMap or Secret volume) instead."
            )
    if not problems and total > MAX_ENV_BYTES:
        problems.append(
            f"env: {_kib(total)} of names and values in all; at most {MAX_ENV_BYTES // KIB} KiB: put large "
            "data in a volume (a ConfigMap or Secret volume) instead."
        )
    return problems


def metadata_size_problems(labels: object, annotations: object) -> list[str]:
    found = [
        count_problem("labels", labels, MAX_LABELS, "labels"),
        count_problem("annotations", annotations, MAX_ANNOTATIONS, "annotations"),
    ]
    if isinstance(annotations, Mapping) and not found[1]:
        texts = [text for pair in annotations.items() for text in pair if isinstance(text, str)]
        size = sum(len(text.encode()) for text in texts)  # as [meta] ValidateAnnotations counts
        if size > MAX_ANNOTATIONS_BYTES:
            found.append(
                f"annotations: at most {MAX_ANNOTATIONS_BYTES // KIB} KiB of keys and values, got {_kib(size)} "
                "(Kubernetes allows 256 KiB per object, and each Job carries these twice); keep large data out "
                "of annotations."
            )
    return [problem for problem in found if problem]


def scheduling_size_problems(node_selector: object, tolerations: object, affinity: object) -> list[str]:
    found = [
        count_problem("nodeSelector", node_selector, MAX_NODE_SELECTOR, "labels"),
        count_problem("tolerations", tolerations, MAX_TOLERATIONS, "tolerations"),
        bytes_problem("affinity", affinity, MAX_AFFINITY_BYTES) if affinity else None,
    ]
    return [problem for problem in found if problem]


def volume_size_problems(volumes: object, mounts: object, pull_secrets: object) -> list[str]:
    found = [
        count_problem("volumes", volumes, MAX_VOLUMES, "volumes"),
        count_problem("volumeMounts", mounts, MAX_VOLUME_MOUNTS, "mounts"),
        count_problem("imagePullSecrets", pull_secrets, MAX_IMAGE_PULL_SECRETS, "Secret names"),
    ]
    if not any(found):
        found.append(
            bytes_problem("volumes", [volumes, mounts], MAX_VOLUMES_BYTES, "(volumes and volumeMounts)")
        )
    return [problem for problem in found if problem]


def pod_pieces_problem(pieces: Mapping[str, object]) -> str | None:
    """The pieces of one agent Job together (each within its own bound, they may still
    add up): key -> what that key puts into every Job, counted as often as it is copied."""
    size = sum(json_bytes(value) for value in pieces.values())
    if size <= MAX_POD_PIECES_BYTES:
        return None
    largest = sorted(pieces, key=lambda key: -json_bytes(pieces[key]))[:3]
    return (
        f"{', '.join(largest)}: what the stack puts into each agent Job comes to {_kib(size)} (largest first: "
        f"{', '.join(largest)}); at most {MAX_POD_PIECES_BYTES // KIB} KiB, copied into every Job: keep large "
        "data in a volume."
    )


def _kib(size: int) -> str:
    return f"{size / KIB:.1f} KiB"

"""What a stack editor may put into every agent Job: bounded in size, and no powers
beyond the README's list unless allowPrivilegedPods says so (issue 16, items 6 and 7).

Each row runs the real program under the mock engine: refused with one message that
names the key and the bound, nothing registered (so nothing made on W&B either).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pulumi_harness import ProgramRun, cli_config, run_program

from wandb_sweeps.errors import ConfigError
from wandb_sweeps.kubernetes import size_limits
from wandb_sweeps.kubernetes.pod_security import TLS_ENV

API_KEY = "local-" + "k" * 40
SECRET = ("wandbApiKey",)
SECRET_ENV = ("wandbApiKey", "env")

KIB = 1024


def refused(overrides: dict[str, Any], secret_keys: tuple[str, ...] = SECRET) -> str:
    config = cli_config("dev", **{"wandbApiKey": API_KEY, **overrides})
    run = ProgramRun()
    with pytest.raises(ConfigError) as raised:
        run_program("dev", config, secret_keys=secret_keys, run=run)
    assert run.registrations == [], [r.name for r in run.registrations]
    message = str(raised.value)
    assert API_KEY not in message
    return message


def accepted(overrides: dict[str, Any], secret_keys: tuple[str, ...] = SECRET) -> ProgramRun:
    return run_program(
        "dev", cli_config("dev", **{"wandbApiKey": API_KEY, **overrides}), secret_keys=secret_keys
    )


def toleration(index: int) -> dict[str, str]:
    return {"key": f"example.com/pool-{index}", "operator": "Exists", "effect": "NoSchedule"}


SIZE_ROWS: list[tuple[str, dict[str, Any], tuple[str, ...], str]] = [
    (
        "129 env variables",
        {"env": {f"V{i}": "x" for i in range(129)}},
        SECRET,
        "env: at most 128 variables (plain and secret together), got 129.",
    ),
    (
        "an env name of 300 characters",
        {"env": {"N" * 300: "x"}},
        SECRET,
        "env: a variable name of 300 characters",
    ),
    (
        "an env value of 33 KiB",
        {"env": {"BIG": "v" * (33 * KIB)}},
        SECRET,
        "env: the value of BIG is 33.0 KiB; at most 32 KiB per value",
    ),
    (
        "env of 5 x 30 KiB",
        {"env": {f"V{i}": "v" * (30 * KIB) for i in range(5)}},
        SECRET,
        "env: 150.0 KiB of names and values in all; at most 128 KiB",
    ),
    (
        "a secret env value of 33 KiB (not shown)",
        {"env": {"TOKEN": "s" * (33 * KIB)}},
        SECRET_ENV,
        "env: the value of TOKEN is 33.0 KiB; at most 32 KiB per value",
    ),
    (
        "65 labels",
        {"labels": {f"team-{i}": "ml" for i in range(65)}},
        SECRET,
        "labels: at most 64 labels, got 65.",
    ),
    (
        "65 annotations",
        {"annotations": {f"note-{i}": "x" for i in range(65)}},
        SECRET,
        "annotations: at most 64 annotations, got 65.",
    ),
    (
        "annotations of 65 KiB",
        {"annotations": {"a": "x" * (65 * KIB)}},
        SECRET,
        "annotations: at most 64 KiB of keys and values",
    ),
    (
        "33 nodeSelector labels",
        {"nodeSelector": {f"example.com/l{i}": "y" for i in range(33)}},
        SECRET,
        "nodeSelector: at most 32 labels, got 33.",
    ),
    (
        "65 tolerations",
        {"tolerations": [toleration(i) for i in range(65)]},
        SECRET,
        "tolerations: at most 64 tolerations, got 65.",
    ),
    (
        "an affinity of 70 KiB",
        {
            "affinity": {
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 1,
                            "preference": {
                                "matchExpressions": [
                                    {"key": "zone", "operator": "In", "values": ["z" * 60] * 1200}
                                ]
                            },
                        }
                    ]
                }
            }
        },
        SECRET,
        "affinity: at most 64 KiB as JSON",
    ),
    (
        "65 volumes",
        {"volumes": [{"name": f"v{i}", "emptyDir": {}} for i in range(65)]},
        SECRET,
        "volumes: at most 64 volumes, got 65.",
    ),
    (
        "129 volume mounts",
        {
            "volumes": [{"name": "v", "emptyDir": {}}],
            "volumeMounts": [{"name": "v", "mountPath": f"/m{i}"} for i in range(129)],
        },
        SECRET,
        "volumeMounts: at most 128 mounts, got 129.",
    ),
    (
        "33 imagePullSecrets",
        {"imagePullSecrets": [f"pull-{i}" for i in range(33)]},
        SECRET,
        "imagePullSecrets: at most 32 Secret names, got 33.",
    ),
    (
        "an image reference of 600 characters",
        {"image": "ghcr.io/acme/" + "t" * 587},
        SECRET,
        "image: at most 512 characters (a 255-character name, a tag and a digest fit), got 600.",
    ),
    (
        "an API key of 600 characters (not shown)",
        {"wandbApiKey": "k" * 600},
        SECRET,
        "wandbApiKey: is not a W&B API key: at most 512 characters, it is 600.",
    ),
    (
        "pieces within their own bounds that add up to more than 256 KiB",
        {
            "env": {f"V{i}": "v" * (25 * KIB) for i in range(5)},
            "annotations": {"a": "x" * (60 * KIB)},
            "affinity": {
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 1,
                            "preference": {
                                "matchExpressions": [
                                    {"key": "zone", "operator": "In", "values": ["z" * 60] * 900}
                                ]
                            },
                        }
                    ]
                }
            },
        },
        SECRET,
        "what the stack puts into each agent Job comes to",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "secret_keys", "fragment"),
    [row[1:] for row in SIZE_ROWS],
    ids=[row[0] for row in SIZE_ROWS],
)
def test_an_oversized_piece_is_refused_before_anything_is_made(
    overrides: dict[str, Any], secret_keys: tuple[str, ...], fragment: str
) -> None:
    message = refused(overrides, secret_keys)
    assert fragment in message, message
    assert "s" * 100 not in message  # a secret value is never quoted


def test_the_largest_allowed_job_is_well_under_the_api_servers_limits() -> None:
    """Every piece near its own bound, together just under MAX_POD_PIECES_BYTES: accepted,
    and the rendered Job is far below etcd's 1.5 MiB (and the API server's 3 MiB)."""
    overrides = {
        "env": {f"V{i}": "v" * (31 * KIB) for i in range(4)},
        "annotations": {"a": "x" * (50 * KIB)},
        "labels": {f"team-{i}": "l" * 63 for i in range(64)},
        "tolerations": [toleration(i) for i in range(64)],
    }
    run = accepted(overrides)
    [job] = run.by_type("kubernetes:batch/v1:Job")
    size = len(json.dumps(job.inputs, separators=(",", ":")).encode())
    assert 200 * KIB < size < 512 * KIB, size
    assert size < 1.5 * 1024 * KIB / 2


def test_a_huge_env_is_refused_in_linear_time() -> None:
    """100,000 variables: one count, not a schema walk per variable (which took over 10 s)."""
    started = time.perf_counter()
    message = refused({"env": [{"name": f"V{i}", "value": "x"} for i in range(100_000)]})
    assert "env: at most 128 variables" in message
    assert time.perf_counter() - started < 5


def test_the_bounds_are_in_the_configuration_reference() -> None:
    from docs_pages import page

    text = " ".join(page("configuration.md").split())
    for bound in (
        f"`{size_limits.MAX_ENV_ENTRIES}` variables",
        f"values of at most `{size_limits.MAX_ENV_VALUE_BYTES // KIB}` KiB",
        f"`{size_limits.MAX_LABELS}` labels",
        f"`{size_limits.MAX_ANNOTATIONS}` annotations",
        f"`{size_limits.MAX_NODE_SELECTOR}` labels",
        f"`{size_limits.MAX_TOLERATIONS}` tolerations",
        f"`{size_limits.MAX_VOLUMES}` volumes",
        f"`{size_limits.MAX_VOLUME_MOUNTS}` mounts",
        f"`{size_limits.MAX_IMAGE_PULL_SECRETS}` names",
        f"`{size_limits.MAX_IMAGE_CHARS}` characters",
        f"`{size_limits.MAX_POD_PIECES_BYTES // KIB}` KiB",
    ):
        assert bound in text, bound


def test_the_annotation_bound_keeps_every_object_under_kubernetes_own() -> None:
    """[meta] ValidateAnnotations allows 256 KiB per object; the user's bound plus wandb-sweeps'
    own annotations stays under it, so that rule needs no check of its own."""
    from wandb_sweeps.kubernetes.agent_job import JOB_ANNOTATIONS
    from wandb_sweeps.kubernetes.api_rules import TOTAL_ANNOTATION_SIZE_LIMIT, annotations_size

    assert size_limits.MAX_ANNOTATIONS_BYTES + annotations_size(JOB_ANNOTATIONS) < TOTAL_ANNOTATION_SIZE_LIMIT


# --- What a stack editor can give the pods (item 7): refused unless allowPrivilegedPods.

CONTROL_PLANE = "node-role.kubernetes.io/control-plane"

POWER_ROWS: list[tuple[str, dict[str, Any], tuple[str, ...], str]] = [
    (
        "a projected serviceAccountToken volume",
        {
            "volumes": [
                {
                    "name": "kube-token",
                    "projected": {
                        "sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]
                    },
                }
            ],
            "volumeMounts": [{"name": "kube-token", "mountPath": "/var/run/kube"}],
        },
        SECRET,
        "volumes: volumes[0] ('kube-token') projects a serviceAccountToken",
    ),
    (
        "a control-plane toleration and nodeSelector",
        {
            "tolerations": [{"key": CONTROL_PLANE, "operator": "Exists", "effect": "NoSchedule"}],
            "nodeSelector": {CONTROL_PLANE: ""},
        },
        SECRET,
        f"tolerations: tolerations[0] tolerates {CONTROL_PLANE}, the taint of control-plane nodes",
    ),
    (
        "the pre-1.24 master toleration",
        {"tolerations": [{"key": "node-role.kubernetes.io/master", "operator": "Exists"}]},
        SECRET,
        "tolerates node-role.kubernetes.io/master, the taint of control-plane nodes",
    ),
    (
        "a toleration of cordoned nodes",
        {"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]},
        SECRET,
        "the taint of cordoned or shut-down nodes",
    ),
    (
        "node affinity for control-plane nodes",
        {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": CONTROL_PLANE, "operator": "Exists"}]}
                        ]
                    }
                }
            }
        },
        SECRET,
        f"nodeSelector: affinity ({CONTROL_PLANE}) picks control-plane nodes",
    ),
    (
        "WANDB_INSECURE_DISABLE_SSL",
        {"env": {"WANDB_INSECURE_DISABLE_SSL": "true"}},
        SECRET,
        "env: WANDB_INSECURE_DISABLE_SSL turns TLS verification off or replaces the roots it trusts",
    ),
    (
        "REQUESTS_CA_BUNDLE as an EnvVar object",
        {"env": [{"name": "REQUESTS_CA_BUNDLE", "value": "/data/my-ca.pem"}]},
        SECRET,
        "env: REQUESTS_CA_BUNDLE turns TLS verification off",
    ),
    (
        "SSL_CERT_FILE in a secret env",
        {"env": {"SSL_CERT_FILE": "/data/roots.pem"}},
        SECRET_ENV,
        "env: SSL_CERT_FILE turns TLS verification off",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "secret_keys", "fragment"),
    [row[1:] for row in POWER_ROWS],
    ids=[row[0] for row in POWER_ROWS],
)
def test_a_power_beyond_the_readme_is_refused(
    overrides: dict[str, Any], secret_keys: tuple[str, ...], fragment: str
) -> None:
    message = refused(overrides, secret_keys)
    assert fragment in message, message
    assert "or set allowPrivilegedPods: true" in message


@pytest.mark.parametrize(
    ("overrides", "secret_keys"), [row[1:3] for row in POWER_ROWS], ids=[row[0] for row in POWER_ROWS]
)
def test_allow_privileged_pods_gives_each_power(
    overrides: dict[str, Any], secret_keys: tuple[str, ...]
) -> None:
    run = accepted({**overrides, "allowPrivilegedPods": "true"}, secret_keys)
    [job] = run.by_type("kubernetes:batch/v1:Job")
    pod = job.inputs["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False  # only what the editor asked for is added


@pytest.mark.parametrize(
    "overrides",
    [
        {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
        {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": CONTROL_PLANE, "operator": "DoesNotExist"}]}
                        ]
                    }
                }
            }
        },
        {"volumes": [{"name": "cfg", "projected": {"sources": [{"configMap": {"name": "settings"}}]}}]},
        {"env": {"HF_HOME": "/data/hf", "HTTPS_PROXY": "http://proxy.internal:3128"}},
    ],
    ids=["gpu toleration", "keep off control-plane nodes", "projected configMap", "ordinary env"],
)
def test_the_ordinary_neighbours_of_each_power_stay_allowed(overrides: dict[str, Any]) -> None:
    accepted(overrides)


def test_every_tls_variable_is_named_in_the_security_doc() -> None:
    from docs_pages import page

    text = page("security.md")
    for name in TLS_ENV:
        assert name in text, name

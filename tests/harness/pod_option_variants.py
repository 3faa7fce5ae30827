"""The pod and Job options of the example stacks, as config overrides: the cases
test_pod_options checks (with what each must render) and `VARIANTS`, every option it
deploys by name, which test_pod_security renders too.
"""

from __future__ import annotations

from typing import Any

DATASET_VOLUME = {"name": "data", "persistentVolumeClaim": {"claimName": "imagenet", "readOnly": True}}
DATASET_MOUNT = {"name": "data", "mountPath": "/data", "readOnly": True}
SPOT_TOLERATION = {
    "key": "cloud.google.com/gke-spot",
    "operator": "Equal",
    "value": "true",
    "effect": "NoSchedule",
}
AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "gpu_type", "operator": "In", "values": ["a100", "h100"]}]}
            ]
        }
    }
}


HF_TOKEN_REF = {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}
SHM_CASES: list[tuple[dict[str, str], Any]] = [
    ({}, [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}]),
    # auto with GPUs: half of the memory limit (live: 64Gi), whatever the request.
    ({"shmSize": "auto"}, [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Gi"}}]),
    (
        {"shmSize": "auto", "memoryRequest": "16Gi"},
        [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Gi"}}],
    ),
    (
        {"shmSize": "auto", "memory": "10G"},
        [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "5G"}}],
    ),
    # auto without a memory limit: no size limit to derive it from.
    ({"shmSize": "auto", "memory": ""}, [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]),
    ({"shmSize": "off"}, None),
    ({"shmSize": "auto", "gpusPerPod": "0"}, None),
    (
        {"shmSize": "2Gi", "gpusPerPod": "0"},
        [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}],
    ),
]
RESOURCE_CASES: dict[str, tuple[dict[str, Any], dict[str, dict[str, str]]]] = {
    "request-equals-limit": (
        {},
        {
            "requests": {"cpu": "8", "memory": "64Gi"},
            "limits": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"},
        },
    ),
    "lower-requests": (
        {"cpuRequest": "2", "memoryRequest": "48Gi"},
        {
            "requests": {"cpu": "2", "memory": "48Gi"},
            "limits": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"},
        },
    ),
    "cpu-request-only": (
        {"cpuRequest": "500m"},
        {
            "requests": {"cpu": "500m", "memory": "64Gi"},
            "limits": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"},
        },
    ),
    "request-at-the-limit": (
        {"cpuRequest": "8000m", "memoryRequest": "64Gi"},
        {
            "requests": {"cpu": "8000m", "memory": "64Gi"},
            "limits": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"},
        },
    ),
    "cpu-request-without-limit": (
        {"cpu": "", "cpuRequest": "2"},
        {
            "requests": {"cpu": "2", "memory": "64Gi"},
            "limits": {"memory": "64Gi", "nvidia.com/gpu": "1"},
        },
    ),
    "memory-request-alone": (
        {"cpu": "", "memory": "", "memoryRequest": "8Gi", "gpusPerPod": "0"},
        {"requests": {"memory": "8Gi"}},
    ),
}
"""Requests may be lower than limits; a request without its limit stays a request alone;
GPUs are limits only."""
PULL_POLICY_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "default": ({}, "IfNotPresent"),
    "pull-secrets": ({"imagePullSecrets": ["regcred"]}, "Always"),
    "pull-secrets-if-not-present": (
        {"imagePullSecrets": ["regcred"], "imagePullPolicy": "IfNotPresent"},
        "IfNotPresent",
    ),
    "never": ({"imagePullPolicy": "Never"}, "Never"),
    "digest-always": (
        {"image": "ghcr.io/acme/trainer@sha256:" + "a" * 64, "imagePullPolicy": "Always"},
        "Always",
    ),
}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "placement": (
        "live",
        {
            "nodeSelector": {"gpu_pool": "a100", "cloud.google.com/gke-accelerator": "nvidia-tesla-a100"},
            "tolerations": [SPOT_TOLERATION],
            "affinity": AFFINITY,
            "priorityClassName": "sweeps-low",
        },
    ),
    "amd-gpus": ("live", {"gpuResource": "amd.com/gpu"}),
    "no-gpu-toleration": ("live", {"gpuToleration": "false"}),
    "no-gpus": ("dev", {"gpusPerPod": "0"}),
    "extras": (
        "live",
        {
            "env": {"HF_HOME": "/data/hf", "OMP_NUM_THREADS": 4},
            "volumes": [DATASET_VOLUME],
            "volumeMounts": [DATASET_MOUNT],
            "imagePullSecrets": ["regcred"],
            "serviceAccountName": "sweeps",
        },
    ),
    "env-value-from": ("live", {"env": [HF_TOKEN_REF]}),
    "run-as-user": ("live", {"runAsUser": "1000"}),
    "root-opted-out": ("live", {"runAsNonRoot": "false", "allowPrivilegedPods": "true"}),
    "job-policy": (
        "live",
        {
            "retriesPerPod": "7",
            "activeDeadlineSeconds": "86400",
            "ttlSecondsAfterFinished": "3600",
            "terminationGracePeriodSeconds": "600",
        },
    ),
    "agent-per-gpu": ("live", {"agentPerGpu": "true", "gpusPerPod": "4"}),
    "gpus-per-run": ("live", {"gpusPerPod": "4", "gpusPerRun": "2"}),
    "runs-per-agent": ("live", {"runsPerAgent": "2"}),
    **{f"shm-{i}": ("live", overrides) for i, (overrides, _) in enumerate(SHM_CASES)},
    **{f"pull-{name}": ("live", overrides) for name, (overrides, _) in PULL_POLICY_CASES.items()},
    **{f"resources-{name}": ("live", overrides) for name, (overrides, _) in RESOURCE_CASES.items()},
}
"""Every pod option test_pod_options deploys, by name; test_pod_security checks each against the
Restricted Pod Security Standard."""

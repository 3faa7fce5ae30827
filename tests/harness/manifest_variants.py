"""The stack configs whose Kubernetes objects are checked against the official schemas, and
the Kubernetes versions they are checked for.

`VERSIONS`: the minimum Kubernetes version the README states and the newest one
kubernetes-validate ships; test_manifests validates every object of every variant for
each, as test_fine_tune_example does the example's. `VARIANTS`: (stack, config
overrides) by name; test_pod_security renders each too.
"""

from __future__ import annotations

from kubernetes_validate.utils import latest_version

from wandb_sweeps.kubernetes.schema import MIN_KUBERNETES

VERSIONS = [MIN_KUBERNETES, latest_version()]
VARIANTS = {
    "dev": ("dev", {}),
    "live": ("live", {}),
    "no-gpu-no-resources": ("dev", {"gpusPerPod": "0", "cpu": "", "memory": "", "runsPerAgent": "3"}),
    "amd-gpus": ("live", {"gpuResource": "amd.com/gpu", "gpusPerPod": "8", "agentsPerPod": "4"}),
    "multi-gpu-runs-right-sized": (
        "live",
        {"gpusPerPod": "4", "gpusPerRun": "2", "cpuRequest": "4", "memoryRequest": "48Gi", "shmSize": "auto"},
    ),
    "every-pod-option": (
        "live",
        {
            "agentPerGpu": "true",
            "gpusPerPod": "2",
            "nodeSelector": {"gpu_pool": "a100"},
            "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 50,
                            "podAffinityTerm": {
                                "topologyKey": "kubernetes.io/hostname",
                                "labelSelector": {
                                    "matchLabels": {"app.kubernetes.io/component": "sweep-agent"}
                                },
                            },
                        }
                    ]
                }
            },
            "priorityClassName": "sweeps-low",
            "env": {"HF_HOME": "/data/hf"},
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "ds"}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "imagePullSecrets": ["regcred"],
            "serviceAccountName": "sweeps",
            "runAsNonRoot": "true",
            "runAsUser": "1000",
            "retriesPerPod": "5",
            "activeDeadlineSeconds": "86400",
            "ttlSecondsAfterFinished": "600",
        },
    ),
}

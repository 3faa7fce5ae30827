"""Mock-engine tests for the pod and Job options: placement, extras, security, policy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_harness import ProgramRun, cli_config, run_program

API_KEY = "local-" + "k" * 40

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


def deploy(stack: str = "live", **overrides: Any) -> ProgramRun:
    config = cli_config(stack, wandbApiKey=API_KEY, **overrides)
    return run_program(stack, config, secret_keys=("wandbApiKey",))


def pod_spec(run: ProgramRun, slot: int = 0) -> dict[str, Any]:
    return run.named(f"sweep-agent-{slot}").inputs["spec"]["template"]["spec"]


def container(run: ProgramRun) -> dict[str, Any]:
    return pod_spec(run)["containers"][0]


def env(run: ProgramRun) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(run)["env"]}


def test_every_placement_option_reaches_the_pod_as_written() -> None:
    run = deploy(
        nodeSelector={"gpu_pool": "a100", "cloud.google.com/gke-accelerator": "nvidia-tesla-a100"},
        tolerations=[SPOT_TOLERATION],
        affinity=AFFINITY,
        priorityClassName="sweeps-low",
    )
    spec = pod_spec(run)
    assert spec["nodeSelector"] == {
        "gpu_pool": "a100",
        "cloud.google.com/gke-accelerator": "nvidia-tesla-a100",
    }
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        SPOT_TOLERATION,
    ]
    assert spec["affinity"] == AFFINITY
    assert spec["priorityClassName"] == "sweeps-low"


def test_the_gpu_toleration_follows_gpu_resource_and_can_be_turned_off() -> None:
    assert pod_spec(deploy(gpuResource="amd.com/gpu"))["tolerations"] == [
        {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert "tolerations" not in pod_spec(deploy(gpuToleration="false"))
    assert "tolerations" not in pod_spec(deploy("dev", gpusPerPod="0"))


def test_extra_env_volumes_mounts_pull_secrets_and_service_account() -> None:
    run = deploy(
        env={"HF_HOME": "/data/hf", "OMP_NUM_THREADS": 4},
        volumes=[DATASET_VOLUME],
        volumeMounts=[DATASET_MOUNT],
        imagePullSecrets=["regcred"],
        serviceAccountName="sweeps",
    )
    spec = pod_spec(run)
    assert env(run)["HF_HOME"] == "/data/hf"
    assert env(run)["OMP_NUM_THREADS"] == "4"
    assert spec["volumes"] == [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
        DATASET_VOLUME,
    ]
    assert container(run)["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}, DATASET_MOUNT]
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["serviceAccountName"] == "sweeps"
    assert spec["automountServiceAccountToken"] is False


def test_env_as_a_list_of_env_var_objects_allows_value_from() -> None:
    hf_token = {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}
    run = deploy(env=[hf_token])
    assert container(run)["env"][-1] == hf_token


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}]),
        ({"shmSize": "auto"}, [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]),
        ({"shmSize": "off"}, None),
        ({"shmSize": "auto", "gpusPerPod": "0"}, None),
        (
            {"shmSize": "2Gi", "gpusPerPod": "0"},
            [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}],
        ),
    ],
)
def test_shm_is_on_by_default_with_gpus(overrides: dict[str, str], expected: Any) -> None:
    run = deploy(**overrides)
    assert pod_spec(run).get("volumes") == expected
    mounts = container(run).get("volumeMounts")
    assert mounts == ([{"name": "dshm", "mountPath": "/dev/shm"}] if expected else None)


def test_security_defaults_and_run_as_options() -> None:
    run = deploy()
    assert pod_spec(run)["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert container(run)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod_spec(run)["automountServiceAccountToken"] is False
    hardened = deploy(runAsNonRoot="true", runAsUser="1000")
    assert pod_spec(hardened)["securityContext"] == {
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsNonRoot": True,
        "runAsUser": 1000,
    }


def test_job_policy_options() -> None:
    run = deploy(
        retriesPerPod="7",
        activeDeadlineSeconds="86400",
        ttlSecondsAfterFinished="3600",
        terminationGracePeriodSeconds="600",
    )
    job = run.named("sweep-agent-0").inputs["spec"]
    assert job["backoffLimit"] == 7
    assert job["activeDeadlineSeconds"] == 86400
    assert job["ttlSecondsAfterFinished"] == 3600
    assert pod_spec(run)["terminationGracePeriodSeconds"] == 600
    defaults = deploy().named("sweep-agent-0").inputs["spec"]
    assert "activeDeadlineSeconds" not in defaults and "ttlSecondsAfterFinished" not in defaults


def test_agent_per_gpu_starts_one_agent_per_gpu() -> None:
    run = deploy(agentPerGpu="true", gpusPerPod="4")
    assert env(run)["AGENTS_PER_POD"] == "4"
    assert env(run)["GPUS_PER_POD"] == "4"
    assert container(run)["resources"]["limits"]["nvidia.com/gpu"] == "4"


def test_the_launcher_gets_its_settings_from_env_and_the_key_only_by_reference() -> None:
    run = deploy(runsPerAgent="2")
    variables = container(run)["env"]
    assert variables[0] == {
        "name": "WANDB_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "sweep-wandb-api-key", "key": "WANDB_API_KEY"}},
    }
    assert API_KEY not in json.dumps(run.named("sweep-agent-0").inputs)
    assert env(run)["RUNS_PER_AGENT"] == "2"

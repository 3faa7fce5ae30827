"""Mock-engine tests for the pod and Job options: placement, extras, security, policy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pod_option_variants import (
    AFFINITY,
    DATASET_MOUNT,
    DATASET_VOLUME,
    HF_TOKEN_REF,
    PULL_POLICY_CASES,
    RESOURCE_CASES,
    SHM_CASES,
    SPOT_TOLERATION,
    VARIANTS,
)
from pulumi_harness import ProgramRun, cli_config, run_program

API_KEY = "local-" + "k" * 40


def deploy(stack: str = "live", **overrides: Any) -> ProgramRun:
    config = cli_config(stack, wandbApiKey=API_KEY, **overrides)
    return run_program(stack, config, secret_keys=("wandbApiKey",))


def deploy_variant(name: str) -> ProgramRun:
    stack, overrides = VARIANTS[name]
    return deploy(stack, **overrides)


def pod_spec(run: ProgramRun, slot: int = 0) -> dict[str, Any]:
    return run.named(f"sweep-agent-{slot}").inputs["spec"]["template"]["spec"]


def container(run: ProgramRun) -> dict[str, Any]:
    return pod_spec(run)["containers"][0]


def env(run: ProgramRun) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(run)["env"]}


def test_every_placement_option_reaches_the_pod_as_written() -> None:
    run = deploy_variant("placement")
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
    assert pod_spec(deploy_variant("amd-gpus"))["tolerations"] == [
        {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert "tolerations" not in pod_spec(deploy_variant("no-gpu-toleration"))
    assert "tolerations" not in pod_spec(deploy_variant("no-gpus"))


def test_extra_env_volumes_mounts_pull_secrets_and_service_account() -> None:
    run = deploy_variant("extras")
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
    run = deploy_variant("env-value-from")
    assert container(run)["env"][-1] == HF_TOKEN_REF


@pytest.mark.parametrize(("overrides", "expected"), SHM_CASES)
def test_shm_is_on_by_default_with_gpus(overrides: dict[str, str], expected: Any) -> None:
    run = deploy(**overrides)
    assert pod_spec(run).get("volumes") == expected
    mounts = container(run).get("volumeMounts")
    assert mounts == ([{"name": "dshm", "mountPath": "/dev/shm"}] if expected else None)


def test_security_defaults_and_run_as_options() -> None:
    run = deploy()
    assert pod_spec(run)["securityContext"] == {
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsNonRoot": True,
    }
    assert container(run)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod_spec(run)["automountServiceAccountToken"] is False
    hardened = deploy_variant("run-as-user")
    assert pod_spec(hardened)["securityContext"] == {
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsNonRoot": True,
        "runAsUser": 1000,
    }
    root = deploy_variant("root-opted-out")
    assert pod_spec(root)["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert container(root)["securityContext"] == container(run)["securityContext"]


def test_supplemental_groups_reach_the_pod_security_context_only_when_set() -> None:
    """The render and video groups of AMD GPU nodes (issue 15.8): in the pod's securityContext
    as given, in order; unset (`[]`), the pod renders exactly as before (the test above)."""
    amd = deploy(gpuResource="amd.com/gpu", supplementalGroups=[44, 109], runAsUser="1000")
    assert pod_spec(amd)["securityContext"] == {
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "supplementalGroups": [44, 109],
    }
    assert container(amd)["securityContext"] == container(deploy())["securityContext"]
    assert "supplementalGroups" not in pod_spec(deploy(supplementalGroups=[]))["securityContext"]


@pytest.mark.parametrize(
    ("overrides", "expected"), list(PULL_POLICY_CASES.values()), ids=list(PULL_POLICY_CASES)
)
def test_image_pull_policy_is_always_behind_pull_secrets_unless_set(
    overrides: dict[str, Any], expected: str
) -> None:
    """A private image cached on a node must not start for a pod that has no pull secret:
    with imagePullSecrets the kubelet asks the registry every time (Always)."""
    assert container(deploy(**overrides))["imagePullPolicy"] == expected


def test_job_policy_options() -> None:
    run = deploy_variant("job-policy")
    job = run.named("sweep-agent-0").inputs["spec"]
    assert job["backoffLimit"] == 7
    assert job["activeDeadlineSeconds"] == 86400
    assert job["ttlSecondsAfterFinished"] == 3600
    assert pod_spec(run)["terminationGracePeriodSeconds"] == 600
    defaults = deploy().named("sweep-agent-0").inputs["spec"]
    assert "activeDeadlineSeconds" not in defaults and "ttlSecondsAfterFinished" not in defaults


def test_agent_per_gpu_starts_one_agent_per_gpu() -> None:
    run = deploy_variant("agent-per-gpu")
    assert env(run)["AGENTS_PER_POD"] == "4"
    assert env(run)["GPUS_PER_POD"] == "4"
    assert container(run)["resources"]["limits"]["nvidia.com/gpu"] == "4"


def test_gpus_per_run_starts_one_agent_per_block_of_gpus() -> None:
    """4 GPUs, 2 per run: 2 agents; the launcher's equal split gives each a block of 2
    (test_agent_launcher), so the pod needs no GPUS_PER_RUN of its own."""
    run = deploy_variant("gpus-per-run")
    assert env(run)["AGENTS_PER_POD"] == "2"
    assert env(run)["GPUS_PER_POD"] == "4"
    assert "GPUS_PER_RUN" not in env(run)
    assert container(run)["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert "GPUS_PER_RUN" not in env(deploy())


@pytest.mark.parametrize(
    ("stack", "split", "per_run"),
    [
        ("live", {}, {"gpusPerRun": "1"}),
        ("live", {"gpusPerPod": "4", "agentsPerPod": "2"}, {"gpusPerPod": "4", "gpusPerRun": "2"}),
    ],
    ids=["1-gpu-1-agent", "4-gpus-2-agents"],
)
def test_gpus_per_run_set_to_the_split_in_effect_changes_no_job(
    stack: str, split: dict[str, str], per_run: dict[str, str]
) -> None:
    """Day 2: a key set to the value already in effect. Every Job keeps its exact inputs
    (and so its name), so no running pod is replaced."""

    def jobs(overrides: dict[str, str]) -> dict[str, Any]:
        deployed = run_program(
            stack, cli_config(stack, wandbApiKey=API_KEY, **overrides), secret_keys=("wandbApiKey",)
        )
        return {r.name: r.inputs for r in deployed.registrations if r.typ == "kubernetes:batch/v1:Job"}

    assert jobs(per_run) == jobs(split)


@pytest.mark.parametrize(("overrides", "expected"), list(RESOURCE_CASES.values()), ids=list(RESOURCE_CASES))
def test_requests_may_be_lower_than_limits_and_gpus_stay_limits(
    overrides: dict[str, Any], expected: dict[str, dict[str, str]]
) -> None:
    assert container(deploy(**overrides))["resources"] == expected


def test_the_launcher_gets_its_settings_from_env_and_the_key_only_by_reference() -> None:
    run = deploy_variant("runs-per-agent")
    variables = container(run)["env"]
    assert variables[0] == {
        "name": "WANDB_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "sweep-wandb-api-key", "key": "WANDB_API_KEY"}},
    }
    assert API_KEY not in json.dumps(run.named("sweep-agent-0").inputs)
    assert env(run)["RUNS_PER_AGENT"] == "2"

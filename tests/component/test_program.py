"""The whole program under Pulumi's mock engine: the exact inputs of every resource.

Config comes from the real Pulumi.yaml + Pulumi.<stack>.yaml, as the CLI would
pass it, with the API key as a secret.
"""

from __future__ import annotations

import base64
import re

import dill
import pytest
from engine_model import LIFECYCLE_TYPE
from pulumi_harness import (
    MOCK_ENTITY,
    MOCK_SWEEP_ID,
    ROOT,
    SWEEP_TYPE,
    ProgramRun,
    cli_config,
    run_program,
    unwrap_secret,
)

from wandb_sweeps.kubernetes.agent_job import LAUNCHER_SCRIPT

API_KEY = "local-" + "k" * 40
NS_LABELS = {
    "app.kubernetes.io/name": "wandb-sweeps",
    "app.kubernetes.io/part-of": "wandb-sweeps",
    "app.kubernetes.io/managed-by": "pulumi",
}
SWEEP_YAML = (ROOT / "sweep.yaml").read_text()
SWEEP_PATH = f"{MOCK_ENTITY}/wandb-sweeps-quickstart/{MOCK_SWEEP_ID}"
SWEEP_URL = f"https://forge.coreweave.com/wandb/{MOCK_ENTITY}/wandb-sweeps-quickstart/sweeps/{MOCK_SWEEP_ID}"
"""wandb 0.31's own app URL for api.wandb.ai (`wandb.util.app_url`)."""
JOB_NAME = re.compile(r"^sweep-agent-(\d+)-[0-9a-f]{10}$")
"""`<component name>-agent-<slot>-<digest of the Job's fixed fields>`; test_platform_rules checks the digest."""


RESTRICTED_NAMESPACE = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "warn", "audit")
    for suffix, value in (("", "restricted"), ("-version", "latest"))
}
"""Pod Security Admission enforces, warns about and audits the Restricted standard in the
Namespace the stack creates (the newest rules); test_pod_security checks the pods meet it."""


def job_names(run: ProgramRun) -> list[str]:
    return [j.inputs["metadata"]["name"] for j in run.by_type("kubernetes:batch/v1:Job")]


def without_name(job: dict) -> dict:
    """A Job's inputs with metadata.name checked against JOB_NAME and taken out."""
    metadata = dict(job["metadata"])
    assert JOB_NAME.match(metadata.pop("name")), job["metadata"]["name"]
    return {**job, "metadata": metadata}


def deploy(stack: str, **overrides: str) -> ProgramRun:
    config = cli_config(stack, wandbApiKey=API_KEY, **overrides)
    return run_program(stack, config, secret_keys=("wandbApiKey",))


def labels(stack: str, **extra: str) -> dict[str, str]:
    """Everything the component creates is labelled with its name ("sweep"), not the stack's."""
    return {**NS_LABELS, "app.kubernetes.io/instance": "sweep", **extra}


def expected_job(
    stack: str, slot: int, *, agents: str, gpus: str, cpu: str, memory: str, shm: dict | None = None
) -> dict:
    pod_labels = labels(
        stack, **{"app.kubernetes.io/component": "sweep-agent", "wandb-sweeps/slot": str(slot)}
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "namespace": f"wandb-sweeps-{stack}",
            "labels": pod_labels,
            "annotations": {
                "pulumi.com/skipAwait": "true",
                "pulumi.com/deletionPropagationPolicy": "background",
            },
        },
        "spec": {
            "completions": 1,
            "parallelism": 1,
            "backoffLimit": 3,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "Ignore",
                        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                    },
                    {
                        "action": "Ignore",
                        "onExitCodes": {"containerName": "agent", "operator": "In", "values": [143]},
                    },
                ]
            },
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 120,
                    "automountServiceAccountToken": False,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "runAsNonRoot": True},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "volumes": [{"name": "dshm", "emptyDir": shm or {"medium": "Memory"}}],
                    "containers": [
                        {
                            "name": "agent",
                            "image": "ghcr.io/example/wandb-sweeps-trainer:0.1.0",
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["/bin/sh", "-c", LAUNCHER_SCRIPT],
                            "env": [
                                {
                                    "name": "WANDB_API_KEY",
                                    "valueFrom": {
                                        "secretKeyRef": {
                                            "name": "sweep-wandb-api-key",
                                            "key": "WANDB_API_KEY",
                                        }
                                    },
                                },
                                {"name": "WANDB_BASE_URL", "value": "https://api.wandb.ai"},
                                {"name": "WANDB_ENTITY", "value": MOCK_ENTITY},
                                {"name": "WANDB_PROJECT", "value": "wandb-sweeps-quickstart"},
                                {"name": "SWEEP_PATH", "value": SWEEP_PATH},
                                {"name": "AGENTS_PER_POD", "value": agents},
                                {"name": "GPUS_PER_POD", "value": gpus},
                                {"name": "STOP_GRACE_SECONDS", "value": "120"},
                                {"name": "AGENT_RESTARTS", "value": "3"},
                                {"name": "GPU_RESOURCE", "value": "nvidia.com/gpu"},
                            ],
                            # A large sweep's start spread and client timeouts (none here).
                            "envFrom": [{"configMapRef": {"name": "sweep-agent-scale", "optional": True}}],
                            "resources": {
                                "requests": {"cpu": cpu, "memory": memory},
                                "limits": {"cpu": cpu, "memory": memory, "nvidia.com/gpu": gpus},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                        }
                    ],
                },
            },
        },
    }


def check_common_resources(run: ProgramRun, stack: str, on_destroy: str) -> None:
    namespace = f"wandb-sweeps-{stack}"
    component = run.one("wandb-sweeps:index:WandbSweep")
    assert component.name == "sweep" and component.custom is False

    assert run.named("sweep-namespace").inputs == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {**labels(stack), **RESTRICTED_NAMESPACE}},
    }

    secret = run.named("sweep-api-key").inputs
    assert unwrap_secret(secret.pop("stringData")) == {"WANDB_API_KEY": API_KEY}
    assert secret == {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "sweep-wandb-api-key", "namespace": namespace, "labels": labels(stack)},
    }

    sweep = dict(run.named("sweep-sweep").inputs)
    assert run.named("sweep-sweep").typ == SWEEP_TYPE
    assert unwrap_secret(sweep.pop("api_key")) == API_KEY
    provider = dill.loads(base64.b64decode(unwrap_secret(sweep.pop("__provider"))))
    assert type(provider).__module__ == "wandb_sweeps.sweep_provider"
    assert type(provider).__name__ == "SweepProvider"
    assert sweep == {
        "project": "wandb-sweeps-quickstart",
        "entity": "",
        "base_url": "",
        "default_base_url": "https://api.wandb.ai",
        "config_yaml": SWEEP_YAML,
        "config_source": "'sweep.yaml'",
        "existing_sweep_id": "",
        "creation_key": f"wandb-sweeps/{stack}/sweep",
        "request_timeout": 20,
        "call_timeout": 30,
    }

    lifecycle = dict(run.named("sweep-lifecycle").inputs)
    assert run.named("sweep-lifecycle").typ == LIFECYCLE_TYPE
    assert unwrap_secret(lifecycle.pop("api_key")) == API_KEY
    provider = dill.loads(base64.b64decode(unwrap_secret(lifecycle.pop("__provider"))))
    assert (type(provider).__module__, type(provider).__name__) == (
        "wandb_sweeps.sweep_provider",
        "SweepLifecycleProvider",
    )
    assert lifecycle == {
        "sweep_path": SWEEP_PATH,
        "base_url": "https://api.wandb.ai",
        "on_destroy": on_destroy,
        "attached": False,
        "request_timeout": 20,
        "call_timeout": 30,
    }


def test_dev_stack_registers_exactly_these_inputs() -> None:
    run = deploy("dev")
    check_common_resources(run, "dev", on_destroy="cancel")
    jobs = run.by_type("kubernetes:batch/v1:Job")
    assert [j.name for j in jobs] == ["sweep-agent-0"]
    # shmSize auto with a GPU: /dev/shm gets half of memory as its size limit.
    assert without_name(jobs[0].inputs) == expected_job(
        "dev", 0, agents="2", gpus="1", cpu="4", memory="16Gi", shm={"medium": "Memory", "sizeLimit": "8Gi"}
    )
    assert len(run.registrations) == 6


def test_live_stack_registers_exactly_these_inputs() -> None:
    run = deploy("live")
    check_common_resources(run, "live", on_destroy="finish")
    jobs = run.by_type("kubernetes:batch/v1:Job")
    assert [j.name for j in jobs] == [f"sweep-agent-{i}" for i in range(4)]
    for slot, job in enumerate(jobs):
        expected = expected_job(
            "live",
            slot,
            agents="1",
            gpus="1",
            cpu="8",
            memory="64Gi",
            shm={"medium": "Memory", "sizeLimit": "16Gi"},
        )
        assert without_name(job.inputs) == expected, job.name
    assert len(run.registrations) == 9


def test_stack_outputs() -> None:
    run = deploy("live")
    assert run.outputs == {
        "sweepId": MOCK_SWEEP_ID,
        "sweepPath": SWEEP_PATH,
        "sweepUrl": SWEEP_URL,
        "namespace": "wandb-sweeps-live",
        "jobNames": job_names(run),
        "agentCommand": f"wandb agent {SWEEP_PATH}",
    }


def test_zero_pods_keeps_namespace_secret_and_sweep_but_runs_no_agent() -> None:
    run = deploy("dev", pods="0")
    assert sorted(r.typ for r in run.registrations) == sorted(
        [
            "wandb-sweeps:index:WandbSweep",
            "kubernetes:core/v1:Namespace",
            SWEEP_TYPE,
            LIFECYCLE_TYPE,
            "kubernetes:core/v1:Secret",
        ]
    )
    assert run.outputs["jobNames"] == []


def test_runs_per_agent_and_entity_and_base_url_reach_the_agents() -> None:
    run = deploy(
        "dev", runsPerAgent="5", entity="team-a", baseUrl="https://wandb.example.com/", gpusPerPod="0"
    )
    job = run.named("sweep-agent-0").inputs
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RUNS_PER_AGENT"] == "5"
    assert env["WANDB_ENTITY"] == "team-a"
    assert env["WANDB_BASE_URL"] == "https://wandb.example.com"
    assert env["SWEEP_PATH"] == f"team-a/wandb-sweeps-quickstart/{MOCK_SWEEP_ID}"
    assert container["resources"] == {
        "requests": {"cpu": "4", "memory": "16Gi"},
        "limits": {"cpu": "4", "memory": "16Gi"},
    }
    sweep = run.named("sweep-sweep").inputs
    assert (sweep["entity"], sweep["base_url"]) == ("team-a", "https://wandb.example.com")


def test_sweep_id_attaches_without_a_sweep_config() -> None:
    run = deploy("dev", sweepId="abcd1234", sweepConfig="does-not-exist.yaml")
    sweep = run.named("sweep-sweep").inputs
    assert sweep["existing_sweep_id"] == "abcd1234"
    assert sweep["config_yaml"] == ""


@pytest.mark.parametrize("gpu_resource", ["amd.com/gpu", "gpu.intel.com/i915"])
def test_gpu_limit_uses_the_configured_resource_name(gpu_resource: str) -> None:
    run = deploy("live", gpuResource=gpu_resource, gpusPerPod="2")
    limits = run.named("sweep-agent-0").inputs["spec"]["template"]["spec"]["containers"][0]["resources"][
        "limits"
    ]
    assert limits == {"cpu": "8", "memory": "64Gi", gpu_resource: "2"}


def test_api_key_from_the_environment_is_a_secret_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", API_KEY)
    run = run_program("dev", cli_config("dev"))
    assert unwrap_secret(run.named("sweep-sweep").inputs["api_key"]) == API_KEY
    assert unwrap_secret(run.named("sweep-api-key").inputs["stringData"]) == {"WANDB_API_KEY": API_KEY}


def test_scaling_pods_adds_or_removes_jobs_and_leaves_running_ones_identical() -> None:
    """What the engine sees when `pods` goes 2 -> 4 -> 2: the Jobs that own running
    pods get byte-identical inputs (no diff, so no replacement and no restart);
    the change is carried only by Jobs being added or removed."""
    runs = {pods: deploy("live", pods=str(pods)) for pods in (2, 4)}
    jobs = {
        pods: {j.name: j.inputs for j in run.by_type("kubernetes:batch/v1:Job")} for pods, run in runs.items()
    }
    assert sorted(jobs[2]) == ["sweep-agent-0", "sweep-agent-1"]
    assert sorted(jobs[4]) == [f"sweep-agent-{i}" for i in range(4)]
    for name in jobs[2]:
        assert jobs[4][name] == jobs[2][name], name
    others = {
        pods: {r.name: r.inputs for r in run.registrations if r.typ != "kubernetes:batch/v1:Job"}
        for pods, run in runs.items()
    }
    assert others[2] == others[4]


def test_the_sweep_keeps_its_api_key_output_secret_and_children_hang_off_the_component() -> None:
    run = deploy("dev")
    component_urn = "urn:pulumi:dev::wandb-sweeps::pulumi:pulumi:Stack$wandb-sweeps:index:WandbSweep::sweep"
    sweep = run.named("sweep-sweep")
    assert sweep.options["additional_secret_outputs"] == ["api_key"]
    for registration in run.registrations:
        if registration.name != "sweep":
            assert registration.options["parent"] == component_urn, registration.name
    job_dependencies = run.named("sweep-agent-0").options["dependencies"]
    assert any(d.endswith("kubernetes:core/v1:Secret::sweep-api-key") for d in job_dependencies)
    assert any(d.endswith("kubernetes:core/v1:Namespace::sweep-namespace") for d in job_dependencies)


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "up"])
def test_the_program_itself_never_calls_w_and_b(server, preview: bool) -> None:
    """Only the provider talks to W&B, at create/delete: preview makes no sweep."""
    run = run_program(
        "dev",
        cli_config("dev", wandbApiKey=API_KEY, baseUrl=server.base_url),
        ("wandbApiKey",),
        preview=preview,
    )
    assert run.named("sweep-sweep").inputs["base_url"] == server.base_url
    assert server.requests == []


def test_destroy_order_lets_kubernetes_objects_go_even_when_the_sweep_cannot_be_stopped() -> None:
    """The engine deletes dependents first: the Jobs go before the sweep's lifecycle, whose
    delete stops the sweep; the Namespace and Secret do not depend on the lifecycle, so a
    sweep that cannot be stopped (W&B down) does not keep them. (They depend on the
    sweep's identity, whose delete makes no W&B call and cannot fail.)"""
    run = deploy("live")
    lifecycle = "pulumi-python:dynamic/wandb:SweepLifecycle::sweep-lifecycle"
    identity = "pulumi-python:dynamic/wandb:Sweep::sweep-sweep"
    for name in ("sweep-namespace", "sweep-api-key"):
        dependencies = run.named(name).options["dependencies"]
        assert not any(d.endswith(lifecycle) for d in dependencies), name
        assert any(d.endswith(identity) for d in dependencies), name
    for job in run.by_type("kubernetes:batch/v1:Job"):
        assert any(d.endswith(lifecycle) for d in job.options["dependencies"]), job.name
        assert any(d.endswith(identity) for d in job.options["dependencies"]), job.name

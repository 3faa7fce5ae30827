"""The docs' realistic scenario, as files a team would keep: examples/fine-tune/.

A self-managed W&B behind a private CA, a fine-tuning script launched with
`accelerate launch` on 2 GPUs per run, 3 pods with 4 A100s each on GKE spot nodes,
right-sized requests, a dataset and checkpoint PVC, a Hugging Face token as a secret.
The stack file renders under the engine model, every object passes the official
schemas of the oldest and newest supported Kubernetes, every pod meets the
Restricted Pod Security Standard, and each answer of the docs (docs/gpus-and-sizing.md,
failures.md, self-managed-wandb.md) holds in what renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from engine_model import JOB_TYPE, Deployment, deploy, plain
from manifest_variants import VERSIONS
from pod_rules import broken_rules, pods
from pulumi_harness import ROOT, cli_config

EXAMPLE = ROOT / "examples" / "fine-tune"
API_KEY = "local-" + "k" * 40
HF_TOKEN = "hf_" + "s" * 34


def render() -> Deployment:
    """`pulumi up -s finetune` with the stack file copied to the project root, the key
    and the token set with `--secret` (`--path env.HF_TOKEN` makes all of `env` secret)."""
    stack_file: Path = EXAMPLE / "Pulumi.finetune.yaml"
    env = yaml.safe_load(stack_file.read_text())["config"]["wandb-sweeps:env"]
    config = cli_config(
        "finetune", stack_file=stack_file, wandbApiKey=API_KEY, env={**env, "HF_TOKEN": HF_TOKEN}
    )
    return deploy("finetune", config, secret_keys=("wandbApiKey", "env"))


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    return render()


def kubernetes_objects(deployment: Deployment) -> list[dict[str, Any]]:
    return [plain(r.inputs) for r in deployment.state.values() if r.typ.startswith("kubernetes:")]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_is_valid_for_the_oldest_and_newest_kubernetes(
    deployment: Deployment, version: str
) -> None:
    objects = kubernetes_objects(deployment)
    assert sorted({o["kind"] for o in objects}) == ["ConfigMap", "Job", "Namespace", "Secret"]
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_three_pods_each_run_two_agents_with_two_gpus_per_run(deployment: Deployment) -> None:
    jobs = deployment.by_type(JOB_TYPE)
    assert len(jobs) == 3
    for job in jobs:
        pod = job.inputs["spec"]["template"]["spec"]
        [container] = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["AGENTS_PER_POD"] == "2"
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "4"
        assert "nvidia.com/gpu" not in container["resources"].get("requests", {})
        assert container["resources"]["requests"]["cpu"] == "24"
        assert container["resources"]["limits"]["memory"] == "320Gi"
        assert container["resources"]["requests"]["memory"] == "256Gi"
        assert pod["terminationGracePeriodSeconds"] == 15
        assert pod["nodeSelector"]["cloud.google.com/gke-spot"] == "true"


def test_the_private_ca_reaches_the_pods_and_the_token_stays_secret(deployment: Deployment) -> None:
    [config_map] = deployment.by_type("kubernetes:core/v1:ConfigMap")
    pem = (EXAMPLE / "internal-ca.pem").read_text()
    assert "BEGIN CERTIFICATE" in next(iter(plain(config_map.inputs)["data"].values()))
    assert pem.count("BEGIN CERTIFICATE") == 1
    for job in deployment.by_type(JOB_TYPE):
        [container] = job.inputs["spec"]["template"]["spec"]["containers"]
        names = {e["name"] for e in container["env"]}
        assert "WANDB_SWEEPS_CA_FILE" in names
        assert HF_TOKEN not in repr(job.inputs)
        token = next(e for e in container["env"] if e["name"] == "HF_TOKEN")
        assert "secretKeyRef" in token["valueFrom"]


def test_every_pod_meets_restricted(deployment: Deployment) -> None:
    for job, pod in pods(deployment).items():
        assert broken_rules(pod) == {}, job


def test_the_sweep_file_runs_accelerate_on_the_agents_gpus() -> None:
    sweep = yaml.safe_load((EXAMPLE / "sweep.yaml").read_text())
    assert sweep["command"][:5] == [
        "${env}",
        "accelerate",
        "launch",
        "--num_processes=2",
        "--main_process_port=0",
    ]
    assert sweep["command"][-2:] == ["${program}", "${args}"]
    assert isinstance(sweep["parameters"]["learning_rate"]["min"], float)  # 1.0e-5, not "1e-5"

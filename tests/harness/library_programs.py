"""WandbSweep as a library in someone else's program: small programs, each a function that
registers WandbSweeps as a user's `__main__.py` would (several sweeps in a shared
namespace, an existing namespace, Outputs as inputs, labels, right-sized multi-GPU runs).

test_library runs them under the engine model and checks what they register;
test_pod_security renders each (`LIBRARY_PROGRAMS`) and checks the pods. `base` is the
WandbSweepArgs every program starts from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi_kubernetes as k8s
from pulumi_harness import ROOT

from wandb_sweeps import WandbSweep, WandbSweepArgs

KEY = "local-" + "k" * 40


def base(**fields: Any) -> WandbSweepArgs:
    args: dict[str, Any] = {
        "project": "vision",
        "image": "ghcr.io/acme/trainer:1.0",
        "sweep_config": str(ROOT / "sweep.yaml"),
        "wandb_api_key": KEY,
    }
    args.update(fields)
    return args  # type: ignore[return-value]


# --- the programs: what users write (test_pod_security renders each too) -------------


def two_sweeps_in_a_shared_namespace() -> None:
    for model in ("resnet", "vit"):
        WandbSweep(
            model,
            base(
                namespace="team-vision",
                create_namespace=False,
                queue_name="team-vision-gpus",
                pods=2,
                gpus_per_pod=1,
            ),
        )


def image_and_namespace_from_outputs() -> None:
    namespace = k8s.core.v1.Namespace("team", metadata={"name": "team-nlp"})
    release = k8s.core.v1.ConfigMap("release", data={"image": "ghcr.io/acme/trainer@sha256:" + "a" * 64})
    WandbSweep(
        "bert",
        base(
            image=release.data.apply(lambda d: d["image"]),
            namespace=namespace.metadata.apply(lambda m: m.name),
            create_namespace=False,
        ),
    )


def labels_and_annotations() -> None:
    WandbSweep(
        "bert", base(labels={"team": "nlp"}, annotations={"example.com/owner": "alice"}, queue_name="nlp")
    )


def env_from_outputs() -> None:
    bucket = k8s.core.v1.ConfigMap("bucket", data={"url": "s3://datasets/imagenet"})
    token = k8s.core.v1.ConfigMap("token", data={"value": "hf_" + "t" * 20})
    WandbSweep(
        "bert",
        base(
            env={"DATA_URL": bucket.data.apply(lambda d: d["url"]), "HF_HOME": "/data/hf"},
            secret_env={"HF_TOKEN": token.data.apply(lambda d: d["value"])},
        ),
    )


def existing_namespace() -> None:
    WandbSweep("bert", base(namespace="team-vision", create_namespace=False))


def multi_gpu_runs_right_sized() -> None:
    WandbSweep(
        "llm",
        base(
            gpus_per_pod=4,
            gpus_per_run=2,
            cpu="16",
            cpu_request="8",
            memory="128Gi",
            memory_request="96Gi",
        ),
    )


LIBRARY_PROGRAMS: dict[str, Callable[[], None]] = {
    "two-sweeps-shared-namespace": two_sweeps_in_a_shared_namespace,
    "image-and-namespace-from-outputs": image_and_namespace_from_outputs,
    "labels-and-annotations": labels_and_annotations,
    "env-from-outputs": env_from_outputs,
    "existing-namespace": existing_namespace,
    "multi-gpu-runs-right-sized": multi_gpu_runs_right_sized,
}

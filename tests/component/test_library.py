"""WandbSweep as a library in someone else's program: several sweeps, an existing namespace,
Outputs as inputs, Kueue, labels; and the component's schema for other languages.

Each program here is a small function that registers WandbSweeps, run under the
engine model (the mock engine plus provider rules), as a user's `__main__.py` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest
from docs_pages import marked_block, page
from engine_model import JOB_TYPE, LIFECYCLE_TYPE, SWEEP_TYPE, Deployment, deploy
from kubernetes_validate.utils import latest_version
from library_programs import (
    base,
    env_from_outputs,
    existing_namespace,
    image_and_namespace_from_outputs,
    labels_and_annotations,
    multi_gpu_runs_right_sized,
    two_sweeps_in_a_shared_namespace,
)

from wandb_sweeps import ConfigError, WandbSweep
from wandb_sweeps.kubernetes.schema import MIN_KUBERNETES

ROOT = Path(__file__).resolve().parents[2]
SECRET = "kubernetes:core/v1:Secret"
NAMESPACE = "kubernetes:core/v1:Namespace"


def run(program: Any, stack: str = "dev") -> Deployment:
    return deploy(stack, {}, program=program)


def kubernetes_objects(deployment: Deployment) -> list[dict[str, Any]]:
    return [r.inputs for r in deployment.state.values() if r.typ.startswith("kubernetes:")]


def test_two_sweeps_share_an_existing_namespace_without_colliding() -> None:
    deployment = run(two_sweeps_in_a_shared_namespace)
    assert deployment.by_type(NAMESPACE) == []
    secrets = deployment.by_type(SECRET)
    assert sorted(s.inputs["metadata"]["name"] for s in secrets) == [
        "resnet-wandb-api-key",
        "vit-wandb-api-key",
    ]
    jobs = deployment.by_type(JOB_TYPE)
    names = [j.inputs["metadata"]["name"] for j in jobs]
    assert len(jobs) == 4 and len(set(names)) == 4
    assert sorted(n.rsplit("-", 1)[0] for n in names) == [
        "resnet-agent-0",
        "resnet-agent-1",
        "vit-agent-0",
        "vit-agent-1",
    ]
    for job in jobs:
        metadata = job.inputs["metadata"]
        owner = metadata["name"].split("-agent-")[0]
        assert metadata["namespace"] == "team-vision"
        assert metadata["labels"]["kueue.x-k8s.io/queue-name"] == "team-vision-gpus"
        assert metadata["labels"]["app.kubernetes.io/instance"] == owner
        pod = job.inputs["spec"]["template"]
        assert pod["metadata"]["labels"]["app.kubernetes.io/instance"] == owner
        key_ref = pod["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]
        assert key_ref == {"name": f"{owner}-wandb-api-key", "key": "WANDB_API_KEY"}
    creation_keys = sorted(r.inputs["creation_key"] for r in deployment.by_type(SWEEP_TYPE))
    assert creation_keys == ["wandb-sweeps/dev/resnet", "wandb-sweeps/dev/vit"]
    assert len({r.inputs["sweep_path"] for r in deployment.by_type(LIFECYCLE_TYPE)}) == 1  # same config
    for version in (MIN_KUBERNETES, latest_version()):
        for manifest in kubernetes_objects(deployment):
            kubernetes_validate.validate(manifest, version, strict=True)


def test_gpus_per_run_and_requests_as_args_shape_the_pods() -> None:
    """The args take the stack's keys in snake_case: 2 agents on blocks of 2 GPUs, requests
    below limits, /dev/shm at half of memory."""
    [job] = run(multi_gpu_runs_right_sized).by_type(JOB_TYPE)
    pod = job.inputs["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert (env["AGENTS_PER_POD"], env["GPUS_PER_POD"]) == ("2", "4")
    assert "GPUS_PER_RUN" not in env  # the launcher's equal split makes the blocks
    assert pod["containers"][0]["resources"] == {
        "requests": {"cpu": "8", "memory": "96Gi"},
        "limits": {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "4"},
    }
    assert pod["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Gi"}}]


def test_an_image_and_a_namespace_from_other_resources_reach_the_jobs() -> None:
    deployment = run(image_and_namespace_from_outputs)
    [job] = deployment.by_type(JOB_TYPE)
    assert job.inputs["metadata"]["namespace"] == "team-nlp"
    assert job.inputs["spec"]["template"]["spec"]["containers"][0]["image"].endswith("a" * 64)
    assert {"team", "release"} <= {n for names in job.property_dependencies.values() for n in names}
    [secret] = deployment.by_type(SECRET)
    assert secret.inputs["metadata"]["namespace"] == "team-nlp"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("image", "my image:1", "image: must be a container image reference without spaces"),
        ("namespace", "Team_NLP", "namespace: must be a DNS label"),
        ("wandb_api_key", "short", "wandbApiKey: is not a W&B API key"),
    ],
)
def test_an_output_is_checked_when_it_resolves_with_the_same_message(
    field: str, value: str, message: str
) -> None:
    def program() -> None:
        source = k8s.core.v1.ConfigMap("source", data={"value": value})
        WandbSweep(
            "bert", base(**{field: source.data.apply(lambda d: d["value"]), "create_namespace": False})
        )

    with pytest.raises(Exception) as raised:
        run(program)
    assert message in str(raised.value)
    assert "short" not in str(raised.value) or field != "wandb_api_key"


def test_a_plain_bad_value_is_refused_before_anything_is_registered() -> None:
    registered: list[str] = []

    def program() -> None:
        WandbSweep("bert", base(pods=-1, labels={"app.kubernetes.io/name": "x"}))

    with pytest.raises(ConfigError) as raised:
        deployment = run(program)
        registered = list(deployment.state)
    assert registered == []
    problems = raised.value.problems
    assert any(p.startswith("pods: must be >= 0") for p in problems), problems
    assert any(p.startswith("labels: app.kubernetes.io/name is set by wandb-sweeps") for p in problems), (
        problems
    )


@pytest.mark.parametrize("name", ["Bert", "a" * 41, "bert_large", ""])
def test_a_component_name_that_cannot_prefix_kubernetes_names_is_refused(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        run(lambda: WandbSweep(name, base()))
    assert raised.value.problems[0].startswith(f"WandbSweep name {name!r}: must be at most 40 lowercase")


def test_two_sweeps_may_not_both_create_one_namespace() -> None:
    def program() -> None:
        WandbSweep("resnet", base(namespace="team-vision"))
        WandbSweep("vit", base(namespace="team-vision"))

    with pytest.raises(ConfigError) as raised:
        run(program)
    assert "WandbSweep 'vit' would create namespace 'team-vision', which WandbSweep 'resnet' creates" in str(
        raised.value
    )


def test_labels_and_annotations_reach_jobs_and_pods_next_to_ours() -> None:
    deployment = run(labels_and_annotations)
    [job] = deployment.by_type(JOB_TYPE)
    metadata, pod = job.inputs["metadata"], job.inputs["spec"]["template"]["metadata"]
    assert metadata["labels"]["team"] == pod["labels"]["team"] == "nlp"
    assert metadata["annotations"] == {
        "example.com/owner": "alice",
        "pulumi.com/skipAwait": "true",
        "pulumi.com/deletionPropagationPolicy": "background",
    }
    assert pod["annotations"] == {"example.com/owner": "alice"}
    assert "kueue.x-k8s.io/queue-name" not in pod["labels"]  # Kueue reads the Job's


def test_an_unknown_argument_is_named() -> None:
    with pytest.raises(ConfigError) as raised:
        run(lambda: WandbSweep("bert", {**base(), "gpus": 2}))  # type: ignore[typeddict-unknown-key]
    assert "'gpus': not an argument of WandbSweep (see WandbSweepArgs)." in raised.value.problems


def test_stack_outputs_of_a_library_program_can_use_the_component_outputs() -> None:
    def program() -> None:
        sweep = WandbSweep("bert", base(create_namespace=False, namespace="nlp"))
        pulumi.export("path", sweep.sweep_path)
        pulumi.export("namespace", sweep.namespace)

    deployment = run(program)
    assert deployment.outputs == {"path": "mock-entity/vision/mock1234", "namespace": "nlp"}


def test_the_docs_role_is_valid_and_covers_what_the_component_creates() -> None:
    """A user without cluster-admin deploys with the Role docs/shared-clusters.md gives: it
    must be a valid Role, and allow every verb pulumi-kubernetes uses on every kind of
    object the component creates in an existing namespace."""
    import yaml

    block = marked_block(page("shared-clusters.md"), "rbac-role")
    assert block, "docs/shared-clusters.md marks its Role with <!-- rbac-role -->"
    documents = list(yaml.safe_load_all(block))
    assert [d["kind"] for d in documents] == ["Role", "RoleBinding"]
    for version in (MIN_KUBERNETES, latest_version()):
        for document in documents:
            kubernetes_validate.validate(document, version, strict=True)
    role = documents[0]
    allowed = {
        (group, resource): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    # With a CA, which adds the one optional kind: its ConfigMap.
    ca = str(ROOT / "tests" / "data" / "test-ca.pem")
    deployment = run(
        lambda: WandbSweep("bert", base(namespace="team-vision", create_namespace=False, ca_certificate=ca))
    )
    kinds = {r.typ for r in deployment.state.values() if r.typ.startswith("kubernetes:")}
    resource_of = {
        SECRET: ("", "secrets"),
        JOB_TYPE: ("batch", "jobs"),
        "kubernetes:core/v1:ConfigMap": ("", "configmaps"),
    }
    assert kinds == set(resource_of)
    needed = {"get", "list", "watch", "create", "patch", "delete"}
    for kind in kinds:
        assert needed <= allowed.get(resource_of[kind], set()), kind
    assert role["metadata"]["namespace"] == documents[1]["metadata"]["namespace"] == "team-vision"
    assert documents[1]["roleRef"] == {
        "kind": "Role",
        "name": role["metadata"]["name"],
        "apiGroup": "rbac.authorization.k8s.io",
    }


def test_destroy_with_an_existing_namespace_deletes_only_the_stacks_objects() -> None:
    from engine_model import destroy

    deployment = run(existing_namespace)
    gone = destroy(deployment.state)
    assert NAMESPACE not in {deployment.state[name].typ for name in gone.deleted}
    assert sorted(deployment.state[name].typ for name in gone.deleted) == sorted(
        [SECRET, JOB_TYPE, SWEEP_TYPE, LIFECYCLE_TYPE]
    )


def test_env_and_secret_env_values_may_be_outputs() -> None:
    deployment = run(env_from_outputs)
    [job] = deployment.by_type(JOB_TYPE)
    env = {e["name"]: e for e in job.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DATA_URL"] == {"name": "DATA_URL", "value": "s3://datasets/imagenet"}
    assert env["HF_TOKEN"] == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "bert-wandb-env", "key": "HF_TOKEN"}},
    }
    secrets = {s.inputs["metadata"]["name"]: s.inputs for s in deployment.by_type(SECRET)}
    assert secrets["bert-wandb-env"]["stringData"] == {"HF_TOKEN": "hf_" + "t" * 20}
    assert "t" * 20 not in repr(job.inputs)

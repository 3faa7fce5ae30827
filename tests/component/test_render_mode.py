"""Render mode (`renderYamlTo`) and keys from an existing Secret (`apiKeySecret`): issue 18.

The program runs under the engine model, whose render rules (platform_rules RENDER_SOURCE,
RENDER_REFRESH_SOURCE) write each Kubernetes object to the file pulumi-kubernetes would
write, remove it at delete, and refuse a refresh that needs a cluster; the sweep providers
run for real against the local W&B server. What is checked is what Argo CD or Flux would
apply: the directory's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from engine_model import JOB_TYPE, RefreshFailed, ServerWandb, deploy, destroy, refreshed
from pulumi_harness import ROOT, ProgramRun, cli_config, run_program
from stacks import Stack, env_of
from wandb_server import DEFAULT_KEY, WandbServer

from wandb_sweeps.errors import ConfigError

IMAGE_A = "ghcr.io/example/wandb-sweeps-trainer:0.1.0"
IMAGE_B = "ghcr.io/example/wandb-sweeps-trainer:0.2.0"
SECRET_NAME = "wandb-api-key"
PROVIDER_TYPE = "pulumi:providers:kubernetes"


def render_config(directory: Path, **more: Any) -> dict[str, Any]:
    return {
        "wandbApiKey": DEFAULT_KEY,
        "image": IMAGE_A,
        "pods": "2",
        "renderYamlTo": directory.relative_to(ROOT).as_posix(),
        "apiKeySecret": SECRET_NAME,
        **more,
    }


@pytest.fixture
def stack(server: WandbServer, monkeypatch: pytest.MonkeyPatch, project_tmp_path: Path) -> Stack:
    monkeypatch.setenv("WANDB_BASE_URL", server.base_url)
    return Stack("dev", server, monkeypatch, render_config(project_tmp_path / "deploy"), render_root=ROOT)


def manifests(directory: Path) -> dict[str, dict[str, Any]]:
    """file name -> object, as Argo CD or Flux would read the directory."""
    return {
        path.name: yaml.safe_load(path.read_text()) for path in sorted((directory / "1-manifest").glob("*"))
    }


def rendered_jobs(directory: Path) -> dict[str, dict[str, Any]]:
    return {name: obj for name, obj in manifests(directory).items() if obj["kind"] == "Job"}


def test_render_mode_writes_every_object_and_no_secret(
    stack: Stack, server: WandbServer, project_tmp_path: Path
) -> None:
    first = stack.up("first up")
    directory = project_tmp_path / "deploy"

    # Every Kubernetes object is registered on the render provider, which renders the
    # configured directory (relative to the project) on every up and survives a refresh.
    [provider] = [r for r in first.state.values() if r.typ == PROVIDER_TYPE]
    assert provider.inputs["renderYamlToDirectory"] == directory.relative_to(ROOT).as_posix()
    assert str(provider.inputs["alwaysRender"]).lower() == "true"
    assert str(provider.inputs["skipUpdateUnreachable"]).lower() == "true"
    kubernetes = [r for r in first.state.values() if r.typ.startswith("kubernetes:")]
    assert kubernetes and all(r.provider == provider.name for r in kubernetes)

    # The directory holds the Namespace and the Jobs, nothing secret.
    files = manifests(directory)
    assert sorted(obj["kind"] for obj in files.values()) == ["Job", "Job", "Namespace"]
    assert (directory / "0-crd").is_dir()
    for name, obj in files.items():
        text = (directory / "1-manifest" / name).read_text()
        assert DEFAULT_KEY not in text and obj["kind"] != "Secret"
        metadata = obj["metadata"]
        assert name == (
            f"{obj['apiVersion'].replace('/', '_')}-{obj['kind'].lower()}-"
            f"{metadata.get('namespace', 'default')}-{metadata['name']}.yaml"
        )
        kubernetes_validate.validate(obj, "1.31", strict=True)
    assert not [r for r in first.state.values() if r.typ == "kubernetes:core/v1:Secret"]

    # The agents read the key from the team's Secret; the sweep exists once on W&B.
    for job in rendered_jobs(directory).values():
        [key_env] = [
            e for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "WANDB_API_KEY"
        ]
        assert key_env["valueFrom"] == {"secretKeyRef": {"name": SECRET_NAME, "key": "WANDB_API_KEY"}}
        assert env_of(job)["SWEEP_PATH"].endswith(server.sweeps[0].name)
    assert len(server.sweeps) == 1


def test_day_2_in_render_mode_changes_the_files_as_git_should_see_them(
    stack: Stack, server: WandbServer, project_tmp_path: Path
) -> None:
    directory = project_tmp_path / "deploy"
    stack.up("first up")
    first_jobs = set(rendered_jobs(directory))

    # Nothing changed: every file is written again (alwaysRender), identical; W&B hears
    # only the refresh's read, and the sweep is not made again.
    before = {name: (directory / "1-manifest" / name).read_text() for name in manifests(directory)}
    noop = stack.up("no-op up")
    assert {op for name, op in noop.ops().items() if name.startswith("sweep-agent")} == {"update"}
    assert before == {name: (directory / "1-manifest" / name).read_text() for name in manifests(directory)}
    assert noop.requests == 1  # type: ignore[attr-defined]
    assert len(server.sweeps) == 1

    # A new image: new Job names, the old files gone (Argo CD / Flux prune those Jobs).
    stack.up("new image", image=IMAGE_B)
    new_jobs = set(rendered_jobs(directory))
    assert len(new_jobs) == 2 and not new_jobs & first_jobs
    assert {
        job["spec"]["template"]["spec"]["containers"][0]["image"] for job in rendered_jobs(directory).values()
    } == {IMAGE_B}

    # Scale out and in: a file per pod slot.
    stack.up("scale to 5", pods="5")
    assert len(rendered_jobs(directory)) == 5
    stack.up("scale to 1", pods="1")
    assert len(rendered_jobs(directory)) == 1

    # Roll back: the first image's name for slot 0 comes back.
    stack.up("roll back", image=IMAGE_A)
    assert set(rendered_jobs(directory)) < first_jobs

    # destroy: the sweep is stopped on W&B and every file is removed.
    destroy(stack.state, ServerWandb(), render_root=ROOT)
    assert manifests(directory) == {}
    assert server.sweeps[0].state == "CANCELED"  # stopped: the dev stack says onDestroy: cancel
    assert len(server.sweeps) == 1


def test_a_refresh_of_rendered_objects_needs_skip_update_unreachable(stack: Stack) -> None:
    """The rule the provider option is there for: without it, the refresh before every up
    (Pulumi.yaml `refresh: always`) fails on the first rendered object."""
    stack.up("first up")
    refreshed(stack.state, ServerWandb())  # as rendered by the program: fine
    [provider] = [r for r in stack.state.values() if r.typ == PROVIDER_TYPE]
    provider.inputs = {k: v for k, v in provider.inputs.items() if k != "skipUpdateUnreachable"}
    with pytest.raises(RefreshFailed, match="unreachable cluster"):
        refreshed(stack.state, ServerWandb())


def test_api_key_secret_in_apply_mode_makes_no_secret_and_reads_the_named_key() -> None:
    config = cli_config("dev", wandbApiKey=DEFAULT_KEY, apiKeySecret="team-keys/wandb")
    run = run_program("dev", config, secret_keys=("wandbApiKey",))
    assert run.by_type("kubernetes:core/v1:Secret") == []
    [job] = run.by_type(JOB_TYPE)
    [key_env] = [
        e
        for e in job.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"] == "WANDB_API_KEY"
    ]
    assert key_env["valueFrom"] == {"secretKeyRef": {"name": "team-keys", "key": "wandb"}}
    assert all(r.typ != PROVIDER_TYPE for r in run.registrations)  # applied as usual


REFUSED = [
    ("render mode without apiKeySecret", {"apiKeySecret": ""}, (), "renderYamlTo: needs apiKeySecret"),
    (
        "a secret env value in render mode",
        {"env": {"HF_TOKEN": "hf_" + "s" * 30}},
        ("env",),
        "env: HF_TOKEN is secret, and with renderYamlTo its Secret would be written to Git",
    ),
    (
        "ttlSecondsAfterFinished in render mode",
        {"ttlSecondsAfterFinished": "600"},
        (),
        "ttlSecondsAfterFinished: cannot be used with renderYamlTo",
    ),
    (
        "a render directory outside the project",
        {"renderYamlTo": "../elsewhere"},
        (),
        "is outside the project folder",
    ),
    (
        "the project folder itself",
        {"renderYamlTo": "."},
        (),
        "must be a directory of its own inside the project",
    ),
    ("a file, not a directory", {"renderYamlTo": "README.md"}, (), "must be a directory of its own"),
    (
        "an apiKeySecret that is no Secret name",
        {"apiKeySecret": "Team Keys"},
        (),
        "apiKeySecret: 'Team Keys'",
    ),
    (
        "an apiKeySecret key that is no data key",
        {"apiKeySecret": "keys/a b"},
        (),
        "apiKeySecret: the key 'a b'",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "secret", "fragment"), [row[1:] for row in REFUSED], ids=[row[0] for row in REFUSED]
)
def test_render_mode_refuses_what_cannot_go_to_git_before_anything_is_made(
    project_tmp_path: Path, overrides: dict[str, Any], secret: tuple[str, ...], fragment: str
) -> None:
    config = cli_config("dev", **{**render_config(project_tmp_path / "deploy"), **overrides})
    run = ProgramRun()
    with pytest.raises(ConfigError) as raised:
        run_program("dev", config, secret_keys=("wandbApiKey", *secret), run=run)
    assert fragment in str(raised.value), str(raised.value)
    assert run.registrations == []
    assert "s" * 30 not in str(raised.value) and DEFAULT_KEY not in str(raised.value)
    assert not (project_tmp_path / "deploy").exists()


def test_the_component_takes_render_mode_too(project_tmp_path: Path, server: WandbServer) -> None:
    """A program of the user's own: `render_yaml_to` and `api_key_secret` as args."""
    import pulumi

    from wandb_sweeps import WandbSweep

    directory = project_tmp_path / "component"

    def program() -> None:
        WandbSweep(
            "resnet",
            {
                "project": "vision",
                "image": IMAGE_A,
                "wandb_api_key": pulumi.Output.secret(DEFAULT_KEY),
                "base_url": server.base_url,
                "render_yaml_to": directory.relative_to(ROOT).as_posix(),
                "api_key_secret": SECRET_NAME,
            },
        )

    deploy("dev", {}, program=program, backend=ServerWandb(), render_root=ROOT)
    assert sorted(obj["kind"] for obj in manifests(directory).values()) == ["Job", "Namespace"]
    assert len(server.sweeps) == 1

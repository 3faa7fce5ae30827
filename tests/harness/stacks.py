"""The example stacks on day 2, for the tests that change a stack and run `pulumi up` again.

`CHANGES` are the changes a user makes to an example stack, one at a time (among them
a key rotated to `ROTATED_KEY`); test_platform_rules checks every pair of them and
test_pod_security renders each. `Stack` runs one stack through a sequence of ups (each
a preview, then the update, under the engine model) against the local W&B server;
`ops_by_kind` and `env_of` read what an up did and what a Job got; `write_new_sweep_file`
writes a sweep file that makes a different sweep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_model import JOB_TYPE, LIFECYCLE_TYPE, SWEEP_TYPE, Deployment, Resource, ServerWandb, deploy
from pulumi_harness import ROOT, cli_config
from wandb_server import WandbServer

ROTATED_KEY = "local-" + "r" * 40

CHANGES: dict[str, dict[str, Any]] = {
    "as-is": {},
    "image": {"image": "ghcr.io/example/wandb-sweeps-trainer:0.2.0"},
    "rotated-key": {"wandbApiKey": ROTATED_KEY},
    "more-pods": {"pods": "5"},
    "no-pods": {"pods": "0"},
    "agents": {"agentsPerPod": "3"},
    "gpus": {"gpusPerPod": "2", "agentsPerPod": "2"},
    "cpu-memory": {"cpu": "6", "memory": "24Gi"},
    "requests": {"cpuRequest": "2", "memoryRequest": "8Gi"},
    "gpus-per-run": {"gpusPerPod": "4", "gpusPerRun": "2"},
    "runs-per-agent": {"runsPerAgent": "4"},
    "retries": {"retriesPerPod": "7"},
    "deadline-ttl": {"activeDeadlineSeconds": "3600", "ttlSecondsAfterFinished": "60"},
    "grace": {"terminationGracePeriodSeconds": "30"},
    "spot": {"tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}]},
    "env": {"env": {"HF_HOME": "/data/hf"}},
    "secret-env": {"env": {"HF_TOKEN": "hf_x"}, "__secret__": ("env",)},
    "entity": {"entity": "mock-entity"},
    "other-entity": {"entity": "team-b"},
    "base-url": {"baseUrl": "https://api.wandb.ai/"},
    "on-destroy": {"onDestroy": "keep"},
    "timeouts": {"wandbRequestTimeoutSeconds": "10", "wandbCallTimeoutSeconds": "60"},
    "sweep-file": {"sweepConfig": str(ROOT / "tests" / "data" / "sweep-v2.yaml")},
    "ca": {"caCertificate": str(ROOT / "tests" / "data" / "test-ca.pem")},
    "other-ca": {"caCertificate": str(ROOT / "tests" / "data" / "test-ca-2.pem")},
}


@dataclass
class Stack:
    """One stack over time: its config, its state, and the W&B server it talks to."""

    name: str
    server: WandbServer
    monkeypatch: pytest.MonkeyPatch
    config: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Resource] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ("wandbApiKey",)
    lingering: set[tuple[str, str, str]] = field(default_factory=set)
    """Objects the last ups deleted that are still in the API: the next `up` comes within
    their pods' grace period unless `pods_stopped` says otherwise (engine_model)."""
    render_root: Path | None = None
    """The project folder, for a stack whose objects are rendered (`renderYamlTo`)."""

    def up(self, what: str, **changes: Any) -> Deployment:
        """`pulumi preview` then `pulumi up` with `changes` to the stack config (None removes a key)."""
        for key, value in changes.items():
            if value is None:
                self.config.pop(key, None)
            else:
                self.config[key] = value
        config = cli_config(self.name, **self.config)
        if "wandbApiKey" not in self.config:
            config.pop("wandbApiKey", None)
        keys = self.secret_keys if "wandbApiKey" in self.config else ()
        backend = ServerWandb()
        preview = deploy(
            self.name,
            config,
            self.state,
            secret_keys=keys,
            backend=backend,
            preview=True,
            lingering=self.lingering,
            render_root=self.render_root,
        )
        before = len(self.server.requests)
        update = deploy(
            self.name,
            config,
            self.state,
            secret_keys=keys,
            backend=backend,
            lingering=self.lingering,
            render_root=self.render_root,
        )
        update.requests = len(self.server.requests) - before  # type: ignore[attr-defined]
        assert update.problems() == {}, f"{what}: {update.problems()}"
        assert preview.ops() == update.ops(), (
            f"{what}: the preview said {preview.ops()}, the update did {update.ops()}"
        )
        self.state = update.state
        self.lingering = update.lingering
        return update

    def pods_stopped(self) -> None:
        """The grace period of every deleted Job's pods has passed: their names are free."""
        self.lingering = set()

    def ttl_deletes_finished_jobs(self) -> None:
        """The sweep is over, every Job completed, and the TTL controller deleted them
        (`ttlSecondsAfterFinished`): still in the state, gone from the cluster."""
        for resource in self.state.values():
            if resource.typ == JOB_TYPE:
                resource.gone = True

    def jobs(self) -> dict[str, dict[str, Any]]:
        """slot resource name -> the Job's inputs."""
        return {r.name: r.inputs for r in self.state.values() if r.typ == JOB_TYPE}

    def job_names(self) -> set[str]:
        return {inputs["metadata"]["name"] for inputs in self.jobs().values()}

    def sweep_outputs(self) -> dict[str, Any]:
        return next(r.outputs for r in self.state.values() if r.typ == SWEEP_TYPE)

    def lifecycle_outputs(self) -> dict[str, Any]:
        return next(r.outputs for r in self.state.values() if r.typ == LIFECYCLE_TYPE)


def ops_by_kind(deployment: Deployment) -> dict[str, set[str]]:
    """What happened, by kind of resource: {"Job": {"same"}, "Secret": {"replace"}, ...}."""
    kinds: dict[str, set[str]] = {}
    for name, step in deployment.steps.items():
        typ = deployment.state[name].typ if name in deployment.state else _deleted_kind(name)
        kinds.setdefault(typ.rsplit(":", 1)[-1], set()).add(step.op)
    return kinds


def _deleted_kind(name: str) -> str:
    return "Job" if "-agent-" in name else name


def env_of(job: dict[str, Any]) -> dict[str, Any]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def write_new_sweep_file(directory: Path) -> str:
    """The example sweep with another learning-rate range: a different sweep. `directory`
    must be inside the project folder, as every sweep config must."""
    config = yaml.safe_load((ROOT / "sweep.yaml").read_text())
    config["parameters"]["lr"]["max"] = 0.05
    path = directory / "sweep-v2.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)

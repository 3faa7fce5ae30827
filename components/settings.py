"""Typed, validated arguments of the WandbSweep component.

Each dataclass validates itself when it is built, so a program that constructs
`WandbSweepArgs` in code gets the same checks as one that loads stack config.
Problems name the stack config key (`gpusPerPod`), because that is the name
users know; the field that holds it is documented next to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlparse

import pulumi

from .checks import check_dns_label, check_int
from .errors import ProblemList
from .pod_settings import AgentPods, JobPolicy, PodRuntime, PodScheduling

# W&B sweep ids are short lowercase alphanumerics (8 characters on wandb.ai).
SWEEP_ID = re.compile(r"^[a-z0-9]{4,64}$")
# W&B entity and project names: letters, digits, '-', '_' and '.'.
WANDB_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")

DEFAULT_BASE_URL = "https://api.wandb.ai"
DEFAULT_REQUEST_TIMEOUT = 20
DEFAULT_CALL_TIMEOUT = 30


class OnDestroy(StrEnum):
    """What `pulumi destroy` (or a replaced sweep) does to the sweep on W&B."""

    FINISH = "finish"
    CANCEL = "cancel"
    KEEP = "keep"

    @property
    def wandb_state(self) -> str | None:
        return {"finish": "FINISHED", "cancel": "CANCELED", "keep": None}[self.value]


@dataclass(frozen=True)
class WandbTarget:
    """Where the sweep lives on W&B."""

    project: str
    """`project`: W&B project."""
    entity: str | None = None
    """`entity`: W&B entity (user or team); None means the API key's default entity."""
    base_url: str = DEFAULT_BASE_URL
    """`baseUrl`: W&B server, for dedicated and self-managed installations."""
    request_timeout: int = DEFAULT_REQUEST_TIMEOUT
    """`wandbRequestTimeoutSeconds`: seconds one HTTP request to W&B may take."""
    call_timeout: int = DEFAULT_CALL_TIMEOUT
    """`wandbCallTimeoutSeconds`: seconds one W&B call may take with its retries."""

    def __post_init__(self) -> None:
        problems = ProblemList()
        if not WANDB_NAME.match(self.project or ""):
            problems.add(
                f"project: must be a W&B project name (letters, digits, '-', '_', '.'), "
                f"got {self.project!r}. Set it with `pulumi config set wandb-sweeps:project NAME`."
            )
        if self.entity is not None and not WANDB_NAME.match(self.entity):
            problems.add(
                f"entity: must be a W&B entity name (letters, digits, '-', '_', '.'), "
                f"got {self.entity!r}; leave it unset to use the API key's default entity."
            )
        check_int(problems, "wandbRequestTimeoutSeconds", self.request_timeout, minimum=1)
        check_int(problems, "wandbCallTimeoutSeconds", self.call_timeout, minimum=1)
        if not problems.problems and self.call_timeout < self.request_timeout:
            problems.add(
                f"wandbCallTimeoutSeconds: must be at least wandbRequestTimeoutSeconds "
                f"({self.request_timeout}), got {self.call_timeout}."
            )
        url = urlparse(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
            problems.add(
                f"baseUrl: must be an http(s) URL of a W&B server such as "
                f"{DEFAULT_BASE_URL!r}, got {self.base_url!r}."
            )
        problems.raise_if_any()

    @property
    def normalized_base_url(self) -> str:
        return self.base_url.rstrip("/")


@dataclass(frozen=True)
class SweepSource:
    """The sweep to run: a new one from a sweep config, or an existing one."""

    config_yaml: str | None = None
    """The sweep config as the user wrote it (YAML text), sent to W&B as text so
    that `batch_size: 16` stays an integer."""
    existing_sweep_id: str | None = None
    """`sweepId`: attach to this sweep; none is created and its state never changed."""

    def __post_init__(self) -> None:
        problems = ProblemList()
        if self.existing_sweep_id is not None:
            if not SWEEP_ID.match(self.existing_sweep_id):
                problems.add(
                    f"sweepId: must be a W&B sweep id (lowercase letters and digits, "
                    f"e.g. 'a1b2c3d4', the last part of the sweep URL), got "
                    f"{self.existing_sweep_id!r}. Set entity and project as separate keys."
                )
        elif not self.config_yaml:
            problems.add("sweepConfig: a sweep config is required unless sweepId is set.")
        problems.raise_if_any()


@dataclass(frozen=True)
class WandbSweepArgs:
    """Everything a WandbSweep needs; built from stack config by `load_stack_config`."""

    wandb: WandbTarget
    sweep: SweepSource
    agents: AgentPods
    namespace: str
    """`namespace`: the namespace this component creates and owns."""
    api_key: pulumi.Input[str] = field(repr=False)
    """`wandbApiKey`: a secret; reaches pods only through a Kubernetes Secret."""
    on_destroy: OnDestroy = OnDestroy.FINISH
    """`onDestroy`: what destroy, or a replaced sweep config, does to the old sweep."""
    scheduling: PodScheduling = field(default_factory=PodScheduling)
    runtime: PodRuntime = field(default_factory=PodRuntime)
    job_policy: JobPolicy = field(default_factory=JobPolicy)

    def __post_init__(self) -> None:
        problems = ProblemList()
        check_dns_label(problems, "namespace", self.namespace)
        if not isinstance(self.on_destroy, OnDestroy):
            problems.add(
                f"onDestroy: must be one of {', '.join(o.value for o in OnDestroy)}, got {self.on_destroy!r}."
            )
        problems.raise_if_any()

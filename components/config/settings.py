"""Typed, validated arguments of the WandbSweep component.

Each dataclass validates itself when it is built, so a program that constructs
`WandbSweepArgs` in code gets the same checks as one that loads stack config.
Problems name the stack config key (`gpusPerPod`), because that is the name
users know; the field that holds it is documented next to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi

from ..checks import check_component_name, check_dns_label, check_int, shown, type_name
from ..errors import ProblemList
from ..kubernetes.api_rules import ENV_VAR_NAME_RULE, is_config_map_key, is_env_var_name
from ..kubernetes.pods import RESERVED_ENV, AgentPods, JobMetadata, JobPolicy, PodRuntime, PodScheduling
from ..kubernetes.secret_ref import SecretKeyRef
from ..kubernetes.size_limits import env_size_problems
from ..wandb.server import (
    DEFAULT_BASE_URL,
    DEFAULT_CALL_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
    SWEEP_ID,
    WANDB_NAME,
    OnDestroy,
    base_url_problem,
    normalize_base_url,
)
from .ca_file import CaCertificate


@dataclass(frozen=True)
class WandbTarget:
    """Where the sweep lives on W&B."""

    project: str
    """`project`: W&B project."""
    entity: str | None = None
    """`entity`: W&B entity (user or team); None: the API key's default entity,
    resolved when the sweep is created and kept from then on."""
    base_url: str | None = None
    """`baseUrl`: W&B server, for dedicated and self-managed installations; None:
    `default_base_url`, resolved when the sweep is created and kept from then on."""
    default_base_url: str = DEFAULT_BASE_URL
    """Where a new sweep goes when `base_url` is None: the deploying shell's
    WANDB_BASE_URL, else the hosted W&B. Read only when the sweep is created, so a
    later `up` from a shell with another value does not move the sweep."""
    default_base_url_source: str = "WANDB_BASE_URL (environment)"
    """How `default_base_url` is named in error messages."""
    request_timeout: int = DEFAULT_REQUEST_TIMEOUT
    """`wandbRequestTimeoutSeconds`: seconds one HTTP request to W&B may take."""
    call_timeout: int = DEFAULT_CALL_TIMEOUT
    """`wandbCallTimeoutSeconds`: seconds one W&B call may take with its retries."""
    ca_certificate: CaCertificate | None = None
    """`caCertificate`: a private CA trusted besides the public roots, by the deploy-time
    W&B calls and the agent pods (`ca_certificate` module); None: public roots only."""

    def __post_init__(self) -> None:
        problems = ProblemList()
        if self.ca_certificate is not None and not isinstance(self.ca_certificate, CaCertificate):
            problems.add("caCertificate: must be the CA file, read by `ca_certificate.load_ca_file`.")
        if not (isinstance(self.project, str) and WANDB_NAME.fullmatch(self.project)):
            problems.add(
                f"project: must be a W&B project name (letters, digits, '-', '_', '.'), "
                f"got {shown(self.project)}. Set it with `pulumi config set wandb-sweeps:project NAME`."
            )
        if self.entity is not None and not (
            isinstance(self.entity, str) and WANDB_NAME.fullmatch(self.entity)
        ):
            problems.add(
                f"entity: must be a W&B entity name (letters, digits, '-', '_', '.'), "
                f"got {shown(self.entity)}; leave it unset to use the API key's default entity."
            )
        check_int(problems, "wandbRequestTimeoutSeconds", self.request_timeout, minimum=1)
        check_int(problems, "wandbCallTimeoutSeconds", self.call_timeout, minimum=1)
        if not problems.problems and self.call_timeout < self.request_timeout:
            problems.add(
                f"wandbCallTimeoutSeconds: must be at least wandbRequestTimeoutSeconds "
                f"({self.request_timeout}), got {self.call_timeout}."
            )
        for source, url in (
            ("baseUrl", self.base_url),
            (self.default_base_url_source, self.default_base_url),
        ):
            problem = url is not None and base_url_problem(source, url)
            if problem:
                problems.add(problem)
        problems.raise_if_any()

    @property
    def normalized_base_url(self) -> str:
        """The configured server, or "" when it is left to the sweep's first create."""
        return normalize_base_url(self.base_url) if self.base_url else ""

    @property
    def normalized_default_base_url(self) -> str:
        return normalize_base_url(self.default_base_url)


@dataclass(frozen=True)
class SweepSource:
    """The sweep to run: a new one from a sweep config, or an existing one."""

    config_yaml: str | None = None
    """The sweep config as the user wrote it (YAML text), sent to W&B as text so
    that `batch_size: 16` stays an integer."""
    existing_sweep_id: str | None = None
    """`sweepId`: attach to this sweep; none is created and its state never changed."""
    config_source: str = ""
    """How the user named the sweep config file (`'sweep.yaml'`), for the messages of
    the W&B schema check, which the sweep provider runs."""

    def __post_init__(self) -> None:
        problems = ProblemList()
        if self.existing_sweep_id is not None:
            if not (isinstance(self.existing_sweep_id, str) and SWEEP_ID.fullmatch(self.existing_sweep_id)):
                problems.add(
                    f"sweepId: must be a W&B sweep id (lowercase letters and digits, "
                    f"e.g. 'a1b2c3d4', the last part of the sweep URL), got "
                    f"{shown(self.existing_sweep_id)}. Set entity and project as separate keys."
                )
        elif not self.config_yaml:
            problems.add("sweepConfig: a sweep config is required unless sweepId is set.")
        elif not isinstance(self.config_yaml, str):
            problems.add(
                f"sweepConfig: the sweep config must be YAML text, got {type_name(self.config_yaml)}."
            )
        problems.raise_if_any()


@dataclass(frozen=True)
class SweepSettings:
    """Everything a WandbSweep is made of, checked: built from its args by
    `validation.validate_args` (and so from stack config too)."""

    name: str
    """The component's name: every Kubernetes object name and label derives from it."""
    wandb: WandbTarget
    sweep: SweepSource
    agents: AgentPods
    namespace: pulumi.Input[str]
    """`namespace`: where the Secrets and Jobs go."""
    api_key: pulumi.Input[str] = field(repr=False)
    """`wandbApiKey`: a secret; reaches pods only through a Kubernetes Secret."""
    create_namespace: bool = True
    """`createNamespace`: create the namespace and own it; false: it exists already."""
    on_destroy: OnDestroy = OnDestroy.FINISH
    """`onDestroy`: what destroy, or a replaced sweep config, does to the old sweep."""
    scheduling: PodScheduling = field(default_factory=PodScheduling)
    runtime: PodRuntime = field(default_factory=PodRuntime)
    job_policy: JobPolicy = field(default_factory=JobPolicy)
    metadata: JobMetadata = field(default_factory=JobMetadata)
    secret_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict, repr=False)
    """`secretEnv` (or `env` marked secret): NAME -> value. The values go into a Kubernetes
    Secret of their own and reach the agents through `secretKeyRef`, like the API key."""
    render_directory: Path | None = None
    """`renderYamlTo`, relative to the project folder and inside it: the Kubernetes objects are
    written there as manifests (for Argo CD or Flux) instead of applied. None: applied."""
    api_key_secret: SecretKeyRef | None = None
    """`apiKeySecret`: the existing Secret the agents read the key from; None: one made from
    `api_key`, which the deploy-time W&B calls use either way."""

    def __post_init__(self) -> None:
        problems = ProblemList()
        check_component_name(problems, self.name)
        if not isinstance(self.namespace, pulumi.Output):
            check_dns_label(problems, "namespace", self.namespace)
        if not isinstance(self.create_namespace, bool):
            problems.add(f"createNamespace: must be true or false, got {shown(self.create_namespace)}.")
        if not isinstance(self.on_destroy, OnDestroy):
            problems.add(
                f"onDestroy: must be one of {', '.join(o.value for o in OnDestroy)}, got {shown(self.on_destroy)}."
            )
        self._check_secret_env(problems)
        if self.render_directory is not None:
            problems.extend(self._render_mode_problems())
        problems.raise_if_any()

    def _render_mode_problems(self) -> list[str]:
        """What cannot go to Git, or would fight the GitOps tool that applies it."""
        problems = []
        if self.api_key_secret is None:
            problems.append(
                "renderYamlTo: needs apiKeySecret: the rendered manifests go to Git, and a Secret made from "
                "wandbApiKey would put the key there in plain text. Create a Secret with the agents' key in "
                "the namespace (External Secrets, Sealed Secrets, ...) and set "
                "`pulumi config set wandb-sweeps:apiKeySecret NAME` (or NAME/KEY; key default WANDB_API_KEY)."
            )
        if self.secret_env:
            problems.append(
                f"env: {', '.join(map(str, self.secret_env))} is secret, and with renderYamlTo its Secret would be "
                "written to Git in plain text; keep the value in a Secret of your own and give env a list entry "
                "with valueFrom.secretKeyRef (see docs/gitops.md)."
            )
        if self.job_policy.ttl_seconds_after_finished is not None:
            problems.append(
                "ttlSecondsAfterFinished: cannot be used with renderYamlTo: Argo CD's self-heal and Flux's "
                "reconcile re-create a Job that Kubernetes deleted after it finished, and its agents start on a "
                "finished sweep again; finished Jobs stay until their manifests leave the directory "
                "(see docs/gitops.md). Set it to 0."
            )
        return problems

    def _check_secret_env(self, problems: ProblemList) -> None:
        if self.secret_env and (found := env_size_problems(self.runtime.env, self.secret_env)):
            problems.extend(found)  # plain env alone is within bounds (PodRuntime): the secret part is not
            return
        plain = {e.get("name") for e in self.runtime.env if isinstance(e.get("name"), str)}
        for name, value in self.secret_env.items():
            if not isinstance(name, str):
                problems.add(f"env: a secret variable's name must be text, got {type_name(name)}.")
            elif not is_config_map_key(name):  # api_rules: [util] IsConfigMapKey
                problems.add(
                    f"env: {shown(name)} is secret, so it becomes a key of a Kubernetes Secret, which allows "
                    "only letters, digits, '-', '_' and '.' (at most 253, not '.', '..' or '..'-prefixed); rename it."
                )
            elif not is_env_var_name(name):  # api_rules: [util] IsEnvVarName, the rule enforced
                problems.add(f"env: {shown(name)} is not an environment variable name: {ENV_VAR_NAME_RULE}.")
            elif name in RESERVED_ENV:
                problems.add(
                    f"env: {name} is set by wandb-sweeps itself (from the config keys); remove it from env."
                )
            elif name in plain:
                problems.add(f"env: {name} is given twice; keep one.")
            elif not isinstance(value, str | pulumi.Output):
                # The value is secret: say what is wrong, never what it is.
                problems.add(f"env: the value of {name} must be text, got {type_name(value)}.")

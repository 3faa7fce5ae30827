"""WandbSweep: a W&B sweep and the Kubernetes agents that work on it.

No `from __future__ import annotations`: Pulumi's component schema inference
reads the output annotations below at run time.
"""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .args import WandbSweepArgs
from .config.from_args import validate_args
from .config.settings import SweepSettings
from .errors import ConfigError
from .kubernetes.agent_job import (
    API_KEY_ENTRY,
    AgentJobInputs,
    SweepRef,
    api_key_secret_name,
    common_labels,
    env_secret_name,
    namespace_labels,
)
from .kubernetes.agent_scale import scale_config_map_name, scale_env
from .kubernetes.ca_bundle import CA_ENTRY, config_map_name
from .kubernetes.job_slots import agent_job_slots
from .sweep_resources import LifecycleInputs, SweepInputs, SweepLifecycleResource, WandbSweepResource


class WandbSweep(pulumi.ComponentResource):
    """A W&B sweep, created once through the W&B API, and Kubernetes Jobs whose pods run its agents.

    Children: the Namespace (unless `create_namespace` is false); a Secret with
    WANDB_API_KEY (and one with `secret_env`; a ConfigMap with `ca_certificate`, and one with the
    start spread and client timeouts of a large sweep, `agent_scale`); the sweep's identity and its
    lifecycle (see `sweep_provider` for why two); one Job per agent pod (see
    `agent_job`). Kubernetes names derive from the component's name, so several
    WandbSweeps share a program and a namespace without colliding.

    Dependencies are chosen for day 2. Everything depends on the sweep's identity
    (whose `check` runs W&B's schema at preview). The Jobs read the Secrets by name only
    (`depends_on`, no property dependency): a rotated key replaces the Secret
    and no Job. The CA's ConfigMap is named by a digest of the CA, which the pod
    template holds: a new CA replaces the Jobs, new ones first, and the old ConfigMap
    goes after the old Jobs. The Jobs read the sweep's identity, which is replaced only when
    the sweep must change. They depend on the lifecycle resource so that
    destroy deletes them (and so their runs get SIGTERM) before the sweep is stopped.
    """

    sweep_id: pulumi.Output[str]
    """The W&B sweep id (the end of the sweep URL)."""
    sweep_path: pulumi.Output[str]
    """entity/project/sweep id: what `wandb agent` takes."""
    sweep_url: pulumi.Output[str]
    """The sweep's page in the W&B app."""
    namespace: pulumi.Output[str]
    """The Kubernetes namespace of the Secrets and Jobs."""
    job_names: pulumi.Output[list[str]]
    """The agent Jobs, one per pod: <name>-agent-<slot>-<digest>."""
    agent_command: pulumi.Output[str]
    """A command that adds an agent by hand, e.g. on a workstation."""

    def __init__(self, name: str, args: WandbSweepArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # Checked before anything is registered, the component itself included.
        self._deploy(validate_args(name, args, stack=pulumi.get_stack()), opts)

    @classmethod
    def from_settings(
        cls, settings: SweepSettings, opts: pulumi.ResourceOptions | None = None
    ) -> "WandbSweep":
        """A WandbSweep from settings already checked (`load_stack_config`), named
        `settings.name`: the program reads and checks each file once, not twice."""
        sweep = cls.__new__(cls)
        sweep._deploy(settings, opts)
        return sweep

    def _deploy(self, settings: SweepSettings, opts: pulumi.ResourceOptions | None) -> None:
        name = settings.name
        _claim_namespace(settings)
        super().__init__("wandb-sweeps:index:WandbSweep", name, None, opts)
        self._former_names = _former_names(opts)
        self.settings = settings
        api_key = pulumi.Output.secret(settings.api_key)
        ca = settings.wandb.ca_certificate
        ca_pem = ca.pem if ca is not None else ""

        # The sweep first: its `check` (W&B's schema, at preview) must pass before any
        # Kubernetes object is made, and a sweep that cannot be created leaves none behind.
        self.sweep = WandbSweepResource(
            f"{name}-sweep",
            SweepInputs(
                project=settings.wandb.project,
                entity=settings.wandb.entity or "",
                base_url=settings.wandb.normalized_base_url,
                default_base_url=settings.wandb.normalized_default_base_url,
                api_key=api_key,
                config_yaml=settings.sweep.config_yaml or "",
                config_source=settings.sweep.config_source,
                existing_sweep_id=settings.sweep.existing_sweep_id or "",
                creation_key=f"{pulumi.get_project()}/{pulumi.get_stack()}/{name}",
                request_timeout=settings.wandb.request_timeout,
                call_timeout=settings.wandb.call_timeout,
                ca_certificate=ca_pem,
            ),
            opts=self._child_opts(f"{name}-sweep"),
        )
        self.render_provider: k8s.Provider | None = None
        if settings.render_directory is not None:
            # Every Kubernetes object goes through it: written as a manifest, never applied
            # (pulumi-kubernetes provider.go, renderYaml; Delete removes the file). always_render:
            # every `up` writes every file, so a fresh checkout's directory is whole again;
            # skip_update_unreachable: with no cluster, a refresh (Pulumi.yaml refreshes before
            # every up) keeps the state instead of failing (provider.go, Read).
            self.render_provider = k8s.Provider(
                f"{name}-render",
                render_yaml_to_directory=str(settings.render_directory),
                always_render=True,
                skip_update_unreachable=True,
                opts=self._child_opts(f"{name}-render"),
            )
        self.namespace_resource: k8s.core.v1.Namespace | None = None
        namespace: pulumi.Input[str] = settings.namespace
        if settings.create_namespace:
            self.namespace_resource = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata={
                    "name": settings.namespace,
                    "labels": namespace_labels(
                        name, allow_privileged_pods=settings.runtime.allow_privileged_pods
                    ),
                },
                opts=self._kubernetes_opts(f"{name}-namespace", depends_on=[self.sweep]),
            )
            # The name given above (metadata.name is optional only in the type).
            namespace = self.namespace_resource.metadata.apply(lambda m: m.name or settings.namespace)

        self.api_key_secret: k8s.core.v1.Secret | None = None
        if settings.api_key_secret is None:  # else the agents read the team's own Secret
            self.api_key_secret = self._secret(
                f"{name}-api-key", api_key_secret_name(name), {API_KEY_ENTRY: api_key}, namespace
            )
        self.env_secret: k8s.core.v1.Secret | None = None
        if settings.secret_env:
            self.env_secret = self._secret(
                f"{name}-env", env_secret_name(name), dict(settings.secret_env), namespace
            )
        self.ca_config_map: k8s.core.v1.ConfigMap | None = None
        if ca is not None:
            # Named by the CA's digest: a new CA is a new ConfigMap, made before the new
            # Jobs that mount it, deleted after the old ones (see `ca_certificate`).
            self.ca_config_map = k8s.core.v1.ConfigMap(
                f"{name}-ca",
                metadata={
                    "name": config_map_name(name, ca.digest),
                    "namespace": namespace,
                    "labels": common_labels(name),
                },
                data={CA_ENTRY: ca.pem},
                immutable=True,
                opts=self._kubernetes_opts(f"{name}-ca", depends_on=[self.sweep]),
            )

        self.scale_config_map: k8s.core.v1.ConfigMap | None = None
        if scale := scale_env(settings.agents):
            # A fixed name, which every pod template names (optional); its data follows `pods`,
            # so a change replaces it (delete, then create) and no Job (agent_scale).
            self.scale_config_map = k8s.core.v1.ConfigMap(
                f"{name}-agent-scale",
                metadata={
                    "name": scale_config_map_name(name),
                    "namespace": namespace,
                    "labels": common_labels(name),
                },
                data=scale,
                opts=self._kubernetes_opts(f"{name}-agent-scale", depends_on=[self.sweep]),
            )

        self.lifecycle = SweepLifecycleResource(
            f"{name}-lifecycle",
            LifecycleInputs(
                sweep_path=self.sweep.sweep_path,
                base_url=self.sweep.sweep_base_url,
                api_key=api_key,
                on_destroy=settings.on_destroy.value,
                attached=settings.sweep.existing_sweep_id is not None,
                request_timeout=settings.wandb.request_timeout,
                call_timeout=settings.wandb.call_timeout,
                ca_certificate=ca_pem,
            ),
            opts=self._child_opts(f"{name}-lifecycle"),
        )
        if not settings.wandb.base_url:
            self._say_when_the_shell_points_elsewhere(settings.wandb.normalized_default_base_url)

        sweep = SweepRef(
            entity=self.sweep.sweep_entity,
            project=self.sweep.sweep_project,
            sweep_id=self.sweep.sweep_id,
            base_url=self.sweep.sweep_base_url,
        )
        self.jobs, job_names = self._jobs(settings, sweep, namespace)

        self.sweep_id = self.sweep.sweep_id
        self.sweep_path = self.sweep.sweep_path
        self.sweep_url = self.sweep.sweep_url
        self.namespace = pulumi.Output.from_input(namespace)
        self.job_names = job_names if isinstance(job_names, pulumi.Output) else pulumi.Output.from_input(job_names)
        self.agent_command = pulumi.Output.concat("wandb agent ", sweep.path)
        self.register_outputs(
            {
                "sweep_id": self.sweep_id,
                "sweep_path": self.sweep_path,
                "sweep_url": self.sweep_url,
                "namespace": self.namespace,
                "job_names": self.job_names,
                "agent_command": self.agent_command,
            }
        )

    def _jobs(
        self, settings: SweepSettings, sweep: SweepRef, namespace: pulumi.Input[str]
    ) -> tuple[list[k8s.batch.v1.Job], pulumi.Input[list[str]]]:
        """The agent Jobs, and their names: one Output for them all (an Output per Job, from
        each Job's metadata, cost three more Outputs per slot; the names are the ones given)."""
        ca = settings.wandb.ca_certificate
        job_inputs = AgentJobInputs(
            pods=settings.agents,
            scheduling=settings.scheduling,
            runtime=settings.runtime,
            policy=settings.job_policy,
            sweep=sweep,
            namespace=namespace,
            name=settings.name,
            metadata=settings.metadata,
            secret_env_names=tuple(settings.secret_env),
            ca_config_map=config_map_name(settings.name, ca.digest) if ca is not None else None,
            api_key_secret=settings.api_key_secret,
        )
        secrets = [
            s
            for s in (self.api_key_secret, self.env_secret, self.ca_config_map, self.scale_config_map)
            if s is not None
        ]
        # Kueue's webhook suspends a queued Job at create, under Pulumi's field manager; an
        # in-place update that omits `spec.suspend` would drop it and start a Job Kueue has
        # not admitted. ignoreChanges makes pulumi-kubernetes send the live value instead
        # (provider/pkg/await/await.go, `handleSSAIgnoreFields`): Kueue's decision stands.
        kueue_owned = ["spec.suspend"] if settings.metadata.queue_name else None
        # The pod spec, its Outputs and the names' digest text once; per slot only its
        # labels and name (job_slots: at 1,000 pods the rest was a third of the run).
        slots = agent_job_slots(job_inputs)
        jobs = [
            k8s.batch.v1.Job(
                f"{settings.name}-agent-{slot}",
                metadata=slots.metadata(slot),
                spec=slots.spec(slot),
                opts=self._kubernetes_opts(
                    f"{settings.name}-agent-{slot}",
                    depends_on=[*secrets, self.lifecycle],
                    ignore_changes=kueue_owned,
                ),
            )
            for slot in range(settings.agents.pods)
        ]
        return jobs, slots.names_of(range(settings.agents.pods))

    def _secret(
        self,
        resource_name: str,
        secret_name: str,
        data: dict[str, Any],
        namespace: pulumi.Input[str],
    ) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            resource_name,
            metadata={"name": secret_name, "namespace": namespace, "labels": common_labels(self._name)},
            type="Opaque",
            string_data=pulumi.Output.secret(data),
            opts=self._kubernetes_opts(resource_name, depends_on=[self.sweep]),
        )

    def _child_opts(self, child_name: str, **options: Any) -> pulumi.ResourceOptions:
        """A child's options: parented here, and known under its former names too when this
        component was renamed (aliased by name): a child is named after the component, so
        the engine would otherwise make it anew (a new W&B sweep among them) and delete the
        old one. The SDK's rule for inherited child aliases (a child whose name starts with
        its parent's), made explicit so that it holds whoever computes the aliases."""
        aliases: list[pulumi.Input[str] | pulumi.Alias] = [
            pulumi.Alias(name=former + child_name[len(self._name) :])
            for former in self._former_names
            if child_name.startswith(self._name)
        ]
        return pulumi.ResourceOptions(parent=self, aliases=aliases or None, **options)

    def _kubernetes_opts(self, child_name: str, **options: Any) -> pulumi.ResourceOptions:
        """A Kubernetes child's options: with `renderYamlTo`, through the render provider."""
        if self.render_provider is not None:
            options["provider"] = self.render_provider
        return self._child_opts(child_name, **options)

    def _say_when_the_shell_points_elsewhere(self, shell_base_url: str) -> None:
        """The sweep's server was pinned at its first create; an `up` from a shell with
        another WANDB_BASE_URL keeps it, and says so rather than moving it silently."""

        def warn(pinned: str | None) -> None:
            if pinned and pinned != shell_base_url:
                pulumi.log.warn(
                    f"The sweep lives on {pinned} (pinned when it was created); this shell's "
                    f"WANDB_BASE_URL points at {shell_base_url}. The sweep and its agents stay on "
                    f"{pinned}. To move the sweep, set baseUrl: `pulumi config set wandb-sweeps:baseUrl URL`.",
                    resource=self,
                )

        self.sweep.sweep_base_url.apply(warn)


def _former_names(opts: pulumi.ResourceOptions | None) -> list[str]:
    """The names this component had before: its aliases that give a name alone."""
    aliases = (opts.aliases or []) if opts is not None else []
    return [a.name for a in aliases if isinstance(a, pulumi.Alias) and isinstance(a.name, str)]


def _claim_namespace(settings: SweepSettings) -> None:
    """Two WandbSweeps of one program must not both create the same namespace."""
    if not settings.create_namespace or not isinstance(settings.namespace, str):
        return  # an Output: resolved after this program run has registered everything
    # Kept on the program's root resource: one per program run.
    root = pulumi.runtime.get_root_resource()
    claims: dict[str, str] = root.__dict__.setdefault("_wandb_sweeps_namespaces", {})
    owner = claims.setdefault(settings.namespace, settings.name)
    if owner != settings.name:
        raise ConfigError(
            [
                f"namespace: WandbSweep {settings.name!r} would create namespace {settings.namespace!r}, "
                f"which WandbSweep {owner!r} creates already; set create_namespace to false for one of "
                "them (they can share it), or give each its own namespace."
            ]
        )

"""WandbSweep: a W&B sweep and the Kubernetes agents that work on it."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .agent_job import (
    API_KEY_ENTRY,
    API_KEY_SECRET_NAME,
    ENV_SECRET_NAME,
    AgentJobInputs,
    SweepRef,
    agent_job_metadata,
    agent_job_spec,
    common_labels,
)
from .settings import WandbSweepArgs
from .sweep_provider import LifecycleInputs, SweepInputs, SweepLifecycleResource, WandbSweepResource


class WandbSweep(pulumi.ComponentResource):
    """Creates (or attaches to) a W&B sweep and runs `args.agents.pods` agent pods for it.

    Children: the Namespace the stack owns; a Secret with WANDB_API_KEY (and one
    with `env` when it is secret); the sweep's identity and its lifecycle (see
    `sweep_provider` for why two); one Job per agent pod (see `agent_job`).

    Dependencies are chosen for day 2. The Jobs read the Secrets by name only
    (`depends_on`, no property dependency): a rotated key replaces the Secret
    and no Job. The Jobs read the sweep's identity, which is replaced only when
    the sweep must change. They depend on the lifecycle resource so that
    destroy deletes them (and so their runs get SIGTERM) before the sweep is stopped.
    """

    namespace: k8s.core.v1.Namespace
    api_key_secret: k8s.core.v1.Secret
    env_secret: k8s.core.v1.Secret | None
    sweep: WandbSweepResource
    lifecycle: SweepLifecycleResource
    jobs: list[k8s.batch.v1.Job]

    sweep_id: pulumi.Output[str]
    sweep_path: pulumi.Output[str]
    sweep_url: pulumi.Output[str]
    namespace_name: pulumi.Output[str]
    job_names: pulumi.Output[list[str]]
    agent_command: pulumi.Output[str]

    def __init__(self, name: str, args: WandbSweepArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wandb-sweeps:index:WandbSweep", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        instance = args.namespace
        api_key = pulumi.Output.secret(args.api_key)

        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": args.namespace, "labels": common_labels(instance)},
            opts=child,
        )
        namespace_name = self.namespace.metadata.apply(lambda m: m.name)

        self.api_key_secret = self._secret(
            f"{name}-api-key", API_KEY_SECRET_NAME, {API_KEY_ENTRY: api_key}, namespace_name, instance
        )
        self.env_secret = None
        if args.secret_env:
            self.env_secret = self._secret(
                f"{name}-env", ENV_SECRET_NAME, dict(args.secret_env), namespace_name, instance
            )

        self.sweep = WandbSweepResource(
            f"{name}-sweep",
            SweepInputs(
                project=args.wandb.project,
                entity=args.wandb.entity or "",
                base_url=args.wandb.normalized_base_url,
                default_base_url=args.wandb.normalized_default_base_url,
                api_key=api_key,
                config_yaml=args.sweep.config_yaml or "",
                existing_sweep_id=args.sweep.existing_sweep_id or "",
                creation_key=f"{pulumi.get_project()}/{pulumi.get_stack()}/{name}",
                request_timeout=args.wandb.request_timeout,
                call_timeout=args.wandb.call_timeout,
            ),
            opts=child,
        )
        self.lifecycle = SweepLifecycleResource(
            f"{name}-lifecycle",
            LifecycleInputs(
                sweep_path=self.sweep.sweep_path,
                base_url=self.sweep.sweep_base_url,
                api_key=api_key,
                on_destroy=args.on_destroy.value,
                attached=args.sweep.existing_sweep_id is not None,
                request_timeout=args.wandb.request_timeout,
                call_timeout=args.wandb.call_timeout,
            ),
            opts=child,
        )
        if not args.wandb.base_url:
            self._say_when_the_shell_points_elsewhere(args.wandb.normalized_default_base_url)

        sweep = SweepRef(
            entity=self.sweep.sweep_entity,
            project=self.sweep.sweep_project,
            sweep_id=self.sweep.sweep_id,
            base_url=self.sweep.sweep_base_url,
        )
        job_inputs = AgentJobInputs(
            pods=args.agents,
            scheduling=args.scheduling,
            runtime=args.runtime,
            policy=args.job_policy,
            sweep=sweep,
            namespace=namespace_name,
            instance=instance,
            secret_env_names=tuple(args.secret_env),
        )
        secrets = [s for s in (self.api_key_secret, self.env_secret) if s is not None]
        self.jobs = []
        for slot in range(args.agents.pods):
            spec = agent_job_spec(job_inputs, slot)
            self.jobs.append(
                k8s.batch.v1.Job(
                    f"{name}-agent-{slot}",
                    metadata=agent_job_metadata(job_inputs, slot, spec),
                    spec=spec,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[*secrets, self.lifecycle]),
                )
            )

        self.sweep_id = self.sweep.sweep_id
        self.sweep_path = self.sweep.sweep_path
        self.sweep_url = self.sweep.sweep_url
        self.namespace_name = namespace_name
        self.job_names = pulumi.Output.all(*[job.metadata.apply(lambda m: m.name) for job in self.jobs])
        self.agent_command = pulumi.Output.concat("wandb agent ", sweep.path)
        self.register_outputs(
            {
                "sweep_id": self.sweep_id,
                "sweep_path": self.sweep_path,
                "sweep_url": self.sweep_url,
                "namespace": self.namespace_name,
                "job_names": self.job_names,
                "agent_command": self.agent_command,
            }
        )

    def _secret(
        self,
        resource_name: str,
        secret_name: str,
        data: dict[str, pulumi.Input[str]],
        namespace: pulumi.Input[str],
        instance: str,
    ) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            resource_name,
            metadata={"name": secret_name, "namespace": namespace, "labels": common_labels(instance)},
            type="Opaque",
            string_data=pulumi.Output.secret(data),
            opts=pulumi.ResourceOptions(parent=self),
        )

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

"""WandbSweep: a W&B sweep and the Kubernetes agents that work on it."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .agent_job import (
    API_KEY_ENTRY,
    AgentJobInputs,
    SweepRef,
    agent_job_metadata,
    agent_job_spec,
    common_labels,
)
from .settings import WandbSweepArgs
from .sweep_provider import SweepInputs, WandbSweepResource

API_KEY_SECRET_NAME = "wandb-api-key"


class WandbSweep(pulumi.ComponentResource):
    """Creates (or attaches to) a W&B sweep and runs `args.agents.pods` agent pods for it.

    Children: the Namespace the stack owns, a Secret with WANDB_API_KEY, the sweep
    resource, and one Job per agent pod (see `agent_job` for why).
    """

    namespace: k8s.core.v1.Namespace
    api_key_secret: k8s.core.v1.Secret
    sweep: WandbSweepResource
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

        self.api_key_secret = k8s.core.v1.Secret(
            f"{name}-api-key",
            metadata={
                "name": API_KEY_SECRET_NAME,
                "namespace": namespace_name,
                "labels": common_labels(instance),
            },
            type="Opaque",
            string_data={API_KEY_ENTRY: api_key},
            opts=child,
        )

        self.sweep = WandbSweepResource(
            f"{name}-sweep",
            SweepInputs(
                project=args.wandb.project,
                entity=args.wandb.entity or "",
                base_url=args.wandb.normalized_base_url,
                api_key=api_key,
                on_destroy=args.on_destroy.value,
                config_yaml=args.sweep.config_yaml or "",
                existing_sweep_id=args.sweep.existing_sweep_id or "",
                creation_key=f"{pulumi.get_project()}/{pulumi.get_stack()}/{name}",
                request_timeout=args.wandb.request_timeout,
                call_timeout=args.wandb.call_timeout,
            ),
            opts=child,
        )
        sweep = SweepRef(
            entity=self.sweep.sweep_entity,
            project=self.sweep.sweep_project,
            sweep_id=self.sweep.sweep_id,
            base_url=args.wandb.normalized_base_url,
        )
        job_inputs = AgentJobInputs(
            pods=args.agents,
            scheduling=args.scheduling,
            runtime=args.runtime,
            policy=args.job_policy,
            sweep=sweep,
            namespace=namespace_name,
            secret_name=self.api_key_secret.metadata.apply(lambda m: m.name),
            instance=instance,
        )
        self.jobs = [
            k8s.batch.v1.Job(
                f"{name}-agent-{slot}",
                metadata=agent_job_metadata(job_inputs, slot),
                spec=agent_job_spec(job_inputs, slot),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.api_key_secret]),
            )
            for slot in range(args.agents.pods)
        ]

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

"""wandb-sweeps: read the stack config, deploy one WandbSweep, export what users need.

The program uses the installed `wandb_sweeps` package (requirements.txt: `-e .`)
exactly as any other Pulumi program would. The stack config is read and checked
once (`load_stack_config`), and the component is built from that checked result.
"""

import os
from pathlib import Path

import pulumi

from wandb_sweeps import WandbSweep, load_stack_config, read_pulumi_config
from wandb_sweeps.config.from_stack import FORMER_COMPONENT_NAME

values, secret_keys = read_pulumi_config()
settings = load_stack_config(
    values,
    secret_keys=secret_keys,
    environ=os.environ,
    stack=pulumi.get_stack(),
    project_root=Path(__file__).parent,
)
# Before 0.3.0 the component was always "sweep"; a stack in a given (shared) namespace is
# now named after the stack (`program_component_name`), and the alias carries its sweep over.
renamed = settings.name != FORMER_COMPONENT_NAME
aliases = [pulumi.Alias(name=FORMER_COMPONENT_NAME)] if renamed else None
sweep = WandbSweep.from_settings(settings, pulumi.ResourceOptions(aliases=aliases))

pulumi.export("sweepId", sweep.sweep_id)
pulumi.export("sweepPath", sweep.sweep_path)
pulumi.export("sweepUrl", sweep.sweep_url)
pulumi.export("namespace", sweep.namespace)
pulumi.export("jobNames", sweep.job_names)
pulumi.export("agentCommand", sweep.agent_command)

"""wandb-sweeps: read the stack config, deploy one WandbSweep, export what users need."""

import os
from pathlib import Path

import pulumi

from wandb_sweeps import WandbSweep, load_stack_config
from wandb_sweeps.stack_config import read_pulumi_config

values, secret_keys = read_pulumi_config()
args = load_stack_config(
    values,
    secret_keys=secret_keys,
    environ=os.environ,
    stack=pulumi.get_stack(),
    project_root=Path(__file__).parent,
)
sweep = WandbSweep("sweep", args)

pulumi.export("sweepId", sweep.sweep_id)
pulumi.export("sweepPath", sweep.sweep_path)
pulumi.export("sweepUrl", sweep.sweep_url)
pulumi.export("namespace", sweep.namespace_name)
pulumi.export("jobNames", sweep.job_names)
pulumi.export("agentCommand", sweep.agent_command)

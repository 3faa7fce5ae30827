"""wandb-sweeps: W&B hyperparameter sweeps on Kubernetes, as a Pulumi component.

Modules, from the outside in:
- `wandb_sweep`     the WandbSweep ComponentResource (resource registration only)
- `stack_config`    stack config -> validated `WandbSweepArgs`
- `settings`        the typed, self-validating args
- `sweep_file`      reading the sweep YAML and checking it with W&B's schema
- `agent_job`       pure builders of the agent Job / pod specs
- `agent_launcher.sh` the POSIX sh command each agent pod runs
- `sweep_provider`  the sweep as a dynamic resource (pickled by reference: don't move)
- `wandb_api`       the W&B calls, through the real wandb client
"""

from .errors import ConfigError
from .settings import AgentPods, OnDestroy, SweepSource, WandbSweepArgs, WandbTarget
from .stack_config import load_stack_config
from .wandb_sweep import WandbSweep

__all__ = [
    "AgentPods",
    "ConfigError",
    "OnDestroy",
    "SweepSource",
    "WandbSweep",
    "WandbSweepArgs",
    "WandbTarget",
    "load_stack_config",
]

"""wandb-sweeps: W&B hyperparameter sweeps on Kubernetes, as a Pulumi component.

Modules, from the outside in:
- `wandb_sweep`     the WandbSweep ComponentResource (resource registration only)
- `stack_config`    stack config -> validated `WandbSweepArgs`
- `settings`        the typed, self-validating args
- `pod_settings`    the same for the agent pods and Jobs
- `checks`, `errors` small shared validators; the ConfigError users see
- `k8s_fragments`   user-written pod pieces checked against the Kubernetes schema
- `sweep_file`      reading the sweep YAML and checking it with W&B's schema
- `agent_job`       pure builders of the agent Job / pod specs
- `agent_launcher.sh` the POSIX sh command each agent pod runs
- `sweep_provider`  the sweep's identity and lifecycle as dynamic resources
                    (pickled by reference: don't move)
- `wandb_api`       the W&B calls: reads through the wandb client, create as one POST
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

"""wandb-sweeps: W&B hyperparameter sweeps on Kubernetes, as a Pulumi component.

    from wandb_sweeps import WandbSweep
    WandbSweep("resnet", {"project": "vision", "image": image.ref, "pods": 2, "gpus_per_pod": 1})

Modules, from the outside in:
- `wandb_sweep`     the WandbSweep ComponentResource (resource registration only)
- `args`            its args, a documented TypedDict (the component's public schema)
- `validation`      args -> checked `SweepSettings`, before anything is registered
- `stack_config`    stack config -> args (this repo's program; `config_keys` lists the keys)
- `settings`, `pod_settings` the typed, self-validating settings
- `checks`, `errors` small shared validators; the ConfigError users see
- `k8s_fragments`   user-written pod pieces checked against the Kubernetes schema
- `sweep_file`      reading the sweep YAML and checking it with W&B's schema
- `agent_job`       pure builders of the agent Job / pod specs
- `agent_launcher.sh` the POSIX sh command each agent pod runs
- `sweep_provider`  the sweep's identity and lifecycle as dynamic resources
                    (pickled by reference as `wandb_sweeps.sweep_provider`: don't move)
- `wandb_api`       the W&B calls: reads through the wandb client, create as one POST
"""

from importlib.metadata import PackageNotFoundError, version

from .args import WandbSweepArgs
from .config.from_args import validate_args
from .config.from_stack import args_from_stack_config, load_stack_config, read_pulumi_config
from .config.settings import SweepSettings
from .errors import ConfigError
from .wandb.server import OnDestroy
from .wandb_sweep import WandbSweep

try:
    __version__ = version("wandb-sweeps")
except PackageNotFoundError:  # the source tree, not installed
    __version__ = "0.0.0"

__all__ = [
    "ConfigError",
    "OnDestroy",
    "SweepSettings",
    "WandbSweep",
    "WandbSweepArgs",
    "__version__",
    "args_from_stack_config",
    "load_stack_config",
    "read_pulumi_config",
    "validate_args",
]

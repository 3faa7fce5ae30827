"""wandb-sweeps: W&B hyperparameter sweeps on Kubernetes, as a Pulumi component.

    from wandb_sweeps import WandbSweep
    WandbSweep("resnet", {"project": "vision", "image": image.ref, "pods": 2, "gpus_per_pod": 1})

The folders are the architecture (docs/architecture.md), from the outside in:
- the Pulumi face: `wandb_sweep` (the WandbSweep ComponentResource), `args` (its
  documented TypedDict args), `sweep_resources` and `sweep_provider` (the sweep's
  identity and lifecycle as dynamic resources; pickled by reference as
  `wandb_sweeps.sweep_provider` into every stack's state: never move it)
- `config/`      stack config and args -> one checked `SweepSettings`, before anything is registered
- `wandb/`       the W&B side: sweep file, W&B's schema, transport, operations, adoption
- `kubernetes/`  the Kubernetes side: pod settings and rules, Job builders, the launcher
- `errors`, `checks`  the ConfigError users see; small validators every side shares
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

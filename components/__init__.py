"""wandb-sweeps: W&B hyperparameter sweeps on Kubernetes, as a Pulumi component.

    from wandb_sweeps import WandbSweep
    WandbSweep("resnet", {"project": "vision", "image": image.ref, "pods": 2, "gpus_per_pod": 1})

The folders are the architecture (docs/architecture.md), from the outside in:
- the Pulumi face: `wandb_sweep` (the WandbSweep ComponentResource), `args` (its
  documented TypedDict args), `sweep_resources` and `sweep_provider` (the sweep's
  identity and lifecycle as dynamic resources; pickled by reference as
  `wandb_sweeps.sweep_provider` into every stack's state: never move it)
- `cli/`         the `wandb-sweeps` command (`check`, `status`), beside the face; nothing imports it
- `config/`      stack config and args -> one checked `SweepSettings`, before anything is registered
- `wandb/`       the W&B side: sweep file, W&B's schema, transport, operations, adoption
- `kubernetes/`  the Kubernetes side: pod settings and rules, Job builders, the launcher
- `errors`, `checks`  the ConfigError users see; small validators every side shares

The public names are imported when first used (PEP 562 `__getattr__`), not when the
package is: `wandb-sweeps status` imports `wandb_sweeps.cli` through this package, and
the face's imports (pulumi_kubernetes, the Kubernetes schemas: about half a second)
would be paid by every command for nothing. `from wandb_sweeps import WandbSweep`
works as before.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, for type checkers (the `as` re-exports them)
    from .args import WandbSweepArgs as WandbSweepArgs
    from .config.from_args import validate_args as validate_args
    from .config.from_stack import args_from_stack_config as args_from_stack_config
    from .config.from_stack import load_stack_config as load_stack_config
    from .config.from_stack import read_pulumi_config as read_pulumi_config
    from .config.settings import SweepSettings as SweepSettings
    from .errors import ConfigError as ConfigError
    from .wandb.server import OnDestroy as OnDestroy
    from .wandb_sweep import WandbSweep as WandbSweep

try:
    __version__ = version("wandb-sweeps")
except PackageNotFoundError:  # the source tree, not installed
    __version__ = "0.0.0"

_EXPORTS = {
    "ConfigError": ".errors",
    "OnDestroy": ".wandb.server",
    "SweepSettings": ".config.settings",
    "WandbSweep": ".wandb_sweep",
    "WandbSweepArgs": ".args",
    "args_from_stack_config": ".config.from_stack",
    "load_stack_config": ".config.from_stack",
    "read_pulumi_config": ".config.from_stack",
    "validate_args": ".config.from_args",
}
"""Each public name and the module that defines it."""

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


def __getattr__(name: str) -> Any:
    """A public name, imported from its module the first time it is asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

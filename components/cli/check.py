"""`wandb-sweeps check`: every check `pulumi preview` makes of a stack, with no Pulumi CLI,
cluster, API key or network; for pull-request CI.

A preview checks a stack in three places, and so does this, in the same order and with
the same code, so a key added to the program is checked here without a change:

1. the Pulumi CLI merges and checks the project and stack files (`stack_files`, which
   reads them as the CLI does);
2. the program checks the stack config it is given (`config.from_stack.load_stack_config`,
   what `__main__.py` calls);
3. the sweep provider's `check` runs W&B's own schema on the sweep file
   (`wandb.schema.schema_problem`, the pure function behind `SweepProvider.check`).

A preview stops at the first place that fails; this reports every problem of all three.
What only W&B or the cluster can tell is left to the preview: whether `sweepId` exists,
whether the API key works, and what the API server's admission adds. The API key is
never read: an encrypted value is a placeholder (`stack_files`), and so is the
WANDB_API_KEY of the deploying shell, which this process may not have.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

SHELL_KEY_PLACEHOLDER = "given_by_the_deploying_shell_not_read_by_check"
"""What the program is given for WANDB_API_KEY: the key comes from the shell that runs
`pulumi up`, which this one is not. The form of a W&B API key (config/reader.py API_KEY)."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check a stack as `pulumi preview` would, offline",
        description=(
            "Check Pulumi.yaml, Pulumi.<stack>.yaml and the sweep file as `pulumi preview` "
            "would, W&B's sweep schema included, with no Pulumi CLI, cluster, API key or "
            "network. Exit status: 0 no problem, 1 problems (all are printed), 2 usage error."
        ),
    )
    parser.add_argument(
        "--stack",
        "-s",
        metavar="NAME",
        help="the stack (dev, org/dev); optional when the project has one Pulumi.<stack>.yaml",
    )
    parser.add_argument(
        "--cwd",
        metavar="DIR",
        type=Path,
        help="the project folder, or a folder inside it (default: the working directory)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .stack_files import UsageError, read_stack_files

    try:
        files = read_stack_files(args.cwd or Path.cwd(), args.stack)
    except UsageError as error:
        print(f"wandb-sweeps check: error: {error}", file=sys.stderr)
        return 2
    for warning in files.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    warnings: list[str] = []
    problems = stack_problems(files, os.environ, warnings)
    for warning in warnings:  # advice, not a failure: the exit status stays the problems'
        print(f"warning: {warning}", file=sys.stderr)
    where = f"stack '{files.stack}' ({_shown_path(files.stack_file)})"
    if not problems:
        print(
            f"wandb-sweeps check: {where}: no problems; `pulumi preview` would find none of its checks failing."
        )
        return 0
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    print(f"wandb-sweeps check: {where}: {count}; `pulumi preview` would stop with:")
    for problem in problems:
        print("  - " + problem.replace("\n", "\n    "))
    return 1


def stack_problems(
    files: Any, environ: dict[str, str] | os._Environ[str], warnings: list[str] | None = None
) -> list[str]:
    """Every problem of the stack `files` (a `stack_files.StackFiles`): the CLI's, the
    program's, then W&B's schema's, in the words each gives them. A stack whose settings
    load adds its advice to `warnings` (`scale_warnings`: too many agents on one key)."""
    from ..config.from_stack import load_stack_config, stack_sweep_source
    from ..config.scale_warnings import scale_warnings
    from ..errors import ConfigError
    from ..wandb.schema import schema_problem

    problems = list(files.problems)
    if not files.readable:
        return problems
    shell = {name: value for name, value in environ.items() if name != "WANDB_API_KEY"}
    shell["WANDB_API_KEY"] = SHELL_KEY_PLACEHOLDER
    config, secret_keys = files.program_config, files.secret_keys
    sweep = None
    try:
        settings = load_stack_config(
            config, secret_keys=secret_keys, environ=shell, stack=files.stack, project_root=files.program_dir
        )
        sweep = settings.sweep
        if warnings is not None:
            warnings.extend(scale_warnings(settings))
    except ConfigError as error:
        problems.extend(p for p in error.problems if p not in problems)
        try:  # the sweep file alone, so that W&B's verdict on it comes in the same run
            sweep = stack_sweep_source(config, project_root=files.program_dir)
        except ConfigError:
            sweep = None  # its problem is among the program's already
    if sweep is not None and sweep.config_yaml:
        problem = schema_problem(sweep.config_yaml, sweep.config_source or "the sweep config")
        if problem:
            problems.append(problem)
    return problems


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)

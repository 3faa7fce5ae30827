"""`wandb-sweeps COMMAND`: the subcommands wired into one argparse parser.

Exit status: 0 all is well, 1 a problem found, 2 a usage error (argparse's own
usage errors exit 2 as well).
"""

from __future__ import annotations

import argparse

from . import check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="wandb-sweeps",
        description="W&B sweeps on Kubernetes with Pulumi: tools for the project folder.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in (check,):
        mod.add_parser(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code

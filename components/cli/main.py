"""`wandb-sweeps COMMAND ...`: the parser, and the dispatch to each subcommand's `run`."""

from __future__ import annotations

import argparse

from .. import __version__
from . import check, status


def parser() -> argparse.ArgumentParser:
    """The `wandb-sweeps` parser with every subcommand (each module adds its own)."""
    top = argparse.ArgumentParser(
        prog="wandb-sweeps",
        description="W&B sweeps on Kubernetes: commands beside the Pulumi program.",
        epilog="Exit codes: 0 done, 1 a problem found (in the stack, the sweep or the server), 2 usage.",
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in (check, status):
        mod.add_parser(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (argparse exits 2 itself on bad usage)."""
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130  # interrupted (a watch stopped with Ctrl-C): the shell's convention
    return code

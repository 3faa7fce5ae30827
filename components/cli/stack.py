"""What a Pulumi stack says about its sweep: its outputs and its config, from the Pulumi CLI.

The CLI is the one reader of a stack that knows every backend (a file, Pulumi Cloud, S3
...) and every source of config (the stack file, `Pulumi.yaml` defaults, ESC
environments), so it is asked, as a child process, without a shell:

- `pulumi stack output --json [--stack=NAME]`: every output as one JSON object, indented,
  with a secret output shown as the string "[secret]" unless `--show-secrets` is given
  (pulumi/pulumi `pkg/cmd/pulumi/stack/stack_output.go`, `stackOutputCmd.Run` with
  `jsonStackOutputWriter`, and `pkg/backend/display/json.go`, `massagePropertyValue`).
  Never `--show-secrets`: `sweepPath` is not secret, and no secret is needed here.
- `pulumi config --json [--stack=NAME]`: `{"<namespace>:<key>": {"value": "<text>",
  "objectValue": ..., "secret": bool}}`, where a secret has no `value` unless
  `--show-secrets` (`pkg/cmd/pulumi/config/config.go`, `listConfig`, `configValueJSON`),
  project defaults and ESC environments applied (`ApplyProjectConfig`).

Without `--stack`, the CLI takes the stack `pulumi stack select` chose. The child gets
this process's environment without WANDB_API_KEY (it has no use for it), stdin closed
(a prompt would wait for ever), and PULUMI_TIMEOUT_SECONDS to answer; its error
output is shown cut and without escape sequences. A failing `pulumi` exits with
non-zero status and says why on stderr (exit 6 is "no stack named ... found",
`sdk/go/common/util/cmdutil/exit.go`, `ExitStackNotFound`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..wandb.server import SweepPath, parse_sweep_path
from ..wandb.transport import printable

PULUMI_TIMEOUT_SECONDS = 120
"""How long one `pulumi` command may take (a Pulumi Cloud backend answers in seconds)."""

STACK_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./")
"""What a stack name (or `org/project/stack`) is made of, as Pulumi allows it."""

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")


class StackError(Exception):
    """The stack does not name a sweep this command can read; the message says why."""


def stack_problem(name: str) -> str | None:
    """Why `name` cannot be a stack name, or None."""
    if not name or len(name) > 200 or name.startswith("-") or not set(name) <= STACK_NAME_CHARS:
        return (
            f"-s/--stack: {printable(repr(name), 80)} is not a Pulumi stack name (letters, digits, "
            "'-', '_', '.', and '/' in ORG/PROJECT/STACK)."
        )
    return None


def _pulumi_json(command: list[str], stack: str | None, cwd: Path) -> Any:
    """The JSON `pulumi <command> --json [--stack=STACK]` prints; StackError if it fails."""
    executable = shutil.which("pulumi")
    shown = " ".join(["pulumi", *command, "--json", *([f"--stack={stack}"] if stack else [])])
    if executable is None:
        raise StackError(
            "the Pulumi CLI (`pulumi`) is not on PATH, and -s/--stack reads the stack through it. "
            "Install it (https://www.pulumi.com/docs/install/), or name the sweep with "
            "--sweep ENTITY/PROJECT/ID (`pulumi stack output sweepPath` on a machine that has it)."
        )
    environ = {name: value for name, value in os.environ.items() if name != "WANDB_API_KEY"}
    argv = [executable, *command, "--json", *([f"--stack={stack}"] if stack else [])]
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=environ,
            cwd=cwd,
            timeout=PULUMI_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StackError(f"`{shown}` did not finish within {PULUMI_TIMEOUT_SECONDS} s.") from None
    except OSError as error:
        raise StackError(f"`{shown}` could not be run: {printable(str(error))}.") from None
    if done.returncode != 0:
        said = printable(done.stderr.decode("utf-8", "replace"), 400) or "no message"
        raise StackError(f"`{shown}` failed (exit status {done.returncode}): {said}")
    try:
        return json.loads(done.stdout)
    except (ValueError, RecursionError):
        raise StackError(f"`{shown}` printed something that is not JSON.") from None


def stack_outputs(stack: str | None, cwd: Path) -> dict[str, Any]:
    """The stack's outputs (`pulumi stack output --json`)."""
    outputs = _pulumi_json(["stack", "output"], stack, cwd)
    if not isinstance(outputs, dict):
        raise StackError("`pulumi stack output --json` did not print a JSON object.")
    return outputs


def stack_config(stack: str | None, cwd: Path) -> dict[str, object]:
    """The stack's config as `load_stack_config` takes it: full key -> text. Secrets
    (which the CLI prints without a value) are left out."""
    listed = _pulumi_json(["config"], stack, cwd)
    if not isinstance(listed, dict):
        raise StackError("`pulumi config --json` did not print a JSON object.")
    return {
        key: entry["value"]
        for key, entry in listed.items()
        if isinstance(key, str) and isinstance(entry, dict) and isinstance(entry.get("value"), str)
    }


def sweep_path_output(outputs: Mapping[str, Any], stack: str | None) -> SweepPath:
    """The sweep the stack's `sweepPath` output names, checked."""
    named = f"stack {stack}" if stack else "the selected stack"
    value = outputs.get("sweepPath")
    if value is None:
        raise StackError(
            f"{named} has no sweepPath output: it was never deployed (`pulumi up`), or it is not a "
            "wandb-sweeps stack. Name the sweep with --sweep ENTITY/PROJECT/ID instead."
        )
    if value == "[secret]":
        raise StackError(
            f"{named} marks its sweepPath output secret, so `pulumi stack output` does not show it; "
            "name the sweep with --sweep ENTITY/PROJECT/ID instead."
        )
    path = parse_sweep_path(value)
    if path is None:
        raise StackError(
            f"{named}'s sweepPath output is {printable(repr(value), 100)}, not ENTITY/PROJECT/ID."
        )
    return path


def project_root(start: Path) -> Path | None:
    """The Pulumi project folder: `start` or the nearest folder above it with a
    Pulumi.yaml, where the CLI finds the project too; None if there is none."""
    for folder in (start, *start.parents):
        if any((folder / name).is_file() for name in PROJECT_FILES):
            return folder
    return None

"""`wandb-sweeps status`: how a sweep is doing, in a terminal or a CI log, once or until it ends.

Which sweep: `--sweep ENTITY/PROJECT/ID`, or a stack's `sweepPath` output (`-s STACK`,
or the selected stack), read through the Pulumi CLI (`stack`). Which server: `--base-url`,
else the stack's `baseUrl`, else WANDB_BASE_URL, else the hosted W&B: the order a deploy
uses, so `-s` reads the server the sweep was made on (unless the deploying shell's
WANDB_BASE_URL chose it and this shell's differs). A stack's `caCertificate` and its two
timeouts apply as at deploy time; `--request-timeout`/`--call-timeout` override them.
The key is WANDB_API_KEY's, checked for its form first and never shown, not even in an
error; the requests are the deploy-time calls' (`transport`: deadline, size cap, TLS, no
redirect, proxies) through `status_queries`.

Exit codes: 0 the status was shown (a watch: the sweep FINISHED); 1 the sweep or the
server has a problem (unknown sweep, rejected key, server down or refusing; a watch: the
sweep CANCELED or failed, `--timeout`); 2 usage, and anything that stops the command
before it asks W&B (no key, a bad path, an unknown stack, bad stack config).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..wandb.server import (
    DEFAULT_BASE_URL,
    DEFAULT_CALL_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
    SweepPath,
    base_url_problem,
    normalize_base_url,
    parse_sweep_path,
)
from ..wandb.status_queries import read_status
from ..wandb.sweep_status import SweepStatus
from ..wandb.transport import WandbAccess, WandbAuthError, WandbError, WandbUnavailable, printable
from .render import json_text, table
from .stack import StackError, project_root, stack_config, stack_outputs, stack_problem, sweep_path_output
from .watch import DEFAULT_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS, Progress, Timing, watch

PROG = "wandb-sweeps status"

EXIT_CODES = """\
exit codes:
  0  shown (with --watch: the sweep FINISHED)
  1  the sweep or the server has a problem: unknown sweep, rejected key, server down;
     with --watch also CANCELED, every run failed, or --timeout
  2  usage: bad arguments, no WANDB_API_KEY, or a stack that names no sweep
"""


class UsageError(Exception):
    """The command cannot start: nothing was asked of W&B. The message says what to fix."""


@dataclass(frozen=True)
class Target:
    """The sweep to show, the server and key to ask, and its page in the W&B app."""

    path: SweepPath
    access: WandbAccess
    url: str


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show a sweep's progress: runs by state, the best run, the agents",
        description="Show a sweep's progress: its state, runs by state, runs expected, the best run "
        "by the sweep's metric, and the agents W&B sees. The key comes from WANDB_API_KEY.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "-s", "--stack", metavar="STACK", help="the stack whose sweepPath output names the sweep"
    )
    which.add_argument("--sweep", metavar="ENTITY/PROJECT/ID", help="the sweep, without a stack")
    parser.add_argument(
        "--base-url", metavar="URL", help="the W&B server (default: the stack's, WANDB_BASE_URL)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument(
        "--watch", action="store_true", help="refresh until the sweep ends; exit code says how"
    )
    parser.add_argument(
        "--interval",
        type=_seconds(MIN_INTERVAL_SECONDS),
        metavar="SECONDS",
        help=f"--watch: seconds between refreshes (default {DEFAULT_INTERVAL_SECONDS:g}, at least "
        f"{MIN_INTERVAL_SECONDS:g})",
    )
    parser.add_argument(
        "--timeout", type=_seconds(1), metavar="SECONDS", help="--watch: give up (exit 1) after"
    )
    parser.add_argument("--request-timeout", type=_seconds(1), metavar="SECONDS", help="one request at most")
    parser.add_argument("--call-timeout", type=_seconds(1), metavar="SECONDS", help="one call with retries")
    parser.set_defaults(func=run)


def _seconds(minimum: float) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not value >= minimum or value > 7 * 86400:
            raise argparse.ArgumentTypeError(f"must be from {minimum:g} to 604800 seconds, got {text}")
        return value

    return parse


def run(args: argparse.Namespace, *, timing: Timing | None = None) -> int:
    """The command; `timing` replaces the watch's clock and waits (tests)."""
    try:
        target = resolve(args, os.environ, Path.cwd())
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    scrub = target.access.scrub
    try:
        if not args.watch:
            _write(sys.stdout, _shown(read_status(target.access, target.path), target, args), scrub)
            return 0
        timing = timing or Timing(interval=args.interval or DEFAULT_INTERVAL_SECONDS, timeout=args.timeout)
        progress = Progress(sys.stderr if args.json else sys.stdout, timing)
        ended, last = watch(lambda: read_status(target.access, target.path), timing, progress, scrub)
        if last is not None:
            _write(sys.stdout, _shown(last, target, args), scrub)
        print(scrub(f"{PROG}: {ended.reason}"), file=sys.stderr)
        return ended.code
    except WandbAuthError:
        print(
            f"{PROG}: error: W&B at {target.access.base_url} rejected the API key in WANDB_API_KEY "
            f"(HTTP 401/403) while reading sweep {target.path}. Check that it is a key of this server "
            "(keys are listed at <W&B app>/authorize) and of a member of the sweep's entity; the key "
            "itself is never shown.",
            file=sys.stderr,
        )
        return 1
    except WandbUnavailable as error:
        hint = " Here: --request-timeout and --call-timeout." if args.sweep is not None else ""
        print(scrub(f"{PROG}: error: {error}{hint}"), file=sys.stderr)
        return 1
    except WandbError as error:
        print(scrub(f"{PROG}: error: {error}"), file=sys.stderr)
        return 1


def _shown(status: SweepStatus, target: Target, args: argparse.Namespace) -> str:
    return json_text(status, target.url) + "\n" if args.json else table(status, target.url)


def _write(stream: TextIO, text: str, scrub: Any) -> None:
    stream.write(scrub(text))
    stream.flush()


def resolve(args: argparse.Namespace, environ: Any, cwd: Path) -> Target:
    """The sweep, server and key the arguments and environment name; UsageError if they
    name none (nothing is asked of W&B before this returns)."""
    if not args.watch and (args.interval is not None or args.timeout is not None):
        raise UsageError("--interval and --timeout go with --watch.")
    key = environ.get("WANDB_API_KEY") or ""
    if not key.strip():
        raise UsageError(
            "WANDB_API_KEY is not set: export the W&B API key first (the stack's own, if it keeps "
            "one: `export WANDB_API_KEY=$(pulumi config get wandb-sweeps:wandbApiKey -s STACK)`)."
        )
    from ..config.reader import api_key_problem  # imports pulumi: only once a key is there

    problem = api_key_problem("WANDB_API_KEY (environment)", key)
    if problem:
        raise UsageError(problem)
    if args.sweep is not None:
        return _sweep_target(args, environ, key.strip())
    return _stack_target(args, environ, key.strip(), cwd)


def _sweep_target(args: argparse.Namespace, environ: Any, key: str) -> Target:
    path = parse_sweep_path(args.sweep)
    if path is None:
        raise UsageError(
            f"--sweep: {printable(repr(args.sweep), 100)} is not ENTITY/PROJECT/ID (W&B names of letters, "
            "digits, '-', '_' and '.', and the sweep id, e.g. alice/vision/a1b2c3d4: the end of the "
            "sweep's URL without /sweeps)."
        )
    base_url, source = args.base_url, "--base-url"
    if base_url is None:
        base_url = (environ.get("WANDB_BASE_URL") or "").strip() or DEFAULT_BASE_URL
        source = "WANDB_BASE_URL (environment)"
    access = _access(base_url, source, key, args, DEFAULT_REQUEST_TIMEOUT, DEFAULT_CALL_TIMEOUT, "")
    from ..wandb.server import sweep_url  # imports wandb (its URL rules): only here

    return Target(path, access, sweep_url(access.base_url, path))


def _stack_target(args: argparse.Namespace, environ: Any, key: str, cwd: Path) -> Target:
    from ..config.from_stack import wandb_target_from_stack  # imports pulumi and the config
    from ..errors import ConfigError

    stack = args.stack
    if stack is not None and (problem := stack_problem(stack)):
        raise UsageError(problem)
    named = f"stack {stack}" if stack else "the selected stack"
    try:
        outputs = stack_outputs(stack, cwd)
        path = sweep_path_output(outputs, stack)
        values = stack_config(stack, cwd)
    except StackError as error:
        raise UsageError(str(error)) from None
    try:
        found = wandb_target_from_stack(values, environ=environ, project_root=project_root(cwd) or cwd)
    except ConfigError as error:
        problems = "; ".join(error.problems)
        raise UsageError(f"the config of {named}: {problems}") from None
    base_url, source = args.base_url, "--base-url"
    if base_url is None:
        base_url = found.base_url or found.default_base_url
        source = "baseUrl (stack config)" if found.base_url else found.default_base_url_source
    ca = found.ca_certificate.pem if found.ca_certificate is not None else ""
    access = _access(base_url, source, key, args, found.request_timeout, found.call_timeout, ca)
    url = outputs.get("sweepUrl")
    if not (isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 400):
        from ..wandb.server import sweep_url

        url = sweep_url(access.base_url, path)
    return Target(path, access, printable(url, 400))


def _access(
    base_url: str,
    source: str,
    key: str,
    args: argparse.Namespace,
    request_timeout: float,
    call_timeout: float,
    ca_certificate: str,
) -> WandbAccess:
    problem = base_url_problem(source, base_url)
    if problem:
        raise UsageError(problem)
    request = args.request_timeout or request_timeout
    call = args.call_timeout or call_timeout
    if call < request:
        raise UsageError(f"--call-timeout ({call:g} s) must be at least the request timeout ({request:g} s).")
    return WandbAccess(
        base_url=normalize_base_url(base_url),
        api_key=key,
        request_timeout=request,
        call_timeout=call,
        ca_certificate=ca_certificate,
    )

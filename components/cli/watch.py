"""`status --watch`: refresh until the sweep is over, and say with the exit code how it ended.

A CI job waits on a sweep with it, so it must end on its own: when the sweep is
FINISHED (0, unless every run it has failed), CANCELED or FAILED/CRASHED (1), when
every run failed and nothing is left alive to make another (1: `wandb agent` gives up
with exit 0 after repeated failures and leaves the sweep RUNNING for ever), after
`--timeout` (1), or after W&B has not answered for DOWN_LIMIT_SECONDS in a row (1).
A rejected key, an unknown or deleted sweep, an untrusted certificate or a redirect
end it at once (1): waiting cannot mend them.

Between refreshes it sleeps the interval (30 s by default, at least MIN_INTERVAL_SECONDS:
each refresh is several requests, `status_queries`); while W&B does not answer, twice the
last wait each time, up to MAX_BACKOFF_SECONDS. Everything that takes time comes in a
`Timing`, so tests run a watch in milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from ..wandb.sweep_status import SweepStatus
from ..wandb.transport import WandbUnavailable, printable
from .render import progress_line

DEFAULT_INTERVAL_SECONDS = 30.0
MIN_INTERVAL_SECONDS = 5.0
"""Agents heartbeat every 5 s: nothing changes faster, and each refresh costs requests."""
MAX_BACKOFF_SECONDS = 300.0
DOWN_LIMIT_SECONDS = 600.0
"""How long W&B may fail to answer, refresh after refresh, before the watch gives up."""
PLAIN_LINE_EVERY_SECONDS = 300.0
"""Without a terminal, a line is printed when something changed, and at least this often
(CI systems stop a job that prints nothing for long)."""


@dataclass(frozen=True)
class Timing:
    """How long a watch waits, and with what clock: the CLI's defaults, or a test's."""

    interval: float = DEFAULT_INTERVAL_SECONDS
    max_backoff: float = MAX_BACKOFF_SECONDS
    down_limit: float = DOWN_LIMIT_SECONDS
    timeout: float | None = None
    """`--timeout`: seconds the watch may last; None: until the sweep is over."""
    plain_every: float = PLAIN_LINE_EVERY_SECONDS
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class Verdict:
    """How the sweep ended for a watch: the exit code and why."""

    code: int
    reason: str


def verdict(status: SweepStatus) -> Verdict | None:
    """The watch's end at this refresh, or None while the sweep may still get somewhere."""
    runs = status.runs
    all_failed = runs.counted > 0 and runs.failed == runs.counted and runs.total == runs.counted
    if status.state == "FINISHED":
        if all_failed:
            return Verdict(1, f"the sweep is FINISHED, but all {runs.failed} of its runs failed")
        return Verdict(0, "the sweep is FINISHED")
    if status.final:
        return Verdict(1, f"the sweep is {status.state}")
    if status.only_failures_left:
        return Verdict(
            1,
            f"all {runs.failed} runs of the sweep failed, none is running and no agent is alive "
            f"(the sweep stays {status.state} on W&B until someone stops it or starts agents)",
        )
    return None


class Progress:
    """Where a watch reports each refresh: a line redrawn in place on a terminal, plain
    lines (on change, and every `plain_every` seconds) otherwise."""

    def __init__(self, stream: TextIO, timing: Timing) -> None:
        self.stream = stream
        self.bar = stream.isatty()
        self.timing = timing
        self.frame = 0
        self.last = ""
        self.last_at: float | None = None
        self.drawn = False

    def show(self, status: SweepStatus, scrub: Callable[[str], str]) -> None:
        line = scrub(progress_line(status, self.frame, bar=self.bar))
        self.frame += 1
        if self.bar:
            self.stream.write(f"\r\x1b[2K{line}")
            self.drawn = True
        else:
            now = self.timing.clock()
            content = line.split(" ", 1)[1]  # without the time
            due = self.last_at is None or now - self.last_at >= self.timing.plain_every
            if content == self.last and not due:
                return
            self.stream.write(line + "\n")
            self.last, self.last_at = content, now
        self.stream.flush()

    def note(self, text: str) -> None:
        """A message between refreshes (W&B not answering), on a line of its own."""
        self.end_line()
        self.stream.write(text + "\n")
        self.stream.flush()

    def end_line(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False


def watch(
    refresh: Callable[[], SweepStatus], timing: Timing, progress: Progress, scrub: Callable[[str], str]
) -> tuple[Verdict, SweepStatus | None]:
    """Refresh until `verdict` ends the watch, `timing.timeout` passes, or W&B has failed
    to answer for `timing.down_limit`; returns how it ended and the last status seen.
    Raises the W&B errors that waiting cannot mend."""
    start = timing.clock()
    failing_since: float | None = None
    wait = timing.interval
    last: SweepStatus | None = None
    while True:
        try:
            last = refresh()
        except WandbUnavailable as error:
            now = timing.clock()
            failing_since = now if failing_since is None else failing_since
            if now - failing_since >= timing.down_limit:
                raise WandbUnavailable(
                    f"{error} It has not answered for {now - failing_since:.0f} s in a row; the watch "
                    "gives up."
                ) from None
            wait = min(wait * 2, timing.max_backoff) if failing_since != now else timing.interval
            progress.note(scrub(f"{printable(str(error), 240)} Next try in {wait:g} s."))
        else:
            failing_since, wait = None, timing.interval
            progress.show(last, scrub)
            ended = verdict(last)
            if ended is not None:
                progress.end_line()
                return ended, last
        elapsed = timing.clock() - start
        if timing.timeout is not None and elapsed + wait > timing.timeout:
            progress.end_line()
            state = last.state if last is not None else "unknown"
            return Verdict(1, f"the sweep is still {state} after the --timeout of {timing.timeout:g} s"), last
        timing.sleep(wait)

"""The one error type a user meets for bad input, before anything is created."""

from __future__ import annotations

from collections.abc import Iterable

import pulumi


class ConfigError(pulumi.RunError):
    """Bad stack config or sweep file.

    A `pulumi.RunError` so the CLI prints the message alone, without a Python
    traceback. Carries every problem found, so one `pulumi up` shows them all.
    Messages name the config key or file and what is allowed; they never quote a
    secret value.
    """

    def __init__(self, problems: Iterable[str]):
        self.problems: tuple[str, ...] = tuple(problems)
        if len(self.problems) == 1:
            text = f"Invalid configuration: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            text = f"Invalid configuration ({len(self.problems)} problems):\n{lines}"
        super().__init__(text)


class ProblemList:
    """Collects problems so validation reports all of them at once."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, problem: str) -> None:
        if problem not in self.problems:  # a value read twice is reported once
            self.problems.append(problem)

    def extend(self, problems: Iterable[str]) -> None:
        for problem in problems:
            self.add(problem)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)

"""Read the W&B sweep config file and check it with W&B's own schema.

The text is kept as the user wrote it: it travels to W&B as text, because the
Pulumi engine would turn every number of a dict into a float (16 -> 16.0).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


@dataclass(frozen=True)
class SweepFile:
    path: Path
    text: str
    config: dict[str, Any]


def parse_sweep_config(text: str) -> dict[str, Any]:
    """The sweep config as data; the provider compares these, not the text, so
    editing a comment does not start a new sweep."""
    return yaml.safe_load(text)


def load_sweep_file(project_root: Path, relative_path: str) -> SweepFile:
    path = (project_root / relative_path).resolve()
    where = f"sweepConfig: {relative_path!r} ({path})"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{where} does not exist; point sweepConfig at your W&B sweep YAML."]) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as error:
        raise ConfigError(
            [f"{where} cannot be read as a UTF-8 text file: {error.strerror or error}."]
        ) from None
    try:
        config = parse_sweep_config(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError([f"{where} is not valid YAML{at}: {problem}."]) from None
    if not isinstance(config, dict):
        raise ConfigError(
            [
                f"{where} must be a YAML mapping with method, metric and parameters, "
                f"got {type(config).__name__}."
            ]
        )
    violations = sweep_config_violations(config)
    if violations:
        raise ConfigError([f"{where} is rejected by W&B's sweep schema: {'; '.join(violations)}."])
    return SweepFile(path=path, text=text, config=config)


def sweep_config_violations(config: dict[str, Any]) -> list[str]:
    """What W&B's sweep-config schema (the `sweeps` package) and its agent reject."""
    with warnings.catch_warnings():
        # sweeps imports pydantic v1-style settings; the warning means nothing to users.
        warnings.simplefilter("ignore")
        from sweeps import schema_violations_from_proposed_config
        from sweeps.bayes_search import bayes_baseline_validate_and_fill

    found = list(dict.fromkeys(schema_violations_from_proposed_config(config)))
    if config.get("method") == "bayes" and not found:
        try:
            bayes_baseline_validate_and_fill(config)
        except (ValueError, KeyError) as error:
            found.append(str(error).strip("'\""))
    if "program" not in config and "command" not in config:
        found.append("'program' (the training script the agent runs) or 'command' is required")
    return found

"""Read the W&B sweep config file and check it with W&B's own schema.

The text is kept as the user wrote it: it travels to W&B as text, because the
Pulumi engine would turn every number of a dict into a float (16 -> 16.0).

Whatever the file holds, the result is the sweep or a ConfigError that names the
file and, where it can, the path inside it (`parameters.lr.distribution`). The
checks run in layers, each on what the one before has made safe:

1. the file is read (it must lie inside the project folder, symlinks resolved,
   and be at most MAX_FILE_BYTES) and parsed as YAML, bounded: the parser stops
   past MAX_DEPTH levels, and what the YAML aliases and merge keys (`<<`) would
   expand to is counted on the parsed node graph before any Python value is built
   (MAX_VALUES, MAX_EXPANDED_CHARS), so that no file, whatever it holds, costs
   more than a fraction of a second and a few MB to check;
2. it is a sweep config at all (a mapping with `method`, which W&B requires): a
   file that is not one, a kubeconfig say, gets an error that quotes nothing of it;
   then its shape is one W&B can keep at all (JSON-like values, finite numbers, text
   keys, no alias that contains itself);
3. W&B's JSON schema (from the `sweeps` package), with a path for every problem;
4. the checks `sweeps` makes in code (min < max, probabilities, bayes needs a
   metric), run only on the shapes that code assumes (`parameters` a mapping of
   name -> mapping, ...), since it crashes on others;
5. the wandb client's own filling-in that the sweep's create applies.

Layers 1 and 2 (`load_sweep_file`) run in the program, before anything is
registered; 3 to 5 (`schema_problem`) in the sweep provider's `check`, at preview,
so that the program process never imports W&B's `sweeps` package.

Every third-party call is guarded as well: if a new release crashes on a shape
that these checks let through, the user still gets a named error, not a traceback.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..checks import file_in_project, read_project_file, shown, type_name
from ..errors import ConfigError

MAX_DEPTH = 64
"""Sweep configs are a few levels deep; past this, something generated the file wrong."""


MAX_FILE_BYTES = 32 * 1024
"""A sweep config is a few hundred bytes to a few KB. PyYAML's parser (pure Python)
takes about 0.35 s for 32 KiB of the densest YAML (`[1,1,1,...]`), and both the
program and the sweep provider parse the file."""


MAX_VALUES = 10_000
"""Keys and values once YAML aliases and merge keys are expanded (W&B stores the
config expanded, as JSON); a real sweep config has a few dozen. Counted before
construction: a 500-byte file of nested aliases or merges ("billion laughs") stands
for billions, and PyYAML up to 6.0.3 builds every merged entry (exponential time)."""


MAX_PARAMETERS = 100
"""Parameters, nested ones included, once aliases are expanded; a sweep searches a
few dozen at most. W&B's schema check costs about 1.7 ms per parameter (2,400 took
4 s), the one cost that grows with the config faster than the file does."""


MAX_EXPANDED_CHARS = 1_000_000
"""Characters of text once aliases are expanded: one long string referred to
thousands of times is one value in the file and megabytes in every message,
schema check and request built from it."""


SWEEP_MARKER = "method"
"""The key every W&B sweep config has (W&B's schema requires it). A file without it
is not one, and messages about it quote nothing of it: it may be anything a
misconfigured sweepConfig points at (a kubeconfig, a key file)."""


MAX_LISTED = 5
"""Problems listed per file; the rest are counted."""


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class SweepFile:
    path: Path
    text: str
    config: dict[str, Any]


class SweepTooLarge(ValueError):
    """The text is past one of the bounds (bytes, depth, expanded size): refused
    before it costs anything. Its message says which, and quotes nothing of it."""


def parse_sweep_config(text: str) -> Any:
    """The sweep config as data; the provider compares these, not the text, so
    editing a comment does not start a new sweep.

    Bounded whatever `text` holds: raises SweepTooLarge past MAX_FILE_BYTES,
    MAX_DEPTH, MAX_VALUES or MAX_EXPANDED_CHARS, else what `yaml.safe_load` raises
    or returns.
    """
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise SweepTooLarge(f"is larger than {MAX_FILE_BYTES} bytes; a sweep config is a few KB")
    return yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader: plain data only


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, bounded: it refuses to nest past MAX_DEPTH while it parses,
    and checks what the parsed nodes expand to before the constructor builds anything
    (`_check_expansion`). Nodes share what aliases share, so that check is linear in
    the file; building the values is not (a merge copies entries)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._levels = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        nested = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        if nested:
            self._levels += 1
            if self._levels > MAX_DEPTH:
                raise SweepTooLarge(f"is nested more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self._levels -= 1

    def construct_document(self, node: Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _check_expansion(root: Node) -> None:
    """Raise SweepTooLarge if the document rooted at `root` would expand, with its
    aliases and merge keys, past MAX_VALUES nodes, MAX_EXPANDED_CHARS characters or
    MAX_DEPTH levels. Each node is measured once (aliases point at the same node);
    the walk goes at most MAX_DEPTH levels down. An alias to a node that contains it
    is left for `shape_problems` to report with its path, unless it is merged (`<<`)
    into itself, which PyYAML would follow for ever."""
    measured: dict[int, tuple[int, int, int]] = {}  # id -> (nodes, characters, levels)
    open_nodes: set[int] = set()

    def measure(node: Node, above: int, merged: bool) -> tuple[int, int, int]:
        if isinstance(node, ScalarNode):
            return 1, len(node.value), 0
        key = id(node)
        if key in open_nodes:
            if merged:
                raise SweepTooLarge("merges (<<) a mapping into itself")
            return 1, 0, 0
        if key not in measured:
            if above >= MAX_DEPTH:
                raise SweepTooLarge(
                    f"is nested more than {MAX_DEPTH} levels deep once YAML aliases are expanded"
                )
            open_nodes.add(key)
            nodes, chars, levels = 1, 0, 1
            for child, merging in _children(node, merged):
                n, c, depth = measure(child, above + 1, merging)
                nodes, chars, levels = nodes + n, chars + c, max(levels, depth + 1)
                if nodes > MAX_VALUES:
                    raise SweepTooLarge(
                        f"has more than {MAX_VALUES} keys and values once YAML aliases and merge keys (<<) "
                        "are expanded"
                    )
                if chars > MAX_EXPANDED_CHARS:
                    raise SweepTooLarge(
                        f"holds more than {MAX_EXPANDED_CHARS} characters of text once YAML aliases and "
                        "merge keys (<<) are expanded"
                    )
            open_nodes.discard(key)
            measured[key] = nodes, chars, levels
        if above + measured[key][2] > MAX_DEPTH:
            raise SweepTooLarge(f"is nested more than {MAX_DEPTH} levels deep once YAML aliases are expanded")
        return measured[key]

    measure(root, 0, False)


def _children(node: Node, merged: bool) -> list[tuple[Node, bool]]:
    """A collection node's children, each with whether it is merged (`<<`) into a mapping."""
    if isinstance(node, SequenceNode):
        return [(child, merged) for child in node.value]
    if isinstance(node, MappingNode):
        return [
            (child, child is value and key.tag == _MERGE_TAG)
            for key, value in node.value
            for child in (key, value)
        ]
    return []


def load_sweep_file(project_root: Path, relative_path: str) -> SweepFile:
    """The sweep config file `relative_path` (relative to `project_root`, or absolute),
    checked through layer 2. It must lie inside `project_root` once every symlink is
    resolved: the deploying machine's other files (a kubeconfig, ~/.ssh) are no
    sweep config, and a message about them could show what they hold."""
    path, where = file_in_project(project_root, relative_path, "sweepConfig", "the sweep config")
    text = read_project_file(
        path,
        where,
        max_bytes=MAX_FILE_BYTES,
        point_at="point sweepConfig at your W&B sweep YAML",
        size_hint="a sweep config is a few KB",
        unreadable="cannot be read as a UTF-8 text file",
    )
    try:
        config = parse_sweep_config(text)
    except SweepTooLarge as error:
        raise ConfigError([f"{where} cannot be sent to W&B: {error}."]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        if not _looks_like_sweep(text):  # PyYAML's words may quote a token of it: an alias, a tag
            problem = not_a_sweep_config()
        raise ConfigError([f"{where} is not valid YAML{at}: {problem}."]) from None
    except RecursionError:
        raise ConfigError([f"{where} is nested too deeply to be read as YAML."]) from None
    except Exception as error:  # noqa: BLE001 - PyYAML builds dates, numbers and !!tags with plain calls
        if "4300 digits" in str(error):  # int() refuses longer numbers
            reason = "a number in it has more than 4300 digits"
        elif not _looks_like_sweep(text):  # the error may quote a value: show none of a file like that
            reason = f"a date, number or !!tag in it is not valid; {not_a_sweep_config()}"
        else:  # 2024-02-30, !!float abc, !!bool maybe
            reason = f"a date, number or !!tag in it is not valid ({cut(str(error), 100)})"
        raise ConfigError([f"{where} cannot be read as YAML: {reason}."]) from None
    if not isinstance(config, dict):
        raise ConfigError(
            [
                f"{where} must be a YAML mapping with method, metric and parameters, "
                f"got {type(config).__name__}."
            ]
        )
    if SWEEP_MARKER not in config:
        raise ConfigError([f"{where} {not_a_sweep_config()}."])
    shape = shape_problems(config)
    if shape:
        raise ConfigError([f"{where} cannot be sent to W&B: {listed(shape)}."])
    return SweepFile(path=path, text=text, config=config)


def not_a_sweep_config() -> str:
    return (
        f"does not look like a W&B sweep config: it has no `{SWEEP_MARKER}` (grid, random or bayes), "
        "which W&B requires, so nothing of it is shown; point sweepConfig at your sweep YAML, or add "
        f"`{SWEEP_MARKER}:` if this is it"
    )


def _looks_like_sweep(text: str) -> bool:
    """Whether unparsable `text` has a `method:` key somewhere, like a sweep config: the
    word, maybe quoted, at the start of a line or after `{` or `,` (white space between),
    followed by `:` (white space between).

    A scan, linear in the text: each occurrence of the word looks back and ahead over
    the white space around it, and no two occurrences share any (the word is not white
    space). It answers as `(^|[{,])\\s*['"]?method['"]?\\s*:` (MULTILINE) did, which
    retried its `\\s*` at every line: 8 s for 32 KiB of blank lines ending in broken YAML.
    """
    found = text.find(SWEEP_MARKER)
    while found >= 0:
        end = found + len(SWEEP_MARKER)
        if _key_starts(text, found) and _colon_follows(text, end):
            return True
        found = text.find(SWEEP_MARKER, end)
    return False


def _key_starts(text: str, index: int) -> bool:
    """Whether a key may start at `index`: an optional quote, before it only white space
    back to the start of the text, a line break, `{` or `,`."""
    if index > 0 and text[index - 1] in "'\"":
        index -= 1
    while index > 0 and text[index - 1].isspace():  # what `\\s` matches
        if text[index - 1] == "\n":  # `^` matches after it
            return True
        index -= 1
    return index == 0 or text[index - 1] in "{,"


def _colon_follows(text: str, index: int) -> bool:
    """Whether an optional quote, then white space, then `:` follow `index`."""
    if index < len(text) and text[index] in "'\"":
        index += 1
    while index < len(text) and text[index].isspace():
        index += 1
    return index < len(text) and text[index] == ":"


def listed(problems: list[str]) -> str:
    text = cut("; ".join(cut(p) for p in problems[:MAX_LISTED]), 1200)
    more = len(problems) - MAX_LISTED
    return text + (f"; and {more} more" if more > 0 else "")


def cut(problem: str, limit: int = 400) -> str:
    if problem.endswith(".") and not problem.endswith("..."):
        problem = problem[:-1]  # the sentence goes on after it
    return problem if len(problem) <= limit else problem[: limit - 3] + "..."


def at_path(path: Any) -> str:
    """`parameters.lr.distribution`, `command[1]`: a path inside the config."""
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and len(part) <= 60 and _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{shown(part)}]"
    return text


def located(path: Any, problem: str) -> str:
    return f"{at_path(path)}: {problem}" if at_path(path) else problem


def shape_problems(config: dict[str, Any]) -> list[str]:
    """What W&B cannot keep at all, whatever its schema says, with where it is.

    W&B stores the sweep config as JSON, and `safe_load` can give more than JSON
    has: dates, binary, sets, ordered pairs, NaN and infinity, keys that are not
    text, aliases that contain themselves. Those are refused here, before any
    validator (which may recurse forever or crash on them) sees them.
    """
    problems: list[str] = []
    sizes: dict[int, int] = {}

    def size(node: Any, ancestors: tuple[int, ...], path: tuple[Any, ...]) -> int:
        if not isinstance(node, dict | list | tuple | set | frozenset):
            return 1
        if id(node) in ancestors:
            problems.append(located(path, "refers to itself through a YAML alias; write the value out"))
            return 1
        if len(ancestors) >= MAX_DEPTH:
            problems.append(located(path, f"is nested more than {MAX_DEPTH} levels deep"))
            return 1
        if id(node) in sizes:  # an alias to a node checked already
            return sizes[id(node)]
        inner = (*ancestors, id(node))
        total = 1
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    problems.append(
                        located(path, f"the key {shown(key)} is {type_name(key)}, not text; quote it")
                    )
                total += size(value, inner, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                total += size(value, inner, (*path, index))
        else:
            problems.append(located(path, f"{_yaml_kind(node)} is not JSON; use a plain list or mapping"))
        sizes[id(node)] = total
        return total

    def scalars(node: Any, path: tuple[Any, ...], seen: set[int]) -> None:
        if isinstance(node, dict | list):
            if id(node) in seen:
                return
            seen.add(id(node))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                scalars(value, (*path, key), seen)
        elif isinstance(node, float) and not math.isfinite(node):
            problems.append(located(path, f"must be a finite number, got {node}"))
        elif node is not None and not isinstance(node, str | int | float):
            hint = f"quote it if it is text: '{node}'" if hasattr(node, "isoformat") else "write it as text"
            problems.append(located(path, f"{_yaml_kind(node)} is not JSON; {hint}"))

    if size(config, (), ()) > MAX_VALUES:
        problems.append(f"has more than {MAX_VALUES} values once YAML aliases are expanded")
    if not problems:  # no cycles and not too deep: safe to walk the values
        scalars(config, (), set())
        if _parameter_count(config) > MAX_PARAMETERS:
            problems.append(
                f"has more than {MAX_PARAMETERS} parameters (nested ones included, aliases expanded); "
                "a sweep searches a few dozen at most"
            )
    return list(dict.fromkeys(problems))


def _parameter_count(config: dict[str, Any]) -> int:
    """Parameters under `parameters`, nested ones included, as W&B's check meets them
    (an alias counts each time it is used); stops counting past MAX_PARAMETERS.
    `config` has no cycles (checked before)."""
    count, pending = 0, [config.get("parameters")]
    while pending and count <= MAX_PARAMETERS:
        parameters = pending.pop()
        if isinstance(parameters, dict):
            count += len(parameters)
            pending += [spec.get("parameters") for spec in parameters.values() if isinstance(spec, dict)]
    return count


def _yaml_kind(node: Any) -> str:
    names = {"date": "a date", "datetime": "a timestamp", "bytes": "binary (!!binary)"}
    if isinstance(node, tuple):
        return "an ordered mapping (!!omap or !!pairs)"
    if isinstance(node, set | frozenset):
        return "a set (!!set)"
    return names.get(type(node).__name__, f"a {type(node).__name__}")

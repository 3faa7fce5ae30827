"""Small validators shared by the settings dataclasses: each adds a problem, never raises.

Each checks the value's type before its form, so a list, a dict, None or a huge
number where a string or a small number goes is reported like any other bad value.
Patterns are ASCII-only and match the whole string: `\\d` would take an Arabic-Indic
digit, and `$` a trailing newline, that Kubernetes then rejects.
"""

from __future__ import annotations

import math
import re
from decimal import MAX_EMAX, MIN_EMIN, ROUND_FLOOR, Context, Decimal, localcontext
from pathlib import Path
from typing import TypeGuard

from .errors import ConfigError, ProblemList

INT32_MAX = 2**31 - 1
"""The largest value the Kubernetes fields behind the integer keys (int32) can hold."""

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Kubernetes resource.Quantity: a non-negative decimal with an optional binary
# (Ki..Ei), decimal (n..E) or exponent suffix. "10GB" or "1.5 Gi" are rejected
# by the API server, so they are rejected here first.
QUANTITY = re.compile(
    r"\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?", re.ASCII
)
# An extended resource name such as nvidia.com/gpu or amd.com/gpu.
EXTENDED_RESOURCE = re.compile(
    r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)

_SHOWN_CHARS = 80


def shown(value: object) -> str:
    """`value` for a message: its repr, cut to a readable length.

    Never raises: the repr of an int with more than 4300 digits does, and a
    structure from a template can be any size.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is shown by its type
        return type_name(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def type_name(value: object) -> str:
    """What a user calls the type of a YAML/JSON value: 'a list', 'a mapping', 'text'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number" if math.isfinite(value) else f"{value!r}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def check_int(
    problems: ProblemList, key: str, value: object, *, minimum: int, maximum: int = INT32_MAX
) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(f"{key}: must be a whole number >= {minimum}, got {shown(value)}.")
    elif value < minimum:
        problems.add(f"{key}: must be >= {minimum}, got {shown(value)}.")
    elif value > maximum:
        problems.add(f"{key}: must be at most {maximum}, got {shown(value)}.")


def _is_text(value: object, problems: ProblemList, key: str) -> TypeGuard[str]:
    if isinstance(value, str):
        return True
    problems.add(f"{key}: must be text, got {type_name(value)}.")
    return False


def check_quantity(problems: ProblemList, key: str, value: object, example: str) -> None:
    if value is not None and _is_text(value, problems, key) and not QUANTITY.fullmatch(value):
        problems.add(f"{key}: must be a Kubernetes quantity such as {example}, got {shown(value)}.")


_QUANTITY_SCALE = {
    **{
        suffix: Decimal(1024) ** power
        for power, suffix in enumerate(("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))
    },
    **{suffix: Decimal(10) ** power for suffix, power in (("n", -9), ("u", -6), ("m", -3), ("k", 3))},
    **{
        suffix: Decimal(10) ** power
        for suffix, power in (("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18))
    },
}


def quantity_amount(text: str) -> Decimal | None:
    """The amount a Kubernetes quantity stands for (`8Gi` -> 8589934592); None if `text`
    is not one. Exact whatever its length: `1e999999` or 5000 digits are compared, never
    turned into a float."""
    found = QUANTITY.fullmatch(text)
    if not found:
        return None
    digits, suffix = found[1], found[3] or ""
    if suffix not in _QUANTITY_SCALE:  # an exponent: 1e3
        digits, suffix = digits + suffix, ""
    amount = Decimal(digits)
    if amount.adjusted() > 30:  # past every bound (64Ti is about 7e13): no big arithmetic
        return Decimal("Infinity")
    with localcontext(Context(prec=60, Emin=MIN_EMIN, Emax=MAX_EMAX)):
        return amount * _QUANTITY_SCALE[suffix]


def bytes_quantity(amount: Decimal) -> str:
    """`amount` bytes, rounded down to a whole byte, as the shortest exact quantity:
    8589934592 -> `8Gi`, 5000000000 -> `5G`, 805306368 -> `768Mi`."""
    whole = int(amount.to_integral_value(rounding=ROUND_FLOOR))
    best = str(whole)
    for suffix, scale in _QUANTITY_SCALE.items():
        if suffix and scale >= 1000 and whole % int(scale) == 0:
            text = f"{whole // int(scale)}{suffix}"
            if len(text) < len(best) or (len(text) == len(best) and suffix.endswith("i")):
                best = text
    return best


def check_dns_label(problems: ProblemList, key: str, value: object) -> None:
    if _is_text(value, problems, key) and not DNS_LABEL.fullmatch(value):
        problems.add(
            f"{key}: must be a DNS label (at most 63 lowercase letters, digits and "
            f"'-', starting and ending with a letter or digit), got {shown(value)}."
        )


MAX_COMPONENT_NAME = 40
"""A WandbSweep's name prefixes its Kubernetes names: `<name>-agent-<slot>-<digest>`
must fit the 63 characters of a Job name (which becomes a pod label value)."""


def check_component_name(problems: ProblemList, name: object) -> None:
    if not (isinstance(name, str) and len(name) <= MAX_COMPONENT_NAME and DNS_LABEL.fullmatch(name)):
        problems.add(
            f"WandbSweep name {shown(name)}: must be at most {MAX_COMPONENT_NAME} lowercase letters, "
            "digits and '-', starting and ending with a letter or digit, because the names of its "
            "Kubernetes objects (Secrets, Jobs) derive from it; e.g. 'resnet-lr'."
        )


def file_in_project(project_root: Path, relative_path: object, key: str, what: str) -> tuple[Path, str]:
    """The file `relative_path` names (relative to `project_root`, or absolute), which must
    lie inside `project_root` once every symlink is resolved, and how messages name it
    ("<key>: '<path>' (<resolved>)"). The deploying machine's other files (a kubeconfig,
    ~/.ssh) are not `what`, and a message about them could show what they hold.
    Raises ConfigError naming `key`."""
    named = repr(relative_path) if isinstance(relative_path, str) and len(relative_path) <= 300 else None
    where = f"{key}: {named or shown(relative_path)}"
    try:
        root = project_root.resolve()
        path = (root / relative_path).resolve()  # type: ignore[operator]  # not text: the TypeError below
    except (OSError, ValueError, RuntimeError, TypeError) as error:  # a NUL byte, a symlink loop
        raise ConfigError([f"{where} is not a usable file path: {error}."]) from None
    if not path.is_relative_to(root):
        raise ConfigError(
            [
                f"{where} is outside the project folder {_clipped(str(root))} (it resolves to "
                f"{_clipped(str(path))}); {what} must be a file inside it, symlinks resolved. Copy it "
                f"into the project and set {key} to its path there."
            ]
        )
    return path, f"{where} ({_clipped(str(path))})"


def read_project_file(
    path: Path,
    where: str,
    *,
    max_bytes: int,
    point_at: str,
    size_hint: str,
    encoding: str = "utf-8",
    not_text: str | None = None,
    unreadable: str = "cannot be read",
) -> str:
    """The text of the file `file_in_project` found; at most `max_bytes` are read, whatever
    its size. Every failure is a ConfigError that starts with `where`: not a file or
    missing ("...; <point_at>"), too large ("...; <size_hint>"), not text (`not_text`, a
    message that quotes nothing of the file, else as unreadable), unreadable
    ("... <unreadable>: <reason>")."""
    try:
        if path.exists() and not path.is_file():
            raise ConfigError([f"{where} is not a file; {point_at}."])
        with path.open("rb") as file:
            data = file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ConfigError([f"{where} is larger than {max_bytes} bytes; {size_hint}."])
        return data.decode(encoding)
    except FileNotFoundError:
        raise ConfigError([f"{where} does not exist; {point_at}."]) from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            [f"{where} {not_text}" if not_text else f"{where} {unreadable}: {error}."]
        ) from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise ConfigError([f"{where} {unreadable}: {reason}."]) from None


def _clipped(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""Small validators shared by the settings dataclasses: each adds a problem, never raises.

Each checks the value's type before its form, so a list, a dict, None or a huge
number where a string or a small number goes is reported like any other bad value.
Patterns are ASCII-only and match the whole string: `\\d` would take an Arabic-Indic
digit, and `$` a trailing newline, that Kubernetes then rejects.
"""

from __future__ import annotations

import math
import re

from .errors import ProblemList

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
# A DNS subdomain: names of Secrets, ServiceAccounts, PriorityClasses.
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")

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


def _is_text(problems: ProblemList, key: str, value: object) -> bool:
    if isinstance(value, str):
        return True
    problems.add(f"{key}: must be text, got {type_name(value)}.")
    return False


def check_quantity(problems: ProblemList, key: str, value: object, example: str) -> None:
    if value is not None and _is_text(problems, key, value) and not QUANTITY.fullmatch(value):  # type: ignore[arg-type]
        problems.add(f"{key}: must be a Kubernetes quantity such as {example}, got {shown(value)}.")


def check_dns_label(problems: ProblemList, key: str, value: object) -> None:
    if _is_text(problems, key, value) and not DNS_LABEL.fullmatch(value):  # type: ignore[arg-type]
        problems.add(
            f"{key}: must be a DNS label (at most 63 lowercase letters, digits and "
            f"'-', starting and ending with a letter or digit), got {shown(value)}."
        )


def check_dns_subdomain(problems: ProblemList, key: str, value: object) -> None:
    if value is not None and _is_text(problems, key, value) and not DNS_SUBDOMAIN.fullmatch(value):  # type: ignore[arg-type]
        problems.add(
            f"{key}: must be a Kubernetes object name (lowercase letters, digits, '-' "
            f"and '.'), got {shown(value)}."
        )


MAX_COMPONENT_NAME = 40
"""A WandbSweep's name prefixes its Kubernetes names: `<name>-agent-<slot>-<digest>`
must fit the 63 characters of a Job name (which becomes a pod label value)."""
# A label or annotation key: an optional DNS-subdomain prefix and '/', then a name.
LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", re.ASCII
)
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?", re.ASCII)


def check_component_name(problems: ProblemList, name: object) -> None:
    if not (isinstance(name, str) and len(name) <= MAX_COMPONENT_NAME and DNS_LABEL.fullmatch(name)):
        problems.add(
            f"WandbSweep name {shown(name)}: must be at most {MAX_COMPONENT_NAME} lowercase letters, "
            "digits and '-', starting and ending with a letter or digit, because the names of its "
            "Kubernetes objects (Secrets, Jobs) derive from it; e.g. 'resnet-lr'."
        )


def check_labels(problems: ProblemList, key: str, value: object, *, values_are_labels: bool) -> None:
    """A mapping of Kubernetes label (or annotation) keys to label values (or any text)."""
    if not isinstance(value, dict):
        problems.add(f"{key}: must be a mapping of names to text, got {type_name(value)}.")
        return
    for name, text in value.items():
        if not (isinstance(name, str) and LABEL_KEY.fullmatch(name)):
            problems.add(
                f"{key}: {shown(name)} is not a Kubernetes {key[:-1]} key (an optional 'prefix/' and "
                "at most 63 letters, digits, '-', '_', '.')."
            )
        elif not isinstance(text, str):
            problems.add(f"{key}: the value of {name} must be text, got {type_name(text)}.")
        elif values_are_labels and not LABEL_VALUE.fullmatch(text):
            problems.add(
                f"{key}: the value of {name}, {shown(text)}, is not a Kubernetes label value "
                "(at most 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit)."
            )

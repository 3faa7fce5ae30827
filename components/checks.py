"""Small validators shared by the settings dataclasses: each adds a problem, never raises."""

from __future__ import annotations

import re

from .errors import ProblemList

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Kubernetes resource.Quantity: a non-negative decimal with an optional binary
# (Ki..Ei), decimal (n..E) or exponent suffix. "10GB" or "1.5 Gi" are rejected
# by the API server, so they are rejected here first.
QUANTITY = re.compile(r"^\+?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
# An extended resource name such as nvidia.com/gpu or amd.com/gpu.
EXTENDED_RESOURCE = re.compile(
    r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
# A DNS subdomain: names of Secrets, ServiceAccounts, PriorityClasses.
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def check_int(problems: ProblemList, key: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(f"{key}: must be a whole number >= {minimum}, got {value!r}.")
    elif value < minimum:
        problems.add(f"{key}: must be >= {minimum}, got {value}.")


def check_quantity(problems: ProblemList, key: str, value: str | None, example: str) -> None:
    if value is not None and not QUANTITY.match(value):
        problems.add(f"{key}: must be a Kubernetes quantity such as {example}, got {value!r}.")


def check_dns_label(problems: ProblemList, key: str, value: str) -> None:
    if not DNS_LABEL.match(value):
        problems.add(
            f"{key}: must be a DNS label (at most 63 lowercase letters, digits and "
            f"'-', starting and ending with a letter or digit), got {value!r}."
        )


def check_dns_subdomain(problems: ProblemList, key: str, value: str | None) -> None:
    if value is not None and not DNS_SUBDOMAIN.match(value):
        problems.add(
            f"{key}: must be a Kubernetes object name (lowercase letters, digits, '-' "
            f"and '.'), got {value!r}."
        )

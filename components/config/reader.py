"""Typed, shape-first reading of raw input values, recording one problem per bad key.

Values arrive as text from the Pulumi CLI (structured ones as JSON text) or as any
Python value from a program, so every reader checks the value's shape before it uses
it. A key's bound (`keys`) is checked here, the one place every value passes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Any, TypeVar

import pulumi

from ..checks import INT32_MAX, quantity_amount, shown, type_name
from ..errors import ConfigError, ProblemList
from .keys import INPUT_KEYS, KEYS_BY_NAME, PROJECT, default_of

T = TypeVar("T")


E = TypeVar("E", bound=StrEnum)


class Reader:
    """Typed access to the raw values, recording a problem per bad key.

    Each reader checks the value's shape before it uses it: values arrive as text
    from the CLI (structured ones as JSON text) or as any Python value from code.
    Messages about a key marked secret say what type it has, never what it is.
    """

    def __init__(
        self, raw: Mapping[str, object], problems: ProblemList, secret: Collection[str] = ()
    ) -> None:
        self.raw = raw
        self.problems = problems
        self.secret = secret

    def _value(self, name: str) -> object:
        return self.raw.get(name, default_of(name))

    def show(self, name: str, value: object) -> str:
        """`value` for a message about `name`: cut to length, and only its type if secret."""
        return type_name(value) if name in self.secret else shown(value)

    def string(self, name: str) -> Any:
        """The value, or None when unset or empty (Pulumi.yaml's "unset"); for INPUT_KEYS
        a pulumi.Output as it is (it is checked when it resolves)."""
        value = self._value(name)
        if value is None or value == "":
            return None
        if name in INPUT_KEYS and isinstance(value, pulumi.Output):
            return value
        if not isinstance(value, str):
            self.problems.add(f"{name}: must be a string, got {self.show(name, value)}.")
            return None
        return value.strip()

    def integer(self, name: str) -> int:
        """The value; after recording a problem, the default (so building can go on).

        A key with a `maximum` (config_keys) is checked against it here, the one
        place every value passes, from the stack or from the component's args.
        """
        value = self._value(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return self.integer_within(name, value)
        number = re.fullmatch(r"\s*([-+]?)0*([0-9]+)\s*", value, re.ASCII) if isinstance(value, str) else None
        digits = len(number[2]) if number else 0
        if number and number[1] != "-" and _maximum(name) is not None and digits > _INT_DIGITS:
            # int() refuses more than 4300 digits, and a bounded key is past its bound anyway.
            got = number[1] + number[2] if digits <= 40 else f"a number of {digits} digits"
            self.problems.add(f"{name}: at most {_bound_text(name)}, got {got}.")
        elif number and digits > _INT_DIGITS:
            # Nothing past int32 fits the Kubernetes fields these keys go to.
            self.problems.add(
                f"{name}: must be a whole number up to {INT32_MAX}, got a number of {digits} digits."
            )
        elif number:
            return self.integer_within(name, int(number[1] + number[2]))
        else:
            self.problems.add(f"{name}: must be a whole number, got {self.show(name, value)}.")
        return int(default_of(name) or 0)

    def integer_within(self, name: str, value: int) -> int:
        """`value`, or the default after recording that it is above the key's maximum."""
        maximum = _maximum(name)
        if isinstance(maximum, int) and value > maximum:
            self.problems.add(f"{name}: at most {_bound_text(name)}, got {shown(value)}.")
            return int(default_of(name) or 0)
        return value

    def quantity(self, name: str) -> Any:
        """A Kubernetes quantity key (`cpu`, `memory`, `shmSize`), checked against its
        maximum; its form is checked by the settings that take it."""
        value = self.string(name)
        maximum = _maximum(name)
        if isinstance(value, str) and isinstance(maximum, str):
            amount, most = quantity_amount(value), quantity_amount(maximum)
            if amount is not None and most is not None and amount > most:
                self.problems.add(f"{name}: at most {maximum}, got {self.show(name, value)}.")
                return None
        return value

    def boolean(self, name: str) -> bool:
        value = self._value(name)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.problems.add(f"{name}: must be true or false, got {self.show(name, value)}.")
        return bool(default_of(name))

    def structured(self, name: str) -> Any:
        """An object or list value; the CLI passes these as JSON text."""
        value = self._value(name)
        if isinstance(value, str):
            if not value.strip():
                return default_of(name)
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass  # not JSON: text, reported below as the wrong type
            except (ValueError, RecursionError):  # a number past int()'s 4300 digits; nesting
                self.problems.add(
                    f"{name}: cannot be read: it is nested too deeply or holds a number of thousands of digits."
                )
                return default_of(name)
        expected = dict if isinstance(default_of(name), dict) else list
        if isinstance(value, expected):
            return value
        if name == "env" and isinstance(value, list):
            return value
        shape = "a mapping (key: value lines under the key)" if expected is dict else "a list (- items)"
        if name == "env":
            shape = "a mapping (NAME: value lines under the key) or a list of EnvVar objects"
        self.problems.add(f"{name}: must be {shape} in the stack file, got {self.show(name, value)}.")
        return default_of(name)

    def strings(self, name: str) -> tuple[str, ...]:
        values = self.structured(name)
        odd = [v for v in values if not isinstance(v, str)]
        if not odd:
            return tuple(values)
        hint = ""
        if isinstance(odd[0], dict) and isinstance(odd[0].get("name"), str):  # Kubernetes' {name: ...} form
            hint = f"; write the name alone, [{odd[0]['name'][:63]}]"
        self.problems.add(f"{name}: must be a list of names, got {self.show(name, odd[0])} among them{hint}.")
        return ()

    def positive_or_unset(self, name: str) -> int | None:
        """Integer keys where 0 means "unset"."""
        return self.integer(name) or None

    def required(self, name: str, what: str) -> Any:
        value = self.string(name)
        if value is None:
            self.problems.add(
                f"{name}: required ({what}). Set it with `pulumi config set {PROJECT}:{name} VALUE`."
            )
        return value or ""

    def choice(self, name: str, enum: type[E]) -> E:
        text = self.string(name) or str(default_of(name))
        try:
            return enum(text)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            self.problems.add(f"{name}: must be one of {allowed}, got {self.show(name, text)}.")
            return enum(default_of(name))


_INT_DIGITS = len(str(INT32_MAX))


def _maximum(name: str) -> int | str | None:
    key = KEYS_BY_NAME.get(name)
    return key.maximum if key else None


def _bound_text(name: str) -> str:
    return KEYS_BY_NAME[name].bound


def env_text(value: Any) -> Any:
    """A value of the NAME: value form as the text the variable gets (numbers as JSON)."""
    if isinstance(value, str | pulumi.Output):
        return value
    try:
        return json.dumps(value, allow_nan=False)
    except (ValueError, TypeError, RecursionError):  # NaN, a 5000-digit int, ...: reported as not text
        return value


def raise_problem(problem: str) -> Any:
    raise ConfigError([problem])


API_KEY = re.compile(r"([A-Za-z0-9]+-)?[A-Za-z0-9_]{40,}", re.ASCII)
MAX_API_KEY_CHARS = 512
"""W&B keys are 40 (legacy) or 86 characters after an optional on-prem `prefix-`
(wandb/sdk/lib/wbauth/validation.py, check_api_key: 40 or more); the key is copied
into a Secret and every agent's environment, so it has a bound like everything else."""


def api_key_problem(source: str, key: Any) -> str | None:
    if not isinstance(key, str):
        return f"{source}: must be the API key as text, got {type_name(key)}."
    if len(key) > MAX_API_KEY_CHARS:
        return (
            f"{source}: is not a W&B API key: at most {MAX_API_KEY_CHARS} characters, it is {len(key)}. "
            "Copy it from https://wandb.ai/authorize."
        )
    if not API_KEY.fullmatch(key.strip()):
        return (
            f"{source}: is not a W&B API key (at least 40 letters, digits or '_', "
            f"optionally after a 'prefix-'; it is {len(key.strip())} characters). "
            "Copy it from https://wandb.ai/authorize."
        )
    return None

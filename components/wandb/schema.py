"""W&B's own judgement of a sweep config (layers 3-5 of `sweep_file`), and the text a create sends.

3. W&B's JSON schema (from the `sweeps` package), with a path for every problem;
4. the checks `sweeps` makes in code (min < max, probabilities, bayes needs a metric),
   run only on the shapes that code assumes, since it crashes on others;
5. the wandb client's own filling-in that the sweep's create applies.

Runs in the sweep provider's `check`, at preview, not in the program: the `sweeps`
package drags in its search code (scipy, scikit-learn), about half a second that every
program run would pay. Every third-party call is guarded: a crash on a shape these
checks let through still gives the user a named error, not a traceback.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import yaml

from ..checks import shown, type_name
from .sweep_file import (
    SWEEP_MARKER,
    SweepTooLarge,
    at_path,
    listed,
    located,
    not_a_sweep_config,
    parse_sweep_config,
    shape_problems,
)


def schema_problem(text: str, source: str) -> str | None:
    """Why W&B would refuse the sweep config `text` (layers 3-5), as one message that
    names `source` (the file, as the user wrote it); None if it would not.

    Runs in the sweep provider's `check`, at preview and up, not in the program: W&B's
    `sweeps` package drags in its search code (scipy, scikit-learn), about half a
    second that every program run would pay. `text` has passed `load_sweep_file`.
    """
    where = f"sweepConfig: {source}"
    try:
        config = parse_sweep_config(text)
    except SweepTooLarge as error:
        return f"{where} cannot be sent to W&B: {error}."
    except Exception:  # noqa: BLE001 - the program checked it; an odd input is still no traceback
        return f"{where} cannot be read as YAML."
    if not isinstance(config, dict):
        return f"{where} must be a YAML mapping with method, metric and parameters, got {type_name(config)}."
    if SWEEP_MARKER not in config:
        return f"{where} {not_a_sweep_config()}."
    shape = shape_problems(config)
    if shape:
        return f"{where} cannot be sent to W&B: {listed(shape)}."
    violations = sweep_config_violations(config) or _client_violations(text)
    if violations:
        return f"{where} is rejected by W&B's sweep schema: {listed(violations)}."
    return None


def sweep_config_violations(config: dict[str, Any]) -> list[str]:
    """What W&B's sweep-config schema (the `sweeps` package) and its agent reject.

    `config` must have passed `shape_problems`.
    """
    with warnings.catch_warnings():
        # sweeps imports pydantic v1-style settings; the warning means nothing to users.
        warnings.simplefilter("ignore")
        from sweeps import schema_violations_from_proposed_config
        from sweeps.bayes_search import bayes_baseline_validate_and_fill
        from sweeps.config.schema import validator

    raw: list[str] = []
    found = _guarded(lambda: _schema_errors(validator, config, [], raw))
    if not _sweeps_code_problems(config):
        # sweeps repeats the schema's messages (without paths) before its own, and
        # adds "invalid hyperparameter configuration: lr" for what is reported above.
        extra = _guarded(lambda: list(schema_violations_from_proposed_config(config)))
        found += [v for v in extra if v not in raw and not v.startswith(_VAGUE)]
    if config.get("method") == "bayes" and not found:
        found += _guarded(lambda: _bayes_problems(bayes_baseline_validate_and_fill, config))
    if "program" not in config and "command" not in config:
        found.append("'program' (the training script the agent runs) or 'command' is required")
    return list(dict.fromkeys(found))


_VAGUE = "invalid hyperparameter configuration:"


def _guarded(check: Callable[[], list[str]]) -> list[str]:
    """A third-party check's findings; its crash, should it crash, as one more finding."""
    try:
        return check()
    except Exception as error:  # noqa: BLE001 - the user gets a named error, not a traceback
        return [
            f"could not be checked by W&B's sweeps package ({type(error).__name__}: {shown(str(error))}); "
            "check its shape against https://docs.wandb.ai/guides/sweeps/define-sweep-configuration"
        ]


def _bayes_problems(fill: Callable[[dict[str, Any]], Any], config: dict[str, Any]) -> list[str]:
    try:
        fill(config)
    except (ValueError, KeyError) as error:
        return [str(error).strip("'\"")]
    return []


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}


def _schema_errors(validator: Any, instance: Any, prefix: list[Any], raw: list[str]) -> list[str]:
    """The schema's errors with their paths; `raw` gets the messages as jsonschema words them."""
    found: list[str] = []
    reported: set[str] = set()
    for error in validator.iter_errors(instance):
        raw.append(error.message)
        path = [*prefix, *error.absolute_path]
        if at_path(path) in reported:  # one problem per place: `[]` is "not text" and "not one of"
            continue
        reported.add(at_path(path))
        if error.validator == "anyOf" and _is_parameter(path):
            found += _parameter_problems(path, error.instance, raw)
        elif error.validator == "type" and _is_parameters(path):
            found.append(
                f"{at_path(path)}: must be a mapping of each parameter's name to its settings, "
                f"e.g. `lr: {{values: [0.1, 0.01]}}`, got {type_name(error.instance)}"
            )
        else:
            found.append(located(path, _worded(error)))
    return found


def _is_parameters(path: list[Any]) -> bool:
    """parameters, or parameters.<name>.parameters (nested parameters)."""
    return len(path) % 2 == 1 and all(p == "parameters" for p in path[::2])


def _is_parameter(path: list[Any]) -> bool:
    """parameters.<name>, or parameters.<name>.parameters.<name>."""
    return bool(path) and _is_parameters(path[:-1])


def _worded(error: Any) -> str:
    wants_float = (error.validator == "type" and error.validator_value == "number") or (
        error.validator == "format" and error.validator_value == "float"
    )
    hint = yaml11_float_hint(error.instance) if wants_float else ""
    if error.validator == "type" and isinstance(error.validator_value, str):
        expected = _TYPE_WORDS.get(error.validator_value, error.validator_value)
        return f"must be {expected}, got {type_name(error.instance)}{hint}"
    if hint:
        return f"must be a number, got text{hint}"
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[Any]] = {}
        for inner in error.context:
            branches.setdefault(inner.relative_schema_path[0], []).append(inner)
        if len(branches) > 1 and all(e.validator == "required" for es in branches.values() for e in es):
            # e.g. hyperband: min_iter, or max_iter and s
            options = [
                " and ".join(dict.fromkeys(k for e in es for k in _missing(e))) for es in branches.values()
            ]
            return f"needs {', or '.join(options)}"
        # The most telling error: a plain one (not another "none of"), then the deepest.
        best = max(
            error.context,
            key=lambda e: (e.validator not in ("anyOf", "oneOf"), len(e.relative_path)),
        )
        inner_path = list(best.relative_path)
        return f"{at_path(inner_path) + ': ' if inner_path else ''}{_worded(best)}"
    return str(error.message)


_EXPONENT_NUMBER = re.compile(r"([-+]?)([0-9]+)(?:\.([0-9]*))?[eE]([-+]?)([0-9]+)", re.ASCII)


def yaml11_float_hint(value: object) -> str:
    """Why `value`, text that reads as a number, is text: the hint W&B's own message lacks.

    PyYAML, which wandb and W&B's `sweeps` package read sweep configs with, follows
    YAML 1.1, where a number with an exponent is a float only with a dot in it and a
    sign on the exponent: `1e-5` and `1.0e5` are text, `1.0e-5` and `1.0e+5` are floats.
    Empty unless `value` is such text; the rewritten number is checked to load as a float.
    """
    found = _EXPONENT_NUMBER.fullmatch(value.strip()) if isinstance(value, str) else None
    if not found:
        return ""
    sign, whole, fraction, exponent_sign, exponent = found.groups()
    written = f"{sign}{whole}.{fraction or '0'}e{exponent_sign or '+'}{exponent}"
    if not isinstance(yaml.safe_load(written), float):
        return ""
    return (
        f" {shown(value)}: YAML 1.1, which wandb reads sweep files with, takes a number with an exponent as "
        f"text unless it has a dot and a signed exponent; write {written}"
    )


def _missing(error: Any) -> list[str]:
    """The properties a 'required' error finds missing."""
    present = error.instance if isinstance(error.instance, dict) else {}
    return [str(k) for k in error.validator_value if k not in present]


def _parameter_forms() -> list[dict[str, Any]]:
    """Every form a parameter may take in W&B's schema (categorical, int_uniform, ...)."""
    from sweeps.config.schema import dereferenced_sweep_config_jsonschema, sweep_config_jsonschema

    forms = []
    for ref in sweep_config_jsonschema["definitions"]["parameter"]["anyOf"]:
        definition = dereferenced_sweep_config_jsonschema["definitions"][ref["$ref"].rsplit("/", 1)[-1]]
        forms += definition.get("anyOf", [definition])
    return forms


def _parameter_problems(path: list[Any], spec: Any, raw: list[str]) -> list[str]:
    """Why one parameter fits none of W&B's forms, at the paths inside it.

    The schema's own message ("... is not valid under any of the given schemas")
    names neither what is wrong nor where, so the parameter is checked against
    the forms that its `distribution` (or, without one, its keys) point to, and the
    errors of the closest form are reported.
    """
    where = at_path(path)
    if not isinstance(spec, dict):
        return [
            f"{where}: must be a mapping of settings, e.g. `{{values: [1, 2]}}`, `{{value: 1}}` "
            f"or `{{min: 0.0, max: 1.0}}`, got {type_name(spec)}"
        ]
    if not spec:
        return [f"{where}: has no settings; give values, value, or min and max"]
    # The validator class and format checker sweeps validates with (jsonschema's
    # Draft7Validator, imported through sweeps: it is not a requirement of ours).
    from sweeps.config.schema import Draft7Validator, dereferenced_sweep_config_jsonschema, format_checker

    if "parameters" in spec:
        if len(spec) > 1:
            others = ", ".join(sorted(map(str, spec.keys() - {"parameters"})))
            return [f"{where}: nested parameters take no other settings, got {others}"]
        nested = Draft7Validator(
            dereferenced_sweep_config_jsonschema["definitions"]["parameters"], format_checker=format_checker
        )
        return _schema_errors(nested, spec["parameters"], [*path, "parameters"], raw)
    forms = _parameter_forms()
    distributions = sorted({d for form in forms for d in _distributions(form)})
    if "distribution" in spec:
        if not isinstance(spec["distribution"], str) or spec["distribution"] not in distributions:
            return [
                f"{where}.distribution: must be one of {', '.join(distributions)}, "
                f"got {shown(spec['distribution'])}"
            ]
        forms = [f for f in forms if spec["distribution"] in _distributions(f)]
    else:
        forms = [f for f in forms if "distribution" not in f.get("required", [])]
    # The closest form: one that knows every key given, then the fewest errors.
    closest = min(
        (list(Draft7Validator(form, format_checker=format_checker).iter_errors(spec)) for form in forms),
        key=lambda errors: (any(e.validator == "additionalProperties" for e in errors), len(errors)),
        default=[],
    )
    return [located([*path, *error.absolute_path], _worded(error)) for error in closest] or [
        f"{where}: fits none of W&B's parameter forms"
    ]


def _distributions(form: dict[str, Any]) -> list[str]:
    names: list[str] = form.get("properties", {}).get("distribution", {}).get("enum", [])
    return names


def _sweeps_code_problems(config: dict[str, Any]) -> list[str]:
    """Shapes that `schema_violations_from_proposed_config` assumes without checking.

    It runs the schema, then goes on in plain code: `parameters.items()`, each
    parameter a dict, `len()` and `sum()` of `probabilities`, `controller["type"]`
    and `scheduler.engine` looked up in a dict. On any other shape it crashes;
    the schema errors say what is wrong then, so it is not called.
    """
    problems = []
    parameters = config.get("parameters")
    if "parameters" in config and not (
        isinstance(parameters, dict) and all(isinstance(p, dict) for p in parameters.values())
    ):
        problems.append("parameters")
    for name, spec in parameters.items() if isinstance(parameters, dict) else ():
        if isinstance(spec, dict) and "values" in spec and "probabilities" in spec:
            values, probabilities = spec["values"], spec["probabilities"]
            if not (
                isinstance(values, list)
                and isinstance(probabilities, list)
                and all(isinstance(p, int | float) for p in probabilities)
            ):
                problems.append(f"parameters.{name}")
    if config.get("scheduler") is not None:
        controller, scheduler = config.get("controller", {}), config["scheduler"]
        if not (isinstance(controller, dict) and "type" in controller):
            problems.append("controller")
        if isinstance(scheduler, dict) and not isinstance(scheduler.get("engine"), str | None):
            problems.append("scheduler.engine")
    return problems


def _client_violations(text: str) -> list[str]:
    """What the wandb client's filling-in (applied when the sweep is created) rejects,
    e.g. `min: 1, max: 2.5` (neither int_uniform nor uniform)."""
    try:
        sweep_config_text(text)
    except ValueError as error:  # "Parameter lr is ambiguous, please specify bounds as both floats ..."
        return [str(error)]
    except Exception as error:  # noqa: BLE001 - the user gets a named error, not a traceback
        return [f"could not be checked by the wandb client ({type(error).__name__}: {shown(str(error))})"]
    return []


class _NonOctalDumper(yaml.SafeDumper):
    """Quotes strings like "008" so that no YAML reader on the server takes them for numbers."""

    def represent_str(self, data: str) -> yaml.ScalarNode:
        if data.startswith("0") and len(data) > 1:
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="'")
        return super().represent_str(data)


_NonOctalDumper.add_representer(str, _NonOctalDumper.represent_str)


def sweep_config_text(config_yaml: str) -> str:
    """The config W&B receives: the user's YAML with types intact (16 stays 16), and
    `distribution` filled in for min/max parameters as `wandb sweep` does."""
    from wandb.apis.public.sweeps import _validate_config_and_fill_distribution

    config = _validate_config_and_fill_distribution(parse_sweep_config(config_yaml))
    return yaml.dump(config, Dumper=_NonOctalDumper, sort_keys=False, default_flow_style=False)

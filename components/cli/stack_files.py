"""`Pulumi.yaml` and `Pulumi.<stack>.yaml` -> the config a `pulumi preview` would pass the program.

The Pulumi CLI merges the project's `config:` block into the stack's config and checks
the result before the program runs (pulumi/pulumi pkg/workspace/config.go, `mergeConfig`
and `validateStackConfigValues`; the files are loaded by sdk/go/common/workspace/
loaders.go). This module does the same without the CLI, so that `wandb-sweeps check`
needs no Pulumi CLI, backend or passphrase:

- a stack key without a namespace is the project's (`stackConfigNamespacedWithProject`);
- a project key the stack does not set takes its `default` (or `value`); one with
  neither, in the project's namespace, is missing ("Stack 'dev' is missing
  configuration value 'image'");
- a value reaches the program as text: a scalar as Go prints it, a mapping or list
  as JSON (`object.MarshalString`, sdk/go/common/resource/config/object.go);
- a key whose value is or holds `secure:` is a secret key (`Map.SecureKeys`). It is
  never decrypted: it counts as set, and the program is given a placeholder, which
  has the form of a W&B API key so that `wandbApiKey` passes its shape check;
- a declared `type` is checked (`ValidateConfigValue`), except for encrypted values,
  which only a decrypt could check.

The CLI stops at the first such problem; this module collects every one, in the CLI's
own words where its code has them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .go_yaml import YamlFileError, go_float_text, load

ENCRYPTED_PLACEHOLDER = "value_encrypted_in_stack_file_not_decrypted"
"""What the program is given for an encrypted value: never the real one. 43 characters of
[A-Za-z0-9_], the form of a W&B API key (config/reader.py API_KEY)."""
PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
_STACK_NAME = re.compile(r"(?!\.+$)[A-Za-z0-9_.-]+")
_DECLARATION_KEYS = {"type", "items", "description", "secret", "default", "value"}
_TYPES = ("string", "integer", "boolean", "array", "object")


class UsageError(Exception):
    """The check cannot start: no project here, or no stack it can tell."""


@dataclass(frozen=True)
class ConfigValue:
    """One config value as the CLI holds it (`config.Value`)."""

    text: str
    """What the program gets (PULUMI_CONFIG): a placeholder where it is encrypted."""
    secure: bool = False
    """It is or holds a `secure:` value: a secret key for the program."""
    object: bool = False
    """A mapping or list, passed as JSON."""


@dataclass(frozen=True)
class StackFiles:
    """What the CLI would make of the project and stack files."""

    project_file: Path
    stack: str
    stack_file: Path
    program_dir: Path
    """Where the program's `__main__.py` is (`main:`, else the project folder): the
    program's project root, where it finds the sweep file."""
    project_name: str = ""
    values: dict[str, ConfigValue] = field(default_factory=dict)
    """Full key (`wandb-sweeps:pods`) -> value, after the project's defaults."""
    problems: tuple[str, ...] = ()
    """What the CLI itself refuses, before the program runs."""
    warnings: tuple[str, ...] = ()
    readable: bool = True
    """False when a file could not be read at all: there is nothing for the program to check."""

    @property
    def program_config(self) -> dict[str, str]:
        return {key: value.text for key, value in self.values.items()}

    @property
    def secret_keys(self) -> set[str]:
        return {key for key, value in self.values.items() if value.secure}


def find_project(start: Path) -> Path:
    """The nearest Pulumi.yaml from `start` upwards, as the CLI looks for it
    (`DetectProjectPathFrom`, sdk/go/common/workspace/paths.go)."""
    start = start.resolve()
    if not start.is_dir():
        raise UsageError(f"{start} is not a directory.")
    for directory in (start, *start.parents):
        for name in PROJECT_FILES:
            if (directory / name).is_file():
                return directory / name
    raise UsageError(
        f"no Pulumi.yaml project file found (searching upwards from {start}); run it in the project "
        "folder, or pass --cwd."
    )


def read_stack_files(cwd: Path, stack: str | None) -> StackFiles:
    """The project and stack files around `cwd`, read as the CLI reads them. `stack`
    may be `dev`, `org/dev` or `org/project/dev` (the file is named after the last part);
    None picks the project's only stack file. Raises UsageError."""
    project_file = find_project(cwd)
    problems: list[str] = []
    try:
        project = load(_read(project_file))
    except YamlFileError as error:
        project = None
        problems.append(f"could not unmarshal '{project_file}': the file {error}.")
    project = project if isinstance(project, dict) else {}
    config_block = project.get("config")
    stack_dir = project_file.parent
    if isinstance(project.get("stackConfigDir"), str):
        stack_dir = stack_dir / project["stackConfigDir"]
    elif isinstance(
        config_block, str
    ):  # the deprecated `config: <dir>` (RewriteConfigPathIntoStackConfigDir)
        stack_dir, config_block = stack_dir / config_block, None
    suffix = project_file.suffix
    name = _stack_name(stack, stack_dir, suffix)
    stack_file = stack_dir / f"Pulumi.{name}{suffix}"
    files = StackFiles(project_file, name, stack_file, _program_dir(project_file.parent, project.get("main")))
    if problems:
        return _with(files, problems=problems, readable=False)
    project_name = project.get("name")
    if not (isinstance(project_name, str) and project_name):
        return _with(
            files, problems=[f"{project_file}: project is missing a non-empty string 'name' attribute"]
        )
    declarations, project_problems = _declarations(project_name, config_block, project_file)
    if project_problems:
        return _with(files, project_name=project_name, problems=project_problems, readable=False)
    if not stack_file.is_file():
        raise UsageError(f"{_stacks_here(stack_dir, suffix, f'there is no {stack_file}')}")
    try:
        stack_doc = load(_read(stack_file)) or {}
    except YamlFileError as error:
        return _with(
            files, project_name=project_name, problems=[f"{stack_file}: the file {error}."], readable=False
        )
    stack_config = stack_doc.get("config") if isinstance(stack_doc, dict) else None
    if not isinstance(stack_doc, dict) or not isinstance(stack_config, dict | None):
        return _with(
            files,
            project_name=project_name,
            readable=False,
            problems=[f"{stack_file}: `config:` must be a mapping of keys to values."],
        )
    return _merged(files, project_name, declarations, stack_config or {}, stack_doc)


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise YamlFileError(f"cannot be read: {getattr(error, 'strerror', None) or error}") from None


def _with(files: StackFiles, **changes: Any) -> StackFiles:
    changes = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
    return StackFiles(**{**files.__dict__, **changes})


def _stack_name(stack: str | None, stack_dir: Path, suffix: str) -> str:
    if stack is not None:
        parts = stack.split("/")
        name = parts[-1]
        if len(parts) > 3 or not all(_STACK_NAME.fullmatch(part) for part in parts):
            raise UsageError(
                f"--stack {stack!r}: a stack name has only letters, digits, '-', '_' and '.' "
                "(optionally after 'org/' or 'org/project/')."
            )
        return name
    names = _stack_names(stack_dir, suffix)
    if len(names) == 1:
        return names[0]
    raise UsageError(_stacks_here(stack_dir, suffix, "pass --stack NAME"))


def _stack_names(stack_dir: Path, suffix: str) -> list[str]:
    found = sorted(p.name[len("Pulumi.") : -len(suffix)] for p in stack_dir.glob(f"Pulumi.*{suffix}"))
    return [name for name in found if _STACK_NAME.fullmatch(name)]


def _stacks_here(stack_dir: Path, suffix: str, lead: str) -> str:
    names = _stack_names(stack_dir, suffix)
    listed = ", ".join(names) if names else "none"
    return f"{lead}; the stack files in {stack_dir} are for: {listed}."


def _program_dir(project_dir: Path, main: object) -> Path:
    if not isinstance(main, str) or not main:
        return project_dir
    program = project_dir / main
    return program if program.is_dir() else program.parent


@dataclass(frozen=True)
class _Declaration:
    """One entry of Pulumi.yaml's `config:` (`ProjectConfigType`)."""

    key: str
    type: str | None = None
    items: dict[str, Any] | None = None
    default: Any = None
    value: Any = None
    secret: bool = False


def _declarations(project: str, block: object, where: Path) -> tuple[dict[str, _Declaration], list[str]]:
    """Pulumi.yaml's `config:` as the CLI reads it: shorthand rewritten
    (`RewriteShorthandConfigValues`), then `Project.Validate`'s rules, every broken one."""
    if block is None:
        return {}, []
    if not isinstance(block, dict):
        return {}, [f"{where}: `config:` must be a mapping of keys to their declarations."]
    found: dict[str, _Declaration] = {}
    problems: list[str] = []
    for key, spec in block.items():
        own = ":" not in key or key.startswith(project + ":")
        if spec is None or isinstance(spec, str | bool | int | list):
            spec = {} if spec is None else {("default" if own else "value"): spec}
        if not isinstance(spec, dict) or set(spec) - _DECLARATION_KEYS:
            extra = sorted(set(spec) - _DECLARATION_KEYS) if isinstance(spec, dict) else None
            problems.append(
                f"{where}: config.{key}: "
                + (f"{extra} not allowed" if extra else "must be a value or a mapping")
                + f"; a declaration has only {', '.join(sorted(_DECLARATION_KEYS))}."
            )
            continue
        declaration = _Declaration(
            key,
            spec.get("type"),
            spec.get("items"),
            spec.get("default"),
            spec.get("value"),
            spec.get("secret") is True,
        )
        problem = _declaration_problem(declaration, own)
        if problem:
            problems.append(f"could not unmarshal '{where}': {problem}")
        else:
            found[key] = declaration
    return found, problems


def _declaration_problem(d: _Declaration, own: bool) -> str | None:
    """`Project.Validate` (sdk/go/common/workspace/project.go) on one declaration, plus
    the project schema's type names."""
    if d.type is not None and d.type not in _TYPES:
        return f"the type of configuration key '{d.key}' must be one of {', '.join(_TYPES)}, got {d.type!r}"
    if d.default is not None and d.value is not None:
        return f"project config '{d.key}' cannot have both a 'default' and 'value' attribute"
    if own:
        if d.type == "array" and d.items is None:
            return (
                f"The configuration key '{d.key}' declares an array but does not specify the underlying "
                "type via the 'items' attribute"
            )
        if (
            d.type is not None
            and d.default is not None
            and not valid_config_value(d.type, d.items, d.default)
        ):
            return (
                f"The default value specified for configuration key '{d.key}' is not of the expected type "
                f"'{full_type_name(d.type, d.items)}'"
            )
        return None
    if d.type is not None:
        return f"Configuration key '{d.key}' is not namespaced by the project and should not define a type"
    if d.default is not None:
        return (
            f"Configuration key '{d.key}' is not namespaced by the project and should not define a default "
            "value. Did you mean to use the 'value' attribute instead of 'default'?"
        )
    if d.value is None:
        return f"Configuration key '{d.key}' is namespaced and must provide an attribute 'value'"
    return None


def _merged(
    files: StackFiles,
    project: str,
    declarations: dict[str, _Declaration],
    stack_config: dict[str, Any],
    stack_doc: dict[str, Any],
) -> StackFiles:
    """`mergeConfig` and `validateStackConfigValues` (pkg/workspace/config.go)."""
    problems: list[str] = []
    warnings: list[str] = []
    values: dict[str, ConfigValue] = {}
    for raw_key, raw in stack_config.items():
        key = raw_key if ":" in raw_key else f"{project}:{raw_key}"
        if raw is None:
            warnings.append(
                f'No value for configuration key "{raw_key}". This is currently treated as an empty string '
                '`""`, but will be treated as `null` in a future version of pulumi.'
            )
        try:
            values[key] = stack_value(raw)
        except ValueError as error:
            problems.append(f"{files.stack_file}: {raw_key}: {error}")
    if stack_doc.get("environment"):
        warnings.append(
            f"{files.stack_file.name} imports Pulumi ESC environments (`environment:`); their values need "
            "Pulumi Cloud, so the check does not see them: a key set only there counts as missing."
        )
    missing: list[str] = []
    for name in sorted(declarations):
        declared = declarations[name]
        key = name if ":" in name else f"{project}:{name}"
        if key not in values and (declared.default is not None or declared.value is not None):
            values[key] = _project_value(declared.default if declared.default is not None else declared.value)
        if key in values:
            problems.extend(_type_problems(files.stack, name, declared, values[key]))
        elif key.split(":", 1)[0] == project:
            missing.append(name)
    if missing:
        problems.insert(0, _missing_problem(files.stack, missing))
    return _with(files, project_name=project, values=values, problems=problems, warnings=warnings)


def _missing_problem(stack: str, keys: list[str]) -> str:
    """`missingStackConfigurationKeysError`, word for word."""
    if len(keys) == 1:
        return f"Stack '{stack}' is missing configuration value '{keys[0]}'"
    quoted = [f"'{k}'" for k in sorted(keys)]
    return f"Stack '{stack}' is missing configuration values {' '.join([', '.join(quoted[:-1]), 'and ' + quoted[-1]])}"


def _type_problems(stack: str, name: str, declared: _Declaration, value: ConfigValue) -> list[str]:
    """`validateStackConfigValue`: a secret key must be encrypted; a typed one must
    hold its type (an encrypted value is not decrypted, so its type is not checked)."""
    if declared.secret and not value.secure:
        return [f"Stack '{stack}' with configuration key '{name}' must be encrypted as it's secret"]
    if declared.type is None or value.secure:
        return []
    content: Any = json.loads(value.text) if value.object else value.text
    if valid_config_value(declared.type, declared.items, content):
        return []
    return [
        f"Stack '{stack}' with configuration key '{name}' must be of type "
        f"'{full_type_name(declared.type, declared.items)}'"
    ]


def valid_config_value(type_name: str, items: Any, value: Any) -> bool:
    """`ValidateConfigValue` (sdk/go/common/workspace/project.go): text is an integer
    if `strconv.Atoi` takes it, a boolean only as `true` or `false`."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, str):
            return bool(re.fullmatch(r"[+-]?[0-9]+", value, re.ASCII)) and -(2**63) <= int(value) < 2**63
        if isinstance(value, float):
            return value == value and (not math.isfinite(value) or value == math.trunc(value))
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or not isinstance(items, dict):
        return False
    return all(valid_config_value(items.get("type", ""), items.get("items"), item) for item in value)


def full_type_name(type_name: str, items: Any) -> str:
    """`InferFullTypeName`: `array<string>`."""
    if isinstance(items, dict):
        return f"array<{full_type_name(items.get('type', ''), items.get('items'))}>"
    return type_name


def stack_value(raw: Any) -> ConfigValue:
    """A value of the stack file's `config:` as the CLI holds it. Raises ValueError
    for what the CLI cannot encode (a non-finite number)."""
    if raw is None:
        return ConfigValue("")
    if _is_secure(raw):
        return ConfigValue(ENCRYPTED_PLACEHOLDER, secure=True)
    if isinstance(raw, dict | list):
        return ConfigValue(_go_json(raw), secure=_holds_secure(raw), object=True)
    return ConfigValue(_go_json(raw) if not isinstance(raw, str) else raw)


def _project_value(raw: Any) -> ConfigValue:
    """`createConfigValue`: text, a whole number or a boolean as `%v` prints it; anything
    else as JSON (an object value)."""
    if isinstance(raw, str):
        return ConfigValue(raw)
    if isinstance(raw, bool | int):
        return ConfigValue(_go_json(raw))
    return ConfigValue(_go_json(raw), object=True)


def _is_secure(raw: Any) -> bool:
    """`isSecureValue`: a mapping with one key, `secure`, whose value is text."""
    return isinstance(raw, dict) and len(raw) == 1 and isinstance(raw.get("secure"), str)


def _holds_secure(raw: Any) -> bool:
    if _is_secure(raw):
        return True
    children = raw.values() if isinstance(raw, dict) else raw if isinstance(raw, list) else ()
    return any(_holds_secure(child) for child in children)


def _go_json(raw: Any) -> str:
    """`raw` as Go's encoding/json writes it (sorted keys, Go's float text), with every
    encrypted leaf replaced by the placeholder, as the program would see it decrypted."""
    if _is_secure(raw):
        return json.dumps(ENCRYPTED_PLACEHOLDER)
    if isinstance(raw, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_go_json(v)}" for k, v in sorted(raw.items())) + "}"
    if isinstance(raw, list):
        return "[" + ",".join(_go_json(v) for v in raw) + "]"
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ValueError(f"{raw} cannot be passed to a program (json: unsupported value)")
        return go_float_text(raw)
    return json.dumps(raw)

"""The project and stack files read as the Pulumi CLI reads them, without the CLI.

Each rule comes from pulumi/pulumi: the merge and its checks from pkg/workspace/config.go
(`mergeConfig`, `validateStackConfigValue`, `missingStackConfigurationKeysError`), the
declarations from sdk/go/common/workspace/project.go (`RewriteShorthandConfigValues`,
`Project.Validate`, `ValidateConfigValue`), a value's text from sdk/go/common/resource/
config/object.go (`MarshalString`), and the YAML from gopkg.in/yaml.v3 (resolve.go).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from pulumi_harness import ROOT, cli_config

from wandb_sweeps.cli.go_yaml import YamlFileError, load
from wandb_sweeps.cli.stack_files import ENCRYPTED_PLACEHOLDER, StackFiles, UsageError, read_stack_files

PROJECT_YAML = (ROOT / "Pulumi.yaml").read_text()


def read(tmp_path: Path, stack: str, project: str = PROJECT_YAML, name: str = "dev") -> StackFiles:
    (tmp_path / "Pulumi.yaml").write_text(project)
    (tmp_path / f"Pulumi.{name}.yaml").write_text(stack)
    return read_stack_files(tmp_path, name)


@pytest.mark.parametrize("stack", ["dev", "live"])
def test_the_example_stacks_give_what_the_harness_passes_the_program(stack: str) -> None:
    """tests/harness/pulumi_harness.py's `cli_config` is how every program test models the
    CLI; the check's reading of the same files gives the program the same config."""
    files = read_stack_files(ROOT, stack)
    assert files.problems == () and files.warnings == ()
    assert files.program_config == {f"wandb-sweeps:{k}": v for k, v in cli_config(stack).items()}
    assert files.secret_keys == set()


@pytest.mark.parametrize(
    ("yaml_value", "text"),
    [
        ("2", "2"),
        ("true", "true"),
        ("yes", "yes"),  # YAML 1.2: text, where PyYAML would read True
        ("off", "off"),
        ("0x10", "16"),
        ("0o17", "15"),
        ("010", "8"),  # ParseInt(s, 0, 64): a leading 0 is octal
        ("08", "8"),  # not octal, so the float 8
        ("1_000", "1000"),
        ("1.0", "1"),  # encoding/json writes a whole float as an integer
        ("1.5e-7", "1.5e-7"),
        ("1e21", "1e+21"),
        ("1e20", "100000000000000000000"),  # plain below 1e21
        ("0.00001", "0.00001"),  # plain from 1e-6 up
        (".5", "0.5"),
        ('"007"', "007"),
        ("2024-01-02", "2024-01-02 00:00:00 +0000 UTC"),  # time.Time's String()
        ("[b, 1, true]", '["b",1,true]'),
        ("{b: 2, a: {c: null}}", '{"a":{"c":null},"b":2}'),
        ("", ""),  # no value: "" (and a warning)
    ],
)
def test_a_stack_value_reaches_the_program_as_the_cli_passes_it(
    tmp_path: Path, yaml_value: str, text: str
) -> None:
    files = read(tmp_path, f"config:\n  wandb-sweeps:other: {yaml_value}\n  project: p\n  image: i\n")
    assert files.program_config["wandb-sweeps:other"] == text
    assert files.values["wandb-sweeps:other"].object == (yaml_value[:1] in "[{" and yaml_value != "")


def test_keys_without_a_namespace_are_the_projects_and_defaults_fill_the_rest(tmp_path: Path) -> None:
    files = read(tmp_path, "config:\n  project: p\n  image: i\n  pods: 3\n  kubernetes:context: kind\n")
    config = files.program_config
    assert config["wandb-sweeps:pods"] == "3" and config["kubernetes:context"] == "kind"
    # Pulumi.yaml's defaults, as createConfigValue writes them
    assert config["wandb-sweeps:agentsPerPod"] == "1"
    assert config["wandb-sweeps:createNamespace"] == "true"
    assert config["wandb-sweeps:imagePullSecrets"] == "[]"
    assert files.values["wandb-sweeps:imagePullSecrets"].object
    assert config["wandb-sweeps:sweepConfig"] == "sweep.yaml"


def test_missing_required_keys_are_named_as_the_cli_names_them(tmp_path: Path) -> None:
    assert read(tmp_path, "config: {}\n").problems == (
        "Stack 'dev' is missing configuration values 'image' and 'project'",
    )
    assert read(tmp_path, "config:\n  project: p\n").problems == (
        "Stack 'dev' is missing configuration value 'image'",
    )
    assert read(tmp_path, "").problems[0].startswith("Stack 'dev' is missing")  # an empty stack file


@pytest.mark.parametrize(
    ("key", "value", "type_name"),
    [
        ("createNamespace", "yes", "boolean"),
        ("createNamespace", "True", "boolean"),  # only true/false
        ("pods", "two", "integer"),
        ("pods", "2.5", "integer"),
        ("pods", "1_000", "integer"),  # quoted, so text; strconv.Atoi takes no '_'
        ("imagePullSecrets", "regcred", "array<string>"),
        ("supplementalGroups", "[1000, x]", "array<integer>"),
    ],
)
def test_a_value_of_the_wrong_declared_type_is_refused_as_the_cli_refuses_it(
    tmp_path: Path, key: str, value: str, type_name: str
) -> None:
    files = read(tmp_path, f"config:\n  project: p\n  image: i\n  {key}: '{value}'\n")
    assert f"Stack 'dev' with configuration key '{key}' must be of type '{type_name}'" in files.problems


def test_an_encrypted_value_is_a_secret_key_and_its_type_is_not_checked(tmp_path: Path) -> None:
    files = read(tmp_path, "config:\n  project: p\n  image: i\n  pods:\n    secure: v1:abc\n")
    assert files.problems == ()
    assert files.secret_keys == {"wandb-sweeps:pods"}
    assert files.program_config["wandb-sweeps:pods"] == ENCRYPTED_PLACEHOLDER


def test_a_key_declared_secret_must_be_encrypted(tmp_path: Path) -> None:
    project = PROJECT_YAML.replace(
        "  wandbApiKey:\n    type: string\n", "  wandbApiKey:\n    type: string\n    secret: true\n"
    )
    assert project != PROJECT_YAML
    files = read(tmp_path, "config:\n  project: p\n  image: i\n  wandbApiKey: plain\n", project)
    assert (
        "Stack 'dev' with configuration key 'wandbApiKey' must be encrypted as it's secret" in files.problems
    )


@pytest.mark.parametrize(
    ("declaration", "problem"),
    [
        (
            "  extra:\n    type: integer\n    default: many\n",
            "The default value specified for configuration key 'extra' is not of the expected type 'integer'",
        ),
        (
            "  extra:\n    type: array\n    default: []\n",
            "The configuration key 'extra' declares an array but does not specify the underlying type",
        ),
        (
            "  extra:\n    default: 1\n    value: 2\n",
            "project config 'extra' cannot have both a 'default' and 'value' attribute",
        ),
        ("  extra:\n    type: string\n    defualt: x\n", "config.extra: ['defualt'] not allowed"),
        (
            "  extra:\n    type: text\n",
            "the type of configuration key 'extra' must be one of string, integer",
        ),
        (
            "  aws:region:\n    type: string\n",
            "Configuration key 'aws:region' is not namespaced by the project and should not define a type",
        ),
        (
            "  aws:region:\n    default: us-east-1\n",
            "should not define a default value. Did you mean to use the 'value' attribute",
        ),
    ],
)
def test_a_broken_declaration_in_pulumi_yaml_is_refused(
    tmp_path: Path, declaration: str, problem: str
) -> None:
    files = read(tmp_path, "config:\n  project: p\n  image: i\n", PROJECT_YAML + declaration)
    assert not files.readable
    assert any(problem in p for p in files.problems), files.problems


def test_shorthand_declarations_are_defaults_or_values(tmp_path: Path) -> None:
    """`extra: 3` is a project key with default 3; `aws:region: x` a value of another namespace."""
    files = read(
        tmp_path,
        "config:\n  project: p\n  image: i\n",
        PROJECT_YAML + "  extra: 3\n  aws:region: eu-west-1\n",
    )
    assert files.program_config["wandb-sweeps:extra"] == "3"
    assert files.program_config["aws:region"] == "eu-west-1"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("config:\n  project: p\n  project: q\n", 'line 3: mapping key "project" already defined at line 2'),
        ("config:\n  project: [p\n", "is not valid YAML at line 3"),
        ("config:\n  1: p\n", "expected only string keys, got '1'"),
        ("config:\n  pods: !!int two\n", "cannot decode `two` as a int"),
        ("config:\n  x: .inf\n", "inf cannot be passed to a program (json: unsupported value)"),
        ("config: [a]\n", "`config:` must be a mapping"),
    ],
)
def test_a_stack_file_the_cli_cannot_load_is_a_problem_named_with_its_file(
    tmp_path: Path, text: str, problem: str
) -> None:
    files = read(tmp_path, text)
    assert any(problem in p and "Pulumi.dev.yaml" in p for p in files.problems), files.problems


def test_merge_keys_and_aliases_work_as_in_yaml_v3(tmp_path: Path) -> None:
    text = "base: &base {project: p, image: i, pods: 2}\nconfig:\n  <<: *base\n  pods: 3\n"
    config = read(tmp_path, text).program_config
    assert (config["wandb-sweeps:project"], config["wandb-sweeps:pods"]) == ("p", "3")


def test_an_alias_bomb_is_refused_at_once() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    started = time.monotonic()
    with pytest.raises(YamlFileError, match="expands, with its YAML aliases"):
        load("\n".join(lines))
    assert time.monotonic() - started < 1


def test_an_esc_environment_and_an_empty_value_are_warned_about(tmp_path: Path) -> None:
    files = read(tmp_path, "environment:\n  - team/gpu\nconfig:\n  project: p\n  image: i\n  entity:\n")
    assert any("imports Pulumi ESC environments" in w for w in files.warnings)
    assert any('No value for configuration key "entity"' in w for w in files.warnings)


def test_stack_config_dir_and_main_are_where_the_cli_and_the_program_look(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "program").mkdir()
    (tmp_path / "Pulumi.yaml").write_text(PROJECT_YAML + "stackConfigDir: stacks\nmain: program/\n")
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text("config:\n  project: p\n  image: i\n")
    files = read_stack_files(tmp_path, None)
    assert files.stack_file == tmp_path / "stacks" / "Pulumi.dev.yaml"
    assert files.program_dir == tmp_path / "program"
    assert files.problems == ()


def test_no_stack_file_for_the_stack_is_a_usage_error(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    with pytest.raises(UsageError, match=r"the stack files in .* are for: none"):
        read_stack_files(tmp_path, "dev")

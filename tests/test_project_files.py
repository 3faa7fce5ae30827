"""The project's own files agree with the code: Pulumi.yaml, the stacks, the README, train.py."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib

import yaml
from pulumi_harness import ROOT

from wandb_sweeps.stack_config import CONFIG_KEYS, KEYS_BY_NAME


def project_file() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


def test_pulumi_yaml_declares_every_key_with_the_same_type_default_and_description() -> None:
    declared = project_file()["config"]
    assert list(declared) == [k.name for k in CONFIG_KEYS if k.declared_in_project]
    for key in CONFIG_KEYS:
        if not key.declared_in_project:
            continue
        spec = declared[key.name]
        assert spec["type"] == key.kind, key.name
        if key.kind == "array":
            assert spec["items"] == {"type": "string"}, key.name
        assert spec["description"] == key.description, key.name
        if key.default is None:
            assert "default" not in spec, f"{key.name} is required, so it must not have a default"
        else:
            assert spec["default"] == key.default, key.name


def test_pulumi_yaml_runtime_makes_the_cli_install_requirements() -> None:
    project = project_file()
    assert project["name"] == "wandb-sweeps"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}


def test_stack_files_use_only_known_keys() -> None:
    for stack in ("dev", "live"):
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        for key in config:
            namespace, _, name = key.partition(":")
            assert namespace == "wandb-sweeps" and name in KEYS_BY_NAME, f"{stack}: {key}"
        assert "wandb-sweeps:wandbApiKey" not in config, "the API key never goes in a committed file"


def test_readme_documents_every_config_key_with_its_default_and_every_output() -> None:
    readme = (ROOT / "README.md").read_text()
    for key in CONFIG_KEYS:
        row = re.search(rf"^\| `{key.name}` \|(.*)$", readme, re.MULTILINE)
        assert row, f"README has no table row for `{key.name}`"
        if key.default not in (None, "", [], {}):
            default = str(key.default).lower() if isinstance(key.default, bool) else key.default
            assert f"`{default}`" in row.group(1), f"README row of {key.name} lacks its default"
    main = (ROOT / "__main__.py").read_text()
    for output in re.findall(r'pulumi\.export\("(\w+)"', main):
        assert re.search(rf"^\| `{output}` \|", readme, re.MULTILINE), f"README lacks output {output}"


def test_readme_gives_the_upper_bound_of_every_bounded_key_in_its_row() -> None:
    """The bound the program enforces (config_keys `maximum`) is the one users read."""
    readme = (ROOT / "README.md").read_text()
    bounded = [key for key in CONFIG_KEYS if key.maximum is not None]
    assert len(bounded) >= 13
    for key in bounded:
        row = re.search(rf"^\| `{key.name}` \|(.*)$", readme, re.MULTILINE)
        assert row and re.search(rf"[Aa]t most `{key.maximum}`", row.group(1)), f"README row of {key.name}"


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"<!-- test-command -->\n```sh\n(.+?)\n```", readme, re.DOTALL)
    assert command, "README marks its test command with <!-- test-command -->"
    assert command.group(1).strip() in ci


def test_example_trainer_runs_a_sweep_style_command_line_offline(tmp_path) -> None:
    env = {**os.environ, "WANDB_MODE": "disabled", "WANDB_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "train.py", "--lr=0.05", "--batch_size=64", "--epochs=3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_example_trainer_refuses_a_float_batch_size(tmp_path) -> None:
    env = {**os.environ, "WANDB_MODE": "disabled", "WANDB_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "train.py", "--batch_size=16.0", "--epochs=1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "batch_size" in result.stderr


def test_every_package_the_components_import_is_a_deploy_time_requirement() -> None:
    """`pulumi up` and `pip install wandb-sweeps` install the package's dependencies only
    (requirements.txt is `-e .`): a test-only package imported by components/ would work
    in CI and fail on the user's machine."""
    import ast

    distribution_of = {
        "yaml": "pyyaml",
        "pulumi": "pulumi",
        "pulumi_kubernetes": "pulumi-kubernetes",
        "wandb": "wandb",
        "sweeps": "wandb",  # the wandb[sweeps] extra
        "kubernetes_validate": "kubernetes-validate",
    }
    assert [
        line for line in (ROOT / "requirements.txt").read_text().splitlines() if not line.startswith("#")
    ] == ["-e ."]
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    required = {re.split(r"[\[<>=~ ]", dependency.strip())[0].lower() for dependency in dependencies}
    stdlib = set(sys.stdlib_module_names)
    for path in (ROOT / "components").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top == "wandb_sweeps":
                    continue
                assert top in distribution_of, f"{path.name} imports {top}: add it to this test's map"
                assert distribution_of[top] in required, f"{path.name} imports {top}, not in pyproject.toml"


def test_example_trainer_preempted_exits_143_and_its_requeued_run_resumes(tmp_path) -> None:
    """SIGTERM (forwarded by `wandb agent -f`) mid-run: a checkpoint, the preempting mark,
    exit 143 (so W&B re-queues the run rather than count it finished). The re-queued run
    has the same id (WANDB_RUN_ID from the agent) and continues from the checkpoint."""
    checkpoints = tmp_path / "checkpoints"
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path),
        "WANDB_RUN_ID": "requeued1",
        "CHECKPOINT_DIR": str(checkpoints),
    }
    first = subprocess.Popen(
        [sys.executable, "train.py", "--epochs=100000"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    saved = checkpoints / "requeued1.json"
    deadline = time.monotonic() + 120
    while not saved.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert saved.exists(), first.communicate(timeout=60)
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 143, stderr
    epoch = json.loads(saved.read_text())["epoch"]
    assert 0 <= epoch < 100000

    again = subprocess.run(
        [sys.executable, "train.py", f"--epochs={epoch + 3}", "--_wandb=resume"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert f"resuming from the checkpoint of epoch {epoch}" in again.stdout
    assert json.loads(saved.read_text())["epoch"] == epoch + 2

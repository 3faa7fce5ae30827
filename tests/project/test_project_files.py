"""The project's own files agree with the code: Pulumi.yaml, the stacks, the README and docs/, train.py."""

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
from docs_pages import all_pages, marked_block, page
from pulumi_harness import ROOT, cli_config, run_program

from wandb_sweeps.config.from_stack import CONFIG_KEYS, KEYS_BY_NAME


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
            assert spec["items"] == {"type": key.items}, key.name
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


def test_docs_document_every_config_key_with_its_default_and_the_readme_every_output() -> None:
    """docs/configuration.md has a row for every key, with its default; the README's short
    table of the most-used keys gives the same defaults; the README lists every output."""
    reference = page("configuration.md")
    readme = page("README.md")
    shortlisted = 0
    for key in CONFIG_KEYS:
        row = re.search(rf"^\| `{key.name}` \|(.*)$", reference, re.MULTILINE)
        assert row, f"docs/configuration.md has no table row for `{key.name}`"
        short = re.search(rf"^\| `{key.name}` \|(.*)$", readme, re.MULTILINE)
        shortlisted += short is not None
        if key.default not in (None, "", [], {}):
            default = str(key.default).lower() if isinstance(key.default, bool) else key.default
            assert f"`{default}`" in row.group(1), (
                f"docs/configuration.md row of {key.name} lacks its default"
            )
            assert short is None or f"`{default}`" in short.group(1), (
                f"README row of {key.name} lacks its default"
            )
    assert shortlisted >= 5, "the README's table of the most-used keys"
    main = (ROOT / "__main__.py").read_text()
    for output in re.findall(r'pulumi\.export\("(\w+)"', main):
        assert re.search(rf"^\| `{output}` \|", readme, re.MULTILINE), f"README lacks output {output}"


def test_docs_give_the_upper_bound_of_every_bounded_key_in_its_row() -> None:
    """The bound the program enforces (config/keys.py `maximum`) is the one users read."""
    reference = page("configuration.md")
    bounded = [key for key in CONFIG_KEYS if key.maximum is not None]
    assert len(bounded) >= 13
    for key in bounded:
        row = re.search(rf"^\| `{key.name}` \|(.*)$", reference, re.MULTILINE)
        assert row and re.search(rf"[Aa]t most `{key.maximum}`", row.group(1)), (
            f"docs/configuration.md row of {key.name}"
        )


def docs_prose() -> str:
    """The README and every docs/ page without their fenced code blocks (examples, not
    statements), and with each run of whitespace one space, so that a sentence broken
    across lines reads as one."""
    text = "\n\n".join(re.sub(r"```.*?```", "", text, flags=re.DOTALL) for text in all_pages().values())
    return " ".join(text.split())


def shown_default(value: object) -> str:
    """A default as the docs write it: `true`, `120`, `auto`."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def prose_default_claims() -> list[tuple[str, str, str]]:
    """(key, value, the words around it) for every sentence of the README or docs/ that presents a value
    of a known key as its default, in any of the forms it uses:
    `shmSize: auto` (the default), `key: value` by default, the default `key: value`,
    `key` defaults to `value`, `key` (default `value`), `key` is `value` by default."""
    prose = docs_prose()
    keys = "|".join(sorted(map(re.escape, KEYS_BY_NAME), key=len, reverse=True))
    patterns = [
        rf"`({keys}): ([^`]+)`,? (?:\((?:the )?default\)|(?:the|by|is the) default\b)",
        rf"\b[Dd]efault(?: is| of)?,? `({keys}): ([^`]+)`",
        rf"`({keys})`(?: still| now)? (?:defaults to|\(default:?) `([^`]+)`",
        rf"`({keys})` is `([^`]+)` by default",
    ]
    return [
        (found[1], found[2], prose[max(0, found.start() - 60) : found.end() + 60])
        for pattern in patterns
        for found in re.finditer(pattern, prose)
    ]


def test_docs_prose_states_the_defaults_the_code_has() -> None:
    """Not only the tables: a sentence such as "`shmSize: auto` (the default)" or
    "`runAsNonRoot` still defaults to `true`" must give the code's default. A key whose
    default is empty ("unset": the default is worked out, e.g. imagePullPolicy) may only
    be said to default to a value its table row (docs/configuration.md) names."""
    reference = page("configuration.md")
    claims = prose_default_claims()
    assert len(claims) >= 3, claims  # the patterns still find the docs' statements
    for key, value, context in claims:
        default = KEYS_BY_NAME[key].default
        if default in ("", 0, [], {}, None):
            row = re.search(rf"^\| `{key}` \| ([^|]*)\|", reference, re.MULTILINE)
            assert row and f"`{value}`" in row.group(1), (
                f"the docs say {key} defaults to {value!r}: ...{context}..."
            )
        else:
            assert value == shown_default(default), (
                f"the docs say {key} defaults to {value!r}, the code to {default!r}: ...{context}..."
            )


def docs_yaml(marker: str) -> dict:
    """The YAML block docs/gpus-and-sizing.md marks with `<!-- marker -->`."""
    found = marked_block(page("gpus-and-sizing.md"), marker)
    assert found, f"docs/gpus-and-sizing.md marks a block with <!-- {marker} -->"
    return yaml.safe_load(found)


def deploy_docs_stack(marker: str) -> dict:
    """The docs' stack block on top of the live stack, under the mock engine: slot 0's container."""
    keys = {name.partition(":")[2]: value for name, value in docs_yaml(marker)["config"].items()}
    config = cli_config("live", wandbApiKey="local-" + "k" * 40, **keys)
    run = run_program("live", config, secret_keys=("wandbApiKey",))
    return run.named("sweep-agent-0").inputs["spec"]["template"]["spec"]


def test_the_amd_example_puts_the_pods_in_the_device_groups() -> None:
    """docs/gpus-and-sizing.md, AMD GPUs: the GPUs under amd.com/gpu, and the groups that own
    /dev/kfd and /dev/dri in the pod's securityContext."""
    spec = deploy_docs_stack("amd-stack")
    assert spec["containers"][0]["resources"]["limits"]["amd.com/gpu"] == "1"
    assert spec["securityContext"]["supplementalGroups"] == [44, 109]


def test_docs_multi_gpu_stack_gives_each_run_a_block_of_two_gpus() -> None:
    spec = deploy_docs_stack("multi-gpu-stack")
    container = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (env["GPUS_PER_POD"], env["AGENTS_PER_POD"]) == ("4", "2")
    assert "GPUS_PER_RUN" not in env  # the launcher's equal split makes the blocks of 2
    assert container["resources"]["limits"] == {"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": "4"}


def test_docs_sizing_stack_sets_lower_requests_and_half_of_memory_for_shm() -> None:
    spec = deploy_docs_stack("sizing-stack")
    assert spec["containers"][0]["resources"] == {
        "requests": {"cpu": "8", "memory": "96Gi"},
        "limits": {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "1"},
    }
    # The live stack sets shmSize: 16Gi; auto would be half of memory: see test_pod_options.
    assert spec["volumes"][0]["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}


def test_docs_multi_gpu_sweep_files_pass_wandbs_checks() -> None:
    """The accelerate file, and the same with the torchrun `command:`, pass every check the
    sweep file gets (W&B's schema included); the flow-list form the docs warn about
    does not even parse."""
    from wandb_sweeps.wandb.schema import schema_problem

    accelerate = docs_yaml("multi-gpu-sweep-accelerate")
    torchrun = {**accelerate, "command": docs_yaml("multi-gpu-sweep-torchrun")["command"]}
    for config in (accelerate, torchrun):
        assert config["command"][0] == "${env}" and config["command"][-2:] == ["${program}", "${args}"]
        assert schema_problem(yaml.safe_dump(config), "'sweep.yaml'") is None
    try:
        yaml.safe_load("command: [${env}, accelerate, launch, ${program}, ${args}]")
    except yaml.YAMLError:
        pass
    else:
        raise AssertionError("a flow list with ${env} parsed; docs/gpus-and-sizing.md says it does not")


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    command = marked_block(page("README.md"), "test-command", "sh")
    assert command, "README marks its test command with <!-- test-command -->"
    assert command.strip() in ci


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
    (requirements.txt is requirements.lock, compiled from pyproject.toml, plus `-e .`): a
    test-only package imported by components/ would work in CI and fail on the user's machine."""
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
    ] == ["--no-require-hashes", "-r requirements.lock", "-e ."]
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

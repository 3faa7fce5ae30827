"""The program process stays light: no wandb, no W&B `sweeps` package, no scipy or scikit-learn.

`pulumi up` runs the program twice (preview and update) and `pulumi preview` once
more in most pipelines. W&B's `sweeps` package drags in its search code (scipy,
scikit-learn, about half a second); the sweep config is checked with it in the
sweep provider's `check` instead, whose process may import wandb. This runs the
program as `python -X importtime` does under `bench/program_run.py` (mock engine,
nothing of the project's imported by the harness) for a sweep of every search
method, and reads what the process imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pulumi_harness import ROOT, cli_config

HEAVY = ("wandb", "sweeps", "scipy", "sklearn")


def imported_roots(importtime: str) -> set[str]:
    """Top-level names of the modules in `python -X importtime` output."""
    names = set()
    for line in importtime.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and not name.startswith("self [us]"):
                names.add(name.split(".")[0])
    return names


@pytest.mark.parametrize("method", ["grid", "random", "bayes", "custom"])
def test_the_program_process_imports_no_wandb_sweeps_scipy_or_sklearn(
    tmp_path: Path, project_tmp_path: Path, method: str
) -> None:
    config = yaml.safe_load((ROOT / "sweep.yaml").read_text())
    config["method"] = method
    sweep = project_tmp_path / f"{method}.yaml"  # a sweep config lies inside the project
    sweep.write_text(yaml.safe_dump(config))
    values = cli_config("dev", wandbApiKey="local-" + "k" * 40, sweepConfig=str(sweep))
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "project": "wandb-sweeps",
                "stack": "dev",
                "config": {f"wandb-sweeps:{k}": v for k, v in values.items()},
                "secret_keys": ["wandb-sweeps:wandbApiKey"],
            }
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            str(ROOT / "bench" / "program_run.py"),
            str(ROOT / "__main__.py"),
            str(request),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules = json.loads(result.stdout.strip().splitlines()[-1])["modules"]
    assert "wandb_sweeps.wandb_sweep" in modules, "the program did not run"
    roots = imported_roots(result.stderr)
    assert "pulumi_kubernetes" in roots, "no importtime output to read"
    assert sorted(roots & set(HEAVY)) == []
    assert sorted({m.split(".")[0] for m in modules} & set(HEAVY)) == []

"""Run a Pulumi program directory under Pulumi's mock engine, in the venv whose python runs this file.

Two halves:

- Run as a script, by the python of a venv that installed the built wheel
  (`tests/test_packaging.py` makes one):

      <venv>/bin/python tests/venv_runner.py PROGRAM_DIR REQUEST.json RESULT.json

  REQUEST.json is `{"stack": "dev", "config": {short key: text}, "secret_keys": [...],
  "preview": false}`. The program is run as the Python language host runs it: with
  PROGRAM_DIR as the working directory, by `runpy.run_path(PROGRAM_DIR)` (PROGRAM_DIR
  goes first on sys.path, then its `__main__.py` runs); under `pulumi.runtime.set_mocks`
  with the recording mocks of `pulumi_harness` (this directory, tests/, is on sys.path
  because this file runs from it). RESULT.json gets every registration (type, name, inputs with secrets unwrapped,
  which inputs were secret, options: parent, dependencies, property dependencies...;
  for a dynamic resource, what its pickled `__provider` unpickles to here) and the
  stack outputs. It refuses to run, exit status 3, unless `wandb_sweeps` is the
  installed (non-editable) package of this interpreter's site-packages.
- Imported by the tests (in the dev venv): `run_program_in_venv` calls the script in a
  clean environment and returns the parsed result; `copy_program` copies a program's
  files away from the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGE = ROOT / "components"
NOT_INSTALLED = 3
"""Exit status of the script when `wandb_sweeps` is not the installed package."""


class RunnerFailure(Exception):
    """The runner script failed; the message has its exit status and stderr."""

    def __init__(self, returncode: int, stderr: str) -> None:
        super().__init__(f"venv_runner exited with {returncode}:\n{stderr}")
        self.returncode = returncode
        self.stderr = stderr


# -- host side: called by the tests, in the dev venv ---------------------------------


def clean_env(home: Path) -> dict[str, str]:
    """This process's environment without what could change where imports come from
    (PYTHON*), W&B's or Pulumi's settings (WANDB_*, PULUMI_*), with HOME at `home`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "WANDB_", "PULUMI_", "VIRTUAL_ENV"))
    }
    env["HOME"] = str(home)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def copy_program(source: Path, destination: Path) -> Path:
    """The program's top-level files (`__main__.py`, `Pulumi*.yaml`, `sweep.yaml`, ...)
    copied to `destination`; the directories (components/, the egg-info, venv/) stay
    behind, so nothing next to the program can stand in for the installed package."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file():
            shutil.copy2(path, destination / path.name)
    return destination


def run_program_in_venv(
    python: Path,
    program_dir: Path,
    stack: str,
    config: dict[str, str],
    *,
    workdir: Path,
    secret_keys: tuple[str, ...] = (),
    preview: bool = False,
    timeout: float = 300,
) -> dict[str, Any]:
    """Run `program_dir` with `python` (see the module docstring); raises RunnerFailure.
    `workdir` gets the request, the result and a HOME; the program runs in `program_dir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    request, result = workdir / "request.json", workdir / "result.json"
    request.write_text(
        json.dumps({"stack": stack, "config": config, "secret_keys": list(secret_keys), "preview": preview})
    )
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(python), str(Path(__file__).resolve()), str(program_dir), str(request), str(result)],
        cwd=program_dir,
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RunnerFailure(done.returncode, done.stderr)
    return json.loads(result.read_text())


# -- runner side: executed by the venv's python -----------------------------------------


def _installed_package_problem() -> str | None:
    """Why a `wandb_sweeps` module this interpreter has loaded is not from its installed
    package (this venv's site-packages, not the source tree), or None."""
    import wandb_sweeps  # noqa: F401 - what the program will import

    site_dirs = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    for name, file in _loaded_package_files().items():
        location = Path(file).resolve()
        if location.is_relative_to(SOURCE_PACKAGE):
            return f"{name} comes from the source tree ({location}), not from an installed wheel"
        if not any(location.is_relative_to(d) for d in site_dirs):
            return f"{name} comes from {location}, outside this venv's site-packages {sorted(map(str, site_dirs))}"
    return None


def _loaded_package_files() -> dict[str, str]:
    return {
        name: str(getattr(module, "__file__", None))
        for name, module in sorted(sys.modules.items())
        if name == "wandb_sweeps" or name.startswith("wandb_sweeps.")
    }


def secret_paths(value: Any, sig: str, path: str = "") -> list[str]:
    """Where in `value` the mock engine's secret wrappers are (dotted paths)."""
    if isinstance(value, dict):
        if sig in value:
            return [path or "."]
        return [p for k, v in value.items() for p in secret_paths(v, sig, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in secret_paths(v, sig, f"{path}[{i}]")]
    return []


def _pickled_provider(encoded: str) -> dict[str, Any]:
    """What a `__provider` input unpickles to in this interpreter."""
    import base64

    import dill

    provider = dill.loads(base64.b64decode(encoded))
    cls = type(provider)
    return {
        "module": cls.__module__,
        "qualname": cls.__qualname__,
        "module_file": str(getattr(sys.modules.get(cls.__module__), "__file__", None)),
        "attributes": sorted(vars(provider)),
    }


def describe_run(run: Any) -> dict[str, Any]:
    """A `pulumi_harness.ProgramRun` as JSON-ready data: each registration's type, name,
    inputs (secrets unwrapped), secret inputs, options and, for a dynamic resource, what
    its `__provider` unpickles to; and the stack outputs. The same for a run in the dev
    venv (the source tree) and one in a fresh venv, so the two compare."""
    from engine_model import SECRET_SIG, plain

    registrations = []
    for r in run.registrations:
        inputs = plain(r.inputs)
        entry = {
            "type": r.typ,
            "name": r.name,
            "custom": r.custom,
            "provider": r.provider,
            "inputs": inputs,
            "secret_inputs": sorted(secret_paths(r.inputs, SECRET_SIG)),
            "options": r.options,
        }
        if isinstance(inputs.get("__provider"), str):
            entry["pickled_provider"] = _pickled_provider(inputs["__provider"])
        registrations.append(entry)
    described = {"registrations": registrations, "outputs": plain(run.outputs)}
    return json.loads(json.dumps(described, sort_keys=True, default=repr))


def main(argv: list[str]) -> int:
    import runpy

    program_dir, request_file, result_file = (Path(a).resolve() for a in argv)
    problem = _installed_package_problem()
    if problem:
        print(f"venv_runner: {problem}", file=sys.stderr)
        return NOT_INSTALLED

    import pulumi
    import yaml
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await
    from pulumi_harness import ProgramRun, RecordingMocks, RecordingMonitor

    os.chdir(program_dir)  # as the language host: relative paths are the project's
    request = json.loads(request_file.read_text())
    project = yaml.safe_load((program_dir / "Pulumi.yaml").read_text())["name"]
    run = ProgramRun()
    mocks = RecordingMocks(run)
    pulumi.runtime.set_mocks(
        mocks,
        project=project,
        stack=request["stack"],
        preview=bool(request.get("preview")),
        monitor=RecordingMonitor(mocks),
    )
    pulumi.runtime.set_all_config(
        {f"{project}:{k}": v for k, v in request["config"].items()},
        [f"{project}:{k}" for k in request.get("secret_keys", [])],
    )

    def program() -> pulumi.Output[Any]:
        # As the Python language host runs a program: the directory, which puts it
        # first on sys.path and runs its __main__.py.
        runpy.run_path(str(program_dir), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        return pulumi.Output.from_input(dict(root.outputs))  # type: ignore[union-attr]

    _sync_await(run_pulumi_func(lambda: _sync_await(program().apply(run.outputs.update).future())))

    problem = _installed_package_problem()  # again: what the program imported too
    if problem:
        print(f"venv_runner: after the program ran: {problem}", file=sys.stderr)
        return NOT_INSTALLED

    result = {
        "python": sys.executable,
        "sys_path": sys.path,
        "wandb_sweeps_modules": _loaded_package_files(),
        **describe_run(run),
    }
    result_file.write_text(json.dumps(result, indent=1, sort_keys=True, default=repr))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The built wheel, installed into a fresh venv: what `pip install wandb-sweeps` gives a user (issue 9).

Everything here runs in a fresh venv that installed the wheel built from this
checkout, with the current directory a temporary one: never the source tree, never
the dev venv's editable install. One session fixture builds the wheel and the venv
once (per test run, shared by the xdist workers); the checks run as subprocesses of
the fresh venv's python. The runner (tests/venv_runner.py) runs a Pulumi program
under Pulumi's mock engine in that venv; here it runs this repository's own program.

Slow (a wheel build in pip's isolated build env, which fetches setuptools from the
package index): marked `slow`, deselect with `-m "not slow"`.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
from pulumi_harness import MOCK_ENTITY, MOCK_SWEEP_ID, cli_config, run_program
from venv_runner import NOT_INSTALLED, ROOT, RunnerFailure, clean_env, copy_program, describe_run
from venv_runner import run_program_in_venv as run_in_venv

pytestmark = pytest.mark.slow

API_KEY = "local-" + "k" * 40
PROVIDER_MODULE = "wandb_sweeps.sweep_provider"
_IGNORED = shutil.ignore_patterns(
    ".git", "venv", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


def build_ignore(directory: str, names: list[str]) -> set[str]:
    """What is not copied to the build directory: VCS data, venvs, earlier builds, caches,
    and the top-level `wandb/` that runs write (not components/wandb/, the package's W&B side)."""
    ignored = set(_IGNORED(directory, names))
    if Path(directory) == ROOT and "wandb" in names:
        ignored.add("wandb")
    return ignored


@dataclass(frozen=True)
class FreshVenv:
    root: Path
    source: Path
    """The copy of this checkout the wheel was built from."""
    wheel: Path
    python: Path
    site_packages: Path
    dependency_dirs: list[str]
    """The dev venv's site-packages directories, appended to the fresh venv's sys.path by a .pth line."""
    timings: dict[str, float]

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps({k: v if isinstance(v, list | dict) else str(v) for k, v in asdict(self).items()})
        )

    @classmethod
    def load(cls, path: Path) -> FreshVenv:
        data = json.loads(path.read_text())
        return cls(
            **{k: Path(v) for k, v in data.items() if k not in ("dependency_dirs", "timings")},
            dependency_dirs=data["dependency_dirs"],
            timings=data["timings"],
        )


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def _dependency_dirs() -> list[str]:
    """The site-packages directories this (dev venv) interpreter imports from, in its order."""
    return [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]


def _make_fresh_venv(root: Path) -> FreshVenv:
    if root.exists():
        shutil.rmtree(root)  # a build an earlier worker left half done
    root.mkdir(parents=True)
    env = {**clean_env(root), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [sys.executable, "-m", "pip"]
    timings: dict[str, float] = {}

    start = time.monotonic()
    source = root / "source"
    shutil.copytree(ROOT, source, ignore=build_ignore)
    dist = root / "dist"
    _run([*pip, "wheel", "--no-deps", "-w", str(dist), str(source)], env=env, cwd=root, timeout=600)
    (wheel,) = dist.glob("wandb_sweeps-*.whl")
    timings["wheel_build"] = time.monotonic() - start

    start = time.monotonic()
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env, cwd=root, timeout=120)
    python = venv / "bin" / "python"
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=env, cwd=root
    ).stdout.strip()
    timings["venv_create"] = time.monotonic() - start

    start = time.monotonic()
    # The dev venv's pip, installing into the fresh venv's interpreter (`--python`), before
    # the .pth below exists: that pip sees an empty environment and installs the wheel alone.
    install = ["--python", str(python), "install", "--no-deps", "--no-index", str(wheel)]
    _run([*pip, *install], env=env, cwd=root, timeout=300)
    timings["wheel_install"] = time.monotonic() - start

    dependency_dirs = _dependency_dirs()
    assert dependency_dirs, f"no site-packages directory on sys.path: {sys.path}"
    (Path(purelib) / "_wandb_sweeps_test_dependencies.pth").write_text("\n".join(dependency_dirs) + "\n")
    return FreshVenv(root, source, wheel, python, Path(purelib), dependency_dirs, timings)


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> FreshVenv:
    """A venv that installed only the wheel built from this checkout; its dependencies are the dev venv's.

    The wheel is built with `pip wheel --no-deps` from a copy of the checkout (so the
    build's build/ and egg-info stay out of the source tree, and two xdist workers never
    build in the same directory), in pip's isolated build env, as `pip install` from
    git or an sdist would. The venv is made `--without-pip` and the wheel installed by
    the dev venv's pip (`--python`), `--no-deps`.

    The dependencies (pulumi, pulumi-kubernetes, wandb, PyYAML, kubernetes-validate, dill,
    pytest...) are not installed: that takes minutes. A .pth file in the fresh venv's
    site-packages appends the dev venv's site-packages directories to sys.path instead.
    A directory added by a .pth line is put on sys.path but not scanned for .pth files
    itself, so the dev venv's editable install of wandb_sweeps (a .pth that installs an
    import hook mapping wandb_sweeps to components/) is NOT activated; and the fresh
    site-packages comes first on sys.path, so both `import wandb_sweeps` and
    `importlib.metadata` find the wheel. `test_the_dev_venvs_editable_install_is_not_active`
    checks both, with a control that activates the hook.

    Under xdist, the first worker builds and the others wait on a lock and reuse it.
    """
    if worker_id == "master":
        made = _make_fresh_venv(tmp_path_factory.getbasetemp() / "packaging")
        made.save(made.root / "fresh-venv.json")  # the timings, for a look
        return made
    shared = tmp_path_factory.getbasetemp().parent  # this run's directory, common to all workers
    with _locked(shared / "packaging.lock"):
        marker = shared / "packaging.json"
        if marker.exists():
            return FreshVenv.load(marker)
        made = _make_fresh_venv(shared / "packaging")
        made.save(marker)
        return made


PROBE = r"""
import importlib.metadata as md, importlib.util, json, site, sys, sysconfig, traceback
from pathlib import Path

for directory in sys.argv[1:]:  # the control: process these as site dirs, .pth files and all
    site.addsitedir(directory)

# Where the package is, and what is there, before running any of it.
spec = importlib.util.find_spec("wandb_sweeps")
package = Path(spec.origin).parent
dist = md.distribution("wandb-sweeps")
report = {
    "prefix": sys.prefix,
    "purelib": sysconfig.get_paths()["purelib"],
    "sys_path": sys.path,
    "file": spec.origin,
    "package_files": sorted(
        str(p.relative_to(package)) for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ),
    "version": md.version("wandb-sweeps"),
    "dist_location": str(dist.locate_file("")),
    "dist_locations": [str(d.locate_file("")) for d in md.distributions() if d.metadata["Name"] == "wandb-sweeps"],
    "direct_url": json.loads(dist.read_text("direct_url.json") or "null"),
}
try:
    import wandb_sweeps
    from wandb_sweeps.kubernetes import agent_job

    report["import_error"] = None
    report["launcher_script"] = agent_job.LAUNCHER_SCRIPT
    report["all"] = list(wandb_sweeps.__all__)
    report["public"] = {}
    for name in wandb_sweeps.__all__:
        try:
            exec(f"from wandb_sweeps import {name}", {})
            report["public"][name] = "ok"
        except Exception as error:
            report["public"][name] = f"error: {error!r}"
    report["dunder_version"] = getattr(wandb_sweeps, "__version__", None)
except Exception:
    report["import_error"] = traceback.format_exc()
hooks = [getattr(f, "__module__", None) or type(f).__module__ for f in sys.meta_path + sys.path_hooks]
report["import_hooks"] = [str(h) for h in hooks]
report["editable_modules"] = sorted(m for m in sys.modules if m.startswith("__editable__"))
report["modules"] = {n: m.__file__ for n, m in list(sys.modules.items()) if n.split(".")[0] == "wandb_sweeps"}
parts = [package / "kubernetes" / "launcher" / part for part in ("setup.sh", "agents.sh", "watch.sh")]
report["launcher_file"] = "".join(part.read_text() for part in parts) if all(p.exists() for p in parts) else None
print(json.dumps(report))
"""


def _probe(python: Path, cwd: Path, *site_dirs: str) -> dict[str, Any]:
    cwd.mkdir(parents=True, exist_ok=True)
    done = _run([str(python), "-c", PROBE, *site_dirs], cwd=cwd, env=clean_env(cwd), timeout=300)
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="session")
def installed(fresh_venv: FreshVenv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the fresh venv's python sees, from an empty directory."""
    return _probe(fresh_venv.python, tmp_path_factory.mktemp("probe"))


def _under(path: str | Path, directory: Path) -> bool:
    return Path(path).resolve().is_relative_to(directory.resolve())


# -- the installed distribution ------------------------------------------------------------


def test_wandb_sweeps_is_imported_from_the_fresh_venv_not_the_source_tree(
    fresh_venv: FreshVenv, installed: dict[str, Any]
) -> None:
    assert Path(installed["prefix"]) == fresh_venv.python.parent.parent
    assert _under(installed["file"], fresh_venv.site_packages), installed["file"]
    assert installed["modules"], "no wandb_sweeps module loaded"
    for name, file in installed["modules"].items():
        assert _under(file, fresh_venv.site_packages), (name, file)
        assert not _under(file, ROOT), (name, file)
    assert str(ROOT) not in installed["sys_path"] and str(ROOT / "components") not in installed["sys_path"]
    # The dependencies come from the dev venv, after the fresh site-packages.
    path = [str(Path(p)) for p in installed["sys_path"]]
    assert path.index(str(fresh_venv.site_packages)) < min(path.index(d) for d in fresh_venv.dependency_dirs)


def test_the_dev_venvs_editable_install_is_not_active(
    fresh_venv: FreshVenv, installed: dict[str, Any], tmp_path: Path
) -> None:
    """The .pth trick adds the dev venv's site-packages without running the .pth files in
    it: setuptools' editable import hook for wandb_sweeps is not installed."""
    assert installed["editable_modules"] == []
    assert not [h for h in installed["import_hooks"] if "__editable__" in h], installed["import_hooks"]
    # The control: the same venv, with the dev venv's site-packages processed as site
    # directories (.pth files run): the hook IS there, so the check above can see it.
    # The wheel still wins (the hook is appended to sys.meta_path, after the path finder).
    activated = _probe(fresh_venv.python, tmp_path, *fresh_venv.dependency_dirs)
    assert any("__editable__" in h for h in activated["import_hooks"]), activated["import_hooks"]
    assert activated["editable_modules"]
    assert _under(activated["file"], fresh_venv.site_packages)
    assert activated["dist_location"] == installed["dist_location"]


def test_the_distribution_is_the_built_wheel_at_the_pyproject_version(
    fresh_venv: FreshVenv, installed: dict[str, Any]
) -> None:
    version = tomllib.loads((fresh_venv.source / "pyproject.toml").read_text())["project"]["version"]
    assert installed["version"] == version
    assert fresh_venv.wheel.name == f"wandb_sweeps-{version}-py3-none-any.whl"
    # The metadata found first is the fresh venv's (the dev venv's editable one comes later)...
    assert Path(installed["dist_location"]) == fresh_venv.site_packages
    assert Path(installed["dist_locations"][0]) == fresh_venv.site_packages
    # ...installed from the wheel file, not from a directory (editable or not).
    direct_url = installed["direct_url"]
    assert "archive_info" in direct_url and "dir_info" not in direct_url, direct_url
    assert direct_url["url"].endswith("/" + fresh_venv.wheel.name)


def test_every_module_and_the_package_data_are_installed(
    fresh_venv: FreshVenv, installed: dict[str, Any]
) -> None:
    """Every file of the package's source folder (the modules, py.typed, the launcher's parts)
    is in the installed package, and nothing else is."""
    built_from = fresh_venv.source / "components"
    expected = {
        str(p.relative_to(built_from))
        for p in built_from.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    launcher = {f"kubernetes/launcher/{part}" for part in ("setup.sh", "agents.sh", "watch.sh")}
    assert {"py.typed", *launcher, "__init__.py", "sweep_provider.py"} <= expected
    assert set(installed["package_files"]) == expected


def test_the_installed_package_imports(installed: dict[str, Any]) -> None:
    assert installed["import_error"] is None, installed["import_error"]


def test_the_launcher_script_is_read_from_the_installed_package(installed: dict[str, Any]) -> None:
    assert installed["import_error"] is None, (
        "wandb_sweeps does not import (test_the_installed_package_imports)"
    )
    script = installed["launcher_script"]
    assert script.strip(), "LAUNCHER_SCRIPT is empty"
    assert installed["launcher_file"] is not None
    source_lines = set(installed["launcher_file"].splitlines())
    assert all(line in source_lines for line in script.splitlines()), "not the installed launcher/*.sh"


def test_every_public_name_imports(installed: dict[str, Any]) -> None:
    assert installed["import_error"] is None, (
        "wandb_sweeps does not import (test_the_installed_package_imports)"
    )
    assert installed["all"], "wandb_sweeps.__all__ is empty"
    assert installed["public"] == dict.fromkeys(installed["all"], "ok")
    if installed["dunder_version"] is not None:  # wandb_sweeps.__version__, where the package has one
        assert installed["dunder_version"] == installed["version"]


# -- this repository's program, run from the fresh venv ------------------------------------


@dataclass(frozen=True)
class ProgramRunInVenv:
    result: dict[str, Any]
    seconds: float

    def by_type(self, typ: str) -> list[dict[str, Any]]:
        return sorted((r for r in self.result["registrations"] if r["type"] == typ), key=lambda r: r["name"])

    def named(self, name: str) -> dict[str, Any]:
        (found,) = (r for r in self.result["registrations"] if r["name"] == name)
        return found


@pytest.fixture(scope="session")
def program_run(fresh_venv: FreshVenv, tmp_path_factory: pytest.TempPathFactory) -> ProgramRunInVenv:
    """This repository's program (the dev stack), copied away from the source tree and run
    under the mock engine by the fresh venv's python."""
    work = tmp_path_factory.mktemp("program-run")
    program = copy_program(ROOT, work / "program")
    start = time.monotonic()
    result = run_in_venv(
        fresh_venv.python,
        program,
        "dev",
        cli_config("dev", wandbApiKey=API_KEY),
        workdir=work / "run",
        secret_keys=("wandbApiKey",),
    )
    return ProgramRunInVenv(result, time.monotonic() - start)


def test_the_program_registers_the_sweep_and_its_agents(program_run: ProgramRunInVenv) -> None:
    (component,) = program_run.by_type("wandb-sweeps:index:WandbSweep")
    assert component["custom"] is False
    assert len(program_run.by_type("kubernetes:core/v1:Namespace")) == 1
    secrets = program_run.by_type("kubernetes:core/v1:Secret")
    assert secrets and all("stringData" in s["secret_inputs"] for s in secrets)
    assert {"WANDB_API_KEY": API_KEY} in [s["inputs"]["stringData"] for s in secrets]  # unwrapped
    (sweep,) = program_run.by_type("pulumi-python:dynamic/wandb:Sweep")
    (lifecycle,) = program_run.by_type("pulumi-python:dynamic/wandb:SweepLifecycle")
    for dynamic in (sweep, lifecycle):
        assert dynamic["inputs"]["api_key"] == API_KEY and "api_key" in dynamic["secret_inputs"]
    assert len(program_run.by_type("kubernetes:batch/v1:Job")) == 1  # dev: one pod
    # Options reach the runner: every child hangs off the component, and the Jobs wait
    # for the sweep.
    component_urn = "urn:pulumi:dev::wandb-sweeps::pulumi:pulumi:Stack$wandb-sweeps:index:WandbSweep::sweep"
    children = [r for r in program_run.result["registrations"] if r is not component]
    assert all(r["options"]["parent"] == component_urn for r in children)
    for job in program_run.by_type("kubernetes:batch/v1:Job"):
        assert any(d.endswith("::sweep-sweep") for d in job["options"]["dependencies"])
    outputs = program_run.result["outputs"]
    assert outputs["sweepPath"] == f"{MOCK_ENTITY}/{sweep['inputs']['project']}/{MOCK_SWEEP_ID}"
    assert outputs["namespace"] == "wandb-sweeps-dev"


def test_the_pickled_providers_are_wandb_sweeps_sweep_provider_from_the_wheel(
    fresh_venv: FreshVenv, program_run: ProgramRunInVenv
) -> None:
    pickled = {
        r["type"]: r["pickled_provider"]
        for r in program_run.result["registrations"]
        if "pickled_provider" in r
    }
    assert {t: (p["module"], p["qualname"], p["attributes"]) for t, p in pickled.items()} == {
        "pulumi-python:dynamic/wandb:Sweep": (PROVIDER_MODULE, "SweepProvider", []),
        "pulumi-python:dynamic/wandb:SweepLifecycle": (PROVIDER_MODULE, "SweepLifecycleProvider", []),
    }
    for provider in pickled.values():
        assert _under(provider["module_file"], fresh_venv.site_packages), provider["module_file"]


def test_the_runner_and_the_program_import_wandb_sweeps_only_from_the_wheel(
    fresh_venv: FreshVenv, program_run: ProgramRunInVenv
) -> None:
    modules = program_run.result["wandb_sweeps_modules"]
    assert {"wandb_sweeps", PROVIDER_MODULE, "wandb_sweeps.wandb_sweep"} <= set(modules)
    assert all(_under(f, fresh_venv.site_packages) for f in modules.values()), modules
    assert Path(program_run.result["python"]).parent.parent == fresh_venv.python.parent.parent


def test_the_runner_refuses_wandb_sweeps_from_the_source_tree(tmp_path: Path) -> None:
    """The dev venv imports wandb_sweeps from components/ (editable): the runner stops."""
    with pytest.raises(RunnerFailure) as failure:
        run_in_venv(
            Path(sys.executable),
            copy_program(ROOT, tmp_path / "program"),
            "dev",
            cli_config("dev", wandbApiKey=API_KEY),
            workdir=tmp_path / "run",
            secret_keys=("wandbApiKey",),
        )
    assert failure.value.returncode == NOT_INSTALLED
    assert "source tree" in failure.value.stderr


def test_the_wheel_registers_exactly_what_the_source_tree_registers(program_run: ProgramRunInVenv) -> None:
    """The same program and config, once in this process (the source tree) and once from
    the wheel: the same resources with the same inputs, options and outputs."""
    here = describe_run(
        run_program("dev", cli_config("dev", wandbApiKey=API_KEY), secret_keys=("wandbApiKey",))
    )

    def comparable(described: dict[str, Any]) -> dict[str, Any]:
        registrations = {}
        for r in described["registrations"]:
            r = dict(r)
            if "pickled_provider" in r:  # the module's file differs: components/ or the fresh venv
                r["pickled_provider"] = {k: v for k, v in r["pickled_provider"].items() if k != "module_file"}
            registrations[r["name"]] = r
        return {"registrations": registrations, "outputs": described["outputs"]}

    assert comparable(program_run.result) == comparable(here)


# -- the example program: a user's program that uses the installed package ------------------

EXAMPLE = ROOT / "examples" / "shared-cluster"


@pytest.fixture(scope="session")
def example_run(fresh_venv: FreshVenv, tmp_path_factory: pytest.TempPathFactory) -> ProgramRunInVenv:
    """examples/shared-cluster, run where it lives (nothing next to it can stand in for the
    package) by the fresh venv's python, under the mock engine."""
    work = tmp_path_factory.mktemp("example-run")
    start = time.monotonic()
    result = run_in_venv(
        fresh_venv.python,
        EXAMPLE,
        "dev",
        {"wandbApiKey": API_KEY, "image": "ghcr.io/acme/trainer@sha256:" + "b" * 64},
        workdir=work / "run",
        secret_keys=("wandbApiKey",),
    )
    return ProgramRunInVenv(result, time.monotonic() - start)


def test_the_example_runs_two_sweeps_in_a_namespace_it_does_not_create(example_run: ProgramRunInVenv) -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import latest_version

    from wandb_sweeps.kubernetes.schema import MIN_KUBERNETES

    components = example_run.by_type("wandb-sweeps:index:WandbSweep")
    assert [c["name"] for c in components] == ["resnet", "vit"]
    assert example_run.by_type("kubernetes:core/v1:Namespace") == []
    objects = [r for r in example_run.result["registrations"] if r["type"].startswith("kubernetes:")]
    names = [
        (r["type"], r["inputs"]["metadata"]["name"]) for r in objects if "name" in r["inputs"]["metadata"]
    ]
    assert len(names) == len(set(names)) == 2 + 4  # the Secrets and Jobs (the ConfigMap is auto-named)
    jobs = example_run.by_type("kubernetes:batch/v1:Job")
    assert len(jobs) == 4
    for job in jobs:
        metadata = job["inputs"]["metadata"]
        assert metadata["namespace"] == "team-vision"
        assert metadata["labels"]["kueue.x-k8s.io/queue-name"] == "team-vision-gpus"
        container = job["inputs"]["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "ghcr.io/acme/trainer@sha256:" + "b" * 64  # from the ConfigMap's output
    for version in (MIN_KUBERNETES, latest_version()):
        for manifest in (r["inputs"] for r in objects):
            kubernetes_validate.validate(manifest, version, strict=True)
    sweeps = example_run.by_type("pulumi-python:dynamic/wandb:Sweep")
    assert sorted(s["inputs"]["creation_key"] for s in sweeps) == [
        "vision-sweeps/dev/resnet",
        "vision-sweeps/dev/vit",
    ]
    assert sorted(example_run.result["outputs"]) == ["resnetJobs", "resnetSweepUrl", "vitJobs", "vitSweepUrl"]
    modules = example_run.result["wandb_sweeps_modules"]
    assert modules and all("/site-packages/wandb_sweeps/" in f for f in modules.values()), modules

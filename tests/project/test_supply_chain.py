"""Supply chain (issue 16.9): what `pulumi up`, CI and the example image install is pinned by hash.

Three lock files, compiled by uv from the ranges the project tests (docs/development.md#the-lock-files):
requirements.lock (the program's third-party packages, from pyproject.toml), requirements-dev.lock
(the same versions plus the test and lock tools, from requirements-dev.txt) and
requirements-image.lock (the example image's wandb, from requirements-image.txt). The checks:
every line is `name==version` with sha256 hashes; a pre-release only where a locked package's own
requirement names one; each lock satisfies its ranges and is exactly the dependency closure of
its inputs (nothing pip would add without a pinned hash); CI, the README and the Pulumi CLI's
`pip install -r requirements.txt` install from the locks with pip's hash checking; the
Dockerfile's base image is pinned by digest and its pip install requires hashes.

The closure and pre-release checks read the packages' own requirements from the metadata of
the test venv, which the README's test command installed from requirements-dev.lock (the first
test checks that). The two `slow` tests install for real, from the package index: requirements.txt
into a fresh venv as the Pulumi CLI runs it (and a lock with one package's hashes changed, which
pip must refuse), and the image lock's wheels for the image's platform.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from docs_pages import marked_block, page
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from pulumi_harness import ROOT

LOCKS = ("requirements.lock", "requirements-dev.lock", "requirements-image.lock")
# The platform the locks are compiled for (`--python-version 3.11 --python-platform
# x86_64-unknown-linux-gnu`); their hashes cover every file of each pinned version.
LOCKED_FOR = "CPython 3.11 on Linux x86_64"
RECOMPILE = "recompile the locks as docs/development.md#the-lock-files says"
_LINE = re.compile(r"([a-z0-9][a-z0-9._-]*)==(\S+?)((?: --hash=sha256:[0-9a-f]{64})+)")
# The example image's base, by digest (the Dockerfile cites where the digest comes from).
BASE_IMAGE = re.compile(r"python:3\.11-slim@sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Pin:
    name: str
    """Canonical (PEP 503) name."""
    version: Version
    hashes: tuple[str, ...]


def read_lock(name: str) -> dict[str, Pin]:
    """The pins of a lock file, by canonical name; fails on any line that is not `name==version`
    followed by sha256 hashes (an option, a URL, an editable, a marker, a second pin)."""
    text = (ROOT / name).read_text()
    logical = re.sub(r"\\\n\s*", " ", text)
    pins: dict[str, Pin] = {}
    for line in logical.splitlines():
        line = " ".join(line.split(" #", 1)[0].split()) if not line.lstrip().startswith("#") else ""
        if not line:
            continue
        match = _LINE.fullmatch(line)
        assert match, f"{name}: not `name==version --hash=sha256:...`: {line[:120]}"
        pin_name = canonicalize_name(match.group(1))
        assert pin_name not in pins, f"{name} pins {pin_name} twice"
        hashes = tuple(h.removeprefix("--hash=sha256:") for h in match.group(3).split())
        pins[pin_name] = Pin(pin_name, Version(match.group(2)), hashes)
    assert pins, f"{name} pins nothing"
    return pins


def input_requirements(name: str) -> list[Requirement]:
    """The ranges a lock is compiled from: pyproject.toml's dependencies, or a requirements file's lines."""
    if name == "pyproject.toml":
        return [Requirement(r) for r in tomllib.loads((ROOT / name).read_text())["project"]["dependencies"]]
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / name).read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


LOCK_INPUTS = {
    "requirements.lock": ("pyproject.toml",),
    "requirements-dev.lock": ("pyproject.toml", "requirements-dev.txt"),
    "requirements-image.lock": ("requirements-image.txt",),
}


def closure(roots: list[Requirement]) -> dict[str, Version]:
    """Every distribution `roots` bring in this environment, with extras and markers evaluated as
    pip does, read from the installed packages' metadata: name -> installed version."""
    found: dict[str, Version] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(r.name, frozenset(r.extras)) for r in roots if r.marker is None or r.marker.evaluate()]
    while todo:
        name, extras = todo.pop()
        key = (canonicalize_name(name), extras)
        if key in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(name)
        found[key[0]] = Version(dist.version)
        for raw in dist.requires or []:
            requirement = Requirement(raw)
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in (extras or {""})
            )
            if wanted:
                todo.append((requirement.name, frozenset(requirement.extras)))
    return found


def on_the_locked_platform() -> bool:
    return sys.version_info[:2] == (3, 11) and sys.platform == "linux" and platform.machine() == "x86_64"


needs_locked_platform = pytest.mark.skipif(
    not on_the_locked_platform(), reason=f"the locks resolve for {LOCKED_FOR} only"
)


def test_every_lock_line_is_one_version_with_its_sha256_hashes() -> None:
    for name in LOCKS:
        for pin in read_lock(name).values():
            assert pin.hashes, f"{name}: {pin.name} has no hash"


def test_the_test_venv_was_installed_from_the_dev_lock() -> None:
    """The README's test command (and so CI) installs requirements-dev.lock: every pin is what
    this venv has. (Packages a developer added by hand are not looked at.)"""
    for pin in read_lock("requirements-dev.lock").values():
        installed = Version(metadata.version(pin.name))
        assert installed == pin.version, f"the venv has {pin.name} {installed}, the lock {pin.version}"


def test_each_lock_satisfies_its_ranges_and_the_dev_and_image_locks_pin_what_the_program_pins() -> None:
    program = read_lock("requirements.lock")
    for lock, inputs in LOCK_INPUTS.items():
        pins = read_lock(lock)
        for source in inputs:
            for requirement in input_requirements(source):
                pin = pins.get(canonicalize_name(requirement.name))
                assert pin, f"{lock} lacks {requirement.name} ({source}): {RECOMPILE}"
                assert requirement.specifier.contains(pin.version, prereleases=True), (
                    f"{lock} pins {pin.name} {pin.version}, outside {source}'s {requirement.specifier}: {RECOMPILE}"
                )
        if lock != "requirements.lock":
            for pin in pins.values():
                same = program.get(pin.name)
                assert same is None or same.version == pin.version, (
                    f"{lock} pins {pin.name} {pin.version}, requirements.lock {same.version}: "
                    "compile it with -c requirements.lock"
                )
    assert program.keys() <= read_lock("requirements-dev.lock").keys(), (
        "the tests run what `pulumi up` installs"
    )


@needs_locked_platform
def test_each_lock_is_exactly_the_dependency_closure_of_its_inputs() -> None:
    """Nothing missing (pip would install it under requirements.txt's --no-require-hashes with
    no pinned hash; the strict installs would fail) and nothing left over (a stale pin)."""
    for lock, inputs in LOCK_INPUTS.items():
        roots = [r for source in inputs for r in input_requirements(source)]
        needed = closure(roots)
        pinned = {name: pin.version for name, pin in read_lock(lock).items()}
        assert sorted(needed.keys() - pinned.keys()) == [], f"{lock} misses these dependencies: {RECOMPILE}"
        assert sorted(pinned.keys() - needed.keys()) == [], (
            f"{lock} pins what its inputs do not need: {RECOMPILE}"
        )


@needs_locked_platform
def test_a_lock_holds_a_prerelease_only_where_a_locked_package_requires_one() -> None:
    """uv's default, like pip's: a pre-release only where a requirement names one. Then the only
    pre-releases are the ones a dependency pins itself (OpenTelemetry's instrumentation packages
    exist only as betas and pulumi asks for `>=0.41b0`; wandb 0.31 asks for `cwevals==0.0.1b1`).
    A lock compiled with `--prerelease allow` (or a `--pre` pip) that took, say, a release
    candidate of wandb fails here."""
    for source in ("pyproject.toml", "requirements-dev.txt", "requirements-image.txt"):
        for requirement in input_requirements(source):
            assert not requirement.specifier.prereleases, f"{source} asks for a pre-release: {requirement}"
    requirements_of = {
        name: [Requirement(r) for r in metadata.requires(name) or []]
        for name in read_lock("requirements-dev.lock").keys() | read_lock("requirements-image.lock").keys()
    }
    for lock in LOCKS:
        pins = read_lock(lock)
        for pin in pins.values():
            if not pin.version.is_prerelease:
                continue
            demanded_by = [
                owner
                for owner in pins
                for requirement in requirements_of[owner]
                if canonicalize_name(requirement.name) == pin.name
                and requirement.specifier.prereleases
                and requirement.specifier.contains(pin.version, prereleases=True)
            ]
            assert demanded_by, (
                f"{lock} pins the pre-release {pin.name} {pin.version}, which no locked package asks for"
            )


def test_the_locks_say_how_they_were_compiled_and_docs_give_that_command() -> None:
    """The header uv writes names the command; docs/development.md gives the same one, for
    Python 3.11 on Linux x86_64, with hashes, and the dev and image locks constrained to the
    program's."""
    development = page("development.md")
    for lock, inputs in LOCK_INPUTS.items():
        header = (ROOT / lock).read_text().splitlines()[:2]
        assert header[0] == "# This file was autogenerated by uv via the following command:", lock
        command = header[1].removeprefix("#    ")
        words = shlex.split(command)
        assert words[:3] == ["uv", "pip", "compile"] and words[3 : 3 + len(inputs)] == list(inputs), command
        for option in (
            "--generate-hashes",
            "--python-version 3.11",
            "--python-platform x86_64-unknown-linux-gnu",
        ):
            assert option in command, f"{lock} was not compiled with {option}"
        assert ("-c requirements.lock" in command) == (lock != "requirements.lock"), command
        assert "--prerelease" not in command and "--pre " not in command, command
        assert words[-2:] == ["-o", lock], command
        assert f"venv/bin/{command}" in development, f"docs/development.md lacks `venv/bin/{command}`"


def test_requirements_txt_is_the_lock_with_hashes_checked_and_the_library_from_this_folder() -> None:
    lines = [
        line for line in (ROOT / "requirements.txt").read_text().splitlines() if not line.startswith("#")
    ]
    assert lines == ["--no-require-hashes", "-r requirements.lock", "-e ."]


def test_ci_and_the_readme_install_the_dev_lock_with_hashes_then_the_library_without_dependencies() -> None:
    """pip's --require-hashes mode refuses an editable or directory requirement, so the library
    is a second install: --no-deps (its dependencies came from the lock) and
    --no-build-isolation (the build backend too: an isolated build env fetches setuptools
    unpinned). No other pip install, and no `-r requirements-dev.txt` (a list of ranges)."""
    install = (
        "python3 -m venv venv && venv/bin/pip install -q --require-hashes -r requirements-dev.lock"
        " && venv/bin/pip install -q --no-deps --no-build-isolation -e ."
    )
    readme = marked_block(page("README.md"), "test-command", "sh")
    assert readme == f"{install} && venv/bin/python -m pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if not line.startswith("#")]
    installs = [line for line in commands if "pip install" in line]
    assert len(installs) == 1 and install in installs[0] and installs[0].count("pip install") == 2, installs
    assert "requirements-dev.txt" not in "\n".join(commands)


def test_the_dockerfile_pins_its_base_image_by_digest_and_installs_only_the_image_lock_with_hashes() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    logical = [line for line in re.sub(r"\\\n", " ", dockerfile).splitlines() if not line.startswith("#")]
    froms = [line.split()[1] for line in logical if line.startswith("FROM ")]
    assert len(froms) == 1 and BASE_IMAGE.fullmatch(froms[0]), froms
    copies = [line.split()[1:] for line in logical if line.startswith("COPY ")]
    runs = " && ".join(line.removeprefix("RUN ") for line in logical if line.startswith("RUN "))
    installs = [shlex.split(step) for step in runs.split("&&") if "pip install" in step]
    assert len(installs) == 1, installs
    (install,) = installs
    locks = [install[i + 1] for i, word in enumerate(install) if word == "-r"]
    assert "--require-hashes" in install and "--only-binary" in install and len(locks) == 1, install
    assert ["requirements-image.lock", locks[0]] in copies, (
        f"the Dockerfile does not COPY the lock to {locks[0]}"
    )
    options_with_values = {"-r", "--only-binary"}
    arguments = [
        word
        for i, word in enumerate(install[install.index("install") + 1 :], install.index("install") + 1)
        if not word.startswith("-") and install[i - 1] not in options_with_values
    ]
    assert arguments == [], f"packages named outside the lock: {arguments}"


def _pip(*args: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """The dev venv's pip (requirements-dev.lock's, the release the Pulumi CLI upgrades to)."""
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PIP_REQUIRE_HASHES", None)
    return subprocess.run(
        [sys.executable, "-m", "pip", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _program_copy(destination: Path) -> Path:
    """What `pip install -r requirements.txt` reads: the requirement files and the library's source."""
    destination.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE", "requirements.txt", "requirements.lock"):
        shutil.copy2(ROOT / name, destination / name)
    shutil.copytree(
        ROOT / "components", destination / "components", ignore=shutil.ignore_patterns("__pycache__")
    )
    return destination


@pytest.mark.slow
@needs_locked_platform
def test_requirements_txt_installs_the_lock_with_checked_hashes_as_the_pulumi_cli_runs_it(
    tmp_path: Path,
) -> None:
    """`python -m pip install -r requirements.txt` in the program folder, into a fresh venv, as
    pulumi/pulumi's sdk/python/toolchain/pip.go (InstallDependencies) runs it after upgrading
    pip. It installs exactly the lock plus the library, editable from the folder. The same
    install with one package's hashes changed in the lock is refused, and installs nothing."""
    program = _program_copy(tmp_path / "program")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    done = _pip(
        "--python", str(venv / "bin" / "python"), "install", "-q", "-r", "requirements.txt", cwd=program
    )
    assert done.returncode == 0, done.stderr[-3000:]
    listed = _pip("--python", str(venv / "bin" / "python"), "list", "--format", "freeze", cwd=program)
    installed = dict(line.split("==") for line in listed.stdout.splitlines() if "==" in line)
    installed = {canonicalize_name(name): Version(version) for name, version in installed.items()}
    expected = {name: pin.version for name, pin in read_lock("requirements.lock").items()}
    version = Version(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])
    assert installed == {**expected, "wandb-sweeps": version}, "exactly the lock's versions and the library"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import wandb_sweeps; print(wandb_sweeps.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert where.stdout.strip() == str(program / "components" / "__init__.py"), where.stderr

    tampered = _program_copy(tmp_path / "tampered")
    lock = (tampered / "requirements.lock").read_text()
    pyyaml = read_lock("requirements.lock")["pyyaml"]
    for digest in pyyaml.hashes:
        lock = lock.replace(digest, digest[::-1])
    (tampered / "requirements.lock").write_text(lock)
    venv2 = tmp_path / "venv2"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv2)], check=True, timeout=120)
    refused = _pip(
        "--python", str(venv2 / "bin" / "python"), "install", "-q", "-r", "requirements.txt", cwd=tampered
    )
    assert refused.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in refused.stderr and "pyyaml" in refused.stderr.lower()
    nothing = _pip("--python", str(venv2 / "bin" / "python"), "list", "--format", "freeze", cwd=tampered)
    assert nothing.stdout.strip() == "", "pip installed packages before refusing the lock"


def _image_platform_tags(arch: str) -> list[str]:
    """The wheel tags pip accepts on python:3.11-slim (Debian trixie, glibc 2.41) for `arch`."""
    return [f"manylinux_2_{minor}_{arch}" for minor in range(5, 42)] + [f"manylinux2014_{arch}"]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_the_image_lock_is_complete_and_has_wheels_with_matching_hashes_for_the_image(
    tmp_path: Path, arch: str
) -> None:
    """What the Dockerfile's `pip install --require-hashes --only-binary :all:` needs on the
    base image's linux/amd64 and linux/arm64: a wheel for every pin, whose hash is in the
    lock, and no dependency outside it (pip's --require-hashes mode refuses one). The image
    itself is not built here (no container registry)."""
    platforms = [word for tag in _image_platform_tags(arch) for word in ("--platform", tag)]
    done = _pip(
        "download", "-q", "--require-hashes", "--only-binary", ":all:", *platforms,
        "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
        "-r", str(ROOT / "requirements-image.lock"), "-d", str(tmp_path / "wheels"),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    got = {canonicalize_name(p.name.split("-")[0]) for p in (tmp_path / "wheels").glob("*.whl")}
    assert got == read_lock("requirements-image.lock").keys()

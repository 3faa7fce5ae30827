"""Shared fixtures: the project root on sys.path and a W&B-free environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
for path in (str(ROOT), str(ROOT / "tests" / "harness")):
    if path not in sys.path:
        sys.path.insert(0, path)

# The sweep provider's check imports W&B's `sweeps` package and the wandb client when
# it first runs. The tests run that check in this process; a test that makes Python hit
# its recursion limit (deeply nested YAML) leaves CPython 3.11 unable to import them
# afterwards ("AST constructor recursion depth mismatch"). In the provider process, which
# starts fresh, that cannot happen; here they are imported before any test runs.
import warnings  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # sweeps' pydantic v1-style settings; nothing to see
    import sweeps  # noqa: F401
    import wandb.apis.public.sweeps  # noqa: F401
from wandb_server import WandbServer  # noqa: E402 - needs tests/harness/ on sys.path


@pytest.fixture(autouse=True)
def clean_wandb_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's W&B login, settings or home directory, nor what an
    earlier test left behind.

    A test that runs the wandb client in this process (the day-2 sequences) starts a
    wandb-core service, and wandb exports WANDB_SERVICE so that child processes use it:
    a later test's provider process or `wandb agent` would then talk to that stale
    service, with another test's directories. So it is torn down after every test.
    """
    for name in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_MODE"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / ".config" / "wandb"))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-dir"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    yield
    if "WANDB_SERVICE" in os.environ and "wandb" in sys.modules:
        import wandb

        wandb.teardown()
    os.environ.pop("WANDB_SERVICE", None)


@pytest.fixture
def project_tmp_path() -> Iterator[Path]:
    """A fresh directory inside the project folder, removed afterwards: a sweep config
    must lie inside the project (`sweep_file.load_sweep_file`), and pytest's tmp_path
    does not. Under .pytest_cache/, which git and the packaging test's copy ignore."""
    import shutil
    import tempfile

    parent = ROOT / ".pytest_cache" / "sweep-files"
    parent.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(dir=parent))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def server() -> Iterator[WandbServer]:
    """A W&B-protocol server on 127.0.0.1 (tests/wandb_server.py)."""
    with WandbServer() as running:
        yield running


# Hypothesis profiles for tests/test_property_based.py. `ci`, the default, is
# reproducible: a fixed seed (derandomize) and no example database, so every run
# tries the same examples. `thorough` is for local runs: 25 times the examples, a
# new random seed each run, and failures kept in .hypothesis/ to be tried first
# next time. Pick it with `HYPOTHESIS_PROFILE=thorough`.
CI_EXAMPLES = 500
settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=25 * CI_EXAMPLES,
    derandomize=False,
    deadline=None,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

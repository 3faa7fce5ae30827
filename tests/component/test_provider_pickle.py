"""The dynamic providers' pickled path is public API (issue 9).

Pulumi pickles each dynamic provider (`pulumi.dynamic.dynamic.serialize_provider`,
dill) into the `__provider` property of every resource it manages, in every stack's
state; at `pulumi refresh` and `pulumi destroy`, months later and with whatever version
of wandb-sweeps is installed then, the provider plugin (`python -m pulumi.dynamic`)
unpickles it. dill pickles a class of an importable module BY REFERENCE: the pickle
holds only `wandb_sweeps.sweep_provider` and the class name, plus the instance's
attributes. So the module path and the class names must never change, and the
instances must carry no attributes (a later version could not read them).

Golden files: tests/data/provider-pickles-<version>.json hold, for each dynamic
resource type, the `__provider` value (base64, exactly as the SDK wrote it) of a
released version, the class it named, and the inputs the program registered and the
outputs `create` wrote next to it: a state as that version left it. The tests read
the class path from the file, not from this module: an old state names what it names.
They are never edited or regenerated; a new release adds its own file:

    PYTHONPATH=tests/harness venv/bin/python tests/component/test_provider_pickle.py --write-golden

(writes the file for the version in pyproject.toml; refuses to overwrite one).
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import pickle
import pickletools
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_driver import LIFECYCLE_URN, URN, Engine, ProviderClient, changed
from pulumi.dynamic.dynamic import serialize_provider
from venv_runner import clean_env
from wandb_server import DEFAULT_KEY, WandbServer

from wandb_sweeps import sweep_provider

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data"
MODULE = "wandb_sweeps.sweep_provider"
PROVIDERS = ("SweepProvider", "SweepLifecycleProvider")
SWEEP_TYPE = "pulumi-python:dynamic/wandb:Sweep"
LIFECYCLE_TYPE = "pulumi-python:dynamic/wandb:SweepLifecycle"
CLASS_REFERENCE_OPCODES = {
    "PROTO",
    "FRAME",
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "UNICODE",
    "MEMOIZE",
    "BINPUT",
    "STACK_GLOBAL",
    "GLOBAL",
    "EMPTY_TUPLE",
    "NEWOBJ",
    "STOP",
}
"""All a pickle of an attribute-less instance of a class referenced by name needs."""
OTHER_SWEEP_YAML = "program: train.py\nmethod: random\nparameters:\n  lr:\n    values: [0.5, 0.05]\n"


def golden_files() -> list[Path]:
    return sorted(DATA.glob("provider-pickles-*.json"))


def load_golden(path: Path) -> dict[str, Any]:
    """Resource type -> {"class", "__provider", "inputs", "state"} of one released version."""
    return json.loads(path.read_text())["providers"]


def _version(path: Path) -> str:
    return path.stem.removeprefix("provider-pickles-")


def _golden_entries() -> list[Any]:
    return [
        pytest.param(entry, id=f"{_version(path)}-{typ.rsplit(':', 1)[-1]}")
        for path in golden_files()
        for typ, entry in load_golden(path).items()
    ]


def _class_at(path: str) -> type | None:
    """The class a pickle names, `module.Qualname`, as the code now has it; None if gone."""
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


class _RecordingUnpickler(pickle.Unpickler):
    """Loads a pickle and records every global it refers to (module, name)."""

    def __init__(self, raw: bytes) -> None:
        super().__init__(io.BytesIO(raw))
        self.globals: list[tuple[str, str]] = []

    def find_class(self, module: str, name: str) -> Any:
        self.globals.append((module, name))
        return super().find_class(module, name)


def by_reference_problems(raw: bytes, module: str, qualname: str) -> list[str]:
    """Why `raw` is not a pickle of an attribute-less instance of `module.qualname` referenced by
    name (so that any later version of the module can load it), or []."""
    problems = []
    unpickler = _RecordingUnpickler(raw)
    loaded = unpickler.load()
    if unpickler.globals != [(module, qualname)]:
        problems.append(f"refers to {unpickler.globals}, not to {module}.{qualname} alone")
    if any(m.startswith("dill.") for m, _ in unpickler.globals):
        problems.append("pickled by value: dill rebuilt the class from its code (dill._dill globals)")
    cls = type(loaded)
    # dill's code objects carry each method's qualified name: by reference, none is there.
    methods = [f"{cls.__qualname__}.{name}" for name, value in vars(cls).items() if callable(value)]
    if any(method.encode() in raw for method in methods):
        problems.append(f"the pickle holds method code ({[m for m in methods if m.encode() in raw]})")
    opcodes = {op.name for op, _, _ in pickletools.genops(raw)}
    if opcodes - CLASS_REFERENCE_OPCODES:
        problems.append(
            f"carries more than a class reference (opcodes {sorted(opcodes - CLASS_REFERENCE_OPCODES)})"
        )
    if vars(loaded):
        problems.append(f"the instance has attributes {sorted(vars(loaded))}")
    return problems


def shape(raw: bytes) -> list[tuple[str, Any]]:
    """What a pickle says, without the framing that differs between pickle protocols."""
    return [(op.name, arg) for op, arg, _ in pickletools.genops(raw) if op.name not in ("PROTO", "FRAME")]


# -- today's pickles -------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROVIDERS)
def test_the_sdk_pickles_each_provider_by_reference_to_its_public_path(name: str) -> None:
    cls = getattr(sweep_provider, name)
    assert (cls.__module__, cls.__qualname__) == (MODULE, name)
    raw = base64.b64decode(serialize_provider(cls()))
    assert by_reference_problems(raw, MODULE, name) == []
    assert MODULE.encode() in raw and name.encode() in raw
    loaded = pickle.loads(raw)
    assert type(loaded) is cls and vars(loaded) == {}


_FRESH_PROCESS_PROGRAM = """
import sys
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider
from wandb_sweeps import sweep_provider

def by_value():
    class Local(ResourceProvider):  # not importable by name: dill pickles its body, dicts and all
        def diff(self, _id: str, olds: dict, news: dict):
            return None
    return Local()

def with_state():
    provider = sweep_provider.SweepProvider()
    provider.client = "a client"
    return provider

sys.stdout.write(serialize_provider({make}()))
"""


def _pickled_in_a_fresh_process(make: str) -> bytes:
    """The SDK's pickle of the provider `make()` returns, made where `serialize_provider`
    has not run before.

    The SDK wraps `pickle._Pickler._batch_setitems` in one more sorting function at
    every call and never unwraps it (pulumi/pulumi, sdk/python/lib/pulumi/dynamic/
    dynamic.py, `serialize_provider`): after the few hundred dynamic resources the
    other tests register in this process, pickling a dict recurses once per earlier
    call and hits the recursion limit (seen here after 157 pairs of calls). Our
    providers pickle no dict (the BUILD check), so they never meet this.
    """
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS_PROGRAM.replace("{make}", make)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return base64.b64decode(done.stdout)


def test_a_program_with_a_thousand_sweeps_still_pickles_its_providers() -> None:
    """Each sweep registers two dynamic resources: two `serialize_provider` calls, each
    leaving one more wrapper around dict pickling (above). A pickle with no dict in it
    never goes through them, however many there are."""
    for _ in range(1000):
        for name in PROVIDERS:
            raw = base64.b64decode(serialize_provider(getattr(sweep_provider, name)()))
    assert by_reference_problems(raw, MODULE, PROVIDERS[-1]) == []


def test_the_check_catches_a_provider_pickled_by_value_or_with_attributes() -> None:
    """The control: what `by_reference_problems` exists to catch does fail it."""

    by_value = _pickled_in_a_fresh_process("by_value")
    problems = by_reference_problems(by_value, MODULE, "SweepProvider")
    assert any("pickled by value" in p for p in problems) and any("method code" in p for p in problems)

    problems = by_reference_problems(_pickled_in_a_fresh_process("with_state"), MODULE, "SweepProvider")
    assert any("attributes" in p and "'client'" in p for p in problems), problems
    assert any("BUILD" in p for p in problems), problems

    renamed = base64.b64decode(serialize_provider(sweep_provider.SweepLifecycleProvider()))
    assert any("not to" in p for p in by_reference_problems(renamed, MODULE, "SweepProvider"))


@pytest.mark.parametrize("entry", _golden_entries())
def test_the_sdk_still_writes_what_every_released_version_wrote(entry: dict[str, Any]) -> None:
    """The class an old state names still exists, and the SDK pickles it today as it did
    then: the same class reference and no state (the bytes, up to the protocol's framing)."""
    cls = _class_at(entry["class"])
    assert cls is not None, f"{entry['class']} is gone, and stack states name it"
    today = base64.b64decode(serialize_provider(cls()))
    assert shape(today) == shape(base64.b64decode(entry["__provider"]))


def test_there_is_a_golden_file_for_the_current_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (DATA / f"provider-pickles-{version}.json").exists(), (
        f"no golden pickles for {version}: run `PYTHONPATH=tests/harness venv/bin/python tests/component/test_provider_pickle.py --write-golden`"
    )


# -- the committed pickles, as `pulumi refresh` / `pulumi destroy` meet them later ----------

FRESH_INTERPRETER = r"""
import base64, importlib, json, sys
import dill

cases = json.load(sys.stdin)
loaded_before = sorted(m for m in sys.modules if m.split(".")[0] == "wandb_sweeps")
results = []
for case in cases:
    provider = dill.loads(base64.b64decode(case["pickle"]))
    cls = type(provider)
    module, _, name = case["class"].rpartition(".")
    current = getattr(importlib.import_module(module), name, None)
    diffs = []
    for olds, news in case["diffs"]:
        result = provider.diff(case["id"], olds, news)
        diffs.append([bool(result.changes), list(result.replaces or []), result.delete_before_replace])
    results.append({
        "is_current_class": cls is current,
        "attributes": sorted(vars(provider)),
        "diffs": diffs,
    })
print(json.dumps({"loaded_before": loaded_before, "results": results}))
"""


def _diff_cases(typ: str, entry: dict[str, Any]) -> list[tuple[tuple[Any, Any], list[Any]]]:
    """(olds, news) pairs on the golden state, with the diff each must give
    [changes, replaces, delete_before_replace]."""
    inputs, state = entry["inputs"], entry["state"]
    rotated = {**inputs, "api_key": "local-" + "r" * 40}
    if typ == SWEEP_TYPE:
        return [
            ((state, inputs), [False, [], False]),  # an `up` with nothing changed
            ((state, rotated), [False, [], False]),  # the key is not the sweep's identity
            ((state, {**inputs, "config_yaml": OTHER_SWEEP_YAML}), [True, ["config_yaml"], False]),
        ]
    assert typ == LIFECYCLE_TYPE, typ
    return [
        ((state, inputs), [False, [], False]),
        ((state, rotated), [True, [], False]),  # updated in place
        ((state, {**inputs, "sweep_path": "alice/proj/zzzz9999"}), [True, ["sweep_path"], False]),
    ]


def test_every_committed_pickle_loads_in_a_fresh_interpreter_as_the_current_class(tmp_path: Path) -> None:
    """As the provider plugin does: a new interpreter, nothing of wandb_sweeps imported
    until the pickle names it; the unpickled provider is today's class at the path the
    pickle names, attribute-less, and its diff works on the state that version wrote."""
    cases, expected = [], []
    for path in golden_files():
        for typ, entry in load_golden(path).items():
            diffs = _diff_cases(typ, entry)
            cases.append(
                {
                    "pickle": entry["__provider"],
                    "class": entry["class"],
                    "id": entry["state"]["sweep_path"],
                    "diffs": [pair for pair, _ in diffs],
                }
            )
            expected.append(
                {"is_current_class": True, "attributes": [], "diffs": [want for _, want in diffs]}
            )
    assert len(cases) >= 2, "no golden files in tests/data"
    done = subprocess.run(
        [sys.executable, "-c", FRESH_INTERPRETER],
        input=json.dumps(cases),
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["loaded_before"] == []
    assert report["results"] == expected


@pytest.fixture
def plugin() -> Iterator[Engine]:
    """The dynamic provider plugin, `python -m pulumi.dynamic`, as the engine starts it."""
    running = Engine()
    yield running
    running.close()


@pytest.mark.parametrize("golden", golden_files(), ids=_version)
def test_refresh_and_destroy_of_an_old_state_through_the_provider_plugin(
    golden: Path, server: WandbServer, plugin: Engine
) -> None:
    """An old state, its `__provider` as that version wrote it: `pulumi refresh` reads
    the sweep (through the lifecycle, with its key; the identity's read drops the key
    the old state kept among its outputs and asks nothing), `pulumi up` with nothing
    changed diffs to no change, and `pulumi destroy` deletes the lifecycle, which stops
    the sweep on W&B."""
    golden_sweep, golden_lifecycle = load_golden(golden)[SWEEP_TYPE], load_golden(golden)[LIFECYCLE_TYPE]
    record = server.create_sweep(golden_sweep["state"]["config_yaml"], entity="alice", project="proj")
    path = f"alice/proj/{record.name}"
    on_server = {"base_url": server.base_url, "api_key": DEFAULT_KEY}

    sweep = ProviderClient(plugin.sweep.stub, golden_sweep["__provider"], URN)
    sweep_state = {
        **golden_sweep["state"],
        **on_server,
        "sweep_id": record.name,
        "sweep_entity": "alice",
        "sweep_project": "proj",
        "sweep_base_url": server.base_url,
        "sweep_path": path,
    }
    assert sweep_state["api_key"] == DEFAULT_KEY  # as the old version kept it
    without_key = {k: v for k, v in sweep_state.items() if k != "api_key"}
    mark = server.mark()
    assert sweep.read(path, sweep_state) == (path, without_key)
    assert server.mark() == mark
    sweep_inputs = {**golden_sweep["inputs"], **on_server, "entity": "alice", "project": "proj"}
    assert not changed(sweep.diff(path, sweep_state, sweep_inputs))
    assert not changed(sweep.diff(path, without_key, sweep_inputs))

    lifecycle = ProviderClient(plugin.sweep.stub, golden_lifecycle["__provider"], LIFECYCLE_URN)
    life_state = {
        **golden_lifecycle["state"],
        **on_server,
        "sweep_path": path,
        "on_destroy": "finish",
    }
    assert lifecycle.read(path, life_state) == (path, {**life_state, "sweep_state": "PENDING"})
    assert server.operation_counts(mark) == {"GetSweep": 1}
    lifecycle.delete(path, life_state)
    sweep.delete(path, sweep_state)
    assert server.find_sweep("alice", "proj", record.name).state == "FINISHED"  # type: ignore[union-attr]


# -- writing the golden file of a new version -------------------------------------------------


def write_golden() -> Path:
    """The golden file for the version in pyproject.toml, from today's classes. Run by hand
    (see the module docstring), never by a test."""
    from importlib.metadata import version as installed_version

    from wandb_sweeps.wandb.server import SweepPath

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    target = DATA / f"provider-pickles-{version}.json"
    if target.exists():
        raise SystemExit(f"{target} exists; states out there hold its bytes: it is never rewritten")
    key = "local-" + "0" * 40  # a made-up key: golden states hold no real secret
    sweep_yaml = (ROOT / "sweep.yaml").read_text()
    sweep_inputs = {
        "project": "proj",
        "entity": "",
        "base_url": "",
        "default_base_url": "https://api.wandb.ai",
        "api_key": key,
        "config_yaml": sweep_yaml,
        "existing_sweep_id": "",
        "creation_key": "wandb-sweeps/dev/sweep",
        "request_timeout": 20,
        "call_timeout": 30,
    }
    base_url = sweep_provider._default_base_url(sweep_inputs)
    path = SweepPath("alice", "proj", "abcd1234")
    sweep_state = sweep_provider._sweep_outputs(sweep_inputs, path, base_url, "PENDING")
    life_inputs = {
        "sweep_path": str(path),
        "base_url": base_url,
        "api_key": key,
        "on_destroy": "finish",
        "attached": False,
        "request_timeout": 20,
        "call_timeout": 30,
    }
    life_state = sweep_provider.SweepLifecycleProvider().create(life_inputs).outs
    golden = {
        "about": (
            f"The dynamic providers as wandb-sweeps {version} pickles them into a stack's state "
            "(`__provider`), with the inputs its program registers and the outputs its create writes. "
            "States out there hold these bytes: never edit or regenerate this file "
            "(tests/component/test_provider_pickle.py)."
        ),
        "wandb_sweeps": version,
        "written_with": {
            "python": ".".join(map(str, sys.version_info[:3])),
            "pulumi": installed_version("pulumi"),
            "dill": installed_version("dill"),
        },
        "providers": {
            SWEEP_TYPE: {
                "class": f"{MODULE}.SweepProvider",
                "__provider": serialize_provider(sweep_provider.SweepProvider()),
                "inputs": sweep_inputs,
                "state": sweep_state,
            },
            LIFECYCLE_TYPE: {
                "class": f"{MODULE}.SweepLifecycleProvider",
                "__provider": serialize_provider(sweep_provider.SweepLifecycleProvider()),
                "inputs": life_inputs,
                "state": life_state,
            },
        },
    }
    target.write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n")
    return target


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-golden"]:
        raise SystemExit(f"usage: {sys.argv[0]} --write-golden")
    print(f"wrote {write_golden()}")

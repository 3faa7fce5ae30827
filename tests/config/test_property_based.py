"""Bad input of any shape gives the project's own error, never a traceback (Hypothesis).

Users write sweep files by hand, copy them from notebooks and template stack files,
so odd shapes are normal: a list where a mapping goes, a string where a number goes,
`null`, huge numbers, NaN, unicode, YAML aliases, tags and dates. A table of bad
configs (test_bad_config.py) never has every shape; these properties generate them
around the real keys of W&B's sweep schema and of the stack config, with wrong
types at every level, and feed them to

- the sweep-file check (`load_sweep_file`): a SweepFile or a ConfigError naming the
  file, never a traceback; and what it accepts, the sweep create can send to W&B;
- the stack-config loader (`load_stack_config`): SweepSettings or a ConfigError whose
  every problem names a key (or the shell variable), never quoting a secret;
- the sweep provider's `check` and `diff` (and the lifecycle's `diff`), on odd state
  and inputs: a CheckResult or DiffResult, never an exception, never a W&B call.

Profiles (tests/conftest.py): `ci` (the default) runs a fixed number of examples
from a fixed seed; `HYPOTHESIS_PROFILE=thorough` runs many more, randomly.
Every shape these found is a named row of test_bad_config.py's table.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from wandb_sweeps import sweep_provider
from wandb_sweeps.checks import shown
from wandb_sweeps.config.from_stack import CONFIG_KEYS, KEYS_BY_NAME, PROJECT, load_stack_config
from wandb_sweeps.config.settings import SweepSettings
from wandb_sweeps.errors import ConfigError
from wandb_sweeps.sweep_provider import SweepLifecycleProvider, SweepProvider
from wandb_sweeps.wandb.server import SWEEP_ID
from wandb_sweeps.wandb.sweep_file import load_sweep_file

# The ci profile's examples per property (see conftest.py); the other profiles scale it.
PROPERTY = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

API_SENTINEL = "APIKEYSENTINEL"
"""Every generated API key contains this: it must never appear in a message."""
ENV_SENTINEL = "ENVSECRETSENTINEL"
"""Every generated env value contains this: it must not appear when env is secret."""

# --- scalars and shapes -------------------------------------------------------------

ODD_TEXT = [
    "",
    " ",
    "\t",
    "0",
    "-1",
    "+3",
    "1.5",
    "1e3",
    "1e309",
    "NaN",
    "-inf",
    "true",
    "False",
    "yes",
    "null",
    "~",
    "[]",
    "{}",
    "[1, 2]",
    '{"a": 1}',
    "[[[[[[]]]]]]",
    "\u0663",  # an Arabic-Indic digit three
    "\uff11\uff12",  # fullwidth digits
    "\x00",
    "a\nb",
    "\u00e9",
    "\u65e5\u672c\u8a9e",
    "\U0001f4a5",
    "http://[::1",
    "http://\uff41\uff0f",
    "HTTPS://API.wandb.ai/",
    "auto",
    "off",
    "16Gi",
    "10GB",
    "nvidia.com/gpu",
]
LONG_TEXT = {"9": 5000, "x": 600, "[": 3000}
"""A 5000-digit number (past int()'s limit), a long word, nesting past the recursion limit."""
long_texts = st.sampled_from(sorted(LONG_TEXT)).map(lambda c: c * LONG_TEXT[c])
texts = st.text(max_size=12) | st.sampled_from(ODD_TEXT) | long_texts
numbers = (
    st.integers(-3, 3)
    | st.integers()
    | st.sampled_from([31, 63, -63, 100, 1329]).map(lambda bits: 2**bits if bits > 0 else -(2**-bits))
    | st.floats()
    | st.sampled_from([float("nan"), float("inf"), -0.0, 1e308])
)
scalars = st.none() | st.booleans() | numbers | texts
keys = texts | st.integers(-2, 2) | st.none() | st.booleans()


def anything(leaves: st.SearchStrategy[Any] = scalars) -> st.SearchStrategy[Any]:
    """Any YAML-shaped value: nested lists and mappings (with odd keys) of `leaves`."""
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=6,
    )


ANY = anything()
WRONG_CONTAINER = st.lists(scalars, max_size=3) | st.dictionaries(keys, scalars, max_size=2)
"""A list where a mapping goes, or the reverse: the commonest hand-written mistake
(`parameters: [lr, batch_size]`). ANY alone reaches these too rarely, because
Hypothesis starts from the simplest values, which are scalars."""


def around(plausible: st.SearchStrategy[Any], odd: st.SearchStrategy[Any] = ANY) -> st.SearchStrategy[Any]:
    """Mostly the plausible shape, often something else entirely."""
    return st.one_of(plausible, plausible, odd, WRONG_CONTAINER)


# --- sweep files --------------------------------------------------------------------

METHODS = ["bayes", "random", "grid", "custom"]
DISTRIBUTIONS = [
    "constant",
    "categorical",
    "categorical_w_probabilities",
    "int_uniform",
    "uniform",
    "q_uniform",
    "log_uniform",
    "log_uniform_values",
    "q_log_uniform",
    "q_log_uniform_values",
    "inv_log_uniform",
    "inv_log_uniform_values",
    "normal",
    "q_normal",
    "log_normal",
    "q_log_normal",
    "beta",
    "q_beta",
]
PARAM_NAMES = st.sampled_from(["lr", "batch_size", "epochs", "model.depth", "_x", "1bad", "a b", ""]) | keys


def _parameter(parameters: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return around(
        st.fixed_dictionaries(
            {},
            optional={
                "values": around(st.lists(ANY, max_size=3)),
                "value": ANY,
                "distribution": around(st.sampled_from(DISTRIBUTIONS)),
                "min": around(numbers),
                "max": around(numbers),
                "mu": around(numbers),
                "sigma": around(numbers),
                "q": around(numbers),
                "a": around(numbers),
                "b": around(numbers),
                "probabilities": around(st.lists(numbers, max_size=3)),
                "parameters": parameters,
            },
        )
    )


parameter_maps: st.SearchStrategy[Any] = st.deferred(
    lambda: around(st.dictionaries(PARAM_NAMES, _parameter(parameter_maps), min_size=1, max_size=3))
)
metric = st.fixed_dictionaries(
    {},
    optional={
        "name": around(st.sampled_from(["val_loss", "acc"])),
        "goal": around(st.sampled_from(["minimize", "maximize"])),
        "target": around(numbers),
        "impute": around(st.sampled_from(["latest", "best", "worst"])),
    },
)
SWEEP_KEYS = {
    "program": around(st.just("train.py")),
    "command": around(st.lists(around(st.sampled_from(["${env}", "python", "${program}"])), max_size=3)),
    "method": around(st.sampled_from(METHODS)),
    "metric": around(metric),
    "metrics": around(st.lists(around(metric), max_size=3)),
    "parameters": parameter_maps,
    "early_terminate": around(
        st.fixed_dictionaries(
            {},
            optional={
                "type": around(st.just("hyperband")),
                "min_iter": around(numbers),
                "max_iter": around(numbers),
                "s": around(numbers),
                "eta": around(numbers),
                "strict": around(st.booleans()),
            },
        )
    ),
    "run_cap": around(numbers),
    "name": around(texts),
    "description": around(texts),
    "controller": around(
        st.fixed_dictionaries({}, optional={"type": around(st.sampled_from(["local", "cloud"]))})
    ),
    "scheduler": around(
        st.fixed_dictionaries(
            {},
            optional={
                "engine": around(st.sampled_from(["wandb", "optuna", "ax"])),
                "search_space": around(st.just("search_space")),
                "source": around(texts),
            },
        )
    ),
    "project": around(texts),
    "entity": around(texts),
}
sweep_configs = st.builds(
    lambda required, optional, extra: {**required, **optional, **extra},
    # program, method and parameters are there most of the time, so the deeper checks run
    st.fixed_dictionaries(
        {k: SWEEP_KEYS[k] for k in ("program", "method", "parameters")},
    )
    | st.just({}),
    st.fixed_dictionaries({}, optional=SWEEP_KEYS),
    st.dictionaries(keys, ANY, max_size=2) | st.just({}),
)
# What YAML can say that safe_dump of plain data never writes: aliases (also to
# themselves), tags, dates, sets, huge integers, deep nesting, several documents.
RAW_LINES = [
    "program: train.py",
    "method: random",
    "method: bayes",
    "metric: {name: val_loss}",
    "parameters: [lr, batch_size]",
    "parameters: {lr: [0.1, 0.01]}",
    "parameters: {lr: null}",
    "parameters: &p {lr: {parameters: *p}}",
    "parameters: {lr: {values: &v [1, *v]}}",
    "parameters: {lr: {value: &c {a: *c}}}",
    "parameters: {lr: {value: !!binary aGVsbG8=}}",
    "parameters: {lr: {value: 2024-01-01}}",
    "parameters: {lr: {values: !!set {a, b}}}",
    "parameters: !!omap [lr: {value: 1}]",
    "parameters: {lr: {min: 1, max: 2.5}}",
    "parameters: {lr: {min: .nan, max: .inf}}",
    "parameters: {lr: {min: 1, max: <5000 DIGITS>}}",
    "parameters: {lr: {values: [1], probabilities: 1}}",
    "parameters: {lr: {values: 3, probabilities: [1]}}",
    "parameters: {1: {value: 1}}",
    "controller: [local]",
    "scheduler: {engine: wandb}",
    "early_terminate: {type: hyperband, min_iter: .inf}",
    "description: {a: 1}",
    "run_cap: " + "9" * 40,
    "? [a, b]\n: 1",
    "a: <3000 DEEP>",
    "a: 1\n---\nb: 2",
    "x: !!python/object/apply:os.system [echo]",
    "start: 2024-02-30",
    "x: !!float abc",
    "x: !!timestamp x",
    "x: !!bool maybe",
    "\ufeffprogram: train.py",
]
raw_sweep_texts = st.lists(st.sampled_from(RAW_LINES), min_size=1, max_size=4).map(
    lambda lines: (
        "\n".join(lines).replace("<5000 DIGITS>", "9" * 5000).replace("<3000 DEEP>", "[" * 3000 + "]" * 3000)
    )
)


REFUSALS = [
    "is not valid YAML",
    "cannot be read as YAML",
    "is nested too deeply",
    "must be a YAML mapping",
    "cannot be sent to W&B",
    "is rejected by W&B's sweep schema",
]
"""How the sweep-file check refuses, for the statistics (--hypothesis-show-statistics)."""


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


# Valid sweeps, and valid sweeps with one value anywhere in them replaced by any
# shape (or removed): wrong types at every level, next to everything else right.
finite = st.floats(-10, 10, allow_nan=False)
valid_parameter = st.one_of(
    st.fixed_dictionaries(
        {"values": st.lists(st.integers(-5, 5) | st.sampled_from(["adam", "sgd"]), min_size=1, max_size=3)}
    ),
    st.fixed_dictionaries({"value": st.integers(-5, 5) | st.sampled_from(["adam", True, None])}),
    st.builds(lambda a, b: {"min": min(a, b), "max": max(a, b) + 1}, st.integers(-9, 9), st.integers(-9, 9)),
    st.builds(lambda a, b: {"min": min(a, b), "max": max(a, b) + 0.5}, finite, finite),
    st.builds(
        lambda a, b: {
            "distribution": "log_uniform_values",
            "min": 0.0001 + abs(a),
            "max": 1.0 + abs(a) + abs(b),
        },
        finite,
        finite,
    ),
    st.fixed_dictionaries(
        {"distribution": st.just("normal"), "mu": finite, "sigma": st.floats(0.1, 2, allow_nan=False)}
    ),
    st.fixed_dictionaries({"values": st.just(["a", "b"]), "probabilities": st.just([0.25, 0.75])}),
)
valid_sweeps = st.fixed_dictionaries(
    {
        "program": st.just("train.py"),
        "method": st.sampled_from(["random", "grid", "bayes"]),
        "metric": st.just({"name": "val_loss", "goal": "minimize"}),
        "parameters": st.dictionaries(
            st.sampled_from(["lr", "batch_size", "epochs", "dropout"]),
            valid_parameter,
            min_size=1,
            max_size=3,
        ),
    },
    optional={
        "early_terminate": st.just({"type": "hyperband", "min_iter": 3}),
        "run_cap": st.integers(1, 100),
        "name": st.text(max_size=12),
        "description": st.text(max_size=12),
    },
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in `node` a value sits: mapping keys and list indexes, at every depth."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield (*path, key)
        yield from _paths(value, (*path, key))


@st.composite
def nearly_valid_sweeps(draw: st.DrawFn) -> dict[str, Any]:
    config = copy.deepcopy(draw(valid_sweeps))  # st.just values are shared: never change them
    path = draw(st.sampled_from(list(_paths(config))))
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.integers(0, 4)) == 0:
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(ANY)
    return config


sweep_texts = st.one_of(
    valid_sweeps.map(dump),
    nearly_valid_sweeps().map(dump),
    nearly_valid_sweeps().map(dump),
    sweep_configs.map(dump),
    ANY.map(dump),
    raw_sweep_texts,
    st.text(max_size=40),
)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sweep-files")


@PROPERTY
@given(text=sweep_texts)
def test_any_sweep_file_gives_a_sweep_or_a_named_error(sweep_dir: Path, text: str) -> None:
    (sweep_dir / "sweep.yaml").write_text(text, encoding="utf-8")
    try:
        sweep = load_sweep_file(sweep_dir, "sweep.yaml")
    except ConfigError as error:
        note(str(error))
        event("refused", next((w for w in REFUSALS if w in error.problems[0]), "other"))
        assert error.problems
        for problem in error.problems:
            assert problem.startswith("sweepConfig: 'sweep.yaml' ("), problem
            # The fallback for a third-party crash is a safety net: every shape that
            # Hypothesis finds gets its own check, with a path.
            assert "could not be checked" not in problem, problem
            assert len(problem) < 2000, problem
        return
    # Accepted by the program: the sweep provider's check (W&B's schema, at preview) gives
    # a named problem or nothing; and then what the sweep's create does must work too.
    from wandb_sweeps.wandb.adoption import sweep_display_name
    from wandb_sweeps.wandb.schema import schema_problem, sweep_config_text

    assert isinstance(sweep.config, dict)
    problem = schema_problem(sweep.text, "'sweep.yaml'")
    if problem is not None:
        note(problem)
        event("refused", next((w for w in REFUSALS if w in problem), "other"))
        assert problem.startswith("sweepConfig: 'sweep.yaml' "), problem
        assert "could not be checked" not in problem, problem
        assert len(problem) < 2000, problem
        return
    event("accepted")
    sweep_config_text(sweep.text)
    sweep_display_name(sweep.text, "project/stack/sweep", "local-" + "0" * 40)


# --- stack config -------------------------------------------------------------------

GOOD_SWEEP = "program: train.py\nmethod: random\nparameters: {lr: {values: [0.1, 0.01]}}\n"
SWEEP_FILES = {
    "sweep.yaml": GOOD_SWEEP,
    "list.yaml": "program: train.py\nmethod: random\nparameters: [lr, batch_size]\n",
    "nan.yaml": "program: train.py\nmethod: random\nparameters: {lr: {min: .nan, max: 1.0}}\n",
}
API_KEYS = st.sampled_from(
    [
        "local-" + API_SENTINEL + "k" * 30,
        API_SENTINEL + "x" * 40,
        API_SENTINEL,
        API_SENTINEL + " with spaces " + "y" * 30,
        "\u00e9" + API_SENTINEL + "z" * 40,
    ]
)
env_values = texts.map(lambda s: ENV_SENTINEL + s)
"""Env values are secret when env is: all of them carry the sentinel."""
ENV_ANY = anything(env_values | st.none() | numbers)


def _k8s_name(options: list[str]) -> st.SearchStrategy[Any]:
    return around(st.sampled_from(options) | texts)


toleration = around(
    st.fixed_dictionaries(
        {},
        optional={
            "key": _k8s_name(["cloud.google.com/gke-spot", "nvidia.com/gpu"]),
            "operator": _k8s_name(["Exists", "Equal"]),
            "value": _k8s_name(["true"]),
            "effect": _k8s_name(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
            "tolerationSeconds": around(numbers),
        },
    )
)
node_selector_term = st.fixed_dictionaries(
    {},
    optional={
        "matchExpressions": around(
            st.lists(
                around(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "key": _k8s_name(["zone"]),
                            "operator": _k8s_name(["In", "NotIn", "Exists"]),
                            "values": around(st.lists(texts, max_size=2)),
                        },
                    )
                ),
                max_size=2,
            )
        )
    },
)
affinity = st.fixed_dictionaries(
    {},
    optional={
        "nodeAffinity": around(
            st.fixed_dictionaries(
                {},
                optional={
                    "requiredDuringSchedulingIgnoredDuringExecution": around(
                        st.fixed_dictionaries(
                            {},
                            optional={"nodeSelectorTerms": around(st.lists(node_selector_term, max_size=2))},
                        )
                    )
                },
            )
        )
    },
)
env_var = st.fixed_dictionaries(
    {},
    optional={
        "name": _k8s_name(["HF_HOME", "HF_TOKEN", "WANDB_API_KEY", "HF TOKEN"]),
        "value": around(env_values, ENV_ANY),
        "valueFrom": around(
            st.fixed_dictionaries(
                {},
                optional={
                    "secretKeyRef": around(
                        st.fixed_dictionaries(
                            {}, optional={"name": _k8s_name(["hf"]), "key": _k8s_name(["t"])}
                        ),
                        ENV_ANY,
                    )
                },
            ),
            ENV_ANY,
        ),
    },
)
env = around(
    st.dictionaries(
        st.sampled_from(["HF_HOME", "HF_TOKEN", "WANDB_BASE_URL", "HF TOKEN"]) | keys,
        around(env_values, ENV_ANY),
    )
    | st.lists(around(env_var, ENV_ANY), max_size=3),
    ENV_ANY,
)
volume = st.fixed_dictionaries(
    {},
    optional={
        "name": _k8s_name(["data", "dshm"]),
        "persistentVolumeClaim": around(
            st.fixed_dictionaries(
                {}, optional={"claimName": _k8s_name(["imagenet"]), "readOnly": around(st.booleans())}
            )
        ),
        "emptyDir": around(
            st.fixed_dictionaries(
                {},
                optional={"medium": _k8s_name(["Memory"]), "sizeLimit": _k8s_name(["8Gi", "8GB"])},
            )
        ),
    },
)
volume_mount = st.fixed_dictionaries(
    {},
    optional={
        "name": _k8s_name(["data"]),
        "mountPath": _k8s_name(["/data"]),
        "readOnly": around(st.booleans()),
    },
)
STRUCTURED = {
    "nodeSelector": st.dictionaries(texts, around(texts), max_size=3),
    "tolerations": st.lists(toleration, max_size=3),
    "affinity": affinity,
    "env": env,
    "volumes": st.lists(around(volume), max_size=2),
    "volumeMounts": st.lists(around(volume_mount), max_size=2),
    "imagePullSecrets": st.lists(_k8s_name(["regcred"]), max_size=2),
    "supplementalGroups": st.lists(
        st.integers(-1, 2**31) | st.sampled_from([44, 109, "render", 44.0, None]), max_size=3
    ),
    "labels": st.dictionaries(
        st.sampled_from(["team", "app.kubernetes.io/name", "example.com/cost", "bad key"]) | texts,
        around(st.sampled_from(["vision", "", "Not a value!"])),
        max_size=2,
    ),
    "annotations": st.dictionaries(
        st.sampled_from(["example.com/owner", "pulumi.com/skipAwait"]) | texts, around(texts), max_size=2
    ),
}
PLAUSIBLE_TEXT = {
    "project": ["wandb-sweeps-quickstart"],
    "entity": ["team", "my team"],
    "sweepConfig": [*SWEEP_FILES, "nope.yaml", ".", "sweep.yaml/x", "a\x00b"],
    "sweepId": ["abcd1234", "team/proj/abcd1234"],
    "baseUrl": ["https://wandb.example.com", "ftp://x", "http://[::1", "http://\uff41\uff0f"],
    "caCertificate": ["ca.pem", "sweep.yaml", "nope.pem", "/etc/passwd", ".", "a\x00b"],
    "onDestroy": ["finish", "cancel", "keep", "delete"],
    "renderYamlTo": ["deploy/sweeps", ".", "../out", "sweep.yaml", "a\x00b"],
    "apiKeySecret": ["wandb-api-key", "keys/token", "Team Keys", "keys/a b", "/x"],
    "image": ["ghcr.io/acme/trainer:1.0", "my image:1"],
    "namespace": ["sweeps", "My_Sweeps"],
    "gpuResource": ["nvidia.com/gpu", "amd.com/gpu", "nvidia gpu"],
    "cpu": ["4", "500m", "two", "\u0664"],
    "cpuRequest": ["2", "500m", "8", "two"],
    "memory": ["16Gi", "10GB", "16Gi\n"],
    "memoryRequest": ["8Gi", "32Gi", "8GB"],
    "shmSize": ["auto", "off", "8Gi", "8GB"],
    "priorityClassName": ["low", "Low Priority"],
    "serviceAccountName": ["trainer"],
    "queueName": ["team-gpus", "team gpus"],
    "imagePullPolicy": ["Always", "IfNotPresent", "Never", "always"],
}
WELL_FORMED = {  # a valid stack: the generated values replace some of these
    "project": "wandb-sweeps-quickstart",
    "image": "ghcr.io/acme/trainer:1.0",
    "sweepConfig": "sweep.yaml",
}
SECRET_CANDIDATES = ["wandbApiKey", "env", "baseUrl", "project", "pods", "volumes", "memory"]


def _cli_text(value: Any) -> str:
    """How the Pulumi CLI passes a value: scalars as text, structured values as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value if isinstance(value, str) else str(value)


VALID = {  # what a stack file may hold, as the CLI passes it (a test checks it loads)
    "project": "wandb-sweeps-quickstart",
    "entity": "team",
    "sweepConfig": "sweep.yaml",
    "sweepId": "abcd1234",
    "wandbApiKey": "local-" + API_SENTINEL + "k" * 30,
    "baseUrl": "https://wandb.example.com",
    "caCertificate": "ca.pem",
    "wandbRequestTimeoutSeconds": "10",
    "wandbCallTimeoutSeconds": "60",
    "onDestroy": "keep",
    "renderYamlTo": "",
    "apiKeySecret": "team-keys/wandb",
    "image": "ghcr.io/acme/trainer:1.0",
    "namespace": "sweeps",
    "createNamespace": "false",
    "queueName": "team-gpus",
    "labels": '{"team": "vision"}',
    "annotations": '{"example.com/owner": "alice"}',
    "pods": "4",
    "agentsPerPod": "2",
    "agentPerGpu": "false",
    "runsPerAgent": "3",
    "agentStartsPerSecond": "20",
    "gpusPerPod": "2",
    "gpusPerRun": "1",
    "gpuResource": "amd.com/gpu",
    "cpu": "4",
    "cpuRequest": "2",
    "memory": "16Gi",
    "memoryRequest": "8Gi",
    "shmSize": "8Gi",
    "gpuToleration": "false",
    "nodeSelector": '{"zone": "a"}',
    "tolerations": '[{"key": "spot", "operator": "Exists"}]',
    "affinity": "{}",
    "priorityClassName": "low",
    "env": json.dumps({"HF_HOME": ENV_SENTINEL + "/data"}),
    "volumes": '[{"name": "data", "emptyDir": {}}]',
    "volumeMounts": "[]",
    "imagePullSecrets": '["regcred"]',
    "imagePullPolicy": "IfNotPresent",
    "serviceAccountName": "trainer",
    "runAsNonRoot": "true",
    "runAsUser": "1000",
    "supplementalGroups": "[44, 109]",
    "allowPrivilegedPods": "false",
    "terminationGracePeriodSeconds": "300",
    "retriesPerPod": "1",
    "activeDeadlineSeconds": "86400",
    "ttlSecondsAfterFinished": "3600",
}


def _value(name: str) -> st.SearchStrategy[Any]:
    """Mostly the valid value, else any shape: a few odd keys next to valid ones."""
    return st.one_of(st.just(VALID[name]), _odd_value(name))


def _odd_value(name: str) -> st.SearchStrategy[Any]:
    kind = KEYS_BY_NAME[name].kind
    if name == "wandbApiKey":
        return API_KEYS | API_KEYS.map(lambda k: [k]) | API_KEYS.map(lambda k: {"key": k})
    if name in STRUCTURED:
        structured = STRUCTURED[name]
        odd = ENV_ANY if name == "env" else ANY
        return st.one_of(structured, structured.map(json.dumps), odd, odd.map(_cli_text), texts)
    if kind == "integer":
        plausible = st.integers(-2, 6) | numbers
        return st.one_of(
            plausible.map(str), plausible, st.just(5000).map(lambda digits: 10**digits), texts, ANY
        )
    if kind == "boolean":
        return st.one_of(st.sampled_from(["true", "false", True, False]), texts, ANY)
    plausible_text = st.sampled_from(PLAUSIBLE_TEXT.get(name, [""])) | texts
    return st.one_of(plausible_text, plausible_text, ANY, ANY.map(_cli_text))


@st.composite
def stack_configs(draw: st.DrawFn) -> tuple[dict[str, Any], set[str], dict[str, str], str]:
    names = draw(st.lists(st.sampled_from([k.name for k in CONFIG_KEYS]), unique=True, max_size=5))
    raw: dict[str, Any] = dict(WELL_FORMED)
    for name in names:
        raw[name] = draw(_value(name))
    unknown = draw(
        st.just({})
        | st.dictionaries(texts.filter(lambda n: n not in KEYS_BY_NAME), texts, min_size=1, max_size=1)
    )
    values = {f"{PROJECT}:{name}": value for name, value in {**raw, **unknown}.items()}
    values.update(
        draw(st.dictionaries(st.sampled_from(["kubernetes:context", "aws:region"]), texts, max_size=1))
    )
    marked = st.just(set()) | st.sets(st.sampled_from(SECRET_CANDIDATES), max_size=3)
    secret = {f"{PROJECT}:{n}" for n in draw(marked)}
    if "wandbApiKey" in raw and draw(st.integers(0, 4)):
        secret.add(f"{PROJECT}:wandbApiKey")
    environ = draw(
        st.fixed_dictionaries(
            {"WANDB_API_KEY": st.just(VALID["wandbApiKey"])},
            optional={"WANDB_BASE_URL": st.sampled_from(PLAUSIBLE_TEXT["baseUrl"]) | texts},
        )
        | st.fixed_dictionaries({}, optional={"WANDB_API_KEY": API_KEYS})
    )
    stack = draw(st.sampled_from(["dev", "live"]) | texts)
    return values, secret, environ, stack


@pytest.fixture(scope="module")
def project_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for name, text in SWEEP_FILES.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "ca.pem").write_text(
        (Path(__file__).resolve().parents[1] / "data" / "test-ca.pem").read_text(), encoding="utf-8"
    )
    return root


def _named_by(problem: str, names: list[str]) -> bool:
    """Whether `problem` starts by naming one of `names` (an odd one by its cut repr)."""
    return any(problem.startswith((f"{n}:", f"{n} ", f"{shown(n)}:")) for n in names)


@PROPERTY
@given(case=stack_configs())
def test_any_stack_config_gives_args_or_named_problems(project_root: Path, case: tuple[Any, ...]) -> None:
    values, secret_keys, environ, stack = case
    try:
        args = load_stack_config(
            values, secret_keys=secret_keys, environ=environ, stack=stack, project_root=project_root
        )
    except ConfigError as error:
        message = str(error)
        note(message)
        event("refused", f"{len(error.problems)} problem(s)")
        names = [*KEYS_BY_NAME, "WANDB_API_KEY (environment)", "WANDB_BASE_URL (environment)"]
        names += [k.partition(":")[2] for k in values if k.startswith(f"{PROJECT}:")]
        for problem in error.problems:
            assert _named_by(problem, names), problem
            assert len(problem) < 2000, problem
        assert API_SENTINEL not in message
        if f"{PROJECT}:env" in secret_keys:
            assert ENV_SENTINEL not in message
        return
    event("accepted")
    assert isinstance(args, SweepSettings)
    assert API_SENTINEL not in repr(args)


# --- the sweep provider -------------------------------------------------------------

BASE_URLS = [
    "https://api.wandb.ai",
    "HTTPS://API.wandb.ai/",
    "http://127.0.0.1:1",
    "http://[::1",
    "",
    "ftp://x",
]
PROVIDER_VALUES = {
    "project": around(st.sampled_from(["proj", ""])),
    "entity": around(st.sampled_from(["team", ""])),
    "base_url": around(st.sampled_from(BASE_URLS)),
    "default_base_url": around(st.sampled_from(BASE_URLS)),
    "config_yaml": around(sweep_texts),
    "creation_key": around(st.just("wandb-sweeps/dev/sweep-sweep")),
    "api_key": around(API_KEYS),
    "request_timeout": around(numbers),
    "call_timeout": around(numbers),
    "ca_certificate": around(
        st.sampled_from(
            ["", (Path(__file__).resolve().parents[1] / "data" / "test-ca.pem").read_text(), "-----BEGIN "]
        )
    ),
    "sweep_id": around(st.just("abcd1234")),
    "sweep_entity": around(st.sampled_from(["team", ""])),
    "sweep_project": around(st.just("proj")),
    "sweep_base_url": around(st.sampled_from(BASE_URLS)),
    "sweep_path": around(st.just("team/proj/abcd1234")),
    "sweep_url": around(texts),
    "sweep_state": around(st.sampled_from(["PENDING", "RUNNING", "FINISHED"])),
    "__provider": around(texts),
}
# A new, well-formed existing_sweep_id makes check ask W&B; these never do.
NO_LOOKUP_IDS = (
    st.sampled_from(["", "BAD ID", "team/proj/abcd1234", "\x00", "x" * 300]) | st.none() | ANY
).filter(lambda v: not (isinstance(v, str) and SWEEP_ID.fullmatch(v)))
props = st.fixed_dictionaries({}, optional={**PROVIDER_VALUES, "existing_sweep_id": NO_LOOKUP_IDS})
odd_props = around(props)


@pytest.fixture(scope="module")
def no_wandb() -> Iterator[None]:
    """check may ask W&B only for a newly set, well-formed sweepId: none is generated."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the provider called W&B")

    with pytest.MonkeyPatch.context() as patch:
        from wandb_sweeps.wandb import operations

        for name in ("default_entity", "sweep_state", "find_sweep", "create_sweep", "stop_sweep"):
            patch.setattr(operations, name, refuse)
        yield


@PROPERTY
@given(olds=odd_props, news=odd_props)
def test_sweep_check_reports_failures_and_never_raises(no_wandb: None, olds: Any, news: Any) -> None:
    result = SweepProvider().check(olds, news)
    assert isinstance(result.inputs, dict)
    for failure in result.failures:
        assert isinstance(failure.property, str) and isinstance(failure.reason, str) and failure.reason
        assert API_SENTINEL not in failure.reason


@PROPERTY
@given(olds=odd_props, news=odd_props)
def test_sweep_diff_never_raises_and_odd_state_is_a_change(olds: Any, news: Any) -> None:
    result = SweepProvider().diff("team/proj/abcd1234", olds, news)
    replaces = list(result.replaces)
    assert all(name in sweep_provider._SWEEP_INPUTS for name in replaces), replaces
    assert result.changes is bool(replaces)
    assert result.delete_before_replace is False
    if not isinstance(olds, dict) and isinstance(news, dict) and news.get("project"):
        assert replaces, "state that is not a mapping must be replaced"
    old_yaml = olds.get("config_yaml") if isinstance(olds, dict) else None
    new_yaml = news.get("config_yaml") if isinstance(news, dict) else None
    if isinstance(news, dict) and (old_yaml or "") != (new_yaml or "") and not _loads(old_yaml or ""):
        assert "config_yaml" in replaces, "an unparsable stored config must count as changed"


def _loads(text: Any) -> bool:
    try:
        yaml.safe_load(text)
    except Exception:  # noqa: BLE001 - whatever does not load
        return False
    return isinstance(text, str)


lifecycle_props = around(
    st.fixed_dictionaries(
        {},
        optional={
            "sweep_path": around(st.sampled_from(["team/proj/abcd1234", "team/proj/efgh5678"])),
            "base_url": around(st.sampled_from(BASE_URLS)),
            "api_key": around(API_KEYS),
            "on_destroy": around(st.sampled_from(["finish", "cancel", "keep"])),
            "attached": around(st.booleans()),
            "request_timeout": around(numbers),
            "call_timeout": around(numbers),
        },
    )
)


@PROPERTY
@given(olds=lifecycle_props, news=lifecycle_props)
def test_lifecycle_diff_never_raises(olds: Any, news: Any) -> None:
    result = SweepLifecycleProvider().diff("team/proj/abcd1234", olds, news)
    assert all(name in ("sweep_path", "attached") for name in result.replaces)
    assert isinstance(result.changes, bool)
    if result.replaces:
        assert result.changes


def test_the_generators_valid_values_are_valid(project_root: Path, sweep_dir: Path) -> None:
    """The properties start from these; if they were refused, the accepted path would go untested."""
    values = {f"{PROJECT}:{name}": value for name, value in VALID.items()}
    args = load_stack_config(
        values, secret_keys={f"{PROJECT}:wandbApiKey"}, environ={}, stack="dev", project_root=project_root
    )
    assert args.sweep.existing_sweep_id == "abcd1234" and args.runtime.env
    del values[f"{PROJECT}:sweepId"]
    assert load_stack_config(
        values, secret_keys={f"{PROJECT}:wandbApiKey"}, environ={}, stack="dev", project_root=project_root
    ).sweep.config_yaml
    (sweep_dir / "valid.yaml").write_text(
        dump(
            {
                "program": "train.py",
                "method": "bayes",
                "metric": {"name": "val_loss", "goal": "minimize"},
                "parameters": {"lr": {"distribution": "log_uniform_values", "min": 0.0001, "max": 0.1}},
            }
        ),
        encoding="utf-8",
    )
    load_sweep_file(sweep_dir, "valid.yaml")

"""Every bad input is refused with one clear message, before anything is registered.

Each case runs the real program under the mock engine, so "nothing registered"
covers the Namespace, the Secret, the sweep and the Jobs alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi_harness import ProgramRun, cli_config, run_program

from components.errors import ConfigError

API_KEY = "local-" + "k" * 40
SECRET = ("wandbApiKey",)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# (case id, config overrides or a callable(tmp_path) -> overrides, secret keys,
#  fragments the message must contain)
CASES = [
    (
        "project missing",
        {"project": ""},
        SECRET,
        ["project: required", "pulumi config set wandb-sweeps:project"],
    ),
    ("image missing", {"image": ""}, SECRET, ["image: required"]),
    (
        "image with spaces",
        {"image": "my image:1"},
        SECRET,
        ["image: must be a container image reference without spaces"],
    ),
    ("pods negative", {"pods": "-1"}, SECRET, ["pods: must be >= 0, got -1"]),
    ("pods not a number", {"pods": "two"}, SECRET, ["pods: must be a whole number, got 'two'"]),
    ("agentsPerPod zero", {"agentsPerPod": "0"}, SECRET, ["agentsPerPod: must be >= 1, got 0"]),
    (
        "gpusPerPod fractional",
        {"gpusPerPod": "1.5"},
        SECRET,
        ["gpusPerPod: must be a whole number, got '1.5'"],
    ),
    (
        "runsPerAgent negative",
        {"runsPerAgent": "-3"},
        SECRET,
        ["runsPerAgent: must be >= 1", "or 0 for runs until the sweep ends, got -3"],
    ),
    (
        "onDestroy unknown",
        {"onDestroy": "delete"},
        SECRET,
        ["onDestroy: must be one of finish, cancel, keep, got 'delete'"],
    ),
    ("memory in GB", {"memory": "10GB"}, SECRET, ["memory: must be a Kubernetes quantity", "16Gi", "'10GB'"]),
    ("cpu in words", {"cpu": "two"}, SECRET, ["cpu: must be a Kubernetes quantity", "500m"]),
    (
        "gpuResource with a space",
        {"gpuResource": "nvidia gpu"},
        SECRET,
        ["gpuResource: must be an extended resource name", "amd.com/gpu"],
    ),
    (
        "namespace not a DNS label",
        {"namespace": "My_Sweeps"},
        SECRET,
        ["namespace: must be a DNS label", "'My_Sweeps'"],
    ),
    ("baseUrl not http", {"baseUrl": "ftp://wandb.example.com"}, SECRET, ["baseUrl: must be an http(s) URL"]),
    ("entity with a space", {"entity": "my team"}, SECRET, ["entity: must be a W&B entity name"]),
    (
        "sweepId is a path",
        {"sweepId": "team/proj/abcd1234"},
        SECRET,
        ["sweepId: must be a W&B sweep id", "Set entity and project as separate keys"],
    ),
    (
        "sweep file missing",
        {"sweepConfig": "nope/sweep.yaml"},
        SECRET,
        ["sweepConfig: 'nope/sweep.yaml'", "does not exist"],
    ),
    (
        "sweep file not YAML",
        lambda t: {"sweepConfig": write(t, "bad.yaml", "method: [bayes\n")},
        SECRET,
        ["sweepConfig:", "bad.yaml", "is not valid YAML at line"],
    ),
    (
        "sweep file not a mapping",
        lambda t: {"sweepConfig": write(t, "list.yaml", "- lr\n- batch_size\n")},
        SECRET,
        ["sweepConfig:", "must be a YAML mapping", "got list"],
    ),
    (
        "sweep method unknown",
        lambda t: {
            "sweepConfig": write(
                t, "m.yaml", "program: train.py\nmethod: genetic\nparameters: {lr: {values: [1]}}\n"
            )
        },
        SECRET,
        ["rejected by W&B's sweep schema", "'genetic' is not one of"],
    ),
    (
        "bayes without metric",
        lambda t: {
            "sweepConfig": write(
                t, "b.yaml", "program: train.py\nmethod: bayes\nparameters: {lr: {min: 0.1, max: 1.0}}\n"
            )
        },
        SECRET,
        ["rejected by W&B's sweep schema", 'Bayesian search requires "metric" section'],
    ),
    (
        "min above max",
        lambda t: {
            "sweepConfig": write(
                t, "mm.yaml", "program: train.py\nmethod: random\nparameters: {lr: {min: 0.1, max: 0.01}}\n"
            )
        },
        SECRET,
        ["lr: min 0.1 is not less than max 0.01"],
    ),
    (
        "no program",
        lambda t: {
            "sweepConfig": write(t, "np.yaml", "method: random\nparameters: {lr: {values: [1, 2]}}\n")
        },
        SECRET,
        ["'program' (the training script the agent runs) or 'command' is required"],
    ),
    (
        "API key missing",
        {"wandbApiKey": ""},
        (),
        ["wandbApiKey: required", "pulumi config set --secret wandb-sweeps:wandbApiKey", "WANDB_API_KEY"],
    ),
    ("API key in plain text", {}, (), ["wandbApiKey: is stored in plain text", "--secret"]),
    (
        "API key too short",
        {"wandbApiKey": "local-shortkey"},
        SECRET,
        ["wandbApiKey: is not a W&B API key", "it is 14 characters"],
    ),
    (
        "agentPerGpu without GPUs",
        {"agentPerGpu": "true", "gpusPerPod": "0"},
        SECRET,
        ["agentPerGpu: needs gpusPerPod >= 1"],
    ),
    (
        "agentPerGpu against agentsPerPod",
        {"agentPerGpu": "true", "gpusPerPod": "4"},
        SECRET,
        ["agentPerGpu: sets agentsPerPod to gpusPerPod (4), but agentsPerPod is 2"],
    ),
    (
        "GPUs not divisible between agents",
        {"gpusPerPod": "3"},
        SECRET,
        ["gpusPerPod: 3 GPUs cannot be split equally between 2 agents (agentsPerPod)"],
    ),
    (
        "toleration field misspelled",
        {"tolerations": [{"key": "spot", "operatr": "Exists"}]},
        SECRET,
        ["tolerations: Additional properties are not allowed ('operatr' was unexpected) at tolerations[0]"],
    ),
    (
        "affinity field misspelled",
        {"affinity": {"nodeAffinity": {"required": {}}}},
        SECRET,
        [
            "affinity: Additional properties are not allowed ('required' was unexpected) at affinity.nodeAffinity"
        ],
    ),
    ("nodeSelector is a list", {"nodeSelector": ["gpu=a100"]}, SECRET, ["nodeSelector: must be a mapping"]),
    (
        "mount of a volume that does not exist",
        {"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
        SECRET,
        ["volumeMounts: 'data' is not one of the volumes (none); add it to volumes."],
    ),
    (
        "env overrides the API key",
        {"env": {"WANDB_API_KEY": "plain"}},
        SECRET,
        ["env: WANDB_API_KEY is set by wandb-sweeps itself"],
    ),
    (
        "shmSize in GB",
        {"shmSize": "8GB"},
        SECRET,
        ["shmSize: must be a Kubernetes quantity such as 'auto', 'off' or 8Gi"],
    ),
    (
        "gpuToleration yes",
        {"gpuToleration": "yes"},
        SECRET,
        ["gpuToleration: must be true or false, got 'yes'"],
    ),
    (
        "grace period negative",
        {"terminationGracePeriodSeconds": "-5"},
        SECRET,
        ["terminationGracePeriodSeconds: must be >= 0"],
    ),
    ("retriesPerPod negative", {"retriesPerPod": "-1"}, SECRET, ["retriesPerPod: must be >= 0, got -1"]),
    (
        "priorityClassName with spaces",
        {"priorityClassName": "Low Priority"},
        SECRET,
        ["priorityClassName: must be a Kubernetes object name"],
    ),
    (
        "typo gpu_per_pod",
        {"gpu_per_pod": "1"},
        SECRET,
        [
            "gpu_per_pod: not a wandb-sweeps config key; did you mean 'gpusPerPod'?",
            "pulumi config rm wandb-sweeps:gpu_per_pod",
        ],
    ),
    (
        "typo agentCount",
        {"agentCount": "4"},
        SECRET,
        ["agentCount: not a wandb-sweeps config key; did you mean 'agentsPerPod'?"],
    ),
    (
        "unknown key",
        {"colour": "blue"},
        SECRET,
        ["colour: not a wandb-sweeps config key. Known keys: project, entity"],
    ),
    (
        "a key marked secret whose value would land in plain text",
        {"baseUrl": "https://wandb.example.com"},
        (*SECRET, "baseUrl"),
        [
            "baseUrl: is marked secret in the stack config, but its value would reach the agent Jobs",
            "only wandbApiKey and env are kept secret",
            "pulumi config set wandb-sweeps:baseUrl VALUE",
        ],
    ),
    (
        "a structured key marked secret (--path) that cannot keep it",
        {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "ds"}}]},
        (*SECRET, "volumes"),
        ["volumes: is marked secret in the stack config"],
    ),
    (
        "secret env entry that cannot be a Secret key",
        {"env": {"HF TOKEN": "hf_x"}},
        (*SECRET, "env"),
        ["env: 'HF TOKEN' is secret, so it becomes a key of a Kubernetes Secret"],
    ),
    (
        "secret env entry reserved by wandb-sweeps",
        {"env": {"WANDB_BASE_URL": "https://x.example"}},
        (*SECRET, "env"),
        ["env: WANDB_BASE_URL is set by wandb-sweeps itself"],
    ),
    (
        "secret env entry also given as valueFrom",
        {
            "env": [
                {"name": "HF_TOKEN", "value": "hf_x"},
                {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}},
            ]
        },
        (*SECRET, "env"),
        ["env: HF_TOKEN is given twice; keep one."],
    ),
]


@pytest.mark.parametrize(
    ("overrides", "secret_keys", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_config_is_refused_before_anything_is_registered(
    tmp_path: Path, overrides, secret_keys: tuple[str, ...], fragments: list[str]
) -> None:
    if callable(overrides):
        overrides = overrides(tmp_path)
    config = cli_config("dev", **{"wandbApiKey": API_KEY, **overrides})
    run = ProgramRun()
    with pytest.raises(ConfigError) as raised:
        run_program("dev", config, secret_keys=secret_keys, run=run)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert len(raised.value.problems) == 1, message
    assert run.registrations == [], [r.name for r in run.registrations]
    assert API_KEY not in message and "local-shortkey" not in message


def test_there_are_at_least_25_bad_config_cases() -> None:
    assert len(CASES) >= 25


def test_a_bad_wandb_base_url_in_the_shell_is_named_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_BASE_URL", "wandb.example.com")
    run = ProgramRun()
    with pytest.raises(ConfigError) as raised:
        run_program("dev", cli_config("dev", wandbApiKey=API_KEY), secret_keys=SECRET, run=run)
    assert raised.value.problems == (
        "WANDB_BASE_URL (environment): must be an http(s) URL of a W&B server such as "
        "'https://api.wandb.ai', got 'wandb.example.com'.",
    )
    assert run.registrations == []


def test_secret_env_values_never_reach_a_job_or_an_error() -> None:
    config = cli_config("dev", wandbApiKey=API_KEY, env={"HF_TOKEN": "hf_" + "s" * 30})
    run = run_program("dev", config, secret_keys=(*SECRET, "env"))
    for registration in run.registrations:
        if registration.name != "sweep-env":
            assert "s" * 30 not in repr(registration.inputs), registration.name


def test_several_problems_are_reported_together() -> None:
    config = cli_config("dev", wandbApiKey=API_KEY, pods="-2", memory="1 Gi", onDestroy="nuke")
    with pytest.raises(ConfigError) as raised:
        run_program("dev", config, secret_keys=SECRET)
    assert [p.split(":")[0] for p in raised.value.problems] == ["onDestroy", "pods", "memory"]
    assert str(raised.value).startswith("Invalid configuration (3 problems):\n  - onDestroy:")


def test_config_error_prints_without_a_traceback() -> None:
    """The CLI prints a pulumi.RunError's message alone; other exceptions get a traceback."""
    import pulumi

    assert issubclass(ConfigError, pulumi.RunError)

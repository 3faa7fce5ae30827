"""Every bad input is refused with one clear message, before anything is registered.

Each case runs the real program under the mock engine, so "nothing registered"
covers the Namespace, the Secret, the sweep and the Jobs alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_model import CheckFailed
from pulumi_harness import ProgramRun, cli_config, run_program

from wandb_sweeps.errors import ConfigError

API_KEY = "local-" + "k" * 40
SECRET = ("wandbApiKey",)
TOKEN = "hf_" + "s" * 30
"""A secret env value: no message may quote it."""
KUBE_TOKEN = "kubeconfig-token-" + "z" * 24
"""A credential in a kubeconfig that sweepConfig points at by mistake: never quoted."""
NEVER_QUOTED = (API_KEY, "local-shortkey", "s" * 30, "12345678", KUBE_TOKEN, "https://10.0.0.1:6443")


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def symlink(tmp_path: Path, name: str, target: str) -> str:
    """A symlink in the project that points outside it."""
    (tmp_path / name).symlink_to(target)
    return str(tmp_path / name)


def laughs(levels: int) -> str:
    """ "Billion laughs": each level a list of ten aliases to the one before, ten values at
    the bottom; the last level stands for 10**(levels+1) values."""
    lines = [
        "program: train.py",
        "method: random",
        "parameters: {lr: {values: [1, 2]}}",
        "a0: &a0 [1,1,1,1,1,1,1,1,1,1]",
    ]
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int) -> str:
    """The same with YAML merge keys (`<<`): PyYAML up to 6.0.3 copies every merged entry
    at every level, ten times more time and memory per level (485 bytes, level 6: 40 s)."""
    lines = ["program: train.py", "method: random", "parameters: {lr: {values: [1, 2]}}"]
    lines.append("m0: &m0 {" + ", ".join(f"k{i}: 1" for i in range(10)) + "}")
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}]}}" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def under_old_limit() -> str:
    """Five aliases to 10,000 values under `parameters`: 61,110 values once expanded, under
    the 100,000 that the shape check allowed before, and each fed to W&B's schema."""
    lines = ["program: train.py", "method: random", "a0: &a0 [1,1,1,1,1,1,1,1,1,1]"]
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 4)]
    lines.append("parameters: {" + ", ".join(f"p{i}: *a3" for i in range(5)) + "}")
    return "\n".join(lines) + "\n"


KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {{server: https://10.0.0.1:6443}}
users:
- name: admin
  user: {{token: {KUBE_TOKEN}}}
contexts:
- name: prod
  context: {{cluster: prod, user: admin}}
current-context: prod
"""


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
        "exponent without a dot (YAML 1.1 reads it as text)",
        lambda t: {
            "sweepConfig": write(
                t, "e.yaml", "program: train.py\nmethod: random\nparameters: {lr: {min: 1e-5, max: 0.1}}\n"
            )
        },
        SECRET,
        ["parameters.lr.min: must be a number, got text '1e-5'", "write 1.0e-5"],
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
    # --- Runs on several GPUs (issue 12): gpusPerRun. The dev stack has gpusPerPod 1, agentsPerPod 2.
    (
        "gpusPerRun above gpusPerPod",
        {"gpusPerRun": "2"},
        SECRET,
        [
            "gpusPerRun: 2 GPUs per run do not fit in a pod of gpusPerPod 1; set gpusPerPod to a multiple "
            "of 2 (2, 4, ...), or lower gpusPerRun."
        ],
    ),
    (
        "gpusPerPod not a multiple of gpusPerRun",
        {"gpusPerPod": "6", "gpusPerRun": "4"},
        SECRET,
        [
            "gpusPerRun: gpusPerPod 6 is not a multiple of 4, so 2 GPU(s) would sit idle; set gpusPerPod "
            "to a multiple of 4 (4, 8, ...)."
        ],
    ),
    (
        "gpusPerRun without GPUs",
        {"gpusPerPod": "0", "gpusPerRun": "2"},
        SECRET,
        ["gpusPerRun: 2 GPUs per run needs GPUs in the pod; set gpusPerPod to a multiple of 2 (2, 4, ...)"],
    ),
    (
        "gpusPerRun with agentPerGpu",
        {"gpusPerPod": "4", "gpusPerRun": "2", "agentPerGpu": "true"},
        SECRET,
        [
            "gpusPerRun: cannot be combined with agentPerGpu: true, which gives each agent (and so each run) "
            "1 GPU, not 2; remove agentPerGpu"
        ],
    ),
    (
        "gpusPerRun against agentsPerPod",
        {"gpusPerPod": "4", "gpusPerRun": "2", "agentsPerPod": "4"},
        SECRET,
        [
            "gpusPerRun: sets agentsPerPod to gpusPerPod / gpusPerRun (4 / 2 = 2), but agentsPerPod is 4; "
            "remove agentsPerPod (or set it to 2)."
        ],
    ),
    (
        "gpusPerRun negative",
        {"gpusPerRun": "-1"},
        SECRET,
        ["gpusPerRun: must be >= 1, or 0 to split the GPUs between agentsPerPod agents, got -1."],
    ),
    # --- Requests below limits (issue 12). The dev stack has cpu 4, memory 16Gi.
    (
        "cpuRequest above cpu",
        {"cpuRequest": "4500m"},
        SECRET,
        [
            "cpuRequest: 4500m is more than cpu (4), the limit; a request may be at most its limit: lower "
            "cpuRequest, raise cpu, or remove cpuRequest (the request is then cpu)."
        ],
    ),
    (
        "memoryRequest above memory",
        {"memoryRequest": "16.5Gi"},
        SECRET,
        ["memoryRequest: 16.5Gi is more than memory (16Gi), the limit; a request may be at most its limit"],
    ),
    (
        "cpuRequest in words",
        {"cpuRequest": "half"},
        SECRET,
        ["cpuRequest: must be a Kubernetes quantity such as 2, 500m, got 'half'."],
    ),
    (
        "memoryRequest in GB",
        {"memoryRequest": "8GB"},
        SECRET,
        ["memoryRequest: must be a Kubernetes quantity such as 16Gi, 512Mi, got '8GB'."],
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
    *[
        (
            f"env overrides {name}, which the launcher sets for AMD GPUs",
            {"env": {name: "0"}},
            SECRET,
            [f"env: {name} is set by wandb-sweeps itself"],
        )
        for name in ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "GPU_RESOURCE")
    ],
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
        ["colour: not a wandb-sweeps config key. The keys are listed in docs/configuration.md."],
    ),
    (
        "typo close to two keys",
        {"gpus_per": "2"},
        SECRET,
        ["gpus_per: not a wandb-sweeps config key; did you mean 'gpusPerPod' or 'gpusPerRun'?"],
    ),
    (
        "imagePullSecrets in Kubernetes' own form",
        {"imagePullSecrets": [{"name": "regcred"}]},
        SECRET,
        [
            "imagePullSecrets: must be a list of names, got {'name': 'regcred'} among them; write the name "
            "alone, [regcred]."
        ],
    ),
    (
        "createNamespace not a boolean",
        {"createNamespace": "no"},
        SECRET,
        ["createNamespace: must be true or false, got 'no'."],
    ),
    (
        "queueName with a space",
        {"queueName": "team gpus"},
        SECRET,
        ["queueName: must be the name of a Kueue LocalQueue (a Kubernetes label value), got 'team gpus'."],
    ),
    (
        "labels overriding wandb-sweeps' own",
        {"labels": {"app.kubernetes.io/instance": "mine"}},
        SECRET,
        ["labels: app.kubernetes.io/instance is set by wandb-sweeps (or read by Kueue or Pulumi)"],
    ),
    (
        "labels with a value Kubernetes refuses",
        {"labels": {"team": "vision & nlp"}},
        SECRET,
        ["labels: the value of team, 'vision & nlp', is not a Kubernetes label value"],
    ),
    (
        "labels with a key Kubernetes refuses",
        {"labels": {"my team": "vision"}},
        SECRET,
        ["labels: 'my team' is not a Kubernetes label key"],
    ),
    (
        "annotations overriding Pulumi's",
        {"annotations": {"pulumi.com/skipAwait": "false"}},
        SECRET,
        ["annotations: pulumi.com/skipAwait is set by wandb-sweeps (or read by Kueue or Pulumi)"],
    ),
    (
        "annotations as a list",
        {"annotations": ["owner=alice"]},
        SECRET,
        ["annotations: must be a mapping (key: value lines under the key) in the stack file, got"],
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
    # --- What the API server refuses beyond the OpenAPI schema (issue 15.6): each passed every
    # check before, the sweep was made, and Kubernetes then refused the Jobs. The rules and
    # their sources: components/kubernetes/api_rules.py.
    (
        "env name empty",
        {"env": {"": "x"}},
        SECRET,
        ["env: '' (env[0]) is not an environment variable name: letters, digits, '_', '-' and '.'"],
    ),
    (
        "env name with '='",
        {"env": {"A=B": "1"}},
        SECRET,
        ["env: 'A=B' (env[0]) is not an environment variable name"],
    ),
    (
        "env name starting with a digit (refused by Kubernetes 1.31)",
        {"env": {"HF_HOME": "/data/hf", "1GPU": "x"}},
        SECRET,
        ["env: '1GPU' (env[1]) is not an environment variable name", "the rule of Kubernetes 1.31"],
    ),
    (
        "env name starting with '..'",
        {"env": {"..cache": "x"}},
        SECRET,
        ["env: '..cache' (env[0]) is not an environment variable name", "not '.', '..' or '..'-prefixed"],
    ),
    (
        "secret env name that is a Secret key but not an environment variable name",
        {"env": {"1TOKEN": "hf_x"}},
        (*SECRET, "env"),
        ["env: '1TOKEN' is not an environment variable name: letters, digits"],
    ),
    (
        "secret env name '..' (not a Secret key)",
        {"env": {"..": "hf_x"}},
        (*SECRET, "env"),
        ["env: '..' is secret, so it becomes a key of a Kubernetes Secret"],
    ),
    (
        "env valueFrom naming a Secret that cannot exist",
        {"env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "HF_Secret", "key": "token"}}}]},
        SECRET,
        ["env: 'HF_TOKEN' (env[0]) valueFrom.secretKeyRef.name 'HF_Secret' is not a Kubernetes object name"],
    ),
    (
        "env valueFrom with a ConfigMap key that cannot exist",
        {"env": [{"name": "MODEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "my key"}}}]},
        SECRET,
        ["env: 'MODEL' (env[0]) valueFrom.configMapKeyRef.key 'my key' is not a data key"],
    ),
    (
        "volume name not a DNS label",
        {
            "volumes": [{"name": "Data_1", "persistentVolumeClaim": {"claimName": "ds"}}],
            "volumeMounts": [{"name": "Data_1", "mountPath": "/data"}],
        },
        SECRET,
        ["volumes: 'Data_1' (volumes[0]) is not a volume name: at most 63 lowercase letters, digits and '-'"],
    ),
    (
        "volume name given twice",
        {
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "ds"}},
                {"name": "data", "emptyDir": {}},
            ]
        },
        SECRET,
        ["volumes: 'data' (volumes[1]) is given twice; volume names must be unique."],
    ),
    (
        "volumeMount with an empty mountPath",
        {"volumes": [{"name": "data", "emptyDir": {}}], "volumeMounts": [{"name": "data", "mountPath": ""}]},
        SECRET,
        ["volumeMounts: volumeMounts[0] has an empty mountPath"],
    ),
    (
        "two volumeMounts at one path",
        {
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "cache", "mountPath": "/data"}],
        },
        SECRET,
        ["volumeMounts: '/data' (volumeMounts[1]) is mounted twice"],
    ),
    (
        "volumeMount at /dev/shm beside shmSize's",
        {
            "volumes": [{"name": "shm", "emptyDir": {}}],
            "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
        },
        SECRET,
        ["volumeMounts: '/dev/shm' is where the memory-backed volume of shmSize is mounted", "shmSize: off"],
    ),
    (
        "labels key whose prefix is not a DNS subdomain",
        {"labels": {"acme..io/team": "vision"}},
        SECRET,
        ["labels: 'acme..io/team' is not a Kubernetes label key (an optional DNS-subdomain prefix"],
    ),
    (
        "annotations key whose prefix is not a DNS subdomain",
        {"annotations": {"acme.-io/owner": "alice"}},
        SECRET,
        ["annotations: 'acme.-io/owner' is not a Kubernetes annotation key"],
    ),
    (
        "annotations over 256 KiB in all",
        {"annotations": {"notes": "x" * (256 * 1024)}},
        SECRET,
        ["annotations: at most 64 KiB of keys and values, got 256.0 KiB (Kubernetes allows 256 KiB per object"],
    ),
    (
        "nodeSelector key not a label key",
        {"nodeSelector": {"gpu type": "a100"}},
        SECRET,
        ["nodeSelector: 'gpu type' is not a Kubernetes label key"],
    ),
    (
        "nodeSelector value not a label value",
        {"nodeSelector": {"gpu": "a100 80gb"}},
        SECRET,
        ["nodeSelector: the value of gpu, 'a100 80gb', is not a Kubernetes label value"],
    ),
    (
        "toleration key not a qualified name",
        {"tolerations": [{"key": "spot node", "operator": "Exists"}]},
        SECRET,
        ["tolerations: tolerations[0]: its key 'spot node' is not a qualified name"],
    ),
    (
        "toleration without a key and operator Equal",
        {"tolerations": [{"operator": "Equal", "value": "true"}]},
        SECRET,
        ["tolerations: tolerations[0]: it has no key, so its operator must be Exists"],
    ),
    (
        "toleration operator unknown",
        {"tolerations": [{"key": "spot", "operator": "In", "value": "true"}]},
        SECRET,
        ["tolerations: tolerations[0]: its operator 'In' is not one of Equal, Exists."],
    ),
    (
        "toleration Exists with a value",
        {"tolerations": [{"key": "spot", "operator": "Exists", "value": "true"}]},
        SECRET,
        ["tolerations: tolerations[0]: it has operator Exists, so it must have no value."],
    ),
    (
        "toleration value not a label value",
        {"tolerations": [{"key": "spot", "operator": "Equal", "value": "yes please"}]},
        SECRET,
        ["tolerations: tolerations[0]: its value 'yes please' is not a label value"],
    ),
    (
        "tolerationSeconds without effect NoExecute",
        {
            "tolerations": [
                {"key": "spot", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 60}
            ]
        },
        SECRET,
        ["tolerations: tolerations[0]: it sets tolerationSeconds, which needs effect NoExecute."],
    ),
    (
        "toleration effect unknown",
        {"tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoScheduled"}]},
        SECRET,
        ["tolerations: tolerations[0]: its effect 'NoScheduled' is not one of NoSchedule, PreferNoSchedule"],
    ),
    (
        "serviceAccountName with an empty part",
        {"serviceAccountName": "team..sweeps"},
        SECRET,
        ["serviceAccountName: must be a Kubernetes object name", "got 'team..sweeps'."],
    ),
    (
        "priorityClassName with a part ending in '-'",
        {"priorityClassName": "low-.sweeps"},
        SECRET,
        ["priorityClassName: must be a Kubernetes object name", "got 'low-.sweeps'."],
    ),
    (
        "imagePullSecrets name with a part starting with '-'",
        {"imagePullSecrets": ["regcred", "team.-cred"]},
        SECRET,
        ["imagePullSecrets: imagePullSecrets[1] must be a Kubernetes object name", "got 'team.-cred'."],
    ),
    # --- supplementalGroups (issue 15.8): group ids, 0 to 2147483647, at most 32.
    (
        "supplementalGroups not a list",
        {"supplementalGroups": "44"},
        SECRET,
        ["supplementalGroups: must be a list (- items) in the stack file, got 44."],
    ),
    (
        "supplementalGroups as text",
        {"supplementalGroups": "video"},
        SECRET,
        ["supplementalGroups: must be a list (- items) in the stack file, got 'video'."],
    ),
    (
        "supplementalGroups holding a group name",
        {"supplementalGroups": [44, "render"]},
        SECRET,
        ["supplementalGroups: supplementalGroups[1] must be a group id, a whole number from 0 to 2147483647"],
    ),
    (
        "supplementalGroups negative",
        {"supplementalGroups": [-1]},
        SECRET,
        ["supplementalGroups: supplementalGroups[0] must be a group id", "got -1."],
    ),
    (
        "supplementalGroups not a whole number",
        {"supplementalGroups": [44.5]},
        SECRET,
        ["supplementalGroups: supplementalGroups[0] must be a group id", "got 44.5."],
    ),
    (
        "supplementalGroups past int32",
        {"supplementalGroups": [2**31]},
        SECRET,
        ["supplementalGroups: supplementalGroups[0] must be a group id", "got 2147483648."],
    ),
    (
        "supplementalGroups too many",
        {"supplementalGroups": list(range(1000, 1033))},
        SECRET,
        ["supplementalGroups: at most 32 (group ids), got 33."],
    ),
    # --- Shapes found by the property tests (test_property_based.py) and by issue 8.
    # Each crashed with a traceback, leaked a secret or printed pages, before.
    (
        "sweep parameters written as a list (issue 8)",
        lambda t: {
            "sweepConfig": write(
                t, "list-params.yaml", "program: train.py\nmethod: random\nparameters: [lr, batch_size]\n"
            )
        },
        SECRET,
        [
            "sweepConfig:",
            "list-params.yaml",
            "is rejected by W&B's sweep schema: parameters: must be a mapping of each parameter's name to "
            "its settings, e.g. `lr: {values: [0.1, 0.01]}`, got a list.",
        ],
    ),
    (
        "sweep parameters null",
        lambda t: {"sweepConfig": write(t, "p.yaml", "program: train.py\nmethod: bayes\nparameters: null\n")},
        SECRET,
        ["parameters: must be a mapping of each parameter's name to its settings", "got null"],
    ),
    (
        "sweep parameter null",
        lambda t: {
            "sweepConfig": write(t, "p.yaml", "program: train.py\nmethod: bayes\nparameters: {lr: null}\n")
        },
        SECRET,
        ["parameters.lr: must be a mapping of settings, e.g. `{values: [1, 2]}`", "got null"],
    ),
    (
        "sweep probabilities not a list",
        lambda t: {
            "sweepConfig": write(
                t,
                "p.yaml",
                "program: train.py\nmethod: random\nparameters: {lr: {values: [1], probabilities: 1}}\n",
            )
        },
        SECRET,
        ["parameters.lr.probabilities: must be a list, got a whole number"],
    ),
    (
        "sweep probabilities with a null",
        lambda t: {
            "sweepConfig": write(
                t,
                "p.yaml",
                "program: train.py\nmethod: random\nparameters: {lr: {values: [1], probabilities: [null]}}\n",
            )
        },
        SECRET,
        ["parameters.lr.probabilities[0]: must be a number, got null"],
    ),
    (
        "sweep controller null beside a scheduler",
        lambda t: {
            "sweepConfig": write(
                t,
                "c.yaml",
                "program: train.py\nmethod: random\nparameters: {lr: {value: 1}}\ncontroller: null\nscheduler: {engine: wandb}\n",
            )
        },
        SECRET,
        ["rejected by W&B's sweep schema: controller: must be a mapping, got null"],
    ),
    (
        "sweep controller without type beside a scheduler",
        lambda t: {
            "sweepConfig": write(
                t,
                "c.yaml",
                "program: train.py\nmethod: random\nparameters: {lr: {value: 1}}\ncontroller: {}\nscheduler: {engine: wandb}\n",
            )
        },
        SECRET,
        ["rejected by W&B's sweep schema: controller: 'type' is a required property"],
    ),
    (
        "sweep scheduler engine a list",
        lambda t: {
            "sweepConfig": write(
                t,
                "e.yaml",
                "program: train.py\nmethod: random\nparameters: {lr: {value: 1}}\n"
                "controller: {type: local}\nscheduler: {engine: []}\n",
            )
        },
        SECRET,
        ["scheduler.engine: must be text, got a list"],
    ),
    (
        "sweep number of 5000 digits",
        lambda t: {
            "sweepConfig": write(
                t,
                "n.yaml",
                "program: train.py\nmethod: random\nparameters: {lr: {min: 1, max: " + "9" * 5000 + "}}\n",
            )
        },
        SECRET,
        ["n.yaml", "cannot be read as YAML: a number in it has more than 4300 digits."],
    ),
    (
        "sweep key of 5000 digits (a message cut to length)",
        lambda t: {
            "sweepConfig": write(
                t,
                "k.yaml",
                "program: train.py\nmethod: random\nparameters: {lr: {value: 1}}\n? '"
                + "9" * 5000
                + "'\n: 1\n",
            )
        },
        SECRET,
        ["rejected by W&B's sweep schema: Additional properties are not allowed ('99999", "999..."],
    ),
    (
        "sweep with an impossible date",
        lambda t: {
            "sweepConfig": write(
                t, "date.yaml", "program: train.py\nmethod: random\nparameters: {day: {value: 2024-02-30}}\n"
            )
        },
        SECRET,
        [
            "date.yaml",
            "cannot be read as YAML: a date, number or !!tag in it is not valid (day is out of range",
        ],
    ),
    (
        "sweep with a !!bool tag on a word",
        lambda t: {
            "sweepConfig": write(
                t, "tag.yaml", "program: train.py\nmethod: random\nparameters: {x: {value: !!bool maybe}}\n"
            )
        },
        SECRET,
        ["tag.yaml", "cannot be read as YAML: a date, number or !!tag in it is not valid ('maybe')"],
    ),
    (
        "sweep min a whole number and max a decimal (the create would fail)",
        lambda t: {
            "sweepConfig": write(
                t, "a.yaml", "program: train.py\nmethod: random\nparameters: {lr: {min: 1, max: 2.5}}\n"
            )
        },
        SECRET,
        ["rejected by W&B's sweep schema: Parameter lr is ambiguous", "both floats", "or ints"],
    ),
    (
        "sweep min NaN",
        lambda t: {
            "sweepConfig": write(
                t, "nan.yaml", "program: train.py\nmethod: random\nparameters: {lr: {min: .nan, max: 1.0}}\n"
            )
        },
        SECRET,
        ["nan.yaml", "cannot be sent to W&B: parameters.lr.min: must be a finite number, got nan."],
    ),
    (
        "sweep alias that contains itself",
        lambda t: {
            "sweepConfig": write(
                t, "loop.yaml", "program: train.py\nmethod: random\nparameters: &p {lr: {parameters: *p}}\n"
            )
        },
        SECRET,
        ["cannot be sent to W&B: parameters.lr.parameters: refers to itself through a YAML alias"],
    ),
    (
        "sweep value a YAML date",
        lambda t: {
            "sweepConfig": write(
                t, "d.yaml", "program: train.py\nmethod: random\nparameters: {day: {value: 2024-01-01}}\n"
            )
        },
        SECRET,
        ["parameters.day.value: a date is not JSON; quote it if it is text: '2024-01-01'."],
    ),
    (
        "sweep nested 3000 deep",
        lambda t: {
            "sweepConfig": write(
                t,
                "deep.yaml",
                "program: train.py\nmethod: random\nparameters: {lr: {value: "
                + "[" * 3000
                + "]" * 3000
                + "}}\n",
            )
        },
        SECRET,
        ["deep.yaml", "cannot be sent to W&B: is nested more than 64 levels deep."],
    ),
    (
        "sweep distribution a number",
        lambda t: {
            "sweepConfig": write(
                t,
                "dist.yaml",
                "program: train.py\nmethod: random\nparameters: {lr: {distribution: 3, min: 1, max: 2}}\n",
            )
        },
        SECRET,
        ["parameters.lr.distribution: must be one of beta, categorical,", "got 3."],
    ),
    (
        "sweep nested parameter wrong",
        lambda t: {
            "sweepConfig": write(
                t,
                "nest.yaml",
                "program: train.py\nmethod: random\nparameters: {opt: {parameters: {lr: {values: 3}}}}\n",
            )
        },
        SECRET,
        ["parameters.opt.parameters.lr.values: must be a list, got a whole number."],
    ),
    (
        "sweepConfig with a NUL byte",
        {"sweepConfig": "sweep\x00.yaml"},
        SECRET,
        ["sweepConfig: 'sweep\\x00.yaml' is not a usable file path: embedded null byte."],
    ),
    (
        "sweepConfig name too long for the file system",
        {"sweepConfig": "x" * 5000},
        SECRET,
        ["sweepConfig: 'xxxx", "cannot be read as a UTF-8 text file: File name too long."],
    ),
    (
        "timeout of 5000 digits",
        {"wandbRequestTimeoutSeconds": "9" * 5000},
        SECRET,
        ["wandbRequestTimeoutSeconds: at most 600 (10 minutes), got a number of 5000 digits."],
    ),
    (
        "runAsUser of 5000 digits",
        {"runAsUser": "9" * 5000},
        SECRET,
        ["runAsUser: must be a whole number up to 2147483647, got a number of 5000 digits."],
    ),
    (
        "baseUrl with an unclosed IPv6 bracket",
        {"baseUrl": "http://[::1"},
        SECRET,
        ["baseUrl: must be an http(s) URL of a W&B server", "got 'http://[::1' (Invalid IPv6 URL)."],
    ),
    (
        "baseUrl that NFKC normalization turns into a path",
        {"baseUrl": "http://\uff41\uff0f"},
        SECRET,
        [
            "baseUrl: must be an http(s) URL of a W&B server",
            "contains invalid characters under NFKC normalization",
        ],
    ),
    (
        "onDestroy of 5000 characters (a message cut to length)",
        {"onDestroy": "9" * 5000},
        SECRET,
        ["onDestroy: must be one of finish, cancel, keep, got '9999", "999..."],
    ),
    (
        "tolerations nested 3000 deep",
        {"tolerations": "[" * 3000},
        SECRET,
        ["tolerations: cannot be read: it is nested too deeply or holds a number of thousands of digits."],
    ),
    (
        "tolerations holding a number of 5000 digits",
        {"tolerations": "[" + "9" * 5000 + "]"},
        SECRET,
        ["tolerations: cannot be read: it is nested too deeply or holds a number of thousands of digits."],
    ),
    (
        "volumes with a null item",
        {"volumes": [None]},
        SECRET,
        ["volumes: volumes[0] must be a Kubernetes object (a mapping), got null."],
    ),
    (
        "volumeMounts with a null item",
        {"volumeMounts": [None]},
        SECRET,
        ["volumeMounts: volumeMounts[0] must be a Kubernetes object (a mapping), got null."],
    ),
    (
        "env with a null item",
        {"env": [None]},
        SECRET,
        ["env: env[0] must be a Kubernetes object (a mapping), got null."],
    ),
    (
        "tolerations with a null item",
        {"tolerations": [{"key": "a", "operator": "Exists"}, None]},
        SECRET,
        ["tolerations: tolerations[1] must be a Kubernetes object (a mapping), got null."],
    ),
    (
        "nodeSelector key of 5000 characters (a message cut to length)",
        {"nodeSelector": {"9" * 5000: []}},
        SECRET,
        [
            "nodeSelector: [] is not of type 'string', 'null' at nodeSelector.9999",
            "999... (Kubernetes 1.31 schema",
        ],
    ),
    (
        "toleration effect a list",
        {
            "tolerations": [
                {"key": "a", "operator": "Exists"},
                {"key": "b", "operator": "Exists", "effect": ["NoSchedule"]},
            ]
        },
        SECRET,
        ["tolerations: ['NoSchedule'] is not of type 'string', 'null' at tolerations[1].effect"],
    ),
    (
        "pods in Arabic-Indic digits",
        {"pods": "\u0663"},
        SECRET,
        ["pods: must be a whole number, got '\u0663'."],
    ),
    (
        "env set --secret to a bare token",
        {"env": TOKEN},
        (*SECRET, "env"),
        ["env: must be a mapping (NAME: value lines under the key) or a list of EnvVar objects", "got text."],
    ),
    (
        "secret env value a number",
        {"env": [{"name": "HF_TOKEN", "value": 12345678}]},
        (*SECRET, "env"),
        ["env: the value of 'HF_TOKEN' must be text, got a whole number."],
    ),
    (
        "secret env valueFrom holding the token",
        {"env": [{"name": "HF_TOKEN", "valueFrom": TOKEN}]},
        (*SECRET, "env"),
        ["env: must be of type ['object', 'null'] at env[0].valueFrom"],
    ),
    (
        "secret env a list of bare tokens",
        {"env": [TOKEN]},
        (*SECRET, "env"),
        ["env: env[0] must be a mapping with name and value (or valueFrom), got text."],
    ),
    (
        "secret env entry given twice",
        {"env": [{"name": "HF_TOKEN", "value": TOKEN}, {"name": "HF_TOKEN", "value": "other"}]},
        (*SECRET, "env"),
        ["env: 'HF_TOKEN' is given twice; keep one."],
    ),
    (
        "secret env entry with both value and valueFrom",
        {
            "env": [
                {
                    "name": "HF_TOKEN",
                    "value": TOKEN,
                    "valueFrom": {"secretKeyRef": {"name": "hf", "key": "t"}},
                }
            ]
        },
        (*SECRET, "env"),
        ["env: HF_TOKEN has both value and valueFrom; keep one."],
    ),
    # --- Caps (issue 11): every count, size and duration key has an upper bound.
    ("pods 2000", {"pods": "2000"}, SECRET, ["pods: at most 1000, got 2000."]),
    (
        "pods 2147483647 (hung the program)",
        {"pods": "2147483647"},
        SECRET,
        ["pods: at most 1000, got 2147483647."],
    ),
    ("pods 10**12", {"pods": str(10**12)}, SECRET, ["pods: at most 1000, got 1000000000000."]),
    ("agentsPerPod 100000", {"agentsPerPod": "100000"}, SECRET, ["agentsPerPod: at most 64, got 100000."]),
    ("gpusPerPod 17", {"gpusPerPod": "17", "agentsPerPod": "1"}, SECRET, ["gpusPerPod: at most 16, got 17."]),
    (
        "gpusPerRun 17",
        {"gpusPerPod": "16", "gpusPerRun": "17"},
        SECRET,
        ["gpusPerRun: at most 16 (the GPUs of one pod), got 17."],
    ),
    (
        "runsPerAgent 100001",
        {"runsPerAgent": "100001"},
        SECRET,
        ["runsPerAgent: at most 100000, got 100001."],
    ),
    (
        "retriesPerPod 2147483647",
        {"retriesPerPod": "2147483647"},
        SECRET,
        ["retriesPerPod: at most 100, got 2147483647."],
    ),
    (
        "terminationGracePeriodSeconds 999999999999",
        {"terminationGracePeriodSeconds": "999999999999"},
        SECRET,
        ["terminationGracePeriodSeconds: at most 86400 (a day), got 999999999999."],
    ),
    (
        "activeDeadlineSeconds over a year",
        {"activeDeadlineSeconds": "31536001"},
        SECRET,
        ["activeDeadlineSeconds: at most 31536000 (365 days), got 31536001."],
    ),
    (
        "ttlSecondsAfterFinished over a year",
        {"ttlSecondsAfterFinished": "31536001"},
        SECRET,
        ["ttlSecondsAfterFinished: at most 31536000 (365 days), got 31536001."],
    ),
    (
        "wandbRequestTimeoutSeconds over 10 minutes",
        {"wandbRequestTimeoutSeconds": "601"},
        SECRET,
        ["wandbRequestTimeoutSeconds: at most 600 (10 minutes), got 601."],
    ),
    (
        "wandbCallTimeoutSeconds over an hour",
        {"wandbCallTimeoutSeconds": "3601"},
        SECRET,
        ["wandbCallTimeoutSeconds: at most 3600 (an hour), got 3601."],
    ),
    ("cpu 5000", {"cpu": "5000"}, SECRET, ["cpu: at most 4096, got '5000'."]),
    ("memory 65Ti", {"memory": "65Ti"}, SECRET, ["memory: at most 64Ti, got '65Ti'."]),
    ("cpuRequest 5000", {"cpuRequest": "5000"}, SECRET, ["cpuRequest: at most 4096, got '5000'."]),
    ("memoryRequest 65Ti", {"memoryRequest": "65Ti"}, SECRET, ["memoryRequest: at most 64Ti, got '65Ti'."]),
    ("memory 1e999999", {"memory": "1e999999"}, SECRET, ["memory: at most 64Ti, got '1e999999'."]),
    ("shmSize 1Ei", {"shmSize": "1Ei"}, SECRET, ["shmSize: at most 64Ti, got '1Ei'."]),
    # --- The Restricted Pod Security Standard (issue 11), unless allowPrivilegedPods.
    (
        "hostPath volume",
        {
            "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
            "volumeMounts": [{"name": "host", "mountPath": "/host"}],
        },
        SECRET,
        [
            "volumes: volumes[0] ('host') is of type hostPath, which the Restricted Pod Security Standard "
            "does not allow; allowed types: configMap, csi, downwardAPI, emptyDir, ephemeral, "
            "persistentVolumeClaim, projected, secret",
            "or set allowPrivilegedPods: true",
        ],
    ),
    (
        "nfs volume after a PVC",
        {
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "ds"}},
                {"name": "share", "nfs": {"server": "nfs.example", "path": "/x"}},
            ]
        },
        SECRET,
        ["volumes: volumes[1] ('share') is of type nfs, which the Restricted Pod Security Standard"],
    ),
    (
        "image volume (Restricted allows it only from Kubernetes 1.33)",
        {"volumes": [{"name": "model", "image": {"reference": "ghcr.io/acme/weights:1"}}]},
        SECRET,
        ["volumes: volumes[0] ('model') is of type image, which the Restricted Pod Security Standard"],
    ),
    (
        "system priority class",
        {"priorityClassName": "system-node-critical"},
        SECRET,
        [
            "priorityClassName: 'system-node-critical' is one of Kubernetes' own system-* classes",
            "Use a PriorityClass of your own, or set allowPrivilegedPods: true",
        ],
    ),
    (
        "system-cluster-critical priority class",
        {"priorityClassName": "system-cluster-critical"},
        SECRET,
        ["priorityClassName: 'system-cluster-critical' is one of Kubernetes' own system-* classes"],
    ),
    (
        "toleration of every taint",
        {"tolerations": [{"key": "spot", "operator": "Exists"}, {"operator": "Exists"}]},
        SECRET,
        [
            "tolerations: tolerations[1] has operator Exists and no key, so it tolerates every taint",
            "name the taint, e.g. {key: cloud.google.com/gke-spot, operator: Exists}, or set allowPrivilegedPods: true",
        ],
    ),
    (
        "toleration of every NoSchedule taint",
        {"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]},
        SECRET,
        ["tolerations: tolerations[0] has operator Exists and no key, so it tolerates every taint"],
    ),
    (
        "runAsNonRoot false",
        {"runAsNonRoot": "false"},
        SECRET,
        [
            "runAsNonRoot: false lets the agents run as root, which the Restricted Pod Security Standard "
            "does not allow; build the image with a numeric non-root USER (USER 1000)",
        ],
    ),
    (
        "AppArmor turned off by an annotation",
        {"annotations": {"container.apparmor.security.beta.kubernetes.io/agent": "unconfined"}},
        SECRET,
        [
            "annotations: container.apparmor.security.beta.kubernetes.io/agent: 'unconfined' overrides the "
            "container runtime's AppArmor profile",
            "allowed: runtime/default or localhost/<profile>",
        ],
    ),
    (
        "allowPrivilegedPods not a boolean",
        {"allowPrivilegedPods": "yes"},
        SECRET,
        ["allowPrivilegedPods: must be true or false, got 'yes'."],
    ),
    (
        "imagePullPolicy in lowercase",
        {"imagePullPolicy": "always"},
        SECRET,
        ["imagePullPolicy: must be one of Always, IfNotPresent, Never", "got 'always'."],
    ),
    # --- The sweep file stays inside the project, is bounded, and is a sweep config (issue 11).
    (
        "sweepConfig with .. out of the project",
        {"sweepConfig": "../outside.yaml"},
        SECRET,
        ["sweepConfig: '../outside.yaml' is outside the project folder", "Copy it into the project"],
    ),
    (
        "sweepConfig with .. in the middle",
        {"sweepConfig": "tests/../../outside.yaml"},
        SECRET,
        ["sweepConfig: 'tests/../../outside.yaml' is outside the project folder"],
    ),
    (
        "sweepConfig an absolute path out of the project",
        {"sweepConfig": "/etc/passwd"},
        SECRET,
        ["sweepConfig: '/etc/passwd' is outside the project folder", "(it resolves to /etc/passwd)"],
    ),
    (
        "sweepConfig a symlink in the project to a file outside",
        lambda t: {"sweepConfig": symlink(t, "sweep.yaml", "/etc/passwd")},
        SECRET,
        ["sweep.yaml' is outside the project folder", "(it resolves to /etc/passwd)"],
    ),
    (
        "sweepConfig a kubeconfig in the project",
        lambda t: {"sweepConfig": write(t, "kubeconfig.yaml", KUBECONFIG)},
        SECRET,
        [
            "kubeconfig.yaml) does not look like a W&B sweep config: it has no `method`",
            "so nothing of it is shown",
        ],
    ),
    (
        "sweepConfig a file that is not YAML and quotes a value",
        lambda t: {"sweepConfig": write(t, "token.yaml", f"token: !!int {KUBE_TOKEN}\n")},
        SECRET,
        ["token.yaml) cannot be read as YAML", "does not look like a W&B sweep config"],
    ),
    (
        "sweepConfig a file that is not YAML and names an alias from it",
        lambda t: {"sweepConfig": write(t, "env.yaml", f"TOKEN: *{KUBE_TOKEN}\n")},
        SECRET,
        ["env.yaml) is not valid YAML at line 1, column 8: does not look like a W&B sweep config"],
    ),
    (
        "sweep file of nested aliases (billion laughs)",
        lambda t: {"sweepConfig": write(t, "laughs.yaml", laughs(7))},
        SECRET,
        [
            "laughs.yaml) cannot be sent to W&B: has more than 10000 keys and values once YAML aliases "
            "and merge keys (<<) are expanded."
        ],
    ),
    (
        "sweep file of nested merge keys",
        lambda t: {"sweepConfig": write(t, "merges.yaml", merge_bomb(6))},
        SECRET,
        ["merges.yaml) cannot be sent to W&B: has more than 10000 keys and values once YAML aliases"],
    ),
    (
        "sweep file of aliases under the old limit",
        lambda t: {"sweepConfig": write(t, "five.yaml", under_old_limit())},
        SECRET,
        ["five.yaml) cannot be sent to W&B: has more than 10000 keys and values"],
    ),
    (
        "sweep file with one long string referred to a thousand times",
        lambda t: {
            "sweepConfig": write(
                t,
                "long.yaml",
                "program: train.py\nmethod: random\nparameters: {lr: {values: [1]}}\ns: &s "
                + "x" * 2000
                + "\nl: &l ["
                + ",".join(["*s"] * 30)
                + "]\nm: ["
                + ",".join(["*l"] * 30)
                + "]\n",
            )
        },
        SECRET,
        ["long.yaml) cannot be sent to W&B: holds more than 1000000 characters of text once YAML aliases"],
    ),
    (
        "sweep file larger than 32 KiB",
        lambda t: {
            "sweepConfig": write(t, "big.yaml", "program: train.py\nmethod: random\n#" + "x" * 70_000 + "\n")
        },
        SECRET,
        ["big.yaml) is larger than 32768 bytes; a sweep config is a few KB."],
    ),
    (
        "sweep file with 101 parameters",
        lambda t: {
            "sweepConfig": write(
                t,
                "many.yaml",
                "program: train.py\nmethod: random\nparameters:\n"
                + "".join(f"  p{i}: {{value: 1}}\n" for i in range(101)),
            )
        },
        SECRET,
        [
            "many.yaml) cannot be sent to W&B: has more than 100 parameters (nested ones included, aliases expanded)"
        ],
    ),
    (
        "sweep file merging a mapping into itself",
        lambda t: {
            "sweepConfig": write(
                t, "self.yaml", "program: train.py\nmethod: random\nparameters: &p {lr: {value: 1}, <<: *p}\n"
            )
        },
        SECRET,
        ["self.yaml) cannot be sent to W&B: merges (<<) a mapping into itself."],
    ),
]


@pytest.mark.parametrize(
    ("overrides", "secret_keys", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_config_is_refused_before_anything_is_registered(
    project_tmp_path: Path, overrides, secret_keys: tuple[str, ...], fragments: list[str]
) -> None:
    if callable(overrides):
        overrides = overrides(project_tmp_path)
    config = cli_config("dev", **{"wandbApiKey": API_KEY, **overrides})
    run = ProgramRun()
    # The program refuses it (ConfigError); or, for what only W&B's sweep schema finds, the
    # sweep provider's check does, at preview, which the harness runs as the engine does.
    with pytest.raises((ConfigError, CheckFailed)) as raised:
        run_program("dev", config, secret_keys=secret_keys, run=run)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    if isinstance(raised.value, ConfigError):
        assert len(raised.value.problems) == 1, message
        assert run.registrations == [], [r.name for r in run.registrations]
    else:
        # As the engine prints it: the reason alone, not the sweep file's text before it.
        assert message.startswith("has a problem: sweepConfig: ") and message.count("sweepConfig: ") == 1, (
            message
        )
        # Only the component itself: the sweep fails its check before it is made, and every
        # Kubernetes object depends on the sweep.
        assert [r.typ for r in run.registrations] == ["wandb-sweeps:index:WandbSweep"]
    for secret in NEVER_QUOTED:
        assert secret not in message


OPT_OUT_CASES = [
    "hostPath volume",
    "nfs volume after a PVC",
    "image volume (Restricted allows it only from Kubernetes 1.33)",
    "system priority class",
    "system-cluster-critical priority class",
    "toleration of every taint",
    "toleration of every NoSchedule taint",
    "runAsNonRoot false",
    "AppArmor turned off by an annotation",
]
"""The rows that allowPrivilegedPods lets through, and only they."""


@pytest.mark.parametrize("case", OPT_OUT_CASES)
def test_allow_privileged_pods_lets_each_refused_pod_setting_through(case: str) -> None:
    [overrides] = [c[1] for c in CASES if c[0] == case]
    assert isinstance(overrides, dict)
    config = cli_config("dev", **{"wandbApiKey": API_KEY, **overrides, "allowPrivilegedPods": "true"})
    run = run_program("dev", config, secret_keys=SECRET)
    [job] = run.by_type("kubernetes:batch/v1:Job")
    assert job.inputs["spec"]["template"]["spec"]["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


@pytest.mark.parametrize(
    "case", ["pods 2000", "sweepConfig an absolute path out of the project", "toleration field misspelled"]
)
def test_allow_privileged_pods_lifts_nothing_but_the_pod_security_rules(case: str) -> None:
    [(overrides, fragments)] = [(c[1], c[3]) for c in CASES if c[0] == case]
    config = cli_config("dev", **{"wandbApiKey": API_KEY, **overrides, "allowPrivilegedPods": "true"})
    with pytest.raises(ConfigError) as raised:
        run_program("dev", config, secret_keys=SECRET)
    assert fragments[0] in str(raised.value)


def _flatten_mapping_pyyaml_6_0_3(self: Any, node: Any) -> None:
    """PyYAML 6.0.3's `SafeConstructor.flatten_mapping` (MIT), which PyYAML>=6.0 allows:
    every merged entry is copied, so nested merges cost ten times more per level. 6.0.4
    drops repeated keys while it merges; the bound must not depend on which one runs."""
    from yaml.constructor import ConstructorError
    from yaml.nodes import MappingNode, SequenceNode

    merge: list[Any] = []
    index = 0
    while index < len(node.value):
        key_node, value_node = node.value[index]
        if key_node.tag == "tag:yaml.org,2002:merge":
            del node.value[index]
            if isinstance(value_node, MappingNode):
                self.flatten_mapping(value_node)
                merge.extend(value_node.value)
            elif isinstance(value_node, SequenceNode):
                submerge = []
                for subnode in value_node.value:
                    if not isinstance(subnode, MappingNode):
                        raise ConstructorError("while constructing a mapping", node.start_mark)
                    self.flatten_mapping(subnode)
                    submerge.append(subnode.value)
                submerge.reverse()
                for value in submerge:
                    merge.extend(value)
            else:
                raise ConstructorError("while constructing a mapping", node.start_mark)
        elif key_node.tag == "tag:yaml.org,2002:value":
            key_node.tag = "tag:yaml.org,2002:str"
            index += 1
        else:
            index += 1
    if merge:
        node.value = merge + node.value


BOMBS = {"laughs": laughs(7), "merges": merge_bomb(5), "under-the-old-limit": under_old_limit()}
"""Sweep files of a few hundred bytes that expand to 10**8, 10**6 and 61,110 values.
Before the bound (values counted on the constructed data, after PyYAML had built it,
up to 100,000 of them), with PyYAML 6.0.3's merges: 4 s (merges, level 5; level 6 took
40 s and 171 MB), and W&B's schema check of the 61,110 values 2 s (under tracemalloc)."""


@pytest.mark.parametrize("side", ["program", "provider"])
@pytest.mark.parametrize("bomb", list(BOMBS))
def test_an_alias_bomb_is_refused_within_a_second_and_100_mb(
    project_tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bomb: str, side: str
) -> None:
    """Program side: the stack config's sweepConfig (`load_stack_config`, as `pulumi up`
    runs it); provider side: `schema_problem`, which the sweep provider's check runs on
    the text it is given."""
    import tracemalloc
    from time import perf_counter

    import yaml

    from wandb_sweeps.config.from_stack import load_stack_config
    from wandb_sweeps.wandb.schema import schema_problem

    monkeypatch.setattr(yaml.constructor.SafeConstructor, "flatten_mapping", _flatten_mapping_pyyaml_6_0_3)
    text = BOMBS[bomb]
    (project_tmp_path / "bomb.yaml").write_text(text)
    values = {
        f"wandb-sweeps:{k}": v
        for k, v in cli_config("dev", wandbApiKey=API_KEY, sweepConfig="bomb.yaml").items()
    }
    tracemalloc.start()
    start = perf_counter()
    try:
        if side == "program":
            try:
                load_stack_config(
                    values,
                    secret_keys={"wandb-sweeps:wandbApiKey"},
                    environ={},
                    stack="dev",
                    project_root=project_tmp_path,
                )
                message = "accepted"
            except ConfigError as error:
                message = str(error)
        else:
            message = str(schema_problem(text, "'bomb.yaml'"))
    finally:
        elapsed = perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert peak < 100 * 2**20, f"{peak / 2**20:.0f} MB"
    assert "'bomb.yaml'" in message, message
    assert "cannot be sent to W&B: has more than 10000 keys and values" in message, message


def test_a_sweep_file_that_shares_settings_through_aliases_is_accepted(project_tmp_path: Path) -> None:
    """The bound counts what aliases expand to; ordinary use of anchors stays fine."""
    from wandb_sweeps.config.from_stack import load_stack_config

    (project_tmp_path / "shared.yaml").write_text(
        "program: train.py\nmethod: random\n"
        "parameters:\n  lr: &range {min: 0.0001, max: 0.1}\n  wd: *range\n"
        "  opt: {parameters: {beta: {<<: *range, distribution: uniform}}}\n"
    )
    values = {
        f"wandb-sweeps:{k}": v
        for k, v in cli_config("dev", wandbApiKey=API_KEY, sweepConfig="shared.yaml").items()
    }
    settings = load_stack_config(
        values,
        secret_keys={"wandb-sweeps:wandbApiKey"},
        environ={},
        stack="dev",
        project_root=project_tmp_path,
    )
    assert "wd: *range" in (settings.sweep.config_yaml or "")


CAPS = {
    "pods": (1000, 1001),
    "agentsPerPod": (64, 65),
    "gpusPerPod": (16, 17),
    "runsPerAgent": (100_000, 100_001),
    "agentStartsPerSecond": (1000, 1001),
    "retriesPerPod": (100, 101),
    "terminationGracePeriodSeconds": (86_400, 86_401),
    "activeDeadlineSeconds": (31_536_000, 31_536_001),
    "ttlSecondsAfterFinished": (31_536_000, 31_536_001),
    "wandbRequestTimeoutSeconds": (600, 601),
    "wandbCallTimeoutSeconds": (3600, 3601),
    "gpusPerRun": (16, 17),
    "cpu": ("4096", "4097"),
    "cpuRequest": ("4096", "4097"),
    "memory": ("64Ti", "65Ti"),
    "memoryRequest": ("64Ti", "65Ti"),
    "shmSize": ("64Ti", "64.5Ti"),
    "supplementalGroups": (list(range(1000, 1032)), list(range(1000, 1033))),
}
"""Every bounded key: its maximum (accepted) and the next value (refused); for a list,
lists of that many items and one more."""


def test_every_bounded_key_is_in_the_caps_table() -> None:
    from wandb_sweeps.config.keys import CONFIG_KEYS

    assert {k.name: k.maximum for k in CONFIG_KEYS if k.maximum is not None} == {
        name: len(at) if isinstance(at, list) else at for name, (at, _) in CAPS.items()
    }


@pytest.mark.parametrize("key", list(CAPS))
def test_every_cap_holds_for_the_component_args_too(project_tmp_path: Path, key: str) -> None:
    """The same bound, with the same message, when a program passes the value as an arg."""
    from wandb_sweeps.config.from_args import validate_args
    from wandb_sweeps.config.from_stack import snake
    from wandb_sweeps.config.keys import KEYS_BY_NAME

    at, over = CAPS[key]
    base: dict[str, Any] = {
        "project": "p",
        "image": "ghcr.io/acme/trainer:1",
        "sweep_id": "abcd1234",
        "wandb_api_key": API_KEY,
        "agents_per_pod": 1,
    }
    if key == "wandbRequestTimeoutSeconds":
        base["wandb_call_timeout_seconds"] = 3600  # at least the request timeout
    if key == "gpusPerRun":
        base["gpus_per_pod"] = 16  # a run's GPUs come from its pod
    validate_args("sweep", {**base, snake(key): at}, stack="dev", environ={}, cwd=project_tmp_path)
    with pytest.raises(ConfigError) as raised:
        validate_args("sweep", {**base, snake(key): over}, stack="dev", environ={}, cwd=project_tmp_path)
    shown = repr(over) if isinstance(over, str) else str(len(over) if isinstance(over, list) else over)
    assert raised.value.problems == (f"{key}: at most {KEYS_BY_NAME[key].bound}, got {shown}.",)


GPUS_PER_RUN_ROWS = [
    "gpusPerRun above gpusPerPod",
    "gpusPerPod not a multiple of gpusPerRun",
    "gpusPerRun without GPUs",
    "gpusPerRun with agentPerGpu",
    "gpusPerRun against agentsPerPod",
    "gpusPerRun negative",
    "cpuRequest above cpu",
    "memoryRequest above memory",
]
"""Rows whose combination the component's args must refuse the same way."""


@pytest.mark.parametrize("case", GPUS_PER_RUN_ROWS)
def test_gpu_and_request_rules_hold_for_the_component_args_too(project_tmp_path: Path, case: str) -> None:
    """A program passing `gpus_per_run=2, agent_per_gpu=True` gets the stack's message: one
    validation path. The args start from the dev stack's values, as its rows do."""
    from wandb_sweeps.config.from_args import validate_args
    from wandb_sweeps.config.from_stack import snake

    overrides, _, fragments = next(c[1:] for c in CASES if c[0] == case)
    dev = {"agentsPerPod": 2, "gpusPerPod": 1, "cpu": "4", "memory": "16Gi"}
    typed = {
        k: (v == "true" if v in ("true", "false") else int(v) if v.lstrip("-").isdigit() else v)
        for k, v in overrides.items()
    }
    args = {
        "project": "p",
        "image": "ghcr.io/acme/trainer:1",
        "sweep_id": "abcd1234",
        "wandb_api_key": API_KEY,
    }
    args.update({snake(k): v for k, v in {**dev, **typed}.items()})
    with pytest.raises(ConfigError) as raised:
        validate_args("sweep", args, stack="dev", environ={}, cwd=project_tmp_path)
    assert len(raised.value.problems) == 1, raised.value.problems
    for fragment in fragments:
        assert fragment in raised.value.problems[0]


@pytest.mark.parametrize(
    ("unknown", "named"),
    [
        ("colour", []),
        ("gpu_per_pod", ["gpusPerPod"]),
        ("gpus_per", ["gpusPerPod", "gpusPerRun"]),
        ("image_pull", ["imagePullPolicy", "imagePullSecrets", "image"]),
        ("wandbTimeout", ["wandbCallTimeoutSeconds", "wandbRequestTimeoutSeconds", "wandbApiKey"]),
    ],
)
def test_an_unknown_key_names_at_most_three_likely_keys(unknown: str, named: list[str]) -> None:
    """Not the whole list of keys: the close ones, best first, or none."""
    from wandb_sweeps.config.keys import CONFIG_KEYS

    config = cli_config("dev", **{"wandbApiKey": API_KEY, unknown: "1"})
    with pytest.raises(ConfigError) as raised:
        run_program("dev", config, secret_keys=SECRET, run=ProgramRun())
    (message,) = raised.value.problems
    quoted = [key.name for key in CONFIG_KEYS if f"'{key.name}'" in message]
    assert sorted(quoted) == sorted(named), message
    assert [message.index(f"'{name}'") for name in named] == sorted(message.index(f"'{n}'") for n in named)
    assert len(message) < 250, message


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
    assert sorted(p.split(":")[0] for p in raised.value.problems) == ["memory", "onDestroy", "pods"]
    assert str(raised.value).startswith("Invalid configuration (3 problems):\n  - ")


def test_config_error_prints_without_a_traceback() -> None:
    """The CLI prints a pulumi.RunError's message alone; other exceptions get a traceback."""
    import pulumi

    assert issubclass(ConfigError, pulumi.RunError)


# --- The sweep provider on odd state and inputs (shapes found by test_property_based.py).
# check and diff never raise: check reports a CheckFailure naming the input (and asks
# W&B nothing), diff counts what it cannot compare as changed, which replaces the sweep.

SWEEP_YAML = "program: train.py\nmethod: random\nparameters: {lr: {values: [0.1, 0.01]}}\n"
NEWS = {
    "project": "proj",
    "entity": "",
    "base_url": "",
    "default_base_url": "https://api.wandb.ai",
    "config_yaml": SWEEP_YAML,
    "existing_sweep_id": "",
    "creation_key": "wandb-sweeps/dev/sweep-sweep",
    "api_key": API_KEY,
    "request_timeout": 20,
    "call_timeout": 30,
}
ATTACH = {**NEWS, "config_yaml": "", "existing_sweep_id": "abcd1234"}
OUTS = {
    **NEWS,
    "sweep_id": "abcd1234",
    "sweep_entity": "team",
    "sweep_project": "proj",
    "sweep_base_url": "https://api.wandb.ai",
    "sweep_path": "team/proj/abcd1234",
    "sweep_url": "https://wandb.ai/team/proj/sweeps/abcd1234",
    "sweep_state": "PENDING",
}
LIFECYCLE = {
    "sweep_path": "team/proj/abcd1234",
    "base_url": "https://api.wandb.ai",
    "api_key": API_KEY,
    "on_destroy": "finish",
    "attached": False,
    "request_timeout": 20,
    "call_timeout": 30,
}

# (case id, olds, news, [(property, fragment of the reason)])
CHECK_CASES = [
    ("inputs not a mapping", {}, None, [("", "the sweep's inputs must be a mapping, got null")]),
    (
        "sweepId not a sweep id",
        {},
        {**ATTACH, "existing_sweep_id": "BAD ID"},
        [("existing_sweep_id", "sweepId: must be a W&B sweep id (lowercase letters and digits")],
    ),
    (
        "project missing",
        {},
        {k: v for k, v in ATTACH.items() if k != "project"},
        [("project", "project: must be a W&B project name, got None")],
    ),
    (
        "timeout not a number",
        {},
        {**ATTACH, "request_timeout": "False"},
        [("request_timeout", "request_timeout: must be a number of seconds > 0, got 'False'")],
    ),
    (
        "timeout too large for a float",
        {},
        {**ATTACH, "call_timeout": 10**400},
        [("call_timeout", "call_timeout: must be a number of seconds > 0, got a number of about 401 digits")],
    ),
    (
        "timeout a list",
        {},
        {**ATTACH, "request_timeout": [20]},
        [("request_timeout", "request_timeout: must be a number of seconds > 0, got [20]")],
    ),
    (
        "base_url a list",
        {},
        {**ATTACH, "base_url": ["https://api.wandb.ai"]},
        [
            (
                "base_url",
                "base_url: must be an http(s) URL of a W&B server such as 'https://api.wandb.ai', got a list",
            )
        ],
    ),
    (
        "base_url with an unclosed IPv6 bracket",
        {},
        {**ATTACH, "base_url": "http://[::1"},
        [("base_url", "got 'http://[::1' (Invalid IPv6 URL)")],
    ),
]


@pytest.fixture
def no_wandb(monkeypatch: pytest.MonkeyPatch) -> None:
    from wandb_sweeps.wandb import operations

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the provider called W&B")

    for name in ("default_entity", "sweep_state"):
        monkeypatch.setattr(operations, name, refuse)


@pytest.mark.parametrize(
    ("olds", "news", "expected"), [c[1:] for c in CHECK_CASES], ids=[c[0] for c in CHECK_CASES]
)
def test_sweep_check_reports_odd_inputs_without_asking_wandb(
    no_wandb: None, olds: object, news: object, expected: list[tuple[str, str]]
) -> None:
    from wandb_sweeps.sweep_provider import SweepProvider

    result = SweepProvider().check(olds, news)  # type: ignore[arg-type]
    assert isinstance(result.inputs, dict)
    failures = [(f.property, f.reason) for f in result.failures]
    assert len(failures) == len(expected), failures
    for (prop, reason), (want_prop, fragment) in zip(failures, expected, strict=True):
        assert prop == want_prop and fragment in reason, (prop, reason)
        assert API_KEY not in reason


# (case id, olds (the state), news, the inputs that must be replaced)
DIFF_CASES = [
    ("the same sweep", OUTS, NEWS, []),
    ("state not a mapping", None, NEWS, ["project", "config_yaml"]),
    ("inputs not a mapping", OUTS, None, ["project", "config_yaml"]),
    ("base_url a number", OUTS, {**NEWS, "base_url": 1}, ["base_url"]),
    ("base_url with an unclosed IPv6 bracket", OUTS, {**NEWS, "base_url": "http://[::1"}, ["base_url"]),
    (
        "pinned server not text",
        {**OUTS, "sweep_base_url": ["x"]},
        {**NEWS, "base_url": "https://api.wandb.ai"},
        ["base_url"],
    ),
    ("stored config unparsable", {**OUTS, "config_yaml": "method: ["}, NEWS, ["config_yaml"]),
    ("stored config not text", {**OUTS, "config_yaml": 5}, NEWS, ["config_yaml"]),
    (
        "stored config missing (an earlier version's state)",
        {k: v for k, v in OUTS.items() if k != "config_yaml"},
        NEWS,
        ["config_yaml"],
    ),
]


@pytest.mark.parametrize(
    ("olds", "news", "replaces"), [c[1:] for c in DIFF_CASES], ids=[c[0] for c in DIFF_CASES]
)
def test_sweep_diff_counts_what_it_cannot_compare_as_changed(
    olds: object, news: object, replaces: list[str]
) -> None:
    from wandb_sweeps.sweep_provider import SweepProvider

    result = SweepProvider().diff("team/proj/abcd1234", olds, news)  # type: ignore[arg-type]
    assert list(result.replaces) == replaces
    assert result.changes is bool(replaces)


@pytest.mark.parametrize(
    ("olds", "news"),
    [(LIFECYCLE, None), (None, LIFECYCLE), ([LIFECYCLE], LIFECYCLE)],
    ids=["inputs not a mapping", "state not a mapping", "state a list"],
)
def test_lifecycle_diff_replaces_what_it_cannot_compare(olds: object, news: object) -> None:
    from wandb_sweeps.sweep_provider import SweepLifecycleProvider

    result = SweepLifecycleProvider().diff("team/proj/abcd1234", olds, news)  # type: ignore[arg-type]
    assert list(result.replaces) == ["sweep_path"] and result.changes is True

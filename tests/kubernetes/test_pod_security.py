"""The agent pods meet the Restricted Pod Security Standard, field by field, in every variant.

The standard is kubernetes/website `content/en/docs/concepts/security/pod-security-standards.md`;
what the API server enforces is its reference implementation, kubernetes/pod-security-admission
(read at 8f84a87c7f61, 2026-07-01), one check per file in `policy/`. Each rule below is one of
those checks, with its ID and file, written against the pod as the program renders it (the
Job's pod template in the wire form pulumi-kubernetes sends). The checks a later one
overrides (capabilities_baseline, hostPathVolumes, seccompProfile_baseline) are covered by
the stricter one. Not applicable: seccompProfile_baseline's annotations (Kubernetes < 1.19),
the user-namespace relaxations of 1.35 (`hostUsers: false`, which the pods never set, so
the stricter rule is checked) and the Windows exemptions (`spec.os`, never set).

Two more rules are wandb-sweeps' own (no Pod Security Standard has them): no toleration
of every taint, no system-* PriorityClass; and the API token is never mounted.

Rendered variants: both example stacks; every config variant of test_platform_rules and
test_manifests; every pod option of test_pod_options; the library programs of
test_library and examples/shared-cluster. A variant that sets allowPrivilegedPods must
break exactly the rules it opted out of, and its Namespace enforces nothing.
"""

from __future__ import annotations

import copy
import runpy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import test_library
import test_manifests
import test_platform_rules
import test_pod_options
from engine_model import JOB_TYPE, Deployment, deploy
from pulumi_harness import ROOT, cli_config

API_KEY = "local-" + "k" * 40
PSA = "kubernetes/pod-security-admission policy/"
Pod = tuple[Mapping[str, Any], Mapping[str, Any]]
"""(metadata, spec) of one pod template."""


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every container PSA visits (`visitContainers` in policy/visitor.go)."""
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(kind) or []


def _security(holder: Mapping[str, Any]) -> Mapping[str, Any]:
    return holder.get("securityContext") or {}


# --- the rules ------------------------------------------------------------------------


def host_namespaces(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    return [f"spec.{field}" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]


def privileged(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    return [c["name"] for c in _containers(spec) if _security(c).get("privileged")]


def host_ports(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    return [c["name"] for c in _containers(spec) for port in c.get("ports") or [] if port.get("hostPort")]


def app_armor(metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    bad = [
        key
        for key, value in (metadata.get("annotations") or {}).items()
        if key.startswith("container.apparmor.security.beta.kubernetes.io/")
        and not (value in ("", "runtime/default") or value.startswith("localhost/"))
    ]
    holders = [("pod", spec), *((c["name"], c) for c in _containers(spec))]
    return bad + [
        name
        for name, holder in holders
        if _security(holder).get("appArmorProfile", {}).get("type")
        not in (None, "RuntimeDefault", "Localhost")
    ]


SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
"""`selinuxAllowedTypes1_31` (the 1.0 list plus container_engine_t, which 1.31 added)."""


def se_linux(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    holders = [("pod", spec), *((c["name"], c) for c in _containers(spec))]
    bad = []
    for name, holder in holders:
        options = _security(holder).get("seLinuxOptions")
        if options is not None and (
            options.get("type", "") not in SELINUX_TYPES or options.get("user") or options.get("role")
        ):
            bad.append(name)
    return bad


def proc_mount(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    return [c["name"] for c in _containers(spec) if _security(c).get("procMount", "Default") != "Default"]


SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
"""`sysctlsAllowedV1Dot29`, the list in force on 1.31 (later versions only add names)."""


def sysctls(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    return [s["name"] for s in _security(spec).get("sysctls") or [] if s["name"] not in SAFE_SYSCTLS]


def windows_host_process(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    holders = [("pod", spec), *((c["name"], c) for c in _containers(spec))]
    return [n for n, h in holders if _security(h).get("windowsOptions", {}).get("hostProcess")]


def host_probes(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    bad = []
    for container in _containers(spec):
        handlers = [container.get(p) or {} for p in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += [(container.get("lifecycle") or {}).get(h) or {} for h in ("postStart", "preStop")]
        for handler in handlers:
            if any((handler.get(kind) or {}).get("host") for kind in ("httpGet", "tcpSocket")):
                bad.append(container["name"])
    return bad


RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
"""`restrictedVolumes_1_0`; it also allows `image` since pod-security-admission ca569ec
(Kubernetes 1.33), which a 1.31 API server refuses, so it is not here."""


def restricted_volumes(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    return [v["name"] for v in spec.get("volumes") or [] if not set(v) - {"name"} <= RESTRICTED_VOLUMES]


def allow_privilege_escalation(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    return [c["name"] for c in _containers(spec) if _security(c).get("allowPrivilegeEscalation") is not False]


def run_as_non_root(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    pod = _security(spec).get("runAsNonRoot")
    bad = ["pod"] if pod is False else []
    for container in _containers(spec):
        own = _security(container).get("runAsNonRoot")
        if own is False or (own is None and pod is not True):
            bad.append(container["name"])
    return bad


def run_as_user(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    holders = [("pod", spec), *((c["name"], c) for c in _containers(spec))]
    return [n for n, h in holders if _security(h).get("runAsUser") == 0]


def seccomp(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    allowed = ("RuntimeDefault", "Localhost")
    pod = _security(spec).get("seccompProfile", {}).get("type")
    bad = ["pod"] if pod is not None and pod not in allowed else []
    for container in _containers(spec):
        own = _security(container).get("seccompProfile", {}).get("type")
        if (own is not None and own not in allowed) or (own is None and pod not in allowed):
            bad.append(container["name"])
    return bad


def capabilities(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    bad = []
    for container in _containers(spec):
        caps = _security(container).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []) or set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            bad.append(container["name"])
    return bad


def tolerate_everything(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    return [
        f"tolerations[{i}]"
        for i, t in enumerate(spec.get("tolerations") or [])
        if t.get("operator") == "Exists" and not t.get("key")
    ]


def system_priority(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    name = spec.get("priorityClassName") or ""
    return [name] if name.startswith("system-") else []


def mounts_api_token(_: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    return [] if spec.get("automountServiceAccountToken") is False else ["automountServiceAccountToken"]


@dataclass(frozen=True)
class Rule:
    check: str
    """The check's ID in pod-security-admission, or wandb-sweeps' own name for it."""
    level: str
    source: str
    violations: Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]


RULES = [
    # Baseline (Restricted includes it)
    Rule("hostNamespaces", "Baseline", PSA + "check_hostNamespaces.go", host_namespaces),
    Rule("privileged", "Baseline", PSA + "check_privileged.go", privileged),
    Rule("hostPorts", "Baseline", PSA + "check_hostPorts.go", host_ports),
    Rule("appArmorProfile", "Baseline", PSA + "check_appArmorProfile.go", app_armor),
    Rule("seLinuxOptions", "Baseline", PSA + "check_seLinuxOptions.go", se_linux),
    Rule(
        "procMount",
        "Baseline",
        PSA + "check_procMount_baseline.go (and procMount_restricted, 1.35)",
        proc_mount,
    ),
    Rule("sysctls", "Baseline", PSA + "check_sysctls.go", sysctls),
    Rule("windowsHostProcess", "Baseline", PSA + "check_windowsHostProcess.go", windows_host_process),
    Rule("hostProbesAndHostLifecycle", "Baseline", PSA + "check_hostProbesAndhostLifecycle.go", host_probes),
    # Restricted
    Rule(
        "restrictedVolumes",
        "Restricted",
        PSA + "check_restrictedVolumes.go (overrides hostPathVolumes)",
        restricted_volumes,
    ),
    Rule(
        "allowPrivilegeEscalation",
        "Restricted",
        PSA + "check_allowPrivilegeEscalation.go",
        allow_privilege_escalation,
    ),
    Rule("runAsNonRoot", "Restricted", PSA + "check_runAsNonRoot.go", run_as_non_root),
    Rule("runAsUser", "Restricted", PSA + "check_runAsUser.go", run_as_user),
    Rule("seccompProfile_restricted", "Restricted", PSA + "check_seccompProfile_restricted.go", seccomp),
    Rule("capabilities_restricted", "Restricted", PSA + "check_capabilities_restricted.go", capabilities),
    # wandb-sweeps' own
    Rule("tolerateEverything", "wandb-sweeps", "pod_settings._toleration_problems", tolerate_everything),
    Rule("systemPriorityClass", "wandb-sweeps", "pod_settings.SYSTEM_PRIORITY_PREFIX", system_priority),
    Rule("noApiToken", "wandb-sweeps", "agent_job.agent_pod_spec", mounts_api_token),
]
BY_CHECK = {rule.check: rule for rule in RULES}


def broken_rules(pod: Pod) -> dict[str, list[str]]:
    found = {rule.check: rule.violations(*pod) for rule in RULES}
    return {check: where for check, where in found.items() if where}


# --- the variants -------------------------------------------------------------------


def stack_variant(stack: str, overrides: Mapping[str, Any]) -> Callable[[], Deployment]:
    def render() -> Deployment:
        change = dict(overrides)
        secret = ("wandbApiKey", *change.pop("__secret__", ()))
        config = cli_config(stack, **{"wandbApiKey": API_KEY, **change})
        return deploy(stack, config, secret_keys=secret)

    return render


def library_variant(program: Callable[[], None]) -> Callable[[], Deployment]:
    return lambda: deploy("dev", {}, program=program)


EXAMPLE = ROOT / "examples" / "shared-cluster"


def shared_cluster_example(monkeypatch: pytest.MonkeyPatch) -> Deployment:
    """examples/shared-cluster/__main__.py as `pulumi up` runs it: from its own folder."""
    monkeypatch.chdir(EXAMPLE)
    config = {"image": "ghcr.io/example/wandb-sweeps-trainer:0.1.0", "wandbApiKey": API_KEY}
    return deploy(
        "dev",
        config,
        secret_keys=("wandbApiKey",),
        program=lambda: runpy.run_path(str(EXAMPLE / "__main__.py"), run_name="__main__"),
    )


VARIANTS: dict[str, Callable[[], Deployment]] = {
    **{f"stack-{stack}": stack_variant(stack, {}) for stack in ("dev", "live")},
    **{
        f"platform-{stack}-{name}": stack_variant(stack, change)
        for stack in ("dev", "live")
        for name, change in test_platform_rules.CHANGES.items()
    },
    **{f"manifests-{name}": stack_variant(*variant) for name, variant in test_manifests.VARIANTS.items()},
    **{f"pod-options-{name}": stack_variant(*variant) for name, variant in test_pod_options.VARIANTS.items()},
    **{
        f"library-{name}": library_variant(program) for name, program in test_library.LIBRARY_PROGRAMS.items()
    },
}
OPTED_OUT = {"pod-options-root-opted-out": {"runAsNonRoot"}}
"""Variants with allowPrivilegedPods, and the rules each breaks on purpose."""


def pods(deployment: Deployment) -> dict[str, Pod]:
    found = {}
    for job in deployment.by_type(JOB_TYPE):
        template = job.inputs["spec"]["template"]
        found[job.name] = (template.get("metadata") or {}, template["spec"])
    return found


def namespaces(deployment: Deployment) -> dict[str, Mapping[str, str]]:
    """The Namespaces a WandbSweep created (`<name>-namespace`), not a program's own."""
    return {
        r.name: r.inputs["metadata"].get("labels") or {}
        for r in deployment.by_type("kubernetes:core/v1:Namespace")
        if r.name.endswith("-namespace")
    }


RESTRICTED_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/audit-version": "latest",
}


def _pod_security_labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k.startswith("pod-security.kubernetes.io/")}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_rendered_pod_meets_restricted(variant: str) -> None:
    deployment = VARIANTS[variant]()
    rendered = pods(deployment)
    assert bool(rendered) is not variant.endswith("-no-pods"), f"{variant}: {len(rendered)} agent pods"
    expected = OPTED_OUT.get(variant, set())
    for job, pod in rendered.items():
        broken = broken_rules(pod)
        assert set(broken) == expected, {
            check: (BY_CHECK[check].source, where) for check, where in broken.items() if check not in expected
        } or f"{job}: expected {expected} broken"
    for name, labels in namespaces(deployment).items():
        enforced = "privileged" if expected else "restricted"
        assert _pod_security_labels(labels) == {
            **RESTRICTED_LABELS,
            "pod-security.kubernetes.io/enforce": enforced,
        }, (name, labels)


def test_the_shared_cluster_example_meets_restricted(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = pods(shared_cluster_example(monkeypatch))
    assert len(rendered) == 4
    for job, pod in rendered.items():
        assert broken_rules(pod) == {}, job


@pytest.mark.parametrize("stack", ["dev", "live"])
def test_a_namespace_the_stack_creates_enforces_warns_and_audits_restricted(stack: str) -> None:
    deployment = stack_variant(stack, {})()
    [namespace] = deployment.by_type("kubernetes:core/v1:Namespace")
    assert _pod_security_labels(namespace.inputs["metadata"]["labels"]) == RESTRICTED_LABELS


def test_with_allow_privileged_pods_the_namespace_enforces_nothing_and_still_warns() -> None:
    """The opt-out must work on a Namespace the stack creates (else PSA refuses the pods it
    allows); warn and audit stay restricted, so every such pod is still reported."""
    deployment = stack_variant(
        "live",
        {
            "allowPrivilegedPods": "true",
            "volumes": [{"name": "host", "hostPath": {"path": "/var/lib/nvidia"}}],
            "volumeMounts": [{"name": "host", "mountPath": "/host"}],
            "tolerations": [{"operator": "Exists"}],
            "priorityClassName": "system-node-critical",
            "annotations": {"container.apparmor.security.beta.kubernetes.io/agent": "unconfined"},
        },
    )()
    [namespace] = deployment.by_type("kubernetes:core/v1:Namespace")
    assert _pod_security_labels(namespace.inputs["metadata"]["labels"]) == {
        **RESTRICTED_LABELS,
        "pod-security.kubernetes.io/enforce": "privileged",
    }
    [pod] = list(pods(deployment).values())[:1]
    # The opt-out allows these; everything it does not touch stays as it was: runAsNonRoot
    # is still true by default, seccomp, capabilities and privilege escalation unchanged.
    assert set(broken_rules(pod)) == {
        "restrictedVolumes",
        "tolerateEverything",
        "systemPriorityClass",
        "appArmorProfile",
    }


def test_an_existing_namespace_is_left_as_the_platform_team_labelled_it() -> None:
    deployment = library_variant(test_library.existing_namespace)()
    assert deployment.by_type("kubernetes:core/v1:Namespace") == []


# --- each rule can fail: a rendered pod, broken one field at a time -------------------


def _mutate(pod: Pod, change: Callable[[dict[str, Any], dict[str, Any]], None]) -> Pod:
    metadata, spec = copy.deepcopy(dict(pod[0])), copy.deepcopy(dict(pod[1]))
    change(metadata, spec)
    return metadata, spec


def _container(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["containers"][0]


BREAKS: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "hostNamespaces": lambda m, s: s.update(hostPID=True),
    "privileged": lambda m, s: _container(s)["securityContext"].update(privileged=True),
    "hostPorts": lambda m, s: _container(s).update(ports=[{"containerPort": 80, "hostPort": 80}]),
    "appArmorProfile": lambda m, s: m.setdefault("annotations", {}).update(
        {"container.apparmor.security.beta.kubernetes.io/agent": "unconfined"}
    ),
    "seLinuxOptions": lambda m, s: s["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
    "procMount": lambda m, s: _container(s)["securityContext"].update(procMount="Unmasked"),
    "sysctls": lambda m, s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
    "windowsHostProcess": lambda m, s: s["securityContext"].update(windowsOptions={"hostProcess": True}),
    "hostProbesAndHostLifecycle": lambda m, s: _container(s).update(
        livenessProbe={"httpGet": {"host": "10.0.0.1", "port": 80}}
    ),
    "restrictedVolumes": lambda m, s: s.setdefault("volumes", []).append(
        {"name": "h", "hostPath": {"path": "/"}}
    ),
    "allowPrivilegeEscalation": lambda m, s: _container(s)["securityContext"].pop("allowPrivilegeEscalation"),
    "runAsNonRoot": lambda m, s: s["securityContext"].pop("runAsNonRoot"),
    "runAsUser": lambda m, s: s["securityContext"].update(runAsUser=0),
    "seccompProfile_restricted": lambda m, s: s["securityContext"].pop("seccompProfile"),
    "capabilities_restricted": lambda m, s: _container(s)["securityContext"]["capabilities"].update(
        add=["SYS_ADMIN"]
    ),
    "tolerateEverything": lambda m, s: s.setdefault("tolerations", []).append({"operator": "Exists"}),
    "systemPriorityClass": lambda m, s: s.update(priorityClassName="system-cluster-critical"),
    "noApiToken": lambda m, s: s.pop("automountServiceAccountToken"),
}


def test_every_rule_has_a_break() -> None:
    assert set(BREAKS) == set(BY_CHECK)


@pytest.mark.parametrize("check", list(BREAKS))
def test_each_rule_catches_its_own_break_and_only_that(check: str) -> None:
    """Guards the guard: each rule fails on a pod with its one field broken, so a passing
    variant means the field is right, not that the rule cannot fail."""
    [pod] = list(pods(stack_variant("dev", {})()).values())
    assert broken_rules(pod) == {}
    assert set(broken_rules(_mutate(pod, BREAKS[check]))) == {check}


def test_the_rules_cover_the_restricted_and_baseline_checks_of_pod_security_admission() -> None:
    """Every check ID the reference implementation registers, less the ones a stricter
    check here overrides or that cannot apply (see the module docstring)."""
    overridden = {
        "capabilities_baseline",
        "hostPathVolumes",
        "seccompProfile_baseline",
        "procMount_restricted",
    }
    registered = {
        "allowPrivilegeEscalation",
        "appArmorProfile",
        "capabilities_baseline",
        "capabilities_restricted",
        "hostNamespaces",
        "hostPathVolumes",
        "hostPorts",
        "hostProbesAndHostLifecycle",
        "privileged",
        "procMount",
        "procMount_restricted",
        "restrictedVolumes",
        "runAsNonRoot",
        "runAsUser",
        "seLinuxOptions",
        "seccompProfile_baseline",
        "seccompProfile_restricted",
        "sysctls",
        "windowsHostProcess",
    }
    """The `ID:` of every `Check` in pod-security-admission policy/check_*.go at 8f84a87c7f61."""
    psa_rules = {rule.check for rule in RULES if rule.level != "wandb-sweeps"}
    assert psa_rules == registered - overridden


def test_the_restricted_volume_list_is_the_one_the_program_enforces() -> None:
    from wandb_sweeps.kubernetes.pod_security import RESTRICTED_VOLUME_SOURCES

    assert set(RESTRICTED_VOLUME_SOURCES) == RESTRICTED_VOLUMES


def test_the_readme_builds_the_example_image_as_a_numeric_non_root_user() -> None:
    """runAsNonRoot: the kubelet can verify only a numeric USER (a name would need the
    image's /etc/passwd, which it does not read): CreateContainerConfigError otherwise."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users and users[-1].isdigit() and int(users[-1]) != 0, users
    assert Path(ROOT / "README.md").read_text().count("USER 1000") >= 1

"""The agent pods meet the Restricted Pod Security Standard, field by field, in every variant.

The standard is kubernetes/website `content/en/docs/concepts/security/pod-security-standards.md`;
what the API server enforces is its reference implementation, kubernetes/pod-security-admission
(read at 8f84a87c7f61, 2026-07-01), one check per file in `policy/`. Each rule (in
harness/pod_rules.py) is one of those checks, with its ID and file, written against the
pod as the program renders it (the Job's pod template in the wire form pulumi-kubernetes
sends). The checks a later one
overrides (capabilities_baseline, hostPathVolumes, seccompProfile_baseline) are covered by
the stricter one. Not applicable: seccompProfile_baseline's annotations (Kubernetes < 1.19),
the user-namespace relaxations of 1.35 (`hostUsers: false`, which the pods never set, so
the stricter rule is checked) and the Windows exemptions (`spec.os`, never set).

Two more rules are wandb-sweeps' own (no Pod Security Standard has them): no toleration
of every taint, no system-* PriorityClass; and the API token is never mounted.

Rendered variants: both example stacks; every config variant of test_platform_rules and
test_manifests; every pod option of test_pod_options; the library programs of
test_library and examples/shared-cluster (all but the last from the harness: stacks,
manifest_variants, pod_option_variants, library_programs). A variant that sets
allowPrivilegedPods must break exactly the rules it opted out of, and its Namespace
enforces nothing.
"""

from __future__ import annotations

import copy
import runpy
from collections.abc import Callable, Mapping
from typing import Any

import library_programs
import manifest_variants
import pod_option_variants
import pytest
import stacks
from docs_pages import page
from engine_model import Deployment, deploy
from pod_rules import BY_CHECK, RESTRICTED_VOLUMES, RULES, Pod, broken_rules, pods
from pulumi_harness import ROOT, cli_config

API_KEY = "local-" + "k" * 40


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
        for name, change in stacks.CHANGES.items()
    },
    **{f"manifests-{name}": stack_variant(*variant) for name, variant in manifest_variants.VARIANTS.items()},
    **{
        f"pod-options-{name}": stack_variant(*variant)
        for name, variant in pod_option_variants.VARIANTS.items()
    },
    **{
        f"library-{name}": library_variant(program)
        for name, program in library_programs.LIBRARY_PROGRAMS.items()
    },
}
OPTED_OUT = {"pod-options-root-opted-out": {"runAsNonRoot"}}
"""Variants with allowPrivilegedPods, and the rules each breaks on purpose."""


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
    deployment = library_variant(library_programs.existing_namespace)()
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


def test_the_docs_build_the_example_image_as_a_numeric_non_root_user() -> None:
    """runAsNonRoot: the kubelet can verify only a numeric USER (a name would need the
    image's /etc/passwd, which it does not read): CreateContainerConfigError otherwise.
    docs/security.md ("Build a non-root image") shows the Dockerfile's USER line."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users and users[-1].isdigit() and int(users[-1]) != 0, users
    assert page("security.md").count("USER 1000") >= 1

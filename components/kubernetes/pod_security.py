"""The Restricted Pod Security Standard, for what users write into the agent pods.

What the agent pods get from wandb-sweeps itself meets Restricted (`agent_job`:
non-root, seccomp RuntimeDefault, no capabilities, no privilege escalation, no
host namespaces, ports, probes or sysctls). What users write can take it below:
these are refused unless allowPrivilegedPods is set. The rules are those of
kubernetes/pod-security-admission, policy/ (the check named with each).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..checks import shown
from .pods import OPT_OUT_KEY, JobMetadata, PodRuntime, PodScheduling

RESTRICTED_VOLUME_SOURCES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
"""Volume sources Restricted allows (check_restrictedVolumes.go, `restrictedVolumes_1_0`).
`image` volumes are allowed there only since Kubernetes 1.33 (pod-security-admission
ca569ec, 2025-02), and the agent Jobs are built for 1.31, so they are not here."""


SYSTEM_PRIORITY_PREFIX = "system-"
"""Kubernetes reserves PriorityClass names starting with `system-` for its own
critical components (system-node-critical, system-cluster-critical): such pods
preempt every other pod and are evicted last. Not a Pod Security Standard rule."""


APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
"""Pod annotations that set a container's AppArmor profile (check_appArmorProfile.go,
Baseline): allowed values runtime/default, localhost/<profile> or empty."""


CONTROL_PLANE_ROLES = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
"""The label and NoSchedule taint kubeadm puts on control-plane nodes, current and before
1.24 (kubernetes/kubernetes cmd/kubeadm/app/constants/constants.go, LabelNodeRoleControlPlane,
LabelNodeRoleOldControlPlane, ControlPlaneTaint); managed clusters hide those nodes."""


NODE_LIFECYCLE_TAINTS = ("node.kubernetes.io/unschedulable", "node.kubernetes.io/out-of-service")
"""Taints Kubernetes puts on cordoned and shut-down nodes (k8s.io/api core/v1
well_known_taints.go, TaintNodeUnschedulable, TaintNodeOutOfService): tolerating them
puts agents on nodes an operator is draining. (not-ready and unreachable are tolerated
for 300 s by default, DefaultTolerationSeconds, and may be tuned: not here.)"""


TLS_ENV = (
    "WANDB_INSECURE_DISABLE_SSL",
    "PYTHONHTTPSVERIFY",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "GODEBUG",
)
"""Environment that turns TLS verification off or replaces the roots it trusts, so that
whoever sits on the network path reads the agents' API key: WANDB_INSECURE_DISABLE_SSL
(wandb/env.py DISABLE_SSL, read by wandb/apis/__init__.py _disable_ssl for requests and
by wandb-core core/internal/api/api.go newRoundTripper, InsecureSkipVerify); the trust
stores of requests (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE), OpenSSL and Go's crypto/x509
(SSL_CERT_FILE, SSL_CERT_DIR); PYTHONHTTPSVERIFY (PEP 493), NODE_TLS_REJECT_UNAUTHORIZED
and GODEBUG (Go's x509 and tls switches). A private CA is what `caCertificate` is for."""


_OPT_OUT = f"or set {OPT_OUT_KEY}: true (see docs/security.md, Security defaults)"


def pod_security_problems(
    scheduling: PodScheduling | None,
    runtime: PodRuntime | None,
    metadata: JobMetadata | None,
    secret_env_names: Iterable[object] = (),
) -> list[str]:
    """Why the agent pods would fall below the Restricted Pod Security Standard, or
    get powers a sweep never needs; one problem per setting, naming the key, the
    index and what is allowed. The caller skips it when allowPrivilegedPods is set.

    A part that is None failed its own checks already; it is left out here.
    """
    problems: list[str] = []
    if runtime is not None:
        problems += _volume_problems(runtime.volumes)
        problems += _tls_env_problems([entry.get("name") for entry in runtime.env], secret_env_names)
        if not runtime.run_as_non_root:
            problems.append(
                "runAsNonRoot: false lets the agents run as root, which the Restricted Pod Security "
                "Standard does not allow; build the image with a numeric non-root USER (USER 1000), "
                f"or set runAsUser to a non-zero UID, {_OPT_OUT}."
            )
    if scheduling is not None:
        problems += _toleration_problems(scheduling.tolerations)
        problems += _control_plane_selector_problems(scheduling)
        name = scheduling.priority_class_name
        if isinstance(name, str) and name.startswith(SYSTEM_PRIORITY_PREFIX):
            problems.append(
                f"priorityClassName: {shown(name)} is one of Kubernetes' own system-* classes, for the "
                "cluster's critical components: its pods preempt every other pod and are evicted last. "
                f"Use a PriorityClass of your own, {_OPT_OUT}."
            )
    if metadata is not None:
        for key, value in metadata.annotations.items():
            if key.startswith(APPARMOR_ANNOTATION_PREFIX) and not (
                value in ("", "runtime/default") or value.startswith("localhost/")
            ):
                problems.append(
                    f"annotations: {key}: {shown(value)} overrides the container runtime's AppArmor "
                    "profile, which the Pod Security Standards do not allow; allowed: runtime/default or "
                    f"localhost/<profile>, {_OPT_OUT}."
                )
    return problems


def _volume_problems(volumes: Sequence[Mapping[str, Any]]) -> list[str]:
    problems = []
    allowed = ", ".join(RESTRICTED_VOLUME_SOURCES)
    for index, volume in enumerate(volumes):
        sources = [key for key in volume if key != "name" and key not in RESTRICTED_VOLUME_SOURCES]
        if sources:
            problems.append(
                f"volumes: volumes[{index}] ({shown(volume.get('name'))}) is of type {sources[0]}, which "
                f"the Restricted Pod Security Standard does not allow; allowed types: {allowed} "
                f"(e.g. a persistentVolumeClaim for a dataset), {_OPT_OUT}."
            )
        projected = volume.get("projected") or {}
        if any("serviceAccountToken" in (source or {}) for source in projected.get("sources") or ()):
            problems.append(
                f"volumes: volumes[{index}] ({shown(volume.get('name'))}) projects a serviceAccountToken, "
                "a Kubernetes API token for the pods' ServiceAccount; the agents never call the Kubernetes "
                f"API, so wandb-sweeps mounts none (automountServiceAccountToken: false). Remove it, {_OPT_OUT}."
            )
    return problems


def _tls_env_problems(plain_names: Iterable[object], secret_names: Iterable[object]) -> list[str]:
    names = [name for name in (*plain_names, *secret_names) if name in TLS_ENV]
    if not names:
        return []
    return [
        f"env: {', '.join(dict.fromkeys(map(str, names)))} turns TLS verification off or replaces the roots "
        "it trusts, so that anyone on the network path could read the agents' W&B API key; for a private CA "
        f"set caCertificate, {_OPT_OUT}."
    ]


def _control_plane_selector_problems(scheduling: PodScheduling) -> list[str]:
    """nodeSelector or required/preferred node affinity that picks control-plane nodes;
    NotIn and DoesNotExist keep pods away from them and are fine."""
    keys = [key for key in scheduling.node_selector if key in CONTROL_PLANE_ROLES]
    node_affinity = (scheduling.affinity or {}).get("nodeAffinity") or {}
    required = (node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms"
    ) or []
    preferred = [
        term.get("preference") or {}
        for term in node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    ]
    for term in (*required, *preferred):
        for expression in (term or {}).get("matchExpressions") or []:
            if expression.get("key") in CONTROL_PLANE_ROLES and expression.get("operator") in (
                "In",
                "Exists",
            ):
                keys.append(f"affinity ({expression['key']})")
    return (
        [
            f"nodeSelector: {', '.join(keys)} picks control-plane nodes, which run the cluster itself; "
            f"use the labels of your GPU nodes, {_OPT_OUT}."
        ]
        if keys
        else []
    )


def _toleration_problems(tolerations: Sequence[Mapping[str, Any]]) -> list[str]:
    """A toleration without a key and with operator Exists matches every taint (of its
    effect, if it names one): control-plane nodes, nodes being drained or out of
    service, nodes reserved for other teams. Not a Pod Security Standard rule."""
    problems = []
    for index, toleration in enumerate(tolerations):
        key = toleration.get("key")
        if toleration.get("operator") == "Exists" and not key:
            problems.append(
                f"tolerations: tolerations[{index}] has operator Exists and no key, so it tolerates every taint "
                "(control-plane nodes, nodes being drained, other teams' nodes); name the taint, e.g. "
                f"{{key: cloud.google.com/gke-spot, operator: Exists}}, {_OPT_OUT}."
            )
        elif key in CONTROL_PLANE_ROLES or key in NODE_LIFECYCLE_TAINTS:
            where = "control-plane nodes" if key in CONTROL_PLANE_ROLES else "cordoned or shut-down nodes"
            problems.append(
                f"tolerations: tolerations[{index}] tolerates {key}, the taint of {where}, which keeps "
                f"workloads such as agents off them; remove it, {_OPT_OUT}."
            )
    return problems

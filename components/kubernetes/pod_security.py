"""The Restricted Pod Security Standard, for what users write into the agent pods.

What the agent pods get from wandb-sweeps itself meets Restricted (`agent_job`:
non-root, seccomp RuntimeDefault, no capabilities, no privilege escalation, no
host namespaces, ports, probes or sysctls). What users write can take it below:
these are refused unless allowPrivilegedPods is set. The rules are those of
kubernetes/pod-security-admission, policy/ (the check named with each).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


_OPT_OUT = f"or set {OPT_OUT_KEY}: true (see docs/security.md, Security defaults)"


def pod_security_problems(
    scheduling: PodScheduling | None, runtime: PodRuntime | None, metadata: JobMetadata | None
) -> list[str]:
    """Why the agent pods would fall below the Restricted Pod Security Standard, or
    get powers a sweep never needs; one problem per setting, naming the key, the
    index and what is allowed. The caller skips it when allowPrivilegedPods is set.

    A part that is None failed its own checks already; it is left out here.
    """
    problems: list[str] = []
    if runtime is not None:
        problems += _volume_problems(runtime.volumes)
        if not runtime.run_as_non_root:
            problems.append(
                "runAsNonRoot: false lets the agents run as root, which the Restricted Pod Security "
                "Standard does not allow; build the image with a numeric non-root USER (USER 1000), "
                f"or set runAsUser to a non-zero UID, {_OPT_OUT}."
            )
    if scheduling is not None:
        problems += _toleration_problems(scheduling.tolerations)
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
    return problems


def _toleration_problems(tolerations: Sequence[Mapping[str, Any]]) -> list[str]:
    """A toleration without a key and with operator Exists matches every taint (of its
    effect, if it names one): control-plane nodes, nodes being drained or out of
    service, nodes reserved for other teams. Not a Pod Security Standard rule."""
    return [
        f"tolerations: tolerations[{index}] has operator Exists and no key, so it tolerates every taint "
        "(control-plane nodes, nodes being drained, other teams' nodes); name the taint, e.g. "
        f"{{key: cloud.google.com/gke-spot, operator: Exists}}, {_OPT_OUT}."
        for index, toleration in enumerate(tolerations)
        if toleration.get("operator") == "Exists" and not toleration.get("key")
    ]

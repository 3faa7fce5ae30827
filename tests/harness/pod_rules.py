"""The Restricted Pod Security Standard as rules over a rendered pod, for every test
that checks the agent pods a program renders (test_pod_security, and the tests of
features that change the pods: the private CA, the fine-tuning example).

Each rule is one check of kubernetes/pod-security-admission, the reference
implementation of what the API server enforces (read at 8f84a87c7f61; one check per
file in `policy/`), with its ID and file, or one of wandb-sweeps' own: no toleration of
every taint, no system-* PriorityClass, and the API token is never mounted.
test_pod_security's docstring says which checks are covered by a stricter one or cannot
apply. `pods` gives each agent Job's pod template in a deployment, as (metadata, spec);
`broken_rules` says which rules a pod breaks, and where.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine_model import JOB_TYPE, Deployment

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


def pods(deployment: Deployment) -> dict[str, Pod]:
    found = {}
    for job in deployment.by_type(JOB_TYPE):
        template = job.inputs["spec"]["template"]
        found[job.name] = (template.get("metadata") or {}, template["spec"])
    return found

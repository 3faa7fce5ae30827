"""What the Kubernetes API server refuses beyond its OpenAPI schema, for the names and
values users write into the agent Jobs and pods: the rules (pure predicates), then the
problems they give each config key (messages that name the key, the entry and what is
allowed), which the settings (`pods`, `config.from_args`) report.

`kubernetes-validate` (`schema`) checks only the OpenAPI schema, which carries no
patterns: an env name `""` or `A=B`, a volume named `Data_1` or a label key
`acme..io/team` pass it, the sweep is created on W&B, and then the API server refuses
every Job. These rules are the API server's own, so the settings (`pods`, `config.
from_args`) refuse the same values at preview, before anything is registered.

Read from the kubernetes/kubernetes source at its current master (not tried against a
live API server). Where a rule differs between versions it says so and keeps to what
1.31, the oldest version the Jobs are built for (`schema.MIN_KUBERNETES`), accepts (env
names, group ids); the others are taken as unchanged since 1.31, not checked release by
release. Cited with each rule as:
- [util] staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go
- [content] staging/src/k8s.io/apimachinery/pkg/api/validate/content/kube.go (where
  IsLabelKey/IsLabelValue moved; [util]'s IsQualifiedName/IsValidLabelValue alias them)
- [meta] staging/src/k8s.io/apimachinery/pkg/api/validation/objectmeta.go
- [metav1] staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/validation/validation.go
- [core] pkg/apis/core/validation/validation.go
- [features] pkg/features/kube_features.go

Not here, because users cannot write them: container names (the one container is
`agent`) and port names (the pods have no ports; [util] IsValidPortName would apply).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..checks import shown, type_name

DNS1123_LABEL_MAX = 63
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", re.ASCII)


def is_dns1123_label(value: str) -> bool:
    """[util] IsDNS1123Label: at most 63 lowercase letters, digits and '-', starting and
    ending with a letter or digit. Volume names ([core] ValidateVolumes), namespaces."""
    return len(value) <= DNS1123_LABEL_MAX and bool(_DNS1123_LABEL.fullmatch(value))


DNS1123_LABEL_RULE = (
    "at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
)


DNS1123_SUBDOMAIN_MAX = 253
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", re.ASCII)


def is_dns1123_subdomain(value: str) -> bool:
    """[util] IsDNS1123Subdomain: at most 253 characters, dot-separated parts each
    like a label (so no `..`, no part that starts or ends with '-'). The names of
    Secrets, ServiceAccounts and PriorityClasses ([core] ValidateSecretName,
    ValidateServiceAccountName, ValidatePriorityClassName: NameIsDNSSubdomain)."""
    return len(value) <= DNS1123_SUBDOMAIN_MAX and bool(_DNS1123_SUBDOMAIN.fullmatch(value))


DNS1123_SUBDOMAIN_RULE = (
    "at most 253 lowercase letters, digits, '-' and '.', in dot-separated parts that each start "
    "and end with a letter or digit"
)


QUALIFIED_NAME_MAX = 63
_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", re.ASCII)


def is_qualified_name(value: str) -> bool:
    """[content] IsLabelKey ([util] IsQualifiedName): an optional DNS-subdomain prefix
    and '/', then a name of at most 63 letters, digits, '-', '_' and '.', starting and
    ending with a letter or digit. Label keys ([metav1] ValidateLabels, for `labels`
    and `nodeSelector`, [core] ValidatePodSpec) and toleration keys ([core]
    ValidateTolerations: ValidateLabelName)."""
    parts = value.split("/")
    if len(parts) > 2:
        return False
    if len(parts) == 2 and not is_dns1123_subdomain(parts[0]):
        return False
    name = parts[-1]
    return len(name) <= QUALIFIED_NAME_MAX and bool(_QUALIFIED_NAME.fullmatch(name))


QUALIFIED_NAME_RULE = (
    "an optional DNS-subdomain prefix and '/' (example.com/), then at most 63 letters, digits, "
    "'-', '_' and '.', starting and ending with a letter or digit"
)


def is_annotation_key(value: str) -> bool:
    """[meta] ValidateAnnotations: a qualified name once lowercased (case does not
    matter in an annotation key, so `Example.com/Owner` is fine)."""
    return is_qualified_name(value.lower())


LABEL_VALUE_MAX = 63


def is_label_value(value: str) -> bool:
    """[content] IsLabelValue ([util] IsValidLabelValue): empty, or at most 63 letters,
    digits, '-', '_' and '.', starting and ending with a letter or digit. Label values
    and nodeSelector values ([metav1] ValidateLabels), a toleration's value with
    operator Equal ([core] ValidateTolerations)."""
    return value == "" or (len(value) <= LABEL_VALUE_MAX and bool(_QUALIFIED_NAME.fullmatch(value)))


LABEL_VALUE_RULE = (
    "empty, or at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
)


TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
"""[meta] TotalAnnotationSizeLimitB: 256 KiB for all of an object's annotations."""


def annotations_size(annotations: Mapping[str, str]) -> int:
    """[meta] ValidateAnnotationsSize: the sum of the keys' and values' lengths in bytes
    (Go's len of a string), which must be at most TOTAL_ANNOTATION_SIZE_LIMIT."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in annotations.items())


_ENV_VAR_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*", re.ASCII)


def is_env_var_name(value: str) -> bool:
    """[util] IsEnvVarName, the rule this project enforces for env names: letters, digits,
    '_', '-' and '.', not starting with a digit, and not `.`, `..` or anything starting
    with `..` (hasChDirPrefix); so never empty and never with '='. [core] ValidateEnv
    applies it unless the `RelaxedEnvironmentVariableValidation` gate is on, which
    allows any printable ASCII but '=' (IsRelaxedEnvVarName). [features]: alpha (off)
    in 1.30 and 1.31, beta (on by default) from 1.32, GA and locked on from 1.34. The
    agent Jobs are built for 1.31 and up, where a cluster without the gate refuses
    `MY VAR` or `1GPU`: only this rule is accepted by every supported cluster.
    (It allows more than a C identifier: `my.env-name` is fine on every version.)"""
    return bool(_ENV_VAR_NAME.fullmatch(value)) and not (value == "." or value.startswith(".."))


ENV_VAR_NAME_RULE = (
    "letters, digits, '_', '-' and '.', not starting with a digit and not '.', '..' or '..'-prefixed "
    "(the rule of Kubernetes 1.31, which the agent Jobs are built for; newer clusters allow more)"
)


def is_relaxed_env_var_name(value: str) -> bool:
    """[util] IsRelaxedEnvVarName, for reference: what clusters with the gate accept. Not
    enforced here (see is_env_var_name)."""
    return bool(value) and all(" " <= c <= "~" and c != "=" for c in value)


CONFIG_MAP_KEY_MAX = 253
_CONFIG_MAP_KEY = re.compile(r"[-._a-zA-Z0-9]+", re.ASCII)


def is_config_map_key(value: str) -> bool:
    """[util] IsConfigMapKey: a key of a Secret's or ConfigMap's data, and the `key` of a
    secretKeyRef/configMapKeyRef ([core] validateSecretKeySelector): at most 253 letters,
    digits, '-', '_' and '.', and not `.`, `..` or `..`-prefixed."""
    return (
        len(value) <= CONFIG_MAP_KEY_MAX
        and bool(_CONFIG_MAP_KEY.fullmatch(value))
        and not (value == "." or value.startswith(".."))
    )


CONFIG_MAP_KEY_RULE = "at most 253 letters, digits, '-', '_' and '.', and not '.', '..' or '..'-prefixed"


MAX_GROUP_ID = 2**31 - 1
"""[util] IsValidGroupID, for `securityContext.supplementalGroups` ([core]
validatePodSpecSecurityContext): 0 to 2^31-1 in the releases the project supports
(newer apimachinery allows up to 2^32-1; the lower bound holds everywhere)."""


MAX_SUPPLEMENTAL_GROUPS = 32
"""`supplementalGroups` holds at most this many group ids: this project's bound, not the
API server's (which sets none). A pod needs a few (render and video on AMD GPU nodes); a
longer list is a mistake, such as a range written out."""


TOLERATION_OPERATORS = ("Equal", "Exists")
"""[core] ValidateTolerations: an empty operator means Equal."""


TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
"""[core] validateTaintEffect; an empty effect matches every effect."""


def toleration_problems(toleration: Mapping[str, Any], show: Callable[[object], str] = repr) -> list[str]:
    """[core] ValidateTolerations, for one Toleration in Kubernetes' (camelCase) form
    whose fields have the schema's types: what is wrong with it, each saying what is
    allowed; empty if the API server accepts it. `show` renders a value it quotes."""
    problems = []
    key, operator = toleration.get("key") or "", toleration.get("operator") or ""
    value, effect = toleration.get("value") or "", toleration.get("effect") or ""
    if key and not is_qualified_name(key):
        problems.append(f"its key {show(key)} is not a qualified name ({QUALIFIED_NAME_RULE})")
    if not key and operator != "Exists":
        problems.append("it has no key, so its operator must be Exists (it then matches every taint)")
    if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
        problems.append("it sets tolerationSeconds, which needs effect NoExecute")
    if operator in ("Equal", ""):
        if not is_label_value(value):
            problems.append(f"its value {show(value)} is not a label value ({LABEL_VALUE_RULE})")
    elif operator == "Exists":
        if value:
            problems.append("it has operator Exists, so it must have no value")
    else:
        problems.append(f"its operator {show(operator)} is not one of {', '.join(TOLERATION_OPERATORS)}")
    if effect and effect not in TAINT_EFFECTS:
        problems.append(
            f"its effect {show(effect)} is not one of {', '.join(TAINT_EFFECTS)} (or empty: every effect)"
        )
    return problems


# --- The problems each config key gets. Each function is given values of the schema's
# types (the schema check runs first) and says, per entry, what Kubernetes allows.


def object_name_problems(key: str, value: object, entry: str = "") -> list[str]:
    """`value`, the name of a Secret, ServiceAccount or PriorityClass, if set: a DNS
    subdomain. `entry` ("imagePullSecrets[1]") says which one of a list. (For image
    pull secrets the API server checks nothing, but no Secret can have another name.)"""
    if value is None:
        return []
    if not isinstance(value, str):
        return [f"{key}: must be text, got {type_name(value)}."]
    if is_dns1123_subdomain(value):
        return []
    where = f"{entry} " if entry else ""
    return [f"{key}: {where}must be a Kubernetes object name ({DNS1123_SUBDOMAIN_RULE}), got {shown(value)}."]


def label_problems(key: str, value: object, *, values_are_labels: bool) -> list[str]:
    """A mapping of label keys to label values (`labels`, `nodeSelector`: [metav1]
    ValidateLabels), or of annotation keys to any text (`annotations`: [meta]
    ValidateAnnotations; their total size is `config.from_args`', with ours)."""
    if not isinstance(value, Mapping):
        return [f"{key}: must be a mapping of names to text, got {type_name(value)}."]
    kind = "label" if values_are_labels else "annotation"
    key_rule = is_qualified_name if values_are_labels else is_annotation_key
    problems = []
    for name, text in value.items():
        if not (isinstance(name, str) and key_rule(name)):
            problems.append(f"{key}: {shown(name)} is not a Kubernetes {kind} key ({QUALIFIED_NAME_RULE}).")
        elif not isinstance(text, str):
            problems.append(f"{key}: the value of {name} must be text, got {type_name(text)}.")
        elif values_are_labels and not is_label_value(text):
            problems.append(
                f"{key}: the value of {name}, {shown(text)}, is not a Kubernetes label value ({LABEL_VALUE_RULE})."
            )
    return problems


def scheduling_problems(
    node_selector: Mapping[str, Any], tolerations: Sequence[Mapping[str, Any]]
) -> list[str]:
    """`nodeSelector`: labels ([core] ValidatePodSpec: ValidateLabels; a null value, which
    the schema allows, is left to Kubernetes); `tolerations`: [core] ValidateTolerations,
    one problem per toleration."""
    written = {name: value for name, value in node_selector.items() if value is not None}
    problems = label_problems("nodeSelector", written, values_are_labels=True)
    for index, toleration in enumerate(tolerations):
        found = toleration_problems(toleration, shown)
        if found:
            problems.append(f"tolerations: tolerations[{index}]: {'; '.join(found)}.")
    return problems


def env_problems(env: Sequence[Mapping[str, Any]]) -> list[str]:
    """[core] ValidateEnv: each name (is_env_var_name, the rule enforced); the Secret or
    ConfigMap a valueFrom names and its key (validateSecretKeySelector,
    validateConfigMapKeySelector: a DNS subdomain and a data key)."""
    problems = []
    for index, entry in enumerate(env):
        name = entry["name"]
        if not is_env_var_name(name):
            problems.append(
                f"env: {shown(name)} (env[{index}]) is not an environment variable name: {ENV_VAR_NAME_RULE}."
            )
        value_from = entry.get("valueFrom") or {}
        for ref in ("secretKeyRef", "configMapKeyRef"):
            if ref not in value_from:
                continue
            where = f"env: {shown(name)} (env[{index}]) valueFrom.{ref}"
            ref_name, ref_key = (value_from[ref] or {}).get("name"), (value_from[ref] or {}).get("key")
            if not is_dns1123_subdomain(ref_name or ""):
                problems.append(
                    f"{where}.name {shown(ref_name)} is not a Kubernetes object name ({DNS1123_SUBDOMAIN_RULE})."
                )
            elif not is_config_map_key(ref_key or ""):
                problems.append(f"{where}.key {shown(ref_key)} is not a data key ({CONFIG_MAP_KEY_RULE}).")
    return problems


def volume_problems(volumes: Sequence[Mapping[str, Any]], mounts: Sequence[Mapping[str, Any]]) -> list[str]:
    """[core] ValidateVolumes (names: DNS-1123 labels, no two alike) and ValidateVolumeMounts
    (a mountPath, unique in the container). Whether a mount names a volume, and the
    mount paths wandb-sweeps takes, are checked with the settings (`pods`, `from_args`)."""
    problems = []
    seen: set[str] = set()
    for index, volume in enumerate(volumes):
        name = volume["name"]
        if not is_dns1123_label(name):
            problems.append(
                f"volumes: {shown(name)} (volumes[{index}]) is not a volume name: {DNS1123_LABEL_RULE}."
            )
        elif name in seen:
            problems.append(
                f"volumes: {shown(name)} (volumes[{index}]) is given twice; volume names must be unique."
            )
        seen.add(name)
    paths: set[str] = set()
    for index, mount in enumerate(mounts):
        path = mount["mountPath"]
        if not path:
            problems.append(
                f"volumeMounts: volumeMounts[{index}] has an empty mountPath; give the path to mount at."
            )
        elif path in paths:
            problems.append(
                f"volumeMounts: {shown(path)} (volumeMounts[{index}]) is mounted twice; each mountPath may hold "
                "one volume."
            )
        paths.add(path)
    return problems


def supplemental_groups_problems(groups: object) -> list[str]:
    """`supplementalGroups`: a list of at most MAX_SUPPLEMENTAL_GROUPS group ids, each a whole
    number from 0 to MAX_GROUP_ID ([util] IsValidGroupID); one problem, the first found."""
    key = "supplementalGroups"
    if not isinstance(groups, Sequence) or isinstance(groups, str | bytes):
        return [f"{key}: must be a list of group ids, got {type_name(groups)}."]
    if len(groups) > MAX_SUPPLEMENTAL_GROUPS:
        return [f"{key}: at most {MAX_SUPPLEMENTAL_GROUPS} (group ids), got {len(groups)}."]
    for index, gid in enumerate(groups):
        if isinstance(gid, bool) or not isinstance(gid, int) or not 0 <= gid <= MAX_GROUP_ID:
            return [
                f"{key}: {key}[{index}] must be a group id, a whole number from 0 to {MAX_GROUP_ID} "
                f"(e.g. the render group's: `getent group render` on the node), got {shown(gid)}."
            ]
    return []

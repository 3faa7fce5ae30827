"""The rules of the Pulumi engine and of pulumi-kubernetes that the program relies on.

Each rule is stated once, with where it comes from (repository, file, function;
read at pulumi/pulumi 1b5949891b3c, 2026-08, and pulumi/pulumi-kubernetes
94977969d641, v4.32+27, 2026-07; the rules are unchanged in the 3.272 / 4.34
releases the project pins), as data or a function the tests use. Two kinds of
users: `engine_model` simulates `pulumi up` and `pulumi preview` step by step
with them, and `test_platform_rules` checks every rendered resource of every
test variant against them. The mock engine applies none of these rules: it only
registers resources. If an upgrade changes one of them, change it here and see
what the day-2 tests say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.runtime.rpc import UNKNOWN

Path = tuple[str, ...]

# --- pulumi-kubernetes ---------------------------------------------------------

FORCE_NEW_METADATA: tuple[Path, ...] = (("metadata", "name"), ("metadata", "namespace"))
"""provider/pkg/provider/diff.go, `metadataForceNewProperties`: a change of name or
namespace always replaces (also `Diff` in provider.go: "Changing the identity of the
resource always causes a replacement")."""

FORCE_NEW: Mapping[str, tuple[Path, ...]] = {
    # provider/pkg/provider/diff.go, `forceNew["batch"]["v1"]["Job"]` (var `job`).
    "batch/v1:Job": (
        ("spec", "completions"),
        ("spec", "parallelism"),
        ("spec", "selector"),
        ("spec", "template"),
    ),
    # `forceNewProperties`: a Secret's type, data and stringData replace it unless the
    # provider option enableSecretMutable is set (and the Secret is not immutable).
    "core/v1:Secret": (("type",), ("stringData",), ("data",)),
    # `forceNewProperties` again: a ConfigMap's data and binaryData replace it unless the
    # provider option enableConfigMapMutable is set and the ConfigMap is not immutable.
    "core/v1:ConfigMap": (("data",), ("binaryData",)),
    "core/v1:Namespace": (),
}
"""Input paths whose change makes pulumi-kubernetes replace the object (besides FORCE_NEW_METADATA).
The program never sets enableSecretMutable: it uses the provider it is given, with
the provider's defaults."""

SKIP_AWAIT_SKIPS_DELETE_WAIT = frozenset(
    {
        "core/v1:Namespace",
        "core/v1:Pod",
        "core/v1:ReplicationController",
        "apps/v1:DaemonSet",
        "apps/v1:Deployment",
        "apps/v1:StatefulSet",
        "batch/v1:Job",
    }
)
"""provider/pkg/metadata/overrides.go, `DeletedCondition` and `allowsSkipAwaitWithDelete`
(issues #1232, #3154): for these kinds `pulumi.com/skipAwait: "true"` also skips the
wait for the object to be gone when it is deleted."""

SKIP_AWAIT = "pulumi.com/skipAwait"


def kind_of(typ: str) -> str:
    """`kubernetes:batch/v1:Job` -> `batch/v1:Job`."""
    return typ.removeprefix("kubernetes:")


def force_new_paths(typ: str) -> tuple[Path, ...]:
    return FORCE_NEW_METADATA + FORCE_NEW.get(kind_of(typ), ())


def skips_delete_wait(typ: str, inputs: Mapping[str, Any]) -> bool:
    annotations = (inputs.get("metadata") or {}).get("annotations") or {}
    return kind_of(typ) in SKIP_AWAIT_SKIPS_DELETE_WAIT and annotations.get(SKIP_AWAIT) == "true"


def changed_paths(old: Any, new: Any, path: Path = ()) -> list[Path]:
    """Leaf paths where `new` differs from `old`; an unknown value (preview) differs from anything."""
    if new == UNKNOWN or old == UNKNOWN:
        return [] if new == old == UNKNOWN else [path]
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[Path] = []
        for key in sorted(set(old) | set(new)):
            found += changed_paths(old.get(key), new.get(key), (*path, str(key)))
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            p
            for i, (o, n) in enumerate(zip(old, new, strict=True))
            for p in changed_paths(o, n, (*path, str(i)))
        ]
    return [] if old == new else [path]


def kubernetes_diff(
    typ: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[list[Path], list[Path], bool]:
    """(changed paths, paths forcing replacement, delete before replace) as pulumi-kubernetes decides.

    provider/pkg/provider/provider.go, `Diff`: replacement when a changed path lies
    under a force-new path; delete-before-replace when it must be replaced, is named
    (not auto-named), and keeps its name and namespace: the new object needs the
    old one's name, so the old one goes first.
    """
    changed = changed_paths(dict(old), dict(new))
    force = force_new_paths(typ)
    # A change under a force-new path, or a whole unknown object holding one (`spec`).
    replaces = [p for p in changed if any(p[: len(f)] == f or f[: len(p)] == p for f in force)]
    old_meta, new_meta = _mapping(old.get("metadata")), _mapping(new.get("metadata"))
    same_place = (
        new_meta.get("name") not in (None, UNKNOWN)
        and new_meta.get("name") == old_meta.get("name")
        and new_meta.get("namespace") == old_meta.get("namespace")
    )
    return changed, replaces, bool(replaces) and same_place


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# --- the Pulumi engine ---------------------------------------------------------

DEPENDENT_REPLACEMENT_SOURCE = (
    "pulumi/pulumi pkg/resource/deploy/step_generator.go, calculateDependentReplacements"
)
"""Before a delete-before-replace of R, the engine re-diffs every resource that has a
*property* dependency on R with those properties set to unknown, and replaces (deletes
first) those whose provider then asks for a replacement. A `depends_on` edge alone
never does this ("the edge from B to A may be a simple `dependsOn` edge such that a
change to B does not actually influence any of B's input properties")."""

PREVIEW_UPDATE_SOURCE = (
    "pulumi/pulumi sdk/go/common/resource/plugin/provider_plugin.go, (*provider).Update; "
    "sdk/python/lib/pulumi/dynamic/__main__.py, Configure (no supportsPreview); "
    "sdk/python/lib/pulumi/runtime/rpc.py, resolve_properties"
)
"""In a preview, an in-place update by a provider that does not support previews (every
Python dynamic provider) returns the new inputs as the resource's outputs; outputs that
are not inputs resolve as unknown in the program, and so does everything built from them."""

SAME_STEP_SOURCE = "pulumi/pulumi pkg/resource/deploy/step.go, SameStep.Apply"
"""No change: the resource keeps its outputs (and ID) from the state."""

CREATE_BEFORE_DELETE_SOURCE = "pulumi/pulumi pkg/resource/deploy/step_generator.go, generateSteps"
"""A replacement without delete-before-replace creates the new resource first and deletes
the old one at the end of the update, dependents of the old one first."""

ALREADY_EXISTS_SOURCE = "pulumi/pulumi-kubernetes CHANGELOG 4.29.0 (#2926): client-side create"
"""Creating an object whose name is taken fails with AlreadyExists (no silent upsert)."""


# --- deletes, refresh and server-side apply (issue 15) ---------------------------

DELETION_PROPAGATION = "pulumi.com/deletionPropagationPolicy"
"""pulumi-kubernetes provider/pkg/metadata/overrides.go, `DeletionPropagation`: the
delete request's propagationPolicy; "background" or "orphan" from this annotation,
Foreground for anything else (`overrides_test.go`: "undefined" -> Foreground)."""

HAS_PODS = frozenset({"batch/v1:Job", "apps/v1:Deployment", "apps/v1:StatefulSet", "apps/v1:DaemonSet"})
"""Kinds whose pods are their dependents (ownerReferences with blockOwnerDeletion: true,
set by their controllers)."""

FOREGROUND_LINGERS_SOURCE = (
    "kubernetes.io/docs/concepts/architecture/garbage-collection/#foreground-deletion; "
    "pulumi-kubernetes provider/pkg/metadata/overrides.go, DeletionPropagation and "
    "allowsSkipAwaitWithDelete"
)
"""Foreground cascading deletion: the owner gets a deletionTimestamp and the
`foregroundDeletion` finalizer and stays readable in the API (its name taken) until the
garbage collector has deleted every blocking dependent, i.e. until its pods have stopped,
up to their terminationGracePeriodSeconds. Background deletion removes the owner at once
and the garbage collector deletes the pods afterwards (they still get their grace
period). pulumi-kubernetes normally waits for the object to be gone; with skipAwait it
does not (SKIP_AWAIT_SKIPS_DELETE_WAIT), so the name stays taken after the `up` ends."""


def lingers_after_delete(typ: str, inputs: Mapping[str, Any]) -> bool:
    """Whether the object is still in the API, its name taken, after the provider's delete
    returned: a kind with pods, deleted with Foreground propagation, without waiting."""
    annotations = (inputs.get("metadata") or {}).get("annotations") or {}
    policy = str(annotations.get(DELETION_PROPAGATION, "")).lower()
    return (
        kind_of(typ) in HAS_PODS and policy not in ("background", "orphan") and skips_delete_wait(typ, inputs)
    )


UPDATE_READS_LIVE_SOURCE = "pulumi-kubernetes provider/pkg/await/await.go, Update (client.Get first)"
"""An in-place update first GETs the live object; an object deleted outside Pulumi (the TTL
controller, `ttlSecondsAfterFinished`) fails the update with NotFound. A delete of such an
object succeeds (`Deletion`, `nilIfGVKDeleted`: "semantically like running refresh")."""

REFRESH_ALWAYS_SOURCE = (
    "Pulumi.yaml `options: refresh: always` (Pulumi's project file reference, "
    "pulumi.com/docs/iac/concepts/projects/project-file/, `options`; the Automation API's "
    'ProjectOptions.refresh: "always run a refresh as part of a pulumi update / preview / '
    'destroy"): every `pulumi up`, preview and destroy refreshes first'
)
"""A refresh reads every resource: a Kubernetes object that is gone leaves the state (the
program's next registration of it is a create); a dynamic resource calls its provider's
`read` (the sweep's: one GetSweep)."""

SSA_WEBHOOK_FIELDS_SOURCE = (
    "Kubernetes server-side apply (kubernetes.io/docs/reference/using-api/server-side-apply/: "
    "a mutating admission webhook's changes are attributed to the request's field manager); "
    "pulumi-kubernetes provider/pkg/await/await.go, ssaUpdate and handleSSAIgnoreFields"
)
"""Kueue's webhook sets `spec.suspend: true` on a Job with a queue-name label while it is
created, so the field is owned by the creating manager (Pulumi's). A later apply that
omits a field its manager owns removes it: the Job's `suspend` falls back to false and a
Job Kueue has not admitted starts. With `ignoreChanges: ["spec.suspend"]`,
`handleSSAIgnoreFields` sends the live value instead (or drops the field when Kueue's
manager alone owns it): Kueue's decision stands."""

KUEUE_SUSPENDED_PATH: Path = ("spec", "suspend")
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


def kueue_suspends(typ: str, inputs: Mapping[str, Any]) -> bool:
    """Whether Kueue's webhook suspends this object at create (a Job with a queue label)."""
    labels = (inputs.get("metadata") or {}).get("labels") or {}
    return kind_of(typ) == "batch/v1:Job" and bool(labels.get(KUEUE_QUEUE_LABEL))


def ssa_drops_suspend(typ: str, inputs: Mapping[str, Any], ignore_changes: list[str]) -> bool:
    """Whether an in-place server-side-apply update of a Job Kueue suspended drops `suspend`."""
    spec = inputs.get("spec") or {}
    return (
        kueue_suspends(typ, inputs)
        and "suspend" not in spec
        and not any(path in ("spec.suspend", "spec") for path in ignore_changes)
    )


# --- pulumi-kubernetes render mode (renderYamlToDirectory) -------------------------------

RENDER_SOURCE = (
    "pulumi-kubernetes provider/pkg/provider/provider.go: Create and Update in yamlRenderMode call "
    "renderYaml (one file per object, renderPathForResource); Delete removes the file; Diff reports "
    "a change for every object when alwaysRender is set"
)
"""A provider with `renderYamlToDirectory` never contacts a cluster for create, update or
delete: it writes the object's YAML to a file named after its apiVersion, kind, namespace
and name under `<dir>/1-manifest/` (CRDs under `<dir>/0-crd/`, both made on the first
write), and deletes that file when the object is deleted. The path is taken as given,
relative to the plugin's working directory, the project folder (pulumi/pulumi
sdk/go/common/resource/plugin/plugin.go, execPlugin: `cmd.Dir = pwd`). With `alwaysRender`
every object is rewritten at every update, changed or not."""

RENDER_REFRESH_SOURCE = (
    "pulumi-kubernetes provider/pkg/provider/provider.go, Read: with the cluster unreachable it "
    "fails (\"failed to read resource state due to unreachable cluster\") unless "
    "skipUpdateUnreachable (PULUMI_K8S_SKIP_UPDATE_UNREACHABLE), which returns the state as it is"
)
"""Read has no render-mode branch: a refresh asks the cluster. Where `pulumi up` runs in
render mode (a CI job, a laptop without a kubeconfig) no cluster is reachable, so a
refresh of a rendered object fails unless the provider sets `skipUpdateUnreachable`.
(With a kubeconfig for a real cluster, Read would read the object Argo CD or Flux applied;
one not yet applied would leave the state and be rendered again: not modelled.)"""

RENDER_REPLACES_SOURCE = (
    "pulumi-kubernetes provider/pkg/provider/provider.go, DiffConfig: a changed "
    "renderYamlToDirectory replaces the provider, and with it every object it rendered"
)


def render_directory(provider_inputs: Mapping[str, Any]) -> str | None:
    """The provider's render directory, if it renders (`renderYamlToDirectory` set)."""
    directory = provider_inputs.get("renderYamlToDirectory")
    return str(directory) if directory else None


def render_path(resource: Mapping[str, Any], directory: str) -> str:
    """provider.go, renderPathForResource: `<dir>/1-manifest/<apiVersion>-<kind>-<namespace>-<name>.yaml`,
    '/' and ':' in the apiVersion made '_', the kind lowercased, namespace "default" when unset."""
    metadata = resource.get("metadata") or {}
    version = str(resource["apiVersion"]).replace("/", "_").replace(":", "_")
    namespace = metadata.get("namespace") or "default"
    name = f"{version}-{str(resource['kind']).lower()}-{namespace}-{metadata['name']}.yaml"
    return f"{directory}/1-manifest/{name}"


def refresh_keeps_rendered(provider_inputs: Mapping[str, Any]) -> bool:
    """RENDER_REFRESH_SOURCE: whether a refresh of an object this render provider wrote
    succeeds with no cluster reachable (it then keeps the state as it is)."""
    return str(provider_inputs.get("skipUpdateUnreachable", "")).lower() == "true"


# --- Kubernetes: the job controller (kubernetes/kubernetes pkg/controller/job) ------------

POD_FAILURE_POLICY_SOURCE = (
    "kubernetes/kubernetes pkg/controller/job/pod_failure_policy.go, matchPodFailurePolicy, "
    "matchOnExitCodes, matchOnPodConditions; job_controller.go, isPodFailed"
)
"""Read in the source (not seen on a cluster): a Failed pod is matched against the Job's
podFailurePolicy rules in order, the first that matches decides (Ignore: not counted
against backoffLimit; Count, FailJob, FailIndex: counted); no rule matching, or no policy:
counted. onExitCodes looks at every container (or only `containerName`) whose exit code is
not 0; onPodConditions at the pod's conditions."""

SUSPEND_DELETES_PODS_SOURCE = (
    "kubernetes/kubernetes pkg/controller/job/job_controller.go, manageJob (jobSuspended: "
    "deleteJobPods, a plain delete that adds no condition); kubernetes-sigs/kueue "
    "pkg/controller/jobs/job/job_controller.go, (*Job).Stop / Suspend (spec.suspend = true)"
)
"""Kueue preempts or evicts a Job by suspending it, and the job controller then deletes
its active pods without a DisruptionTarget condition: the pods get SIGTERM, and their
failure is counted unless a rule ignores their exit code."""


def _exit_codes_match(requirement: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    codes = [
        status["exitCode"]
        for status in pod.get("containerStatuses", [])
        if status.get("exitCode", 0) != 0 and requirement.get("containerName") in (None, status["name"])
    ]
    values = set(requirement["values"])
    if requirement["operator"] == "In":
        return any(code in values for code in codes)
    if requirement["operator"] == "NotIn":
        return any(code not in values for code in codes)
    return False  # an unknown operator: "assume the requirement is not satisfied"


def _conditions_match(patterns: list[Mapping[str, Any]], pod: Mapping[str, Any]) -> bool:
    return any(
        (condition["type"], condition["status"]) == (pattern["type"], pattern.get("status", "True"))
        for pattern in patterns
        for condition in pod.get("conditions", [])
    )


def counts_against_backoff_limit(job_spec: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """Whether the job controller counts this ended pod against the Job's backoffLimit.

    `pod` is its status as the controller sees it, camelCase: `phase`, `conditions`
    ([{type, status}]), `containerStatuses` ([{name, exitCode}]). POD_FAILURE_POLICY_SOURCE.
    """
    if pod["phase"] != "Failed":  # with a podFailurePolicy, only the Failed phase counts
        return False
    for rule in (job_spec.get("podFailurePolicy") or {}).get("rules", []):
        if "onExitCodes" in rule:
            matched = _exit_codes_match(rule["onExitCodes"], pod)
        else:
            matched = _conditions_match(rule.get("onPodConditions", []), pod)
        if matched:
            return rule["action"] != "Ignore"
    return True

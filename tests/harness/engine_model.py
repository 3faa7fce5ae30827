"""`pulumi up`, `pulumi preview` and `pulumi destroy`, step by step, on Pulumi's mock engine.

The mock engine (`pulumi.runtime.set_mocks`) runs the real program and hands us
every registration with its exact inputs and property dependencies; it has no
state, no diff, no replacement and no dependency rule. `SimulatedEngine` adds
those, one rule at a time, each taken from `platform_rules` with its source:

- a resource already in the state is diffed: pulumi-kubernetes' diff is
  modelled by `platform_rules.kubernetes_diff`; a dynamic resource's diff is
  the REAL provider's (unpickled from its `__provider` input, as the engine
  does), after its `check`;
- no change keeps the old outputs (SameStep); an in-place update of a dynamic
  resource in a preview exposes its new inputs as outputs, so outputs that are
  not inputs turn unknown (PREVIEW_UPDATE_SOURCE);
- a delete-before-replace first replaces every dependent whose provider asks
  for a replacement once the inputs that came from the replaced resource are
  unknown (DEPENDENT_REPLACEMENT_SOURCE); a delete-before-replace of a kind
  whose delete wait is skipped races its own re-create: AlreadyExists;
- other replacements create first and delete the old resource at the end,
  dependents first; `destroy` deletes everything in that order;
- a Job deleted with Foreground propagation and skipAwait stays in the API, its name
  taken, until its pods have stopped (FOREGROUND_LINGERS_SOURCE): `Deployment.lingering`,
  which the next `up` (within the grace period) gets; creating such a name is AlreadyExists;
- an object deleted outside Pulumi (`Resource.gone`: the TTL controller) fails an in-place
  update with NotFound (UPDATE_READS_LIVE_SOURCE) unless a refresh drops it first: the
  project's Pulumi.yaml `options: refresh: always` is read and obeyed (REFRESH_ALWAYS_SOURCE);
- an in-place update of a Job Kueue suspended at create must keep `spec.suspend`
  (SSA_WEBHOOK_FIELDS_SOURCE: `ignore_changes`);
- a registration whose `aliases` name a resource of the prior state is that resource;
- a Kubernetes object whose provider renders (`renderYamlToDirectory`) is a file, written
  at create and update (at every update with `alwaysRender`) and removed at delete, under
  `render_root` (RENDER_SOURCE); no cluster is reachable, so a refresh of it fails unless the
  provider skips unreachable reads (RENDER_REFRESH_SOURCE).

Dynamic providers' create/update/delete go to a backend: `FakeWandb` (no W&B;
the sweep's identity is made up, everything else is the real provider code) or
`ServerWandb` (the real provider methods, in this process, against the test's
W&B server: the W&B side of a day-2 sequence is then real too).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import itertools
import json
import logging
import runpy
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dill
import pulumi
import yaml
from platform_rules import (
    kubernetes_diff,
    lingers_after_delete,
    refresh_keeps_rendered,
    render_directory,
    render_path,
    skips_delete_wait,
    ssa_drops_suspend,
)
from pulumi.output import Unknown
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.rpc import UNKNOWN
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from wandb_sweeps import sweep_provider
from wandb_sweeps.wandb.server import SweepPath

ROOT = Path(__file__).resolve().parents[2]
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SWEEP_TYPE = "pulumi-python:dynamic/wandb:Sweep"
LIFECYCLE_TYPE = "pulumi-python:dynamic/wandb:SweepLifecycle"
JOB_TYPE = "kubernetes:batch/v1:Job"
MOCK_SWEEP_ID = "mock1234"
MOCK_ENTITY = "mock-entity"


def plain(value: Any) -> Any:
    """`value` with Pulumi secrets unwrapped and preview unknowns as the UNKNOWN sentinel."""
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return plain(value["value"])
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass
class Resource:
    typ: str
    name: str
    custom: bool
    id: str
    inputs: dict[str, Any]
    """Plain (secrets unwrapped) wire-form inputs, as the provider sees them."""
    outputs: dict[str, Any]
    property_dependencies: dict[str, set[str]] = field(default_factory=dict)
    """Input name -> names of the resources that input came from."""
    dependencies: set[str] = field(default_factory=set)
    """Every resource this one depends on (property dependencies and depends_on)."""
    parent: str = ""
    gone: bool = False
    """Deleted outside Pulumi (the TTL controller): still in the state, no longer in the cluster."""
    provider: str = ""
    """The name of the explicit provider resource it was registered with; "": the default one."""


@dataclass
class Step:
    op: str
    """same, update, create, replace, delete."""
    replaces: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    forced_by: str | None = None
    """Replaced because this resource was replaced delete-before-replace (a dependent replacement)."""
    problems: list[str] = field(default_factory=list)


@dataclass
class Deployment:
    steps: dict[str, Step] = field(default_factory=dict)
    state: dict[str, Resource] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    """Names of the resources deleted, in the order the engine deletes them."""
    warnings: list[str] = field(default_factory=list)
    lingering: set[tuple[str, str, str]] = field(default_factory=set)
    """(type, namespace, name) of objects deleted but still in the API when the update ends."""
    refreshed: bool = False

    def ops(self, typ: str | None = None) -> dict[str, str]:
        return {
            name: step.op
            for name, step in sorted(self.steps.items())
            if typ is None or self._typ(name) == typ
        }

    def _typ(self, name: str) -> str:
        return self.state[name].typ if name in self.state else ""

    def problems(self) -> dict[str, list[str]]:
        return {name: step.problems for name, step in self.steps.items() if step.problems}

    def by_type(self, typ: str) -> list[Resource]:
        return sorted((r for r in self.state.values() if r.typ == typ), key=lambda r: r.name)


class FakeWandb:
    """No W&B: the sweep's identity is made up, one id per distinct sweep (mock1234,
    mock1235, ... in order of creation); the lifecycle's own code runs for real, and
    stopping a sweep is recorded."""

    def __init__(self) -> None:
        self.numbers = itertools.count(1234)
        self.ids: dict[str, str] = {}
        self.stopped: list[tuple[str, str]] = []

    def check(self, provider: Any, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        """The provider's own check (W&B's schema of the sweep config, at preview), but
        for an attached sweep's look-up, which needs W&B."""
        if isinstance(provider, sweep_provider.SweepProvider) and news.get("existing_sweep_id"):
            return news
        return checked(provider, olds, news)

    def create(self, provider: Any, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if isinstance(provider, sweep_provider.SweepProvider):
            base_url = sweep_provider._default_base_url(props)
            entity = props.get("entity") or MOCK_ENTITY
            identity = json.dumps(
                [entity, props["project"], base_url, yaml.safe_load(props.get("config_yaml") or "")],
                sort_keys=True,
            )
            sweep_id = props.get("existing_sweep_id") or self.ids.setdefault(
                identity, f"mock{next(self.numbers)}"
            )
            path = SweepPath(entity, props["project"], sweep_id)
            return str(path), sweep_provider._sweep_outputs(props, path, base_url, "PENDING")
        result = provider.create(props)
        return result.id, result.outs

    def update(self, provider: Any, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        return provider.update(id_, olds, news).outs

    def read(self, provider: Any, id_: str, props: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """No W&B: every sweep still exists as it was."""
        return id_, props

    def delete(self, provider: Any, id_: str, props: dict[str, Any]) -> None:
        if isinstance(provider, sweep_provider.SweepLifecycleProvider):
            from wandb_sweeps.wandb.server import OnDestroy

            state = OnDestroy(props["on_destroy"]).wandb_state
            if state and not props.get("attached"):
                self.stopped.append((props["sweep_path"], state))
            return
        provider.delete(id_, props)


class RefreshFailed(Exception):
    """A refresh the engine cannot complete (it stops the `up` before any step)."""


class CheckFailed(Exception):
    """A provider's `check` refused the inputs: the engine stops the preview or update
    there, with the failures, before the resource (or anything that depends on it) is made."""


def checked(provider: Any, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
    """The inputs `check` returns, or CheckFailed with each failure as the engine prints it
    after "<type> resource '<name>'" (`issueCheckFailures`, pulumi/pulumi
    pkg/resource/deploy/step_generator.go): a failure naming a property quotes its value."""
    result = provider.check(olds, news)
    if result.failures:
        raise CheckFailed(
            "; ".join(
                f"property {f.property} value {{{news.get(f.property)}}} has a problem: {f.reason}"
                if f.property
                else f"has a problem: {f.reason}"
                for f in result.failures
            )
        )
    return result.inputs


class ServerWandb:
    """The real provider methods, in this process, against a W&B(-protocol) server."""

    def check(self, provider: Any, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        return checked(provider, olds, news)

    def create(self, provider: Any, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        result = provider.create(props)
        return result.id, result.outs

    def update(self, provider: Any, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        return provider.update(id_, olds, news).outs

    def read(self, provider: Any, id_: str, props: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The provider's own `read` (the sweep's asks W&B); None when the resource is gone."""
        result = provider.read(id_, props)
        return (result.id, result.outs) if result.id else None

    def delete(self, provider: Any, id_: str, props: dict[str, Any]) -> None:
        provider.delete(id_, props)


def _provider(inputs: Mapping[str, Any]) -> Any:
    return dill.loads(base64.b64decode(inputs["__provider"]))


def _props(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inputs.items() if k != "__provider"}


def _name_of(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def registration_options(request: Any) -> dict[str, Any]:
    """What a RegisterResource request carries besides the inputs, which mocks never see:
    parent, dependencies (property dependencies too), and the resource options."""
    return {
        "parent": request.parent,
        "dependencies": sorted(request.dependencies),
        "property_dependencies": {
            key: sorted(deps.urns) for key, deps in request.propertyDependencies.items()
        },
        "additional_secret_outputs": list(request.additionalSecretOutputs),
        "ignore_changes": list(request.ignoreChanges),
        "delete_before_replace": request.deleteBeforeReplace,
        "aliases": [_alias_name(alias) for alias in request.aliases],
        "provider": _name_of(request.provider.rsplit("::", 1)[0]) if request.provider else "",
    }


def _alias_name(alias: Any) -> str:
    """The resource name an alias (a spec or a URN) points at."""
    if alias.urn:
        return _name_of(alias.urn)
    return str(alias.spec.name)


class _Monitor(MockMonitor):
    """Keeps what the mocks are not given: dependencies and resource options."""

    def __init__(self, engine: SimulatedEngine) -> None:
        super().__init__(engine)
        self.engine = engine

    def RegisterResource(self, request: Any) -> Any:
        self.engine.requests[request.name] = registration_options(request)
        return super().RegisterResource(request)


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class SimulatedEngine(pulumi.runtime.Mocks):
    """One deployment (`up` or `preview`) of the program from a prior state."""

    def __init__(
        self,
        prior: Mapping[str, Resource],
        backend: Any,
        *,
        preview: bool,
        lingering: set[tuple[str, str, str]] | None = None,
        render_root: Path | None = None,
    ) -> None:
        self.prior = dict(prior)
        self.render_root = render_root
        """The project folder a render provider's relative directory is taken from (RENDER_SOURCE)."""
        self.lingering = set(lingering or ())
        """Objects a recent update deleted that are still in the API (FOREGROUND_LINGERS_SOURCE)."""
        self.aliased: dict[str, str] = {}
        """prior name -> the name that took it over through `aliases`."""
        self.backend = backend
        self.preview = preview
        self.requests: dict[str, dict[str, Any]] = {}
        self.deployment = Deployment()
        self.replaced_dependents: dict[str, str] = {}
        self.replaced_old: list[Resource] = []
        self.lock = threading.RLock()

    # -- registration -------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        with self.lock:
            request = self.requests.get(args.name, {})
            if not args.custom:  # components have no provider and no diff
                return args.name, {}
            inputs = plain(args.inputs)
            old = None if args.name in self.replaced_dependents else self.prior.get(args.name)
            if old is None:
                for alias in request.get("aliases", []):
                    if alias in self.prior and alias != args.name:
                        old = self.prior[alias]
                        self.aliased[alias] = args.name
                        break
            if old is not None and old.typ != args.typ:
                old = None
            render = self._render_directory(request.get("provider", ""))
            if args.typ.startswith("pulumi:providers:"):
                step, id_, outputs = self._provider_step(args.name, inputs, args.inputs, old)
            elif args.typ.startswith("kubernetes:") and render is not None:
                step, id_, outputs = self._kubernetes(args.name, args.typ, inputs, args.inputs, old)
                if step.op == "same" and self._always_renders(request.get("provider", "")):
                    step = Step("update")  # RENDER_SOURCE: alwaysRender diffs every object as changed
                if not self.preview:
                    self._write_rendered(render, inputs)
            elif args.typ.startswith("kubernetes:"):
                step, id_, outputs = self._kubernetes(args.name, args.typ, inputs, args.inputs, old)
                if step.op in ("create", "replace") and not step.delete_before_replace:
                    self._check_name_free(args.typ, inputs, step)
                if step.op == "update" and old is not None:
                    if old.gone:
                        step.problems.append(
                            "NotFound: the update reads the live object first, and the TTL controller "
                            "deleted it (UPDATE_READS_LIVE_SOURCE)"
                        )
                    if ssa_drops_suspend(args.typ, inputs, request.get("ignore_changes", [])):
                        step.problems.append(
                            "spec.suspend dropped: the apply omits the field Kueue's webhook set at create, "
                            "so a Job Kueue has not admitted starts (SSA_WEBHOOK_FIELDS_SOURCE)"
                        )
            else:
                step, id_, outputs = self._dynamic(args.name, inputs, old)
            if args.name in self.replaced_dependents:
                step = Step(
                    "replace",
                    delete_before_replace=True,
                    forced_by=self.replaced_dependents[args.name],
                    problems=step.problems,
                )
                if skips_delete_wait(args.typ, inputs):
                    step.problems.append(
                        "AlreadyExists: re-created while the old object was still being deleted"
                    )
            self.deployment.steps[args.name] = step
            deps = {k: {_name_of(u) for u in v} for k, v in request.get("property_dependencies", {}).items()}
            self.deployment.state[args.name] = Resource(
                typ=args.typ,
                name=args.name,
                custom=args.custom,
                id=id_,
                inputs=inputs,
                outputs=outputs,
                property_dependencies=deps,
                dependencies={_name_of(u) for u in request.get("dependencies", [])}
                | {n for names in deps.values() for n in names},
                parent=_name_of(request.get("parent", "")),
                gone=old is not None and old.gone and step.op in ("same", "update"),
                provider=request.get("provider", ""),
            )
            return id_, outputs

    # -- providers and render mode -------------------------------------------

    def _provider_inputs(self, provider: str) -> dict[str, Any]:
        known = self.deployment.state.get(provider) or self.prior.get(provider)
        return known.inputs if known is not None else {}

    def _render_directory(self, provider: str) -> Path | None:
        directory = render_directory(self._provider_inputs(provider)) if provider else None
        if directory is None:
            return None
        if self.render_root is None:
            raise AssertionError("a provider renders YAML: pass render_root (the project folder) to deploy()")
        return self.render_root / directory

    def _always_renders(self, provider: str) -> bool:
        return str(self._provider_inputs(provider).get("alwaysRender", "")).lower() == "true"

    def _provider_step(
        self, name: str, inputs: dict[str, Any], raw: dict[str, Any], old: Resource | None
    ) -> tuple[Step, str, dict[str, Any]]:
        """An explicit provider: a change of its render directory replaces it (RENDER_REPLACES_SOURCE)."""
        if old is None:
            return Step("create"), f"{name}-id", dict(raw)
        if old.inputs == inputs:
            return Step("same"), old.id, old.outputs
        if old.inputs.get("renderYamlToDirectory") != inputs.get("renderYamlToDirectory"):
            return Step("replace", ["renderYamlToDirectory"]), f"{name}-id2", dict(raw)
        return Step("update"), old.id, dict(raw)

    def _write_rendered(self, directory: Path, inputs: dict[str, Any]) -> None:
        path = Path(render_path(inputs, str(directory)))
        (directory / "0-crd").mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(inputs, sort_keys=False))

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None

    def _check_name_free(self, typ: str, inputs: dict[str, Any], step: Step) -> None:
        metadata = inputs.get("metadata") or {}
        if (typ, metadata.get("namespace"), metadata.get("name")) in self.lingering:
            step.problems.append(
                f"AlreadyExists: {metadata.get('name')} is still being deleted (Foreground propagation, "
                "its pods stopping; FOREGROUND_LINGERS_SOURCE)"
            )

    def _kubernetes(
        self, name: str, typ: str, inputs: dict[str, Any], raw: dict[str, Any], old: Resource | None
    ) -> tuple[Step, str, dict[str, Any]]:
        if old is None:
            return Step("create"), f"{name}-id", dict(raw)
        changed, replaces, delete_first = kubernetes_diff(typ, old.inputs, inputs)
        if not changed:
            return Step("same"), old.id, old.outputs
        if not replaces:
            return Step("update"), old.id, dict(raw)
        step = Step("replace", [".".join(p) for p in replaces], delete_first)
        if delete_first:
            if skips_delete_wait(typ, old.inputs):
                step.problems.append("AlreadyExists: re-created while the old object was still being deleted")
            self._replace_dependents(name)
        else:
            self.replaced_old.append(old)
        return step, f"{name}-id", dict(raw)

    def _dynamic(
        self, name: str, inputs: dict[str, Any], old: Resource | None
    ) -> tuple[Step, str, dict[str, Any]]:
        provider, props = _provider(inputs), _props(inputs)
        if old is None:
            props = self.backend.check(provider, {}, props)
            if self.preview:
                return Step("create"), "", props
            id_, outputs = self.backend.create(provider, props)
            return Step("create"), id_, outputs
        checked = self.backend.check(provider, _props(old.inputs), props)
        diff = provider.diff(old.id, old.outputs, checked)
        if not diff.changes:
            return Step("same"), old.id, old.outputs
        if diff.replaces:
            step = Step("replace", list(diff.replaces), bool(diff.delete_before_replace))
            if step.delete_before_replace:
                self._replace_dependents(name)
            else:
                self.replaced_old.append(old)
            if self.preview:
                return step, "", props
            id_, outputs = self.backend.create(provider, checked)
            return step, id_, outputs
        if self.preview:
            return Step("update"), old.id, props  # PREVIEW_UPDATE_SOURCE
        return Step("update"), old.id, self.backend.update(provider, old.id, old.outputs, checked)

    def _replace_dependents(self, root: str) -> None:
        """DEPENDENT_REPLACEMENT_SOURCE: transitively, property dependencies only."""
        replace_set = {root}
        changed = True
        while changed:
            changed = False
            for resource in self.prior.values():
                if resource.name in replace_set or not resource.custom:
                    continue
                unknown = [k for k, deps in resource.property_dependencies.items() if deps & replace_set]
                if not unknown:
                    continue
                news = {**resource.inputs, **dict.fromkeys(unknown, UNKNOWN)}
                if self._would_replace(resource, news):
                    replace_set.add(resource.name)
                    self.replaced_dependents[resource.name] = root
                    self.deployment.deleted.append(resource.name)
                    self._delete(resource)
                    changed = True

    def _would_replace(self, resource: Resource, news: dict[str, Any]) -> bool:
        if resource.typ.startswith("kubernetes:"):
            return bool(kubernetes_diff(resource.typ, resource.inputs, news)[1])
        return bool(_provider(resource.inputs).diff(resource.id, resource.outputs, _props(news)).replaces)

    # -- deletes ------------------------------------------------------------

    def finish(self, *, registered: bool = True) -> None:
        """Deletes at the end of the update: what the program no longer registers, and
        the old halves of create-before-delete replacements, dependents first."""
        gone = [
            r
            for name, r in self.prior.items()
            if r.custom
            and name not in self.replaced_dependents
            and name not in self.aliased
            and (not registered or name not in self.deployment.steps)
        ]
        for resource in gone:
            self.deployment.steps[resource.name] = Step("delete")
        for resource in _dependents_first(gone + self.replaced_old):
            self.deployment.deleted.append(resource.name)
            self._delete(resource)

    def _delete(self, resource: Resource) -> None:
        rendered = self._render_directory(resource.provider) if resource.typ.startswith("kubernetes:") else None
        if rendered is not None:
            if not self.preview:
                Path(render_path(resource.inputs, str(rendered))).unlink(missing_ok=True)
            return
        if resource.typ.startswith("kubernetes:") and not resource.gone:
            metadata = resource.inputs.get("metadata") or {}
            key = (resource.typ, metadata.get("namespace"), metadata.get("name"))
            if lingers_after_delete(resource.typ, resource.inputs):
                self.deployment.lingering.add(key)
        if self.preview or resource.typ.startswith(("kubernetes:", "pulumi:providers:")):
            return
        self.backend.delete(_provider(resource.inputs), resource.id, resource.outputs)


def _dependents_first(resources: list[Resource]) -> list[Resource]:
    """Reverse topological order: a resource is deleted before everything it depends on."""
    ordered: list[Resource] = []
    remaining = list(resources)
    while remaining:
        names = {r.name for r in remaining}
        # Deletable now: nothing still remaining depends on it.
        ready = [
            r
            for r in remaining
            if not any(r.name in other.dependencies for other in remaining if other is not r)
        ]
        if not ready:
            raise AssertionError(f"dependency cycle among {sorted(names)}")
        ordered += sorted(ready, key=lambda r: r.name)
        remaining = [r for r in remaining if r not in ready]
    return ordered


def deploy(
    stack: str,
    config: Mapping[str, str],
    prior: Mapping[str, Resource] | None = None,
    *,
    secret_keys: tuple[str, ...] = (),
    backend: Any = None,
    preview: bool = False,
    program: Callable[[], None] | None = None,
    lingering: set[tuple[str, str, str]] | None = None,
    refresh: bool | None = None,
    render_root: Path | None = None,
) -> Deployment:
    """Run `__main__.py` (or `program`, a function that registers resources) for `stack`
    with `config` (short keys) as `pulumi up` (or `pulumi preview`) would, from `prior`
    (the state of the last `up`; None: empty). `lingering`: objects an earlier update
    deleted that are still in the API; `refresh`: refresh first (None: as the project's
    Pulumi.yaml says)."""
    backend = backend or FakeWandb()
    if refresh is None:
        refresh = refreshes_always()
    prior = refreshed(prior or {}, backend) if refresh else dict(prior or {})
    engine = SimulatedEngine(prior, backend, preview=preview, lingering=lingering, render_root=render_root)
    engine.deployment.refreshed = refresh
    fresh_root()
    warnings = _Warnings()
    logger = logging.getLogger(f"engine-model-{id(engine)}")
    logger.addHandler(warnings)
    pulumi.runtime.set_mocks(
        engine, project="wandb-sweeps", stack=stack, preview=preview, logger=logger, monitor=_Monitor(engine)
    )
    pulumi.runtime.set_all_config(
        {f"wandb-sweeps:{k}": v for k, v in config.items()},
        [f"wandb-sweeps:{k}" for k in secret_keys],
    )

    def run() -> pulumi.Output[Any]:
        if program is None:
            runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        else:
            program()
        root = pulumi.runtime.get_root_resource()
        return pulumi.Output.from_input(dict(root.outputs))  # type: ignore[union-attr]

    def collect(outputs: dict[str, Any]) -> None:
        engine.deployment.outputs.update(outputs)

    try:
        _sync_await(run_pulumi_func(lambda: _sync_await(run().apply(collect).future())))
    except BaseException as failure:
        drain_leftover_tasks(failure)
        raise
    engine.finish()
    engine.deployment.warnings = warnings.messages
    engine.deployment.lingering |= engine.lingering
    return engine.deployment


def refreshes_always(project_file: Path = ROOT / "Pulumi.yaml") -> bool:
    """Whether the project's Pulumi.yaml asks for a refresh before every update (REFRESH_ALWAYS_SOURCE)."""
    options = (yaml.safe_load(project_file.read_text()) or {}).get("options") or {}
    return str(options.get("refresh", "")).lower() == "always"


def refreshed(prior: Mapping[str, Resource], backend: Any) -> dict[str, Resource]:
    """`pulumi refresh` (REFRESH_ALWAYS_SOURCE): objects gone from the cluster leave the state;
    each dynamic resource is read by its provider (`backend.read`)."""
    kept: dict[str, Resource] = {}
    for name, resource in prior.items():
        provider = prior.get(resource.provider) if resource.provider else None
        if provider is not None and render_directory(provider.inputs) is not None:
            if not refresh_keeps_rendered(provider.inputs):
                raise RefreshFailed(
                    f"{name}: failed to read resource state due to unreachable cluster (a rendered object, "
                    "no cluster reachable: RENDER_REFRESH_SOURCE)"
                )
            kept[name] = resource
            continue
        if resource.typ.startswith(("kubernetes:", "pulumi:providers:")):
            if not resource.gone:
                kept[name] = resource
            continue
        if not resource.custom:
            kept[name] = resource
            continue
        read = backend.read(_provider(resource.inputs), resource.id, resource.outputs)
        if read is not None:
            kept[name] = Resource(**{**resource.__dict__, "id": read[0], "outputs": read[1]})
    return kept


def fresh_root() -> None:
    """Each program run gets its own root Stack resource (`set_mocks` makes one only when
    there is none): the exports and anything kept on it must not leak into the next run."""
    from pulumi.runtime.settings import ROOT

    ROOT.set(None)


def drain_leftover_tasks(failure: BaseException) -> None:
    """After a program failed with `failure` (which the caller re-raises): the leftovers.

    It leaves registrations running on the event loop, which the mock engine shares
    between runs: they would fail the next program.

    It also leaves futures that nobody will ever await. The SDK fails a registration by
    setting the exception on three futures per output property, its value, known and
    secret (`do_resolve` in `pulumi.runtime.rpc.transfer_properties`, called by
    `resolve_outputs_due_to_exception` from `register_resource`'s `do_register`), but the
    property's Output awaits the value first and stops there: asyncio logs the other two,
    "Future exception was never retrieved", whenever the garbage collector frees them,
    in a later test or at exit (hundreds a run). Their exception is the program's failure
    (or that of a registration gathered here), which the caller gets: retrieved here,
    future by future, so asyncio still reports any other one."""
    from pulumi.runtime.settings import SETTINGS

    loop = asyncio.get_event_loop()
    with SETTINGS.lock:  # the SDK's own list of outstanding Outputs, awaited by every run
        outputs = list(SETTINGS.outputs)
        SETTINGS.outputs.clear()
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    results: list[Any] = []
    if pending or outputs:  # let them fail now, into this gather, rather than into the next program
        results = loop.run_until_complete(
            asyncio.wait_for(asyncio.gather(*pending, *outputs, return_exceptions=True), 10)
        )
    failures = {id(e): e for e in [failure, *results] if isinstance(e, BaseException)}
    # A future failed with one of them holds it (and it holds the future, through its
    # traceback's `do_register` frame): it is among its referrers.
    for future in gc.get_referrers(*failures.values()):
        if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
            future.exception()  # retrieved: it is the failure the caller (or the gather) got


def destroy(
    prior: Mapping[str, Resource],
    backend: Any = None,
    *,
    refresh: bool | None = None,
    render_root: Path | None = None,
) -> Deployment:
    """`pulumi destroy`: every resource deleted, dependents first (after a refresh when the
    project asks for one before every operation, REFRESH_ALWAYS_SOURCE)."""
    backend = backend or FakeWandb()
    if refresh is None:
        refresh = refreshes_always()
    engine = SimulatedEngine(
        refreshed(prior, backend) if refresh else prior, backend, preview=False, render_root=render_root
    )
    engine.finish(registered=False)
    engine.deployment.state = {}
    return engine.deployment


__all__ = [
    "JOB_TYPE",
    "LIFECYCLE_TYPE",
    "MOCK_ENTITY",
    "MOCK_SWEEP_ID",
    "SECRET_SIG",
    "SWEEP_TYPE",
    "CheckFailed",
    "Deployment",
    "FakeWandb",
    "RefreshFailed",
    "Resource",
    "ServerWandb",
    "Step",
    "deploy",
    "destroy",
    "drain_leftover_tasks",
    "fresh_root",
    "plain",
    "registration_options",
]

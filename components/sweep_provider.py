"""The W&B sweep as two Pulumi resources (dynamic providers over `wandb/`).

Pulumi pickles both provider classes BY REFERENCE into every stack's state: at
`pulumi up` and at `pulumi destroy`, months later, the engine imports this module
(`wandb_sweeps.sweep_provider`) again. Do not rename or move it or the classes,
keep no clients on `self`, and import wandb inside the methods.

Why two resources. The agent Jobs take the sweep's identity (entity, project,
id, server) from a resource's outputs. In a preview, a dynamic provider's
in-place update hands back its new *inputs* as outputs (the Python dynamic
provider does not support previews: pulumi/pulumi
sdk/go/common/resource/plugin/provider_plugin.go, `(*provider).Update`), so
every output that is not also an input turns unknown, and every Job would show
as replaced in the preview of a mere key rotation. So:

- `WandbSweepResource` (`wandb:Sweep`) is the sweep's identity. It is created
  once and replaced when the sweep must change; it is never updated in place.
  Its diff ignores what is not identity (the API key, timeouts, the CA): the
  agents read only this resource. It needs the API key to create the sweep, so the
  key is among its inputs (the engine records each `up`'s inputs, so the current
  key), but never among its outputs, which no `up` rewrites: a key kept there would
  stay after a rotation, and refresh would go on using it. Its `read` therefore asks
  W&B nothing, and drops the key from the outputs of a state written by 0.2.0.
- `SweepLifecycleResource` (`wandb:SweepLifecycle`) holds what may change
  under a running sweep (the API key, `on_destroy`, timeouts, the CA) and stops the
  sweep when it is deleted (destroy, or a replaced sweep). It is keyed by the
  sweep's path, so it is replaced, and the old sweep stopped, only when the
  path changes: a replacement can never stop the sweep it resolves to. Its
  outputs are its inputs, so its in-place update is honest in a preview too. Its
  `read` (refresh) looks at the sweep on W&B, with the key and CA in effect.

Identity inputs compare by what they resolve to: an empty `entity` is the API
key's default entity and an empty `base_url` the deploying shell's
WANDB_BASE_URL (or the hosted W&B), both resolved once, when the sweep is
created, and pinned in the outputs (`sweep_entity`, `sweep_base_url`). Writing
down the value already in effect is not a change, and neither is a later `up`
from a shell with another WANDB_BASE_URL.

`check` and `diff` never raise, whatever the state holds (an old state written by
an earlier version, a missing or empty or unparsable stored config, numbers where
text goes, a state that is not a mapping at all): `diff` treats what it cannot
compare as changed, which replaces the sweep, and `check` reports a CheckFailure
that names the input and asks W&B nothing unless the inputs it needs are well formed.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from .checks import shown, type_name
from .wandb.server import SWEEP_ID, OnDestroy, base_url_problem, normalize_base_url
from .wandb.sweep_file import parse_sweep_config

_SWEEP_INPUTS = (
    "project",
    "entity",
    "base_url",
    "default_base_url",
    "config_yaml",
    "config_source",
    "existing_sweep_id",
    "creation_key",
    "api_key",
    "request_timeout",
    "call_timeout",
)


_LIFECYCLE_UPDATABLE = (
    "base_url",
    "api_key",
    "on_destroy",
    "request_timeout",
    "call_timeout",
    "ca_certificate",
)


def _access(props: dict[str, Any], base_url: str) -> Any:
    from .wandb.server import DEFAULT_CALL_TIMEOUT, DEFAULT_REQUEST_TIMEOUT
    from .wandb.transport import WandbAccess

    return WandbAccess(
        base_url=base_url,
        api_key=props.get("api_key") or "",
        request_timeout=float(props.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT),
        call_timeout=float(props.get("call_timeout") or DEFAULT_CALL_TIMEOUT),
        ca_certificate=ca if isinstance(ca := props.get("ca_certificate"), str) else "",
    )


def _default_base_url(props: dict[str, Any]) -> str:
    from .wandb.server import DEFAULT_BASE_URL

    return normalize_base_url(props.get("base_url") or props.get("default_base_url") or DEFAULT_BASE_URL)


def _same_sweep_config(old: Any, new: Any) -> bool:
    """Whether two stored configs are the same sweep; what cannot be compared is not."""
    try:
        if old == new:
            return True
        if not (isinstance(old, str) and isinstance(new, str)):
            return False
        return bool(parse_sweep_config(old or "") == parse_sweep_config(new or ""))
    except Exception:  # noqa: BLE001 - unparsable old state: treat as changed
        return False


def _mapping(props: Any) -> dict[str, Any]:
    """Properties as a mapping; a state that is not one counts as empty (so: all changed)."""
    return props if isinstance(props, dict) else {}


def _server(url: Any) -> Any:
    """A server URL in its one spelling; a value that is not a URL, as it is."""
    if isinstance(url, str):
        try:
            return normalize_base_url(url)
        except ValueError:  # "Invalid IPv6 URL" and the like: compared as written
            return url
    return url


def identity_changes(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """The inputs whose change makes it a different sweep, compared by what they resolve to.

    `olds` are the sweep's outputs (what was resolved at create), `news` the new inputs.
    Never raises: a value that cannot be compared (an old state, a state that is not
    a mapping) counts as changed.
    """
    olds, news = _mapping(olds), _mapping(news)
    changes = []
    entity = news.get("entity") or ""
    if entity and entity != (olds.get("sweep_entity") or olds.get("entity")):
        changes.append("entity")
    if news.get("project") != (olds.get("sweep_project") or olds.get("project")):
        changes.append("project")
    base_url = news.get("base_url") or ""
    pinned = olds.get("sweep_base_url") or olds.get("base_url") or ""
    if base_url and _server(base_url) != _server(pinned):
        changes.append("base_url")
    if (news.get("existing_sweep_id") or "") != (olds.get("existing_sweep_id") or ""):
        changes.append("existing_sweep_id")
    if not _same_sweep_config(olds.get("config_yaml") or "", news.get("config_yaml") or ""):
        changes.append("config_yaml")
    return changes


class SweepProvider(dynamic.ResourceProvider):
    """The sweep's identity: created once, replaced when it must change, never updated."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        from .wandb.operations import default_entity, sweep_state
        from .wandb.server import SweepPath
        from .wandb.transport import WandbError

        if not isinstance(news, dict):
            return dynamic.CheckResult(
                {}, [dynamic.CheckFailure("", f"the sweep's inputs must be a mapping, got {type_name(news)}")]
            )
        config_failures = _config_failures(_mapping(olds), news)
        url_failures = _url_failures(news) + _ca_failures(news)
        if config_failures:
            return dynamic.CheckResult(news, config_failures + url_failures)
        existing = news.get("existing_sweep_id") or ""
        if not existing or existing == _mapping(olds).get("existing_sweep_id"):
            return dynamic.CheckResult(news, url_failures)
        failures = _lookup_input_failures(news)
        if failures or _unknown(news):
            # Malformed: W&B is not asked. Unknown (a preview): checked again at `up`.
            return dynamic.CheckResult(news, failures)
        access = _access(news, _default_base_url(news))
        try:
            path = SweepPath(news.get("entity") or default_entity(access), news["project"], existing)
            found = sweep_state(access, path) is not None
        except WandbError as error:
            return dynamic.CheckResult(news, [dynamic.CheckFailure("existing_sweep_id", str(error))])
        if found:
            return dynamic.CheckResult(news, [])
        return dynamic.CheckResult(
            news, [dynamic.CheckFailure("existing_sweep_id", _missing_sweep(path, access.base_url))]
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        # Only identity: a new API key or timeout is the lifecycle resource's business,
        # and a comment edit of the sweep file changes nothing on W&B.
        replaces = identity_changes(olds, news)
        return dynamic.DiffResult(
            changes=bool(replaces), replaces=replaces, stables=[], delete_before_replace=False
        )

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        from .wandb.adoption import sweep_display_name
        from .wandb.operations import create_sweep, default_entity, sweep_state
        from .wandb.server import SweepPath
        from .wandb.transport import WandbError

        base_url = _default_base_url(props)
        access = _access(props, base_url)
        entity = props.get("entity") or default_entity(access)
        existing = props.get("existing_sweep_id") or ""
        if existing:
            path = SweepPath(entity, props["project"], existing)
            state = sweep_state(access, path)
            if state is None:
                raise WandbError(_missing_sweep(path, base_url))
        else:
            path = create_sweep(
                access,
                entity=entity,
                project=props["project"],
                config_yaml=props["config_yaml"],
                display_name=sweep_display_name(props["config_yaml"], props["creation_key"], access.api_key),
                notice=_warn,
            )
            state = "PENDING"
        return dynamic.CreateResult(id_=str(path), outs=_sweep_outputs(props, path, base_url, state))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        # diff never asks for an update; if the engine calls anyway, keep the identity.
        news = {k: news.get(k) for k in _SWEEP_INPUTS if k in news and k != "api_key"}
        return dynamic.UpdateResult(outs={**_without_key(olds), **news})

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        """`pulumi refresh`: nothing to ask W&B with (the outputs hold no key; the
        lifecycle resource, whose key is the current one, reads the sweep). A state
        written by 0.2.0 holds the key it was created with: dropped here, unused."""
        return dynamic.ReadResult(id_=id_, outs=_without_key(props))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # Stopping the sweep is the lifecycle resource's job; nothing to undo here.
        return None


class SweepLifecycleProvider(dynamic.ResourceProvider):
    """Credentials and `on_destroy` of a sweep; deleting it stops the sweep."""

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        # Never raises: a state that is not a mapping counts as empty, so all has changed.
        olds, news = _mapping(olds), _mapping(news)
        replaces = ["sweep_path"] if olds.get("sweep_path") != news.get("sweep_path") else []
        if bool(olds.get("attached")) != bool(news.get("attached")):
            replaces.append("attached")
        updates = [k for k in _LIFECYCLE_UPDATABLE if olds.get(k) != news.get(k)]
        return dynamic.DiffResult(
            changes=bool(replaces or updates), replaces=replaces, stables=[], delete_before_replace=False
        )

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        return dynamic.CreateResult(id_=str(props["sweep_path"]), outs=dict(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        # A new key, on_destroy or timeout: recorded for destroy; W&B is not touched.
        return dynamic.UpdateResult(outs=dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        """`pulumi refresh`: the sweep's state on W&B (`sweep_state`), read with this
        resource's key, CA and timeouts, the ones in effect (a rotation updates them here).

        Never stops a refresh (the project refreshes before every `up`, which must not
        fail for want of W&B): a sweep that cannot be read, or no longer exists, is left
        as it is, with a warning that says why and what to do.
        """
        from .wandb.operations import sweep_state
        from .wandb.server import sweep_path_from_text
        from .wandb.transport import WandbError

        props = _mapping(props)
        try:
            path = sweep_path_from_text(props["sweep_path"])
            base_url = normalize_base_url(props["base_url"])
        except (KeyError, TypeError, ValueError, AttributeError):
            return dynamic.ReadResult(id_=id_, outs=props)  # not a state this code wrote: left as is
        try:
            state = sweep_state(_access(props, base_url), path)
        except WandbError as error:
            _warn(f"pulumi refresh could not look at sweep {path}, so it is left as it is: {error}")
            return dynamic.ReadResult(id_=id_, outs=props)
        if state is None:
            _warn(
                f"Sweep {path} no longer exists on W&B at {base_url} (deleted outside Pulumi): the "
                "agents cannot work on it. To make a new sweep, replace the sweep resource: "
                "`pulumi up --replace <URN>` with the URN of its wandb:Sweep resource "
                "(`pulumi stack --show-urns`)."
            )
            return dynamic.ReadResult(id_=id_, outs={**props, "sweep_state": "DELETED"})
        return dynamic.ReadResult(id_=id_, outs={**props, "sweep_state": state})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from .wandb.operations import stop_sweep
        from .wandb.server import sweep_path_from_text

        if props.get("attached"):
            return
        state = OnDestroy(props.get("on_destroy") or OnDestroy.FINISH.value).wandb_state
        if state is not None:
            path = sweep_path_from_text(props["sweep_path"])
            stop_sweep(_access(props, normalize_base_url(props["base_url"])), path, state)


def _config_failures(olds: dict[str, Any], news: dict[str, Any]) -> list[dynamic.CheckFailure]:
    """W&B's schema check of a new or changed sweep config (a no-op `up` pays nothing).

    Here rather than in the program: it needs W&B's `sweeps` package, whose import
    costs every program run about half a second. A preview runs it, so a bad config
    still stops `pulumi up` before anything is created.
    """
    from .wandb.schema import schema_problem

    config = news.get("config_yaml")
    if not isinstance(config, str) or not config.strip() or config == rpc_unknown():
        return []
    if olds and _same_sweep_config(olds.get("config_yaml"), config):
        return []
    source = news.get("config_source")
    problem = schema_problem(config, source if isinstance(source, str) and source else "the sweep config")
    # No property name: the engine would print the property's whole value (the sweep file)
    # before the reason (`issueCheckFailures`, pulumi/pulumi pkg/resource/deploy/
    # step_generator.go); the reason names sweepConfig and the path inside it already.
    return [dynamic.CheckFailure("", problem)] if problem else []


def rpc_unknown() -> str:
    from pulumi.runtime import rpc

    return rpc.UNKNOWN


_LOOKUP_INPUTS = ("project", "entity", "existing_sweep_id", "base_url", "default_base_url")


def _unknown(props: dict[str, Any]) -> bool:
    """Whether an input check needs is not known yet (a preview)."""
    from pulumi.runtime import rpc

    return any(props.get(name) == rpc.UNKNOWN for name in _LOOKUP_INPUTS)


def _warn(message: str) -> None:
    """A warning the user sees. A Python dynamic provider has no engine connection, so
    `pulumi.log.warn` prints "warning: ..." to the provider's stderr, which the Pulumi
    CLI (3.146 and later, pulumi/pulumi#18253) shows as an info message not tied to the
    resource: `newPlugin` in sdk/go/common/resource/plugin/plugin.go passes a dynamic
    provider's output through (`isDynamicPluginBinary`); other providers' only at debug level."""
    pulumi.log.warn(message)


def _url_failures(props: dict[str, Any]) -> list[dynamic.CheckFailure]:
    """Why the W&B server in effect (`base_url`, else `default_base_url`) must not get the
    API key (`base_url_problem`: https unless on this machine, no credentials), if so.

    The program checks the same (baseUrl, WANDB_BASE_URL) before registering anything;
    this holds for a program that builds the resource itself, or feeds it an Output.
    """
    from .wandb.server import DEFAULT_BASE_URL

    url_key = "base_url" if props.get("base_url") else "default_base_url"
    url = props.get(url_key) or DEFAULT_BASE_URL
    if url == rpc_unknown():
        return []  # a preview: checked again at `up`
    problem = base_url_problem(url_key, url)
    return [dynamic.CheckFailure(url_key, problem)] if problem else []


def _ca_failures(props: dict[str, Any]) -> list[dynamic.CheckFailure]:
    """Why `ca_certificate` is not PEM certificates, if so. No property name: the engine
    would print the property's value (`issueCheckFailures`), and a file given by
    mistake may be a private key; the reason names caCertificate and quotes nothing."""
    from .config.ca_file import ca_problem

    ca = props.get("ca_certificate")
    if not ca or ca == rpc_unknown():
        return []
    problem = ca_problem(ca)
    return [dynamic.CheckFailure("", problem)] if problem else []


def _lookup_input_failures(props: dict[str, Any]) -> list[dynamic.CheckFailure]:
    """Why the inputs that looking up `existing_sweep_id` needs are malformed, if they are."""
    failures = []
    existing = props.get("existing_sweep_id")
    if not (isinstance(existing, str) and SWEEP_ID.fullmatch(existing)):
        failures.append(
            dynamic.CheckFailure(
                "existing_sweep_id",
                f"sweepId: must be a W&B sweep id (lowercase letters and digits, e.g. 'a1b2c3d4'), "
                f"got {shown(existing)}",
            )
        )
    project, entity = props.get("project"), props.get("entity")
    if not (isinstance(project, str) and project):
        failures.append(
            dynamic.CheckFailure("project", f"project: must be a W&B project name, got {shown(project)}")
        )
    if entity and not isinstance(entity, str):
        failures.append(
            dynamic.CheckFailure("entity", f"entity: must be a W&B entity name, got {shown(entity)}")
        )
    failures.extend(_url_failures(props))
    failures.extend(_ca_failures(props))
    for name in ("request_timeout", "call_timeout"):
        value = props.get(name)
        if value is not None and not _seconds(value):
            failures.append(
                dynamic.CheckFailure(name, f"{name}: must be a number of seconds > 0, got {shown(value)}")
            )
    return failures


def _seconds(value: Any) -> bool:
    """Whether `_access` can use `value` as a timeout: empty (the default), or a number of
    seconds > 0 that a float holds, as a number or as text."""
    if not value:
        return not isinstance(value, list | dict)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return False
    try:
        return 0 < float(value) < 1e9
    except (ValueError, OverflowError):  # not a number; an int too large for a float
        return False


def _missing_sweep(path: Any, base_url: str) -> str:
    return (
        f"sweepId: sweep {path} does not exist on W&B at {base_url}; check sweepId, "
        "entity and project (the sweep URL ends in <entity>/<project>/sweeps/<sweepId>)."
    )


def _sweep_outputs(inputs: dict[str, Any], path: Any, base_url: str, state: str) -> dict[str, Any]:
    from .wandb.server import sweep_url

    outs = {name: inputs.get(name, "") for name in _SWEEP_INPUTS if name != "api_key"}
    outs.update(
        sweep_id=path.sweep_id,
        sweep_entity=path.entity,
        sweep_project=path.project,
        sweep_base_url=base_url,
        sweep_path=str(path),
        sweep_url=sweep_url(base_url, path),
        sweep_state=state,
    )
    return outs


def _without_key(props: Any) -> dict[str, Any]:
    """The identity's outputs without the API key (see the module docstring)."""
    return {k: v for k, v in _mapping(props).items() if k != "api_key"}

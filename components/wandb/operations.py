"""The W&B operations the sweep provider makes: default entity, read, find, stop, create.

Every operation is one plain GraphQL POST per attempt (`transport`). A create is
looked up by its deterministic display name (`adoption.sweep_display_name`) before the
first attempt and before any retry, and a state change whose reply was lost reads the
sweep again before it is re-sent.

The documents are the ones the wandb 0.31 client sends, trimmed to the fields used
here (so the fields and arguments are known to exist on the real server), except
one field of `GetSweepCreator`, below. To check
them against a newer wandb, compare with:

- default entity, `GetDefaultEntity`: `wandb/apis/public/api.py`, `Api.default_entity`
  (`GET_DEFAULT_ENTITY_GQL` in `wandb/apis/_generated/operations.py`), `viewer { id
  entity }` trimmed to `viewer { entity }`.
- find a sweep by display name, `GetSweeps`: `wandb/apis/public/sweeps.py`, `Sweeps`
  (`GET_SWEEPS_GQL`), as `Project.sweeps(filters={"displayName": ...})` sends it,
  trimmed to the page info and each sweep's `name displayName state config` (all four
  in its `SweepFragment`; `config` is the text the create sent, which the client's
  `Sweep.config` reads back with `util.load_yaml`). On a server
  that cannot filter (before W&B server 0.81.4) the client sends the same document
  without `$filters` (`Sweeps._update_response`, `omit_variables=["filters"]`) and
  looks through every page: so does `find_sweep` when the filtered query is refused.
- read one sweep, `GetSweep`: `wandb/apis/public/sweeps.py`, `_get_sweep`
  (`GET_SWEEP_GQL`), trimmed to `id state` (both also in the `GET_SWEEP_LEGACY_GQL`
  the client falls back to on old servers).
- change a sweep's state, `UpsertSweep` with the sweep's opaque GraphQL `id` and
  `state`: `wandb/apis/public/sweeps.py`, `_set_sweep_state`, as sent.
- create a sweep, `UpsertSweep` without `id`: `wandb/apis/public/sweeps.py`,
  `_upsert_sweep` (its `mutation_3`), trimmed to the variables and fields used here.
- who created a sweep found by name, and who the key is, `GetSweepCreator` (sent only
  before adopting one): `viewer { id username }` as in `GET_VIEWER_GQL`'s
  `UserFragment` (`wandb/apis/_generated/operations.py`; wandb-core's own `Viewer`
  query asks for both too), and the sweep as `GET_SWEEP_GQL` reads it, with
  `user { id username }`. That one field is NOT asked for by any document of the
  wandb 0.31 client or of its wandb-core, so whether the server has it is unverified:
  it is asked in a request of its own, and a server that refuses the query, or
  answers null, does not tell, so the sweep is not adopted (`adoption`). No request
  on a normal path asks for it.

Nothing the server names is used unchecked (`WandbReplyError`): a sweep id must look
like a W&B id (`server.SWEEP_ID`: no '/', which would change the sweep's path in
destroy and in the agents' SWEEP_PATH), an entity like a W&B name, a state like a
state, and the entity and project a create reply names must be the ones asked for.

So a first create costs 3 requests when `entity` is empty (GetDefaultEntity,
GetSweeps, UpsertSweep) and 2 when it is set; adopting a sweep an earlier attempt
made, one more (GetSweepCreator); stopping a sweep 2 (GetSweep, UpsertSweep), or 1
when it is already final or deleted; a refresh 1 (GetSweep).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from ..checks import shown
from .adoption import why_not_ours
from .schema import sweep_config_text
from .server import FINAL_STATES, SWEEP_ID, WANDB_NAME, SweepPath
from .sweep_file import parse_sweep_config
from .transport import (
    WandbAccess,
    WandbAuthError,
    WandbError,
    WandbRedirectError,
    WandbUnavailable,
    WandbUntrustedError,
    call_graphql,
    post_graphql,
    reply_field,
    shared_deadline,
    with_retries,
)

# The states wandb's `_set_sweep_state` stops a sweep from; it refuses any other.
_STOPPABLE_STATES = frozenset({"PENDING", "RUNNING", "PAUSED"})


_PAGE_SIZE = 50  # the client's `per_page` for sweeps


# What a sweep's state and its opaque GraphQL id (base64 of "Sweep:<n>") look like.
_STATE = re.compile(r"[A-Za-z_]{1,32}")
_GRAPHQL_ID = re.compile(r"[A-Za-z0-9+/=_-]{1,256}")


class WandbReplyError(WandbError):
    """W&B answered with something no W&B server answers (a sweep id with a '/', another
    entity or project than asked, ...): it is not used, and nothing is retried."""


def _checked(
    access: WandbAccess, action: str, what: str, value: Any, pattern: re.Pattern[str], after: str = ""
) -> str:
    """`value` if it is text that `pattern` matches in full, else a WandbReplyError that
    names the server and shows a short excerpt of what it answered (its repr: escape
    codes show as text; cut; the key, should the server echo it, scrubbed)."""
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    raise WandbReplyError(
        f"W&B at {access.base_url} answered the request to {action} with {what} "
        f"{access.scrub(shown(value))}, "
        f"which no W&B server gives; the answer is not used.{after} Check that baseUrl names "
        "a W&B server."
    )


_DEFAULT_ENTITY_QUERY = """
query GetDefaultEntity {
  viewer { entity }
}
"""


_FIND_QUERY = """
query GetSweeps($project: String!, $entity: String!, $filters: JSONString!, $cursor: String,
                $perPage: Int = 50) {
  project(name: $project, entityName: $entity) {
    sweeps(after: $cursor, first: $perPage, filters: $filters) {
      pageInfo { endCursor hasNextPage }
      edges { node { name displayName state config } }
    }
  }
}
"""


# The same without `$filters`, for servers that cannot filter sweeps.
_LIST_QUERY = """
query GetSweeps($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50) {
  project(name: $project, entityName: $entity) {
    sweeps(after: $cursor, first: $perPage) {
      pageInfo { endCursor hasNextPage }
      edges { node { name displayName state config } }
    }
  }
}
"""


_READ_QUERY = """
query GetSweep($name: String!, $project: String, $entity: String) {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $name) { id state }
  }
}
"""


_SET_STATE_MUTATION = """
mutation UpsertSweep($id: ID, $state: String, $entityName: String, $projectName: String) {
  upsertSweep(input: {id: $id, state: $state, entityName: $entityName, projectName: $projectName}) {
    sweep { name }
  }
}
"""


_CREATE_MUTATION = """
mutation UpsertSweep($config: String, $description: String, $entityName: String,
                     $projectName: String, $displayName: String) {
  upsertSweep(input: {config: $config, description: $description, entityName: $entityName,
                      projectName: $projectName, displayName: $displayName}) {
    sweep { name project { name entity { name } } }
  }
}
"""


def default_entity(access: WandbAccess) -> str:
    """The entity W&B files sweeps under when none is named: the key's default."""
    action = "look up the API key's default entity"
    entity = reply_field(call_graphql(access, action, _DEFAULT_ENTITY_QUERY, {}), "viewer", "entity")
    if not entity:
        raise WandbError(
            f"W&B at {access.base_url} reports no default entity for this API key; set wandb-sweeps:entity."
        )
    return _checked(access, action, "the entity", entity, WANDB_NAME)


def _read_sweep(access: WandbAccess, path: SweepPath) -> dict[str, Any] | None:
    """The sweep's opaque GraphQL `id` and its `state` (checked); None if it does not exist."""
    action = f"read sweep {path}"
    data = call_graphql(
        access, action, _READ_QUERY, {"entity": path.entity, "project": path.project, "name": path.sweep_id}
    )
    sweep = reply_field(data, "project", "sweep")
    if not isinstance(sweep, dict):
        return None
    return {
        "id": _checked(access, action, "the sweep id", sweep.get("id"), _GRAPHQL_ID),
        "state": _checked(access, action, "the state", sweep.get("state"), _STATE).upper(),
    }


def sweep_state(access: WandbAccess, path: SweepPath) -> str | None:
    """The sweep's state (PENDING, RUNNING, PAUSED, FINISHED, CANCELED); None if it does not exist."""
    sweep = _read_sweep(access, path)
    return None if sweep is None else str(sweep["state"])


def find_sweep(access: WandbAccess, entity: str, project: str, display_name: str) -> tuple[str, str] | None:
    """(id, state) of the newest sweep with this display name in entity/project, if any."""
    for node in _sweeps_named(access, entity, project, display_name):
        return node["name"], node["state"]
    return None


def _sweeps_named(
    access: WandbAccess, entity: str, project: str, display_name: str
) -> Iterator[dict[str, Any]]:
    """Each sweep named `display_name` in entity/project (newest first), as listed, its
    `name` (id) and `state` checked.

    One request, filtered by the server, when it can filter; otherwise one more for
    each page of the project's sweeps, asked only as far as the caller reads.
    """
    action = f"look for sweep {display_name!r} in {entity}/{project}"
    shared = shared_deadline(access)
    variables: dict[str, Any] = {"entity": entity, "project": project, "perPage": _PAGE_SIZE}
    filtered = {**variables, "filters": json.dumps({"displayName": display_name})}
    try:
        first = call_graphql(shared, action, _FIND_QUERY, {**filtered, "cursor": None})
    except (WandbAuthError, WandbUnavailable, WandbRedirectError, WandbUntrustedError):
        raise
    except WandbError:
        # Servers before 0.81.4 cannot filter sweeps and refuse the query: look through all.
        yield from _pages(shared, action, _LIST_QUERY, variables, display_name)
        return
    yield from _pages(shared, action, _FIND_QUERY, filtered, display_name, first)


def _pages(
    access: WandbAccess,
    action: str,
    query: str,
    variables: dict[str, Any],
    display_name: str,
    data: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """The sweeps named `display_name` in the pages `query` lists, from `data` (the first
    page, if already fetched) on. Each sweep's display name is compared here too: a
    server that ignores the filter lists them all."""
    cursor = None
    while True:
        if data is None:
            data = call_graphql(access, action, query, {**variables, "cursor": cursor})
        sweeps = reply_field(data, "project", "sweeps")
        if not isinstance(sweeps, dict):
            return  # no such project (yet): no sweep in it either
        edges = sweeps.get("edges")
        for edge in edges if isinstance(edges, list) else ():
            node = reply_field(edge, "node")
            if isinstance(node, dict) and node.get("displayName") == display_name:
                # Named like ours: its id and state are used, so checked (others are not).
                yield {
                    **node,
                    "name": _checked(access, action, "the sweep id", node.get("name"), SWEEP_ID),
                    "state": _checked(access, action, "the state", node.get("state"), _STATE).upper(),
                }
        cursor = reply_field(sweeps, "pageInfo", "endCursor")
        if not (reply_field(sweeps, "pageInfo", "hasNextPage") and isinstance(cursor, str) and cursor):
            return
        data = None


def stop_sweep(access: WandbAccess, path: SweepPath, state: str) -> str:
    """Set a sweep FINISHED or CANCELED; a sweep already stopped or deleted is left alone.

    Two requests: read the sweep's state and GraphQL id, then change the state (a
    retry of the change reads again first, like a retried create). Returns what was
    done, for the log.
    """
    action = f"set sweep {path} to {state}"
    shared = shared_deadline(access)
    sweep = _read_sweep(shared, path)
    attempts = 0

    def attempt(timeout: float) -> str | None:
        nonlocal sweep, attempts
        attempts += 1
        if attempts > 1:
            # The last attempt's reply was lost or slow: it may have been acted on.
            sweep = _read_sweep(shared, path)
        if sweep is None:
            return f"sweep {path} no longer exists on W&B; nothing to stop"
        current = str(sweep.get("state")).upper()
        if current in FINAL_STATES:
            return None if attempts > 1 and current == state else f"sweep {path} is already {current}"
        if current not in _STOPPABLE_STATES:
            raise WandbError(f"W&B at {access.base_url} failed to {action}: Sweep already {current.lower()}.")
        post_graphql(
            shared,
            timeout,
            _SET_STATE_MUTATION,
            {"id": sweep["id"], "state": state, "entityName": path.entity, "projectName": path.project},
            action=action,
            failure=f"failed to {action}",
        )
        return None

    done = with_retries(shared, action, attempt)
    return done or f"sweep {path} set to {state}"


def create_sweep(
    access: WandbAccess,
    *,
    entity: str,
    project: str,
    config_yaml: str,
    display_name: str,
    notice: Callable[[str], None] | None = None,
) -> SweepPath:
    """Create the sweep at most once, even when replies are lost or `up` is re-run.

    Before the first attempt and before every retry, look for a sweep with this
    display name that is provably ours (`why_not_ours`): made by an earlier
    attempt whose reply was lost, or by an interrupted `pulumi up`. Only if there
    is none, POST the create. A PENDING sweep with the name that is not provably ours
    is left alone, and `notice` is told why.

    A reply that names a sweep id no W&B server gives, or another entity or project
    than the one asked for, is a WandbReplyError at once, not retried: the server may
    have made the sweep all the same, and another create would make a second one.
    """
    config_text = sweep_config_text(config_yaml)
    sent = yaml.safe_load(config_text)  # our own output, from a config already bounded
    description = (parse_sweep_config(config_yaml) or {}).get("description")
    action = f"create a sweep in {entity}/{project}"
    shared = shared_deadline(access)
    noticed: set[str] = set()

    def attempt(timeout: float) -> SweepPath:
        for node in _sweeps_named(shared, entity, project, display_name):
            name = node["name"]
            why_not = why_not_ours(shared, SweepPath(entity, project, name), node, config_text, sent)
            if why_not is None:
                return SweepPath(entity, project, name)
            if why_not and notice is not None and name not in noticed:
                noticed.add(name)
                notice(
                    f"W&B sweep {entity}/{project}/{name} has this stack's display name "
                    f"{display_name!r}, but {why_not}. It is left alone (PENDING: no agent of this "
                    "stack works on it) and a new sweep is made. If an earlier, interrupted `pulumi up` "
                    "of this stack made it, delete it in the W&B app; if not, someone who knows the "
                    "name made it: check who did."
                )
        data = post_graphql(
            access,
            timeout,
            _CREATE_MUTATION,
            {
                "config": config_text,
                "description": description,
                "entityName": entity,
                "projectName": project,
                "displayName": display_name,
            },
        )
        return _created(access, action, data, SweepPath(entity, project, ""), display_name)

    return with_retries(shared, action, attempt)


def _created(access: WandbAccess, action: str, data: Any, asked: SweepPath, display_name: str) -> SweepPath:
    """The sweep a create reply names, in the entity and project asked for (never the
    ones the reply names: they must be those), its id checked."""
    may_exist = (
        f" The sweep may have been made all the same: look for {display_name!r} in "
        f"{asked.entity}/{asked.project} in the W&B app, and delete it if it is there."
    )
    sweep = reply_field(data, "upsertSweep", "sweep")
    sweep_id = _checked(access, action, "the sweep id", reply_field(sweep, "name"), SWEEP_ID, may_exist)
    named = {
        "entity": reply_field(sweep, "project", "entity", "name"),
        "project": reply_field(sweep, "project", "name"),
    }
    for what, value in named.items():
        wanted = getattr(asked, what)
        if value is not None and value != wanted:
            raise WandbReplyError(
                f"W&B at {access.base_url} answered the request to {action} with the {what} "
                f"{access.scrub(shown(value))}, not {wanted!r} as asked; the answer is not used.{may_exist} Check "
                "that baseUrl names a W&B server."
            )
    return SweepPath(asked.entity, asked.project, sweep_id)

"""When a sweep found under this stack's display name is provably ours, and may be adopted.

A create that is retried, or re-run after an interrupted `pulumi up`, finds the sweep
it already made by its display name instead of making a second one.

Two defences keep a sweep someone else made (with their own `command`, for the
victim's pods to run with the victim's key) from being adopted:

- The display name cannot be computed without the API key (`sweep_display_name`: a
  keyed digest), so nobody without the key can make a sweep under it in advance.
- A sweep found by name is adopted only if it is provably ours (`why_not_ours`):
  PENDING, its stored config is, as data, the config this create sends, and the server
  names the key's own user as its creator (`Sweep.user`). Where the server does not
  tell (a null `user`, or a server that refuses the field), nothing proves it ours:
  it is left alone, PENDING, a new sweep is made, and `notice` says why.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from .server import SweepPath
from .sweep_file import parse_sweep_config
from .transport import (
    WandbAccess,
    WandbAuthError,
    WandbError,
    WandbRedirectError,
    WandbUnavailable,
    WandbUntrustedError,
    call_graphql,
)

# `Sweep.user` is not asked for by the wandb client (module docstring): kept out of
# every other document, so a server without it refuses only this one.
_CREATOR_QUERY = """
query GetSweepCreator($name: String!, $project: String, $entity: String) {
  viewer { id username }
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $name) { id user { id username } }
  }
}
"""


def sweep_display_name(config_yaml: str, creation_key: str, api_key: str) -> str:
    """The sweep's name in the W&B app, unique to this stack, resource, config and key.

    A create that is retried, or re-run after an interrupted `pulumi up`, finds the
    sweep it already made by this name instead of making a second one. Its digest is
    an HMAC-SHA256 keyed with the API key: whoever lacks the key cannot compute the
    name, so cannot make a sweep under it first. The user's own `name:` from the sweep
    config stays in front, and the creation key (project/stack/resource) stays readable.

    Computed once, when the sweep is created (the identity resource is never updated):
    existing stacks keep their sweep whatever this function becomes. A create re-run
    after the key was rotated computes another name, so it does not find a sweep an
    earlier, interrupted attempt made with the old key: it makes a new one, and the old
    one stays PENDING, without agents (harmless; delete it in the W&B app).
    """
    config = parse_sweep_config(config_yaml) or {}
    message = f"{creation_key}\n{config_yaml}".encode()
    digest = hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()[:16]
    own = config.get("name") if isinstance(config, dict) else None
    return f"{own} [{creation_key} {digest}]" if own else f"{creation_key} {digest}"


def why_not_ours(
    access: WandbAccess, path: SweepPath, node: dict[str, Any], config_text: str, sent: Any
) -> str | None:
    """None if the sweep `node` (listed by `GetSweeps`) is provably ours, else why not:
    "" when that is no news (it has started, or is gone), a sentence when it is.

    Ours means: PENDING, the config this create sends, and created, as the server
    itself says, by the key's own user. A server that does not say who created it
    proves nothing, whatever the config: a teammate can copy the config and change the
    `command` later, while the sweep is still theirs and PENDING.
    """
    if str(node.get("state")).upper() != "PENDING":
        return ""  # started or stopped: never adopted (e.g. one kept by onDestroy: keep)
    if not _same_config(node.get("config"), config_text, sent):
        return "its config is not the one this stack sends (so neither, perhaps, is its command)"
    found, creator, viewer = _creator(access, path)
    if not found:
        return ""
    same = _same_user(creator, viewer)
    if same:
        return None
    if same is None:
        told = "does not tell who created a sweep" if viewer is None else "does not say who created it"
        return (
            f"W&B at {access.base_url} {told}, so nothing proves it this stack's (only a sweep W&B "
            "says the API key's own user created is adopted)"
        )
    return (
        f"it was created by {_user_name(creator)!r}, not by {_user_name(viewer)!r} "
        "(the user of this stack's API key)"
    )


def _creator(access: WandbAccess, path: SweepPath) -> tuple[bool, Any, Any]:
    """(the sweep still exists, its creator, the key's user) as `GetSweepCreator` tells;
    the creator is None where the server does not tell (a null `user`), and both are
    None for a server without that field, which refuses the query."""
    try:
        data = call_graphql(
            access,
            f"look up who created sweep {path}",
            _CREATOR_QUERY,
            {"entity": path.entity, "project": path.project, "name": path.sweep_id},
        )
    except (WandbAuthError, WandbUnavailable, WandbRedirectError, WandbUntrustedError):
        raise
    except WandbError:
        return True, None, None
    project = data.get("project")
    sweep = project.get("sweep") if isinstance(project, dict) else None
    if not isinstance(sweep, dict):
        return False, None, None
    viewer = data.get("viewer")
    return True, sweep.get("user"), viewer if isinstance(viewer, dict) else {}


def _same_user(creator: Any, viewer: Any) -> bool | None:
    """Whether two GraphQL `User`s are one, by id, else by username; None if that
    cannot be told (one of them missing, or nothing to compare)."""
    if not (isinstance(creator, dict) and isinstance(viewer, dict)):
        return None
    for key in ("id", "username"):
        mine, theirs = viewer.get(key), creator.get(key)
        if isinstance(mine, str) and mine and isinstance(theirs, str) and theirs:
            return mine == theirs
    return None


def _user_name(user: Any) -> str:
    name = user.get("username") or user.get("id") if isinstance(user, dict) else None
    return str(name)[:64] if name else "another user"


def _same_config(stored: Any, config_text: str, sent: Any) -> bool:
    """Whether a stored sweep config (YAML or JSON text) is, as data, the config sent.

    Types count (16 is not 16.0 nor "16"), key order does not. A text far longer than
    the config sent cannot be it and is not parsed.
    """
    if not isinstance(stored, str):
        return False
    if stored == config_text:
        return True
    if len(stored) > 8 * len(config_text) + 65536:
        return False
    try:
        try:
            parsed = json.loads(stored)
        except ValueError:
            parsed = parse_sweep_config(stored)  # bounded: a planted config may be a bomb
        return _same_data(parsed, sent)
    except Exception:  # noqa: BLE001 - YAML errors, too deep to parse, ...: not ours
        return False


def _same_data(theirs: Any, ours: Any) -> bool:
    """Equal as data, types included; the walk goes no deeper than `ours`."""
    if type(theirs) is not type(ours):
        return False
    if isinstance(ours, dict):
        if len(theirs) != len(ours):
            return False
        keys = {(type(k), k): k for k in ours}
        for key, value in theirs.items():
            match = keys.get((type(key), key), _MISSING)
            if match is _MISSING or not _same_data(value, ours[match]):
                return False
        return True
    if isinstance(ours, list):
        return len(theirs) == len(ours) and all(_same_data(a, b) for a, b in zip(theirs, ours, strict=True))
    return bool(theirs == ours)


_MISSING = object()

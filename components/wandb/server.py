"""Which W&B server and which sweep: base URLs, W&B names and ids, sweep paths and states.

The base URL receives the API key with every request (the deploy-time calls and every
agent pod), so its rules live here, in one place: https except for a server on this
machine, and no credentials in the URL.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, urlparse, urlsplit, urlunsplit

from ..checks import shown, type_name

# W&B sweep ids are short lowercase alphanumerics (8 characters on wandb.ai).
SWEEP_ID = re.compile(r"[a-z0-9]{4,64}")


# W&B entity and project names: letters, digits, '-', '_' and '.'.
WANDB_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


DEFAULT_BASE_URL = "https://api.wandb.ai"


DEFAULT_REQUEST_TIMEOUT = 20


DEFAULT_CALL_TIMEOUT = 30


class OnDestroy(StrEnum):
    """What `pulumi destroy` (or a replaced sweep) does to the sweep on W&B."""

    FINISH = "finish"
    CANCEL = "cancel"
    KEEP = "keep"

    @property
    def wandb_state(self) -> str | None:
        return {"finish": "FINISHED", "cancel": "CANCELED", "keep": None}[self.value]


def normalize_base_url(url: str) -> str:
    """A W&B server URL in one spelling: lowercase scheme and host, no trailing '/'.

    Two spellings of one server must not look like two servers: that would
    make a new sweep (and stop the old one) for nothing.
    """
    parsed = urlsplit(url.strip())
    return urlunsplit((parsed.scheme.lower(), parsed.netloc.lower(), parsed.path, "", "")).rstrip("/")


def base_url_problem(source: str, url: object) -> str | None:
    """Why `url` is not a W&B server URL the API key may be sent to, or None. Never raises.

    Every request to it carries the key (the program's, and every agent pod's), so:
    https, except for a server on this machine; and no user name or password in it,
    which would be kept in the stack's state and outputs and given to every pod.
    `source` names the key in the message. The message never shows credentials.
    """
    expected = f"{source}: must be an http(s) URL of a W&B server such as {DEFAULT_BASE_URL!r}"
    if not isinstance(url, str):
        return f"{expected}, got {type_name(url)}."
    safe = shown(url_without_credentials(url))
    try:
        parsed = urlparse(url)
        hostname, _port = parsed.hostname, parsed.port
        normalize_base_url(url)
    except ValueError as error:  # "Invalid IPv6 URL", a port out of range, NFKC surprises, ...
        return f"{expected}, got {safe} ({error})."
    if "@" in parsed.netloc:
        return (
            f"{source}: must not contain a user name or password: it would be kept in the stack's "
            "state and outputs and given to every agent pod. W&B gets the API key from wandbApiKey; "
            f"remove the part before '@'. Got {safe}."
        )
    if parsed.scheme not in ("http", "https") or not hostname or parsed.query or parsed.fragment:
        return f"{expected}, got {safe}."
    if any(c.isspace() or not c.isprintable() for c in url):
        return f"{expected}, without spaces or control characters, got {safe}."
    if parsed.scheme == "http" and not is_loopback_host(hostname):
        return (
            f"{source}: must be an https URL: every request to W&B, the agent pods' too, carries the "
            "API key. Plain http is allowed only for a server on this machine (localhost, 127.0.0.0/8 "
            f"or ::1). Got {safe}."
        )
    return None


def is_loopback_host(hostname: str) -> bool:
    """Whether `hostname` (as `urlsplit` gives it: lowercase, no brackets) is this machine:
    localhost, 127.0.0.0/8 or ::1. A name that merely resolves there is not."""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def url_without_credentials(url: str) -> str:
    """`url` with any user name and password replaced, for messages."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    end = re.search(r"[/?#]", rest)
    authority, tail = (rest[: end.start()], rest[end.start() :]) if end else (rest, "")
    if "@" in authority:
        authority = "[credentials]@" + authority.rpartition("@")[2]
    return scheme + separator + authority + tail


FINAL_STATES = frozenset({"FINISHED", "CANCELED"})


@dataclass(frozen=True)
class SweepPath:
    entity: str
    project: str
    sweep_id: str

    def __str__(self) -> str:
        return f"{self.entity}/{self.project}/{self.sweep_id}"


def sweep_path_from_text(text: str) -> SweepPath:
    """The inverse of `str(SweepPath)`: entity/project/id (W&B names contain no '/')."""
    entity, project, sweep_id = text.split("/")
    return SweepPath(entity, project, sweep_id)


def parse_sweep_path(text: object) -> SweepPath | None:
    """ENTITY/PROJECT/ID as a user or a stack output gives it, each part checked (W&B
    names, a sweep id); None if it is not one."""
    parts = text.split("/") if isinstance(text, str) and len(text) <= 400 else []
    if len(parts) != 3:
        return None
    entity, project, sweep_id = parts
    if WANDB_NAME.fullmatch(entity) and WANDB_NAME.fullmatch(project) and SWEEP_ID.fullmatch(sweep_id):
        return SweepPath(entity, project, sweep_id)
    return None


def sweep_url(base_url: str, path: SweepPath) -> str:
    """The sweep's page in the W&B app, as wandb names it: WANDB_APP_URL when set, else
    derived from the API URL (`wandb.util.api_to_app_url`)."""
    import wandb.env
    from wandb.util import api_to_app_url

    app_url = (wandb.env.get_app_url() or "").strip("/") or api_to_app_url(base_url.rstrip("/"))

    parts = (
        quote(path.entity, safe=""),
        quote(path.project, safe=""),
        "sweeps",
        quote(path.sweep_id, safe=""),
    )
    return app_url.rstrip("/") + "/" + "/".join(parts)

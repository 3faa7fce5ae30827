"""Whom the sweep provider trusts with the API key and with the pods' command (issues 11, 16).

- **No sweep hijack.** A create first looks for a PENDING sweep with its display
  name (a lost reply, an interrupted `up`). A teammate in the same entity who made
  such a sweep first, with their own `command`, would have the victim's pods run it
  with the victim's key. So the name is a digest keyed with the API key (nobody
  without the key can compute it), and a sweep found under it is adopted only if
  its stored config is the one this stack sends AND the server names the key's own
  user as its creator (`Sweep.user`). Whether the real server tells who created a
  sweep is unverified, so each reading (creator given, null, field unknown) is played
  by the test W&B server: where it does not tell, nothing is adopted, a new sweep is
  made and the provider's log (its stderr, which the Pulumi CLI shows for a Python
  dynamic provider) says why.
- **Trust nothing the server names.** A sweep id with a '/' (or anything W&B ids never
  hold), another entity or project than asked, an odd state: a named error, never a
  path the agents and destroy would use.
- **No redirect.** A request that carries the key follows no redirect: the answer
  becomes an error naming the server and the Location.
- **baseUrl.** https only, except a server on this machine; no credentials in it;
  the same for the shell's WANDB_BASE_URL and in the provider's check.

The provider runs as the engine runs it (engine_driver: its own process, over gRPC)
against the local W&B server; the program runs under the mock engine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from engine_driver import Engine, ProviderFailure
from pulumi_harness import SWEEP_TYPE, ProgramRun, cli_config, run_program
from sweep_inputs import SWEEP_YAML, inputs, lifecycle_inputs
from wandb_server import DEFAULT_ENTITY, DEFAULT_KEY, SWEEP_CREATOR_READINGS, WandbServer

from wandb_sweeps.checks import shown
from wandb_sweeps.errors import ConfigError
from wandb_sweeps.wandb.adoption import sweep_display_name
from wandb_sweeps.wandb.schema import sweep_config_text

CREATION_KEY = "wandb-sweeps/test/sweep"  # test_sweep_provider.inputs
OUR_NAME = sweep_display_name(SWEEP_YAML, CREATION_KEY, DEFAULT_KEY)
OUR_CONFIG = sweep_config_text(SWEEP_YAML)
"""The config text this stack sends to W&B (and a server stores as sent)."""
PLANTED_COMMAND = ["sh", "-c", 'echo "$WANDB_API_KEY" > /tmp/stolen']
TEAMMATE = "mallory"


@pytest.fixture(params=SWEEP_CREATOR_READINGS)
def any_server(request: pytest.FixtureRequest) -> Iterator[WandbServer]:
    """The test W&B server under each reading of `Sweep.user` (see wandb_server)."""
    with WandbServer(sweep_creator=request.param) as running:
        yield running


@pytest.fixture
def telling_server() -> Iterator[WandbServer]:
    """A server that tells who created a sweep."""
    with WandbServer(sweep_creator="user") as running:
        yield running


def create(server: WandbServer, **overrides: object) -> tuple[dict[str, Any], str]:
    """The sweep identity's create in a fresh provider process: its outputs and its log."""
    engine = Engine()
    try:
        _, outs = engine.create(
            inputs(server, **{"entity": DEFAULT_ENTITY, "request_timeout": 2, **overrides})
        )
    finally:
        log = engine.close()
    assert DEFAULT_KEY not in log
    return outs, log


def plant(server: WandbServer, config: str | dict[str, Any], *, by: str = TEAMMATE) -> Any:
    """A PENDING sweep named like ours in our entity and project, made by `by`."""
    return server.create_sweep(
        config, entity=DEFAULT_ENTITY, project="proj", display_name=OUR_NAME, created_by=by
    )


def with_planted_command() -> dict[str, Any]:
    config = yaml.safe_load(OUR_CONFIG)
    config["command"] = PLANTED_COMMAND
    return config


def untouched(server: WandbServer, planted: Any, before: Any) -> None:
    assert dataclasses.asdict(server.find_sweep(DEFAULT_ENTITY, "proj", planted.name)) == dataclasses.asdict(
        before
    )
    assert [r for r in server.writes() if (r.variables or {}).get("id")] == []


def is_ours(server: WandbServer, sweep_id: str) -> None:
    made = server.find_sweep(DEFAULT_ENTITY, "proj", sweep_id)
    assert made is not None and made.creator == DEFAULT_ENTITY and made.display_name == OUR_NAME
    assert yaml.safe_load(made.config) == yaml.safe_load(OUR_CONFIG)
    assert "command" not in yaml.safe_load(made.config)


# --- no sweep hijack --------------------------------------------------------------


NOT_OURS = {
    "other-config": "its config is not the one this stack sends",
    "other-user": f"it was created by {TEAMMATE!r}, not by {DEFAULT_ENTITY!r}",
    "null": "does not say who created it, so nothing proves it this stack's",
    "absent": "does not tell who created a sweep, so nothing proves it this stack's",
}
"""Why the provider's log says a sweep named like ours was left alone, by case."""


@pytest.mark.parametrize(
    ("reading", "maker", "config", "why_not"),
    [
        pytest.param("user", DEFAULT_ENTITY, "identical", None, id="named-ours-identical"),
        pytest.param("user", DEFAULT_ENTITY, "different", "other-config", id="named-ours-different"),
        pytest.param("user", TEAMMATE, "identical", "other-user", id="named-theirs-identical"),
        pytest.param("user", TEAMMATE, "different", "other-config", id="named-theirs-different"),
        pytest.param("null", TEAMMATE, "identical", "null", id="null-identical"),
        pytest.param("null", TEAMMATE, "different", "other-config", id="null-different"),
        pytest.param("absent", TEAMMATE, "identical", "absent", id="refused-identical"),
        pytest.param("absent", TEAMMATE, "different", "other-config", id="refused-different"),
    ],
)
def test_a_sweep_with_our_name_is_adopted_only_if_w_and_b_names_our_user_and_it_has_our_config(
    reading: str, maker: str, config: str, why_not: str | None
) -> None:
    """Issue 16's table: the creator named and ours, named and someone else's, null, and
    the field refused, each with our config and with another one (here: another command).
    Only the first is adopted. Before, a sweep whose creator the server did not tell
    (null, refused) was adopted on its config alone, so a teammate who copied the config
    owned the sweep our pods would run, PENDING until the first agent came."""
    with WandbServer(sweep_creator=reading) as server:
        planted = plant(server, OUR_CONFIG if config == "identical" else with_planted_command(), by=maker)
        before = dataclasses.replace(planted)
        mark = server.mark()
        outs, log = create(server)
        counts = server.operation_counts(mark)
        if why_not is None:
            assert outs["sweep_id"] == planted.name and len(server.sweeps) == 1
            assert counts == {"GetSweeps": 1, "GetSweepCreator": 1}
            assert "left alone" not in log
            return
        assert outs["sweep_id"] != planted.name and len(server.sweeps) == 2
        is_ours(server, outs["sweep_id"])
        untouched(server, planted, before)
        # The config is compared in the look-up's own reply; the creator is asked only for ours.
        asked = {} if why_not == "other-config" else {"GetSweepCreator": 1}
        assert counts == {"GetSweeps": 1, **asked, "UpsertSweep": 1}
        assert f"{DEFAULT_ENTITY}/proj/{planted.name}" in log, log
        assert NOT_OURS[why_not] in log and "left alone" in log, log


def name_0_2_0(config_yaml: str, creation_key: str) -> str:
    """The display name as wandb-sweeps 0.2.0 computed it: from the repository alone."""
    digest = hashlib.sha256(f"{creation_key}\n{config_yaml}".encode()).hexdigest()[:10]
    return f"{creation_key} {digest}"


@pytest.mark.parametrize("reading", ["null", "absent"])
def test_the_display_name_cannot_be_computed_from_the_repository(reading: str) -> None:
    """The teammate's first step: compute the name the stack will look for, from its
    project, stack, resource and sweep file, and make a sweep under it first. Before, that
    name was a plain digest of those, and (where the server does not tell the creator) the
    planted sweep was adopted. Now it is keyed with the API key: the look-up does not
    even find it."""
    with WandbServer(sweep_creator=reading) as server:
        planted = server.create_sweep(
            OUR_CONFIG,
            entity=DEFAULT_ENTITY,
            project="proj",
            display_name=name_0_2_0(SWEEP_YAML, CREATION_KEY),
            created_by=TEAMMATE,
        )
        before = dataclasses.replace(planted)
        outs, log = create(server)
        assert outs["sweep_id"] != planted.name
        is_ours(server, outs["sweep_id"])
        untouched(server, planted, before)
        assert planted.name not in log  # not even found: nothing to say about it


def test_the_display_name_is_a_digest_keyed_with_the_api_key() -> None:
    other_key = "local-" + "m" * 40
    assert sweep_display_name(SWEEP_YAML, CREATION_KEY, DEFAULT_KEY) == OUR_NAME  # deterministic
    assert sweep_display_name(SWEEP_YAML, CREATION_KEY, other_key) != OUR_NAME
    assert OUR_NAME.startswith(f"{CREATION_KEY} ") and DEFAULT_KEY not in OUR_NAME
    assert name_0_2_0(SWEEP_YAML, CREATION_KEY) != OUR_NAME
    named = "name: lr-search\n" + SWEEP_YAML
    assert sweep_display_name(named, CREATION_KEY, DEFAULT_KEY).startswith(f"lr-search [{CREATION_KEY} ")


def test_our_config_stored_in_another_spelling_is_still_ours(telling_server: WandbServer) -> None:
    """Compared as data, not as text: a server that stores it as JSON, or reformatted."""
    planted = plant(telling_server, json.dumps(yaml.safe_load(OUR_CONFIG), indent=2), by=DEFAULT_ENTITY)
    outs, _ = create(telling_server)
    assert outs["sweep_id"] == planted.name and len(telling_server.sweeps) == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["parameters"]["batch_size"].update(values=[16.0, 32.0]),  # a float is not an int
        lambda c: c["parameters"]["batch_size"].update(values=["16", "32"]),
        lambda c: c.update(program="evil.py"),
        lambda c: c.update(extra=None),
    ],
    ids=["float-for-int", "text-for-int", "other-program", "extra-key"],
)
def test_a_config_that_is_only_nearly_ours_is_not_adopted(telling_server: WandbServer, change: Any) -> None:
    config = yaml.safe_load(OUR_CONFIG)
    change(config)
    planted = plant(telling_server, config, by=DEFAULT_ENTITY)
    outs, log = create(telling_server)
    assert outs["sweep_id"] != planted.name and "its config is not the one" in log


def test_a_planted_config_of_nested_aliases_is_refused_quickly(telling_server: WandbServer) -> None:
    """A YAML alias bomb in the stored config must not stall the create."""
    bomb = ["program: train.py", 'a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb.append("parameters: *a8")
    planted = plant(telling_server, "\n".join(bomb) + "\n", by=DEFAULT_ENTITY)
    started = time.monotonic()
    outs, log = create(telling_server)
    assert time.monotonic() - started < 15
    assert outs["sweep_id"] != planted.name and "its config is not the one" in log


@pytest.mark.parametrize("fault", ["lost-reply", "interrupted-up"])
def test_our_own_sweep_is_adopted_where_w_and_b_names_our_user_and_left_pending_elsewhere(
    any_server: WandbServer, fault: str
) -> None:
    """A create whose reply was lost, or an `up` re-run after it was interrupted: where the
    server names the key's user as the creator, the sweep it made is adopted (no
    duplicate), at the cost of one more request (who made it). Where the server does not
    tell (null, refused), nothing proves it ours: a new sweep is made, the first stays
    PENDING without agents, and the log says so and how to clean up."""
    mark = any_server.mark()
    if fault == "lost-reply":
        any_server.inject(operation="UpsertSweep", drop_reply_after_acting=True)
        outs, log = create(any_server, call_timeout=10)
    else:
        create(any_server)
        outs, log = create(any_server)
    if any_server.sweep_creator == "user":
        assert [s.name for s in any_server.sweeps] == [outs["sweep_id"]]
        assert any_server.operation_counts(mark) == {"GetSweeps": 2, "UpsertSweep": 1, "GetSweepCreator": 1}
        assert "left alone" not in log
        return
    first, second = any_server.sweeps
    assert second.name == outs["sweep_id"] and first.state == "PENDING"
    assert first.display_name == second.display_name == OUR_NAME
    assert any_server.operation_counts(mark) == {"GetSweeps": 2, "UpsertSweep": 2, "GetSweepCreator": 1}
    assert NOT_OURS[any_server.sweep_creator] in log and f"{DEFAULT_ENTITY}/proj/{first.name}" in log
    assert "If an earlier, interrupted `pulumi up` of this stack made it, delete it" in log


def test_our_sweep_is_found_behind_planted_ones(telling_server: WandbServer) -> None:
    """An interrupted `up`, then a teammate plants two sweeps with our name (newer, so
    listed first): the re-run passes over them to the sweep it made."""
    first, _ = create(telling_server)
    planted = [plant(telling_server, with_planted_command()), plant(telling_server, OUR_CONFIG)]
    outs, log = create(telling_server)
    assert outs["sweep_id"] == first["sweep_id"] and len(telling_server.sweeps) == 3
    for sweep in planted:
        assert f"{DEFAULT_ENTITY}/proj/{sweep.name}" in log
        assert telling_server.find_sweep(DEFAULT_ENTITY, "proj", sweep.name).state == "PENDING"


# --- trust nothing the server names -------------------------------------------------


def _set(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """`body` (a GraphQL reply) with the field at `path` under `data` set to `value`."""
    node = body["data"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


BAD_IDS = [
    "abcd/efgh",
    "../../x",
    "ABCD1234",
    "abcd 1234",
    "abcd1234\x1b[2J",
    "",
    12345678,
    None,
    DEFAULT_KEY,
]
"""Sweep ids no W&B server gives: a '/' (which moves SWEEP_PATH and destroy elsewhere),
uppercase, a space, a terminal escape, empty, not text, the key echoed back (never shown)."""


def replied(failure: pytest.ExceptionInfo[ProviderFailure], server: WandbServer, action: str) -> str:
    """The error a bad reply gives: named, naming the server, the request and what it answered."""
    message = str(failure.value)
    assert "WandbReplyError" in message
    assert f"W&B at {server.base_url} answered the request to {action} with " in message
    assert "\x1b" not in message and DEFAULT_KEY not in message
    return message


@pytest.mark.parametrize("sweep_id", BAD_IDS, ids=lambda v: "the-key" if v == DEFAULT_KEY else repr(v))
def test_a_create_reply_naming_a_sweep_id_w_and_b_never_gives_is_an_error_and_not_retried(
    server: WandbServer, sweep_id: Any
) -> None:
    """Before, `abcd/efgh` became the sweep's path `alice/proj/abcd/efgh`: the agents'
    SWEEP_PATH and destroy went elsewhere. The server acted, so the create is not sent
    again (that could make a second sweep): the error says where to look."""
    server.rewrite_replies("UpsertSweep", lambda body: _set(body, ("upsertSweep", "sweep", "name"), sweep_id))
    with pytest.raises(ProviderFailure) as failure:
        create(server)
    message = replied(failure, server, f"create a sweep in {DEFAULT_ENTITY}/proj")
    shown_id = shown(sweep_id).replace(DEFAULT_KEY, "[API key]")
    assert f"the sweep id {shown_id}, which no W&B server gives" in message
    assert f"look for {OUR_NAME!r} in {DEFAULT_ENTITY}/proj in the W&B app" in message
    assert server.operation_counts() == {"GetSweeps": 1, "UpsertSweep": 1}
    assert len(server.sweeps) == 1


@pytest.mark.parametrize(
    ("field", "path", "value"),
    [
        ("entity", ("upsertSweep", "sweep", "project", "entity", "name"), TEAMMATE),
        ("project", ("upsertSweep", "sweep", "project", "name"), "other"),
        ("project", ("upsertSweep", "sweep", "project", "name"), "proj/sweeps"),
    ],
    ids=["another-entity", "another-project", "project-with-slash"],
)
def test_a_create_reply_naming_another_entity_or_project_than_asked_is_an_error(
    server: WandbServer, field: str, path: tuple[str, ...], value: str
) -> None:
    """Before, the sweep's path was taken from the reply: agents and destroy followed it."""
    server.rewrite_replies("UpsertSweep", lambda body: _set(body, path, value))
    with pytest.raises(ProviderFailure) as failure:
        create(server)
    message = replied(failure, server, f"create a sweep in {DEFAULT_ENTITY}/proj")
    asked = DEFAULT_ENTITY if field == "entity" else "proj"
    assert f"the {field} {value!r}, not {asked!r} as asked" in message
    assert server.operation_counts() == {"GetSweeps": 1, "UpsertSweep": 1}


def test_a_listed_sweep_named_like_ours_with_an_id_w_and_b_never_gives_is_an_error(
    telling_server: WandbServer,
) -> None:
    plant(telling_server, OUR_CONFIG, by=DEFAULT_ENTITY)
    telling_server.rewrite_replies(
        "GetSweeps",
        lambda body: _set(body, ("project", "sweeps", "edges", 0, "node", "name"), "x/../../y"),
    )
    with pytest.raises(ProviderFailure) as failure:
        create(telling_server)
    message = replied(failure, telling_server, f"look for sweep {OUR_NAME!r} in {DEFAULT_ENTITY}/proj")
    assert "the sweep id 'x/../../y', which no W&B server gives" in message
    assert telling_server.operation_counts() == {"GetSweeps": 1}  # nothing asked about it, nothing made


def test_a_default_entity_w_and_b_never_gives_is_an_error(server: WandbServer) -> None:
    server.rewrite_replies("GetDefaultEntity", lambda body: _set(body, ("viewer", "entity"), "alice/../x"))
    with pytest.raises(ProviderFailure) as failure:
        create(server, entity="")
    message = replied(failure, server, "look up the API key's default entity")
    assert "the entity 'alice/../x'" in message
    assert server.operation_counts() == {"GetDefaultEntity": 1} and server.sweeps == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("state", "PENDING\x1b]0;owned\x07"), ("state", None), ("id", {"$ne": None}), ("id", "x" * 100_000)],
    ids=["escape-state", "no-state", "id-object", "huge-id"],
)
def test_a_read_reply_w_and_b_never_gives_reaches_no_state_and_stops_nothing(
    server: WandbServer, field: str, value: Any
) -> None:
    """Refresh (both resources' reads) records nothing of it, with a warning; destroy
    (which reads the sweep's id and state before it stops it) fails with the named error
    and changes nothing."""
    outs, _ = create(server)
    server.rewrite_replies("GetSweep", lambda body: _set(body, ("project", "sweep", field), value), times=3)
    engine = Engine()
    try:
        _, read = engine.read(str(outs["sweep_path"]), outs)
        life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
        _, life_read = engine.lifecycle.read(life_id, life)
        with pytest.raises(ProviderFailure) as failure:
            engine.lifecycle.delete(life_id, life)
    finally:
        log = engine.close()
    for outputs in (read, life_read):
        assert outputs.get("sweep_state") in (None, "PENDING")
    replied(failure, server, f"read sweep {outs['sweep_path']}")
    assert "pulumi refresh could not look at sweep" in log and "\x1b" not in log
    assert [r.operation_name for r in server.writes()] == ["UpsertSweep"]  # the create alone
    assert server.find_sweep(DEFAULT_ENTITY, "proj", outs["sweep_id"]).state == "PENDING"


# --- no redirect --------------------------------------------------------------------


class Recorder:
    """Another server on 127.0.0.1 (another port) that notes every request it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                """Quiet."""

            def _note(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                recorder.requests.append((self.command, self.path, dict(self.headers)))
                body = b'{"data": {}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _note

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    running = Recorder()
    yield running
    running.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_the_key_goes_nowhere_else(
    server: WandbServer, recorder: Recorder, status: int
) -> None:
    target = f"{recorder.url}/graphql"
    server.inject(status=status, location=target, times=100)
    with pytest.raises(ProviderFailure) as failure:
        create(server)
    assert recorder.requests == []
    message = str(failure.value)
    assert f"W&B at {server.base_url} answered HTTP {status}, a redirect to {target}" in message
    assert "set baseUrl to its final address" in message
    assert DEFAULT_KEY not in message
    assert server.operation_counts() == {"GetSweeps": 1}  # not retried, no fallback listing
    assert server.sweeps == []


def test_a_redirect_on_refresh_is_not_followed_either(server: WandbServer, recorder: Recorder) -> None:
    """The refresh that runs before every `up` (Pulumi.yaml: the lifecycle resource reads
    the sweep) leaves it as it is and says why, rather than stopping the `up`; the key
    still goes nowhere else."""
    outs, _ = create(server)
    engine = Engine()
    try:
        life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
        server.inject(status=302, location=f"{recorder.url}/graphql", times=100)
        read = engine.lifecycle.read(life_id, life)
    finally:
        log = engine.close()
    assert read == (life_id, life)
    assert recorder.requests == [] and "a redirect to" in log


def test_the_location_is_shown_without_credentials(server: WandbServer, recorder: Recorder) -> None:
    host = recorder.url.removeprefix("http://")
    server.inject(status=307, location=f"http://someone:hunter2@{host}/graphql", times=100)
    with pytest.raises(ProviderFailure) as failure:
        create(server)
    assert "hunter2" not in str(failure.value) and recorder.requests == []


# --- baseUrl -------------------------------------------------------------------------

API_KEY = "local-" + "k" * 40
PASSWORD = "pw-" + "q" * 12


def config_with_url(monkeypatch: pytest.MonkeyPatch, source: str, url: str) -> dict[str, str]:
    """The dev stack's config with the server `url` given as `source` says: the baseUrl
    key, or the deploying shell's WANDB_BASE_URL."""
    if source == "baseUrl":
        return cli_config("dev", wandbApiKey=API_KEY, baseUrl=url)
    monkeypatch.setenv("WANDB_BASE_URL", url)
    return cli_config("dev", wandbApiKey=API_KEY)


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        ("http://wandb.example.com", ["must be an https URL", "only for a server on this machine"]),
        ("http://10.0.0.7:8080", ["must be an https URL"]),
        ("http://127.0.0.1.nip.io", ["must be an https URL"]),
        ("http://[::ffff:10.0.0.7]", ["must be an https URL"]),
        (f"https://user:{PASSWORD}@wandb.example.com", ["must not contain a user name or password"]),
        (f"https://{PASSWORD}@wandb.example.com", ["must not contain a user name or password"]),
        (f"http://user:{PASSWORD}@localhost:8080", ["must not contain a user name or password"]),
    ],
)
@pytest.mark.parametrize("source", ["baseUrl", "WANDB_BASE_URL (environment)"])
def test_the_program_refuses_an_unsafe_server_url_before_registering_anything(
    monkeypatch: pytest.MonkeyPatch, source: str, url: str, fragments: list[str]
) -> None:
    run = ProgramRun()
    with pytest.raises(ConfigError) as raised:
        run_program("dev", config_with_url(monkeypatch, source, url), secret_keys=("wandbApiKey",), run=run)
    (problem,) = raised.value.problems
    assert problem.startswith(f"{source}: ")
    for fragment in fragments:
        assert fragment in problem, problem
    assert PASSWORD not in problem and API_KEY not in problem
    assert run.registrations == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://LOCALHOST",
        "http://127.3.2.1",
        "http://[::1]:8080",
    ],
)
@pytest.mark.parametrize("source", ["baseUrl", "WANDB_BASE_URL (environment)"])
def test_plain_http_to_a_server_on_this_machine_is_accepted(
    monkeypatch: pytest.MonkeyPatch, source: str, url: str
) -> None:
    run = run_program("dev", config_with_url(monkeypatch, source, url), secret_keys=("wandbApiKey",))
    sweep = run.one(SWEEP_TYPE).inputs
    resolved = sweep["base_url"] if source == "baseUrl" else sweep["default_base_url"]
    assert resolved == url.lower()


@pytest.mark.parametrize(
    ("key", "url", "fragment"),
    [
        ("base_url", "http://wandb.example.com", "must be an https URL"),
        (
            "base_url",
            f"https://user:{PASSWORD}@wandb.example.com",
            "must not contain a user name or password",
        ),
        ("default_base_url", "http://wandb.example.com", "must be an https URL"),
    ],
)
def test_the_providers_check_refuses_an_unsafe_server_url(
    server: WandbServer, key: str, url: str, fragment: str
) -> None:
    """The same rule for the sweep's own inputs (a program that builds the resource itself,
    an input from another resource): the check fails, so nothing reaches state."""
    news = inputs(server, **{key: url, **({"base_url": ""} if key == "default_base_url" else {})})
    engine = Engine()
    try:
        failures = engine.check({}, news)
    finally:
        engine.close()
    assert [(f.property, fragment in f.reason) for f in failures] == [(key, True)], failures
    assert all(PASSWORD not in f.reason for f in failures)
    assert server.requests == []

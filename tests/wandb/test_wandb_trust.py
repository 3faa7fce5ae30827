"""Whom the sweep provider trusts with the API key and with the pods' command (issue 11).

- **No sweep hijack.** A create first looks for a PENDING sweep with its display
  name (a lost reply, an interrupted `up`). That name is computable from the repo,
  so a teammate in the same entity can make such a sweep first, with their own
  `command`. Only a sweep whose stored config is the one this stack sends, and,
  where the server tells (`Sweep.user`), that the key's own user created, is
  adopted; anything else is left alone, a new sweep is made and the provider's log
  (its stderr, which the Pulumi CLI shows for a Python dynamic provider) says why.
  Whether the real server tells who created a sweep is unverified, so each reading
  (creator given, null, field unknown) is played by the test W&B server.
- **No redirect.** A request that carries the key follows no redirect: the answer
  becomes an error naming the server and the Location.
- **baseUrl.** https only, except a server on this machine; no credentials in it;
  the same for the shell's WANDB_BASE_URL and in the provider's check.

The provider runs as the engine runs it (engine_driver: its own process, over
gRPC) against the local W&B server; the program runs under the mock engine.
"""

from __future__ import annotations

import dataclasses
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
from sweep_inputs import SWEEP_YAML, inputs
from wandb_server import DEFAULT_ENTITY, DEFAULT_KEY, SWEEP_CREATOR_READINGS, WandbServer

from wandb_sweeps.errors import ConfigError
from wandb_sweeps.wandb.adoption import sweep_display_name
from wandb_sweeps.wandb.schema import sweep_config_text

CREATION_KEY = "wandb-sweeps/test/sweep"  # test_sweep_provider.inputs
OUR_NAME = sweep_display_name(SWEEP_YAML, CREATION_KEY)
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
        _, outs = engine.create(inputs(server, entity=DEFAULT_ENTITY, request_timeout=2, **overrides))
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


@pytest.mark.parametrize("by", [TEAMMATE, DEFAULT_ENTITY])
def test_a_planted_sweep_with_our_name_and_another_command_is_not_adopted(
    any_server: WandbServer, by: str
) -> None:
    """The hijack of issue 11: the victim's pods would run the planted command with its key.
    Whoever made it and whatever the server tells: its config is not ours."""
    planted = plant(any_server, with_planted_command(), by=by)
    before = dataclasses.replace(planted)
    mark = any_server.mark()
    outs, log = create(any_server)
    assert outs["sweep_id"] != planted.name
    is_ours(any_server, outs["sweep_id"])
    untouched(any_server, planted, before)
    assert len(any_server.sweeps) == 2
    # The config is compared in the look-up's own reply: no request more than a first create.
    assert any_server.operation_counts(mark) == {"GetSweeps": 1, "UpsertSweep": 1}
    assert f"{DEFAULT_ENTITY}/proj/{planted.name}" in log and "its config is not the one" in log
    assert "left alone" in log


def test_a_planted_sweep_with_our_config_made_by_another_user_is_not_adopted(
    telling_server: WandbServer,
) -> None:
    planted = plant(telling_server, OUR_CONFIG)
    before = dataclasses.replace(planted)
    outs, log = create(telling_server)
    assert outs["sweep_id"] != planted.name
    is_ours(telling_server, outs["sweep_id"])
    untouched(telling_server, planted, before)
    assert f"{DEFAULT_ENTITY}/proj/{planted.name}" in log
    assert f"created by {TEAMMATE!r}" in log and f"not by {DEFAULT_ENTITY!r}" in log


@pytest.mark.parametrize("reading", ["null", "absent"])
def test_where_the_server_does_not_tell_the_creator_our_exact_config_is_adopted(reading: str) -> None:
    """Same config, so the same command: the pods run what this stack asked for. Without a
    creator to compare (null, or no such field: the probe is refused), it is adopted."""
    with WandbServer(sweep_creator=reading) as server:
        planted = plant(server, OUR_CONFIG)
        mark = server.mark()
        outs, _ = create(server)
        assert outs["sweep_id"] == planted.name and len(server.sweeps) == 1
        assert server.operation_counts(mark) == {"GetSweeps": 1, "GetSweepCreator": 1}
        if reading == "absent":
            assert server.requests[-1].status == 400  # the query did not validate


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
def test_our_own_sweep_is_still_adopted_under_every_reading(any_server: WandbServer, fault: str) -> None:
    """0 duplicates: a create whose reply was lost, or an `up` re-run after it was
    interrupted, adopts the sweep it made, at the cost of one more request (who made it)."""
    mark = any_server.mark()
    if fault == "lost-reply":
        any_server.inject(operation="UpsertSweep", drop_reply_after_acting=True)
        outs, log = create(any_server, call_timeout=10)
        expected = {"GetSweeps": 2, "UpsertSweep": 1, "GetSweepCreator": 1}
    else:
        first, _ = create(any_server)
        outs, log = create(any_server)
        assert outs["sweep_id"] == first["sweep_id"]
        expected = {"GetSweeps": 2, "UpsertSweep": 1, "GetSweepCreator": 1}
    assert [s.name for s in any_server.sweeps] == [outs["sweep_id"]]
    assert any_server.operation_counts(mark) == expected
    assert "left alone" not in log


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
    """The refresh that runs before every `up` (Pulumi.yaml) leaves the sweep as it is and
    says why, rather than stopping the `up`; the key still goes nowhere else."""
    outs, _ = create(server)
    server.inject(status=302, location=f"{recorder.url}/graphql", times=100)
    engine = Engine()
    try:
        id_, read = engine.read(str(outs["sweep_path"]), outs)
    finally:
        log = engine.close()
    assert (id_, read["sweep_state"]) == (str(outs["sweep_path"]), outs["sweep_state"])
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

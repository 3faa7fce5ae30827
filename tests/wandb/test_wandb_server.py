"""Tests of the local W&B server, driven by the REAL wandb 0.31 client.

They prove that the operations the sweep provider uses work against
``tests/wandb_server.py`` exactly as the client sends them, and they pin
down how the client (its bundled wandb-core process, which does the HTTP)
reacts to failures, so that tests of the provider can rely on these facts.

Measured facts (wandb 0.31.0, this machine):

* Settings: ``wandb.Api(overrides=...)`` only takes ``base_url``, ``entity``,
  ``project``, ``organization``; retry and timeout settings must go through
  ``wandb.setup(settings=wandb.Settings(...))`` or environment variables
  (``WANDB__GRAPHQL_RETRY_MAX=1`` works) before the ``Api`` is built;
  ``WANDB_HTTP_TIMEOUT`` sets both the per-request timeout and, if set before
  ``wandb`` is imported, the Python-side one below. wandb-core honours
  ``x_graphql_retry_max`` (N retries = N + 1 attempts) and
  ``x_graphql_timeout_seconds`` (per HTTP request). It IGNORES
  ``x_graphql_retry_wait_min_seconds`` / ``..._max_seconds`` for these
  requests: the back-off is about 2 s, 4 s, 8 s whatever they are set to.
  ``wandb.Api(timeout=...)`` (default 19 s) is how long Python waits for
  wandb-core; past it: ``WandbApiFailedError("... the service process is busy
  and did not respond in time.")`` while wandb-core may still be retrying.
* Defaults, without those settings: a persistent 500 was tried 4 times
  (back-off 2, 4, 8 s) before the 19 s Python timeout fired; a reply slow
  by 3 s was waited for (no retry).
* Retried by wandb-core: HTTP 408, 429, 500, 502, 503, 504 and a connection
  closed without a reply; a single failure costs about 2.2-2.5 s.
  NOT retried: 400, 401, 403, 404, 409 (one request, immediate error).
* Giving up: ``WandbApiFailedError("POST <base>/graphql giving up after
  N attempt(s)\\nwhile retrying: HTTP 500: <server message>")``.
* ``_upsert_sweep`` catches ANY error and re-sends the next of its five
  mutation variants, so a non-retried error on a create (e.g. 403 once)
  is re-sent at once with the next variant and may succeed; a GraphQL
  error that every variant gets (e.g. reconfiguring a started sweep)
  reaches the server 5 times, then ``CommError`` with the server's message
  prefixed by wandb-core with the location and path
  (``"input:14:9: upsertSweep cannot reconfigure sweep ..."``).
* ``_upsert_sweep`` also exports the sweep's project and entity:
  it sets ``os.environ["WANDB_PROJECT"]`` / ``["WANDB_ENTITY"]`` and
  ``api.settings``.
* Dropped reply after the server created the sweep: wandb-core re-sends the
  create about 2.2 s later and a SECOND sweep is made; the client gets the
  second one, the first is an orphan. Same for a reply slower than
  ``x_graphql_timeout_seconds``.
* Unknown API key: ``wandb.Api(api_key=...)`` verifies the key at once (a
  ``Viewer`` query from wandb-core, not retried) and raises
  ``wandb.errors.AuthenticationError("Failed to verify credentials with
  <base_url>: user is not logged in")``; the key is not in the message.
  A key revoked after that gives ``WandbApiFailedError("user is not logged
  in")`` with ``response.http_status == 401``.
* Missing objects: ``api.sweep(path)`` -> ``CommError("Could not find sweep
  ...")``; ``_get_sweep_state`` -> ``TypeError`` (it subscripts the null);
  ``_sweep_with_runs`` / ``_set_sweep_state`` -> ``CommError("Sweep e/p/id not
  found")``; listing the sweeps of a missing project -> ``ValueError("Could
  not find project 'x'")``.
* ``_set_sweep_state`` refuses on the client side, without a write, to pause
  a sweep that is not RUNNING/PAUSED, and to stop (non-RUNNING target) one
  that is already finished or canceled.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wandb
from wandb.apis._generated import GET_SWEEP_GQL, GET_SWEEPS_GQL
from wandb.apis.public import sweeps as wandb_sweeps
from wandb.errors import AuthenticationError, CommError
from wandb.sdk.lib.service.service_connection import WandbApiFailedError

try:
    from wandb_server import DEFAULT_KEY, GraphQLRequest, WandbServer
except ImportError:  # tests/ is a package: only the qualified name resolves.
    from tests.wandb_server import DEFAULT_KEY, GraphQLRequest, WandbServer

RETRY_MAX = 1
"""wandb-core retries once: enough to observe retries, short enough to be fast."""
HTTP_TIMEOUT = 1.0
"""Seconds wandb-core waits for one HTTP reply before it retries."""
API_TIMEOUT = 15
"""Seconds Python waits for wandb-core: longer than any retry sequence here."""
BACKOFF_RANGE = (1.5, 4.0)
"""Bounds of wandb-core's first back-off (measured 2.2-2.5 s)."""

CONFIG: dict[str, Any] = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.1, 0.01]}, "seed": {"value": "007"}},
}
OTHER_KEY = "local-" + "b" * 40
UNKNOWN_KEY = "local-" + "u" * 40


@pytest.fixture(autouse=True)
def isolated_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A private home and a fresh wandb-core with short retries for each test.

    wandb reads its settings when its process-wide singleton is made, so it
    is torn down before (to forget another test's environment) and after.
    """
    for name in [n for n in os.environ if n.startswith("WANDB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, sub in [
        ("WANDB_CONFIG_DIR", "config"),
        ("WANDB_DIR", "dir"),
        ("WANDB_CACHE_DIR", "cache"),
        ("WANDB_DATA_DIR", "data"),
    ]:
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(name, str(tmp_path / sub))
    wandb.teardown()
    wandb.setup(
        settings=wandb.Settings(x_graphql_retry_max=RETRY_MAX, x_graphql_timeout_seconds=HTTP_TIMEOUT)
    )
    yield
    wandb.teardown()
    # _upsert_sweep exports these; monkeypatch only restores what it touched.
    for name in ("WANDB_ENTITY", "WANDB_PROJECT"):
        os.environ.pop(name, None)


@pytest.fixture
def server() -> Iterator[WandbServer]:
    with WandbServer() as running:
        yield running


def connect(server: WandbServer, key: str = DEFAULT_KEY) -> wandb.Api:
    return wandb.Api(api_key=key, overrides={"base_url": server.base_url}, timeout=API_TIMEOUT)


def create_sweep(api: wandb.Api, project: str = "proj", display_name: str | None = "my-sweep") -> str:
    """Create a sweep in the caller's entity (entityName null); returns its id."""
    sweep, warnings = wandb_sweeps._upsert_sweep(
        api, CONFIG, entity=None, project=project, display_name=display_name
    )
    assert warnings == []
    return sweep["name"]


def operations(requests: list[GraphQLRequest]) -> list[str | None]:
    return [r.operation_name for r in requests]


def gaps(requests: list[GraphQLRequest]) -> list[float]:
    """Seconds between consecutive requests: the client's back-off."""
    return [b.received_at - a.received_at for a, b in itertools.pairwise(requests)]


# -- the operations the provider uses ------------------------------------------


def test_viewer_and_default_entity(server: WandbServer) -> None:
    api = connect(server)
    assert api.default_entity == "alice"
    assert api.viewer.username == "alice"
    assert api.viewer.entity == "alice"
    # wandb-core verifies the key with its own Viewer query.
    assert operations(server.requests) == ["Viewer", "GetDefaultEntity", "GetViewer"]
    assert {r.api_key for r in server.requests} == {DEFAULT_KEY}
    assert {r.status for r in server.requests} == {200}
    assert server.writes() == []


def test_each_key_is_its_own_entity() -> None:
    with WandbServer({DEFAULT_KEY: "alice", OTHER_KEY: "bob"}) as server:
        assert connect(server, OTHER_KEY).default_entity == "bob"
        assert connect(server, DEFAULT_KEY).default_entity == "alice"


def test_create_sweep(server: WandbServer) -> None:
    api = connect(server)
    name = create_sweep(api)

    assert re.fullmatch(r"[a-z0-9]{8}", name)
    (write,) = server.writes()
    # The first variant the client tries (with launchScheduler and
    # templateVariableValues) is accepted.
    assert write.operation_name == "UpsertSweep"
    assert "templateVariableValues" in write.query
    assert "launchScheduler" in write.query
    assert write.variables["entityName"] is None  # -> the caller's entity
    (sweep,) = server.sweeps
    assert (sweep.entity, sweep.project, sweep.name) == ("alice", "proj", name)
    assert sweep.config == write.variables["config"]  # stored verbatim
    assert "value: '007'" in sweep.config  # the client's YAML, untouched
    assert sweep.state == "PENDING"
    assert sweep.display_name == "my-sweep"
    assert sweep.gql_id != name
    assert server.find_sweep("alice", "proj", name) is sweep
    assert os.environ["WANDB_ENTITY"] == "alice"  # the client's side effect


def test_read_sweep(server: WandbServer) -> None:
    api = connect(server)
    name = create_sweep(api)

    sweep = api.sweep(f"alice/proj/{name}")
    assert sweep.state == "PENDING"
    assert sweep.config == CONFIG
    assert sweep.name == "my-sweep"  # the display name wins
    assert sweep.url == f"{server.base_url}/alice/proj/sweeps/{name}"
    state = wandb_sweeps._get_sweep_state(api, name, entity="alice", project="proj")
    assert state == "PENDING"
    details = wandb_sweeps._sweep_with_runs(api, name, "{}", entity="alice", project="proj")
    assert details["id"] == server.sweeps[0].gql_id
    assert details["method"] == "grid"
    assert details["runs"] == []


def test_missing_sweep_and_project_resolve_to_null(server: WandbServer) -> None:
    api = connect(server)
    create_sweep(api)
    execute = api._service_api.execute_graphql

    def get(project: str) -> Any:
        variables = {"entity": "alice", "project": project, "name": "nosuchid"}
        return execute(GET_SWEEP_GQL, variables=variables)

    assert get("proj") == {"project": {"sweep": None}}
    assert get("other") == {"project": None}
    with pytest.raises(CommError, match="Could not find sweep"):
        api.sweep("alice/proj/nosuchid")
    with pytest.raises(CommError, match="Sweep alice/proj/nosuchid not found"):
        wandb_sweeps._sweep_with_runs(api, "nosuchid", "{}", entity="alice", project="proj")
    with pytest.raises(TypeError):  # the client subscripts the null
        wandb_sweeps._get_sweep_state(api, "nosuchid", entity="alice", project="p")
    with pytest.raises(ValueError, match="Could not find project 'other'"):
        list(api.project("other", "alice").sweeps())


def test_list_sweeps_with_filters(server: WandbServer) -> None:
    api = connect(server)
    first = create_sweep(api, display_name="a")
    second = create_sweep(api, display_name="b")
    project = api.project("proj", "alice")

    assert [s.id for s in project.sweeps()] == [second, first]  # newest first
    for filters in ({"displayName": "a"}, {"$and": [{"displayName": "a"}]}):
        assert [s.id for s in project.sweeps(filters=filters)] == [first]
    assert list(project.sweeps(filters={"displayName": "zzz"})) == []
    listing = [r for r in server.requests if r.operation_name == "GetSweeps"]
    assert json.loads(listing[1].variables["filters"]) == {"displayName": "a"}


def test_get_sweeps_query_pages(server: WandbServer) -> None:
    api = connect(server)
    names = [create_sweep(api, display_name=f"s{i}") for i in range(3)]
    execute = api._service_api.execute_graphql
    variables = {"entity": "alice", "project": "proj", "perPage": 2}

    page = execute(GET_SWEEPS_GQL, variables={**variables, "filters": "{}"})
    project = page["project"]
    assert project["totalSweeps"] == 3
    assert [e["node"]["name"] for e in project["sweeps"]["edges"]] == names[:0:-1]
    assert project["sweeps"]["pageInfo"]["hasNextPage"] is True
    cursor = project["sweeps"]["pageInfo"]["endCursor"]
    rest = execute(GET_SWEEPS_GQL, variables={**variables, "filters": "{}", "cursor": cursor})["project"][
        "sweeps"
    ]
    assert [e["node"]["name"] for e in rest["edges"]] == names[:1]
    assert rest["pageInfo"]["hasNextPage"] is False
    filters = json.dumps({"$or": [{"displayName": "s0"}, {"displayName": "s2"}]})
    edges = execute(GET_SWEEPS_GQL, variables={**variables, "filters": filters})["project"]["sweeps"]["edges"]
    assert [e["node"]["displayName"] for e in edges] == ["s2", "s0"]


def test_set_sweep_state(server: WandbServer) -> None:
    api = connect(server)
    name = create_sweep(api)
    scope = {"entity": "alice", "project": "proj"}

    for state in ("RUNNING", "PAUSED", "RUNNING", "FINISHED"):
        wandb_sweeps._set_sweep_state(api, name, state, **scope)
        assert server.sweeps[0].state == state
    # The mutation names the sweep by its opaque GraphQL id, not its name.
    ids = {w.variables["id"] for w in server.writes()[1:]}
    assert ids == {server.sweeps[0].gql_id}

    other = create_sweep(api)
    wandb_sweeps._set_sweep_state(api, other, "CANCELED", **scope)
    assert server.find_sweep("alice", "proj", other).state == "CANCELED"


def test_client_refuses_some_state_changes_without_writing(
    server: WandbServer,
) -> None:
    api = connect(server)
    name = create_sweep(api)
    writes = len(server.writes())
    with pytest.raises(Exception, match="Cannot pause pending sweep"):
        wandb_sweeps._set_sweep_state(api, name, "PAUSED", entity="alice", project="proj")
    server.set_sweep_state("alice", "proj", name, "FINISHED")
    with pytest.raises(Exception, match="Sweep already finished"):
        wandb_sweeps._set_sweep_state(api, name, "CANCELED", entity="alice", project="proj")
    assert len(server.writes()) == writes


@pytest.mark.parametrize("state", ["FINISHED", "CANCELED", "FAILED", "CRASHED"])
def test_an_agent_is_refused_on_a_sweep_that_is_over(server: WandbServer, state: str) -> None:
    """As the real server answers (wandb/wandb#12456): HTTP 400, "Sweep E/P/ID is not
    running", which the client raises at once, and no agent is registered."""
    api = connect(server)
    name = create_sweep(api)
    server.set_sweep_state("alice", "proj", name, state)
    with pytest.raises(CommError, match=rf"Sweep alice/proj/{name} is not running"):
        wandb_sweeps._register_agent(api, "host", sweep_id=name, entity="alice", project="proj")
    (refused,) = [r for r in server.requests if r.operation_name == "CreateAgent"]
    assert refused.status == 400
    assert server.agents == []


@pytest.mark.parametrize(("reading", "accepted"), [("accepted", True), ("refused", False)])
def test_a_paused_sweep_takes_agents_under_one_reading(reading: str, accepted: bool) -> None:
    with WandbServer(paused_agents=reading) as server:
        api = connect(server)
        name = create_sweep(api)
        for state in ("PENDING", "RUNNING"):
            server.set_sweep_state("alice", "proj", name, state)
            wandb_sweeps._register_agent(api, "host", sweep_id=name, entity="alice", project="proj")
        server.set_sweep_state("alice", "proj", name, "PAUSED")
        if accepted:
            wandb_sweeps._register_agent(api, "host", sweep_id=name, entity="alice", project="proj")
        else:
            with pytest.raises(CommError, match="is not running"):
                wandb_sweeps._register_agent(api, "host", sweep_id=name, entity="alice", project="proj")
        assert len(server.agents) == 2 + accepted


def test_reconfigure(server: WandbServer) -> None:
    api = connect(server)
    name = create_sweep(api)
    sweep = server.sweeps[0]
    new_config = {**CONFIG, "method": "random"}

    wandb_sweeps._upsert_sweep(api, new_config, obj_id=sweep.gql_id, entity="alice", project="proj")
    assert "method: random" in sweep.config  # PENDING: allowed

    server.set_sweep_state("alice", "proj", name, "RUNNING")
    before = len(server.writes())
    with pytest.raises(CommError, match="cannot reconfigure sweep which has already started"):
        wandb_sweeps._upsert_sweep(api, CONFIG, obj_id=sweep.gql_id, entity="alice", project="proj")
    assert len(server.writes()) - before == 5  # one per mutation variant
    assert "method: random" in sweep.config


def test_writing_into_another_entity_is_refused(server: WandbServer) -> None:
    api = connect(server)
    with pytest.raises(CommError, match="permission denied"):
        wandb_sweeps._upsert_sweep(api, CONFIG, entity="bob", project="proj")
    assert server.sweeps == []


def test_deleted_sweep_is_gone(server: WandbServer) -> None:
    api = connect(server)
    name = create_sweep(api)
    server.delete_sweep("alice", "proj", name)
    assert server.sweeps == []
    with pytest.raises(CommError, match="Could not find sweep"):
        api.sweep(f"alice/proj/{name}")


def test_unknown_field_is_rejected_like_the_real_server(server: WandbServer) -> None:
    api = connect(server)
    server.requests.clear()
    with pytest.raises(WandbApiFailedError, match="Cannot query field 'nope'"):
        api._service_api.execute_graphql("query Q { viewer { id nope } }")
    assert [(r.operation_name, r.status) for r in server.requests] == [("Q", 400)]


def test_other_paths_get_an_empty_200(server: WandbServer) -> None:
    url = f"{server.base_url}/sdk/otel/v1/metrics"
    with urllib.request.urlopen(url, data=b"\x00") as reply:
        assert (reply.status, reply.read()) == (200, b"")
    assert server.requests == []


# -- authentication -------------------------------------------------------


def test_unknown_key_is_refused_at_api_creation(server: WandbServer) -> None:
    with pytest.raises(AuthenticationError) as raised:
        connect(server, UNKNOWN_KEY)

    message = str(raised.value)
    assert message == (f"Failed to verify credentials with {server.base_url}: user is not logged in")
    chain: list[BaseException] = []
    error: BaseException | None = raised.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert all(UNKNOWN_KEY not in f"{e} {e!r}" for e in chain)
    (request,) = server.requests  # not retried
    assert (request.operation_name, request.status) == ("Viewer", 401)
    assert request.api_key == UNKNOWN_KEY


def test_revoked_key(server: WandbServer) -> None:
    api = connect(server)
    name = create_sweep(api)
    server.api_keys.clear()
    server.requests.clear()
    with pytest.raises(WandbApiFailedError, match="user is not logged in") as raised:
        wandb_sweeps._get_sweep_state(api, name, entity="alice", project="proj")
    assert raised.value.response is not None
    assert raised.value.response.http_status == 401
    assert DEFAULT_KEY not in str(raised.value)
    assert [r.status for r in server.requests] == [401]


# -- fault injection ------------------------------------------------------------


def test_500_once_on_create_is_retried_by_wandb_core(server: WandbServer) -> None:
    api = connect(server)
    server.inject(operation="UpsertSweep", status=500)
    name = create_sweep(api)

    writes = server.writes()
    assert [w.status for w in writes] == [500, 200]
    assert writes[0].query == writes[1].query  # wandb-core, not the variant loop
    assert BACKOFF_RANGE[0] < gaps(writes)[0] < BACKOFF_RANGE[1]
    assert [s.name for s in server.sweeps] == [name]


@pytest.mark.parametrize("status", [429, 503])
def test_other_retried_statuses(server: WandbServer, status: int) -> None:
    api = connect(server)
    name = create_sweep(api)
    server.inject(operation="GetSweepState", status=status)
    server.requests.clear()
    state = wandb_sweeps._get_sweep_state(api, name, entity="alice", project="proj")
    assert state == "PENDING"
    assert [r.status for r in server.requests] == [status, 200]


def test_persistent_500_gives_up_after_retry_max(server: WandbServer) -> None:
    api = connect(server)
    name = create_sweep(api)
    server.inject(operation="GetSweepState", status=500, times=10)
    server.requests.clear()
    with pytest.raises(WandbApiFailedError, match=rf"giving up after {RETRY_MAX + 1} attempt\(s\)"):
        wandb_sweeps._get_sweep_state(api, name, entity="alice", project="proj")
    assert [r.status for r in server.requests] == [500] * (RETRY_MAX + 1)


def test_403_on_create_is_resent_by_the_variant_loop(server: WandbServer) -> None:
    api = connect(server)
    server.inject(operation="upsertSweep", status=403)  # by root field
    create_sweep(api)

    first, second = server.writes()
    assert (first.status, second.status) == (403, 200)
    assert "templateVariableValues" in first.query
    assert "templateVariableValues" not in second.query  # the next variant
    assert second.received_at - first.received_at < 1.0  # no back-off
    assert len(server.sweeps) == 1


def test_dropped_reply_after_create_makes_a_duplicate(server: WandbServer) -> None:
    api = connect(server)
    server.inject(operation="UpsertSweep", drop_reply_after_acting=True)
    name = create_sweep(api)

    writes = server.writes()
    assert [w.status for w in writes] == [0, 200]
    assert BACKOFF_RANGE[0] < gaps(writes)[0] < BACKOFF_RANGE[1]
    orphan, returned = server.sweeps
    assert returned.name == name
    assert orphan.name != name
    assert orphan.config == returned.config


def test_short_delay_is_waited_for(server: WandbServer) -> None:
    api = connect(server)
    name = create_sweep(api)
    server.inject(operation="GetSweepState", delay=0.5)
    server.requests.clear()
    started = time.monotonic()
    wandb_sweeps._get_sweep_state(api, name, entity="alice", project="proj")
    assert time.monotonic() - started >= 0.5
    assert [r.status for r in server.requests] == [200]


def test_delay_past_the_timeout_on_create_makes_a_duplicate(
    server: WandbServer,
) -> None:
    api = connect(server)
    server.inject(operation="UpsertSweep", delay=HTTP_TIMEOUT + 0.5)
    name = create_sweep(api)

    assert len(server.writes()) == 2
    orphan, returned = server.sweeps
    assert returned.name == name
    assert orphan.name != name


def test_fault_rules_match_by_operation_and_are_used_up(server: WandbServer) -> None:
    api = connect(server)
    name = create_sweep(api)
    server.inject(operation="UpsertSweep", status=404)
    server.inject(status=404)
    server.requests.clear()

    def get_state() -> str:
        return wandb_sweeps._get_sweep_state(api, name, entity="alice", project="proj")

    with pytest.raises(WandbApiFailedError):  # the catch-all rule; 404: no retry
        get_state()
    assert get_state() == "PENDING"  # used up; the UpsertSweep rule did not match
    assert [r.status for r in server.requests] == [404, 200]


# -- rate limiting ----------------------------------------------------------------


def post_viewer(server: WandbServer, key: str) -> tuple[int, dict[str, str], Any]:
    """One `Viewer` POST with Basic auth, as the client sends it: status, headers, body."""
    import base64
    import urllib.error

    request = urllib.request.Request(
        f"{server.base_url}/graphql",
        data=json.dumps({"query": "query Viewer { viewer { id } }"}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(f"api:{key}".encode()).decode(),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_over_its_limit_a_user_gets_429_with_ratelimit_headers() -> None:
    with WandbServer({DEFAULT_KEY: "alice", OTHER_KEY: "bob"}) as server:
        server.limit_rate(2, window=60)
        answers = [post_viewer(server, DEFAULT_KEY) for _ in range(3)]
        assert [status for status, _, _ in answers] == [200, 200, 429]
        _, headers, body = answers[2]
        assert body == {"error": "rate limit exceeded"}
        assert (headers["RateLimit-Limit"], headers["RateLimit-Remaining"]) == ("2", "0")
        assert 58 <= int(headers["RateLimit-Reset"]) <= 60
        assert headers["Retry-After"] == headers["RateLimit-Reset"]
        assert post_viewer(server, OTHER_KEY)[0] == 200  # another user has a quota of its own
        assert [r.status for r in server.requests] == [200, 200, 429, 200]  # every request counts
        server.limit_rate(None)
        assert post_viewer(server, DEFAULT_KEY)[0] == 200


def test_a_new_window_gives_the_user_its_quota_again() -> None:
    with WandbServer() as server:
        server.limit_rate(1, window=0.5, retry_after=False)
        first, second = post_viewer(server, DEFAULT_KEY), post_viewer(server, DEFAULT_KEY)
        assert (first[0], second[0]) == (200, 429)
        assert "Retry-After" not in second[1] and second[1]["RateLimit-Reset"] == "1"
        time.sleep(0.6)
        assert post_viewer(server, DEFAULT_KEY)[0] == 200


@pytest.mark.parametrize(("retry_after", "bounds"), [(True, (0.8, 1.5)), (False, BACKOFF_RANGE)])
def test_wandb_core_waits_retry_after_on_a_429_and_else_backs_off(
    server: WandbServer, retry_after: bool, bounds: tuple[float, float]
) -> None:
    """What the docstring of tests/harness/wandb_server.py reads in wandb-core's
    `ExponentialBackoffWithJitter`: `Retry-After` (1 s here) when it is sent, else about 2 s."""
    server.limit_rate(0, window=1, retry_after=retry_after)
    with pytest.raises(AuthenticationError, match="HTTP 429"):
        connect(server)
    assert [r.status for r in server.requests] == [429, 429]  # RETRY_MAX 1: two attempts
    [gap] = gaps(server.requests)
    assert bounds[0] <= gap < bounds[1], gap

"""A small local W&B server that speaks the GraphQL dialect of the wandb 0.31 client.

Why: the sweep provider must be tested with the REAL ``wandb`` client (never
monkeypatched), so tests need something on the other end of the wire that
validates queries like the real server does and keeps state we can inspect.

How: a subset of W&B's GraphQL schema written in SDL and executed with
graphql-core, so a query that asks for a field the subset does not have fails
validation exactly like an unknown field would on the real server. The
subset covers what the client sends for viewer/default-entity look-ups,
wandb-core's authentication and server-feature probes, sweeps
(create, read, list, change state), and what ``wandb agent`` needs to
register and be handed runs (``createAgent``, ``agentHeartbeat``). The sweep
provider (``components/wandb_api.py``) sends trimmed copies of the client's
``GetDefaultEntity``, ``GetSweeps``, ``GetSweep`` and ``UpsertSweep``
documents as plain POSTs; they ask for no field the client's own do not, so
the subset needed nothing new for them. Its ``GetSweepCreator`` does (below).

Tests count requests per operation with ``mark``, ``operations`` and
``operation_counts`` (every request counts, whatever its outcome).

One field is NOT one the wandb 0.31 client asks for: ``Sweep.user``, the user who
created the sweep, which the sweep provider asks for (``GetSweepCreator``) before
it adopts a sweep it finds by name. Whether the real server has it, and what it
holds for a team's sweep, is unverified, so each reading can be chosen with
``WandbServer(sweep_creator=...)``: ``"user"`` (the default: the creator's
``User``), ``"null"`` (the field exists but is null, e.g. hidden for a team's
sweep) or ``"absent"`` (no such field: a query asking for it fails validation,
HTTP 400, as an unknown field does).

Behaviours copied from the real server:

* Authentication is HTTP Basic with user ``api`` and the API key as password;
  an unknown key gets HTTP 401 ``{"errors":[{"message":"user is not logged in"}]}``.
* ``upsertSweep`` without ``id`` creates a sweep with an 8-character id
  ``[a-z0-9]`` in state ``PENDING``; ``entityName: null`` means the caller's
  entity and ``projectName: null`` means ``uncategorized``. The project is
  created on the fly. The config string is stored exactly as sent (the
  client's ``Sweep.config`` reads it back with ``util.load_yaml``,
  ``wandb/apis/public/sweeps.py``), and ``config`` is returned by the
  listing (``GetSweeps``: the client's ``SweepFragment`` asks for it).
* ``upsertSweep`` with ``id`` (the opaque GraphQL id, base64 of ``Sweep:<n>``)
  updates the sweep; changing the config of a sweep that is no longer
  ``PENDING`` fails with "cannot reconfigure sweep which has already started".
* A project or sweep that does not exist resolves to ``null``.
* A write to an entity other than the caller's fails ("permission denied").
* ``createAgent`` on a sweep that is no longer running (``FINISHED``, ``CANCELED``,
  ``FAILED``, ``CRASHED``) is refused with HTTP 400 and the message
  ``Sweep ENTITY/PROJECT/ID is not running``, and registers nothing: the real
  server's answer, as wandb's own tests fake it since wandb/wandb#12456 (commit
  7eb0d531fc, ``tests/unit_tests/test_wandb_agent/conftest.py``,
  ``sweep_not_running_api_error``: "the 400 error `createAgent` returns for a
  terminal-state sweep"); ``wandb agent`` then exits 1
  (``test_cli_agent_fails_fast_on_terminal_sweep_state``: no retry, no heartbeat).
  Whether a ``PAUSED`` sweep counts as running there is unverified, so both readings
  can be chosen with ``WandbServer(paused_agents=...)``: ``"accepted"`` (the default)
  or ``"refused"``.
* ``createAgent`` registers an agent for a sweep (looked up by its 8-character
  name in ``entityName``/``projectName``) and returns its opaque id; each
  ``agentHeartbeat`` returns ``commands``, a JSON string holding a list of
  commands in the format ``wandb/wandb_agent.py`` executes:

  - sweep ``PENDING``/``RUNNING``, agent running no run (its ``runState``
    lists none): ``{"type": "run", "run_id", "program", "args"}`` with the
    next point of the grid over the config's ``parameters``, ``args`` as
    ``{"lr": {"value": 0.01}}``; the sweep becomes ``RUNNING``. When the
    grid is used up the sweep becomes ``FINISHED`` (as a finished grid
    search does) and the agent gets ``exit``;
  - ``PAUSED``, or an agent still running a run: no command (``[]``), except
    ``CANCELED``, whose running runs get ``{"type": "stop", "run_id"}``;
  - ``FINISHED``, ``CANCELED``, ``FAILED``, ``CRASHED`` and no run running:
    ``{"type": "exit"}``, after which ``wandb agent`` exits with status 0;
  - an agent whose sweep was deleted: HTTP 404, which the client turns into
    ``SweepNotFoundError`` (``wandb agent`` exits 1).

  This is the protocol as the wandb 0.31 agent speaks it (wandb/wandb_agent.py
  ``Agent._run_loop``, ``_heartbeat_commands``, ``_process_command``; the mutation in
  wandb/apis/public/sweeps.py ``_agent_heartbeat``, which wandb 0.28 had as
  ``InternalApi.agent_heartbeat`` in wandb/sdk/internal/internal_api.py): a heartbeat
  every ``Agent.POLL_INTERVAL`` = 5 s, busy or idle, whatever the server answers (it
  cannot change the interval); ``runState`` holds the runs whose process still runs;
  ``commands`` is a JSON list of ``run``, ``resume``, ``stop`` and ``exit``, and runs start
  and stop only through it. The client waits 60 s for a heartbeat; one that fails for any
  reason but a 404 (a 429 or 5xx after wandb-core's retries, a timeout) is logged as
  "Error communicating with W&B." with its traceback, to the agent's debug log only, and
  gives no commands: the agent goes on, starting no run, until a heartbeat gets through.

* Rate limiting, per user, when a test asks for it (``limit_rate(requests, window=...)``):
  at most ``requests`` GraphQL requests per user (the entity of the API key) in each
  fixed ``window``; the others get HTTP 429, body ``{"error": "rate limit exceeded"}``
  (what the hosted W&B answered, wandb/wandb#2696), with ``RateLimit-Remaining: 0`` and
  ``RateLimit-Reset`` (whole seconds until the window ends), the headers W&B documents
  for its 429s ("quota remaining in the current window (0-1000 scale)", "seconds until the
  current quota resets": docs.wandb.ai, support article "Rate limit exceeded on metric
  logging"; Dedicated Cloud and self-managed "Rate limits"), ``RateLimit-Limit`` (the
  IETF RateLimit header fields draft, which W&B's names follow) and ``Retry-After`` (the
  same seconds; ``retry_after=False`` leaves it out, as W&B's pages do not promise it).
  What the client does with them, read in wandb-core (wandb/wandb core/ at commit
  b6e2950588, the newest source mirrored here; the wandb 0.31 wheel ships wandb-core as a
  binary, whose 429 handling tests/wandb/test_wandb_server.py checks): every GraphQL
  request is retried on 429 and on any 4xx or 5xx but 400, 401, 403, 404, 409, 410, 413,
  422 and 501 (internal/clients/retry_policy.go ``RetryMostFailures``, the policy of
  ``CheckRetry``), up to 20 times, waiting ``Retry-After`` when it is there and else
  2 s x 2^n plus up to 25 %, at most 60 s (internal/clients/backoff.go
  ``ExponentialBackoffWithJitter``, ``retryAfterHeader``; internal/api/api.go
  ``DefaultRetryMax``, ``DefaultRetryWaitMin``, ``DefaultRetryWaitMax``), each attempt
  bounded by WANDB_HTTP_TIMEOUT (30 s unset: internal/api/gql_client.go ``NewGQLClient``);
  ``RateLimit-Reset`` it does not read. The Python side stops waiting after
  WANDB_HTTP_TIMEOUT (19 s unset: wandb/apis/public/api.py ``Api._HTTP_TIMEOUT``), so a
  ``wandb agent`` whose start-up calls keep getting 429 exits 1 after about 20 s (seen
  here, tests/end_to_end/test_agent_rate_limits.py).

Runs and agents, as ``wandb-sweeps status`` reads them (``components/wandb/status_queries.py``):

* A run exists on W&B once its trainer reported (``wandb.init``): tests make one with
  ``log_run`` (state, parameters, summary) and change it with ``update_run``. A run only
  handed out by a ``run`` command, whose trainer never reported, is not listed, as on
  the real server. ``Project.runs(filters, after, first, order)`` lists a project's runs
  a page at a time, like the client's ``Runs`` query (``wandb/apis/public/runs.py``,
  ``_create_runs_query``): the filter is MongoDB-style on ``sweep``, ``name``, ``state``
  and ``displayName`` (the client filters a sweep's runs with ``{"$and": [{"sweep":
  <sweep id>}]}``, ``wandb/apis/public/sweeps.py``, ``_get_sweep``), the order
  ``+created_at`` (the client's default) or ``-created_at``, anything else an error;
  each edge has its ``cursor`` and the page its ``pageInfo``. ``Project.runCount(filters)``
  counts the same runs. ``Sweep.runs`` lists the sweep's runs too.
* A run's ``config`` is JSON text whose values are wrapped as ``{"value": v, "desc":
  null}``, with wandb's own ``_wandb`` beside them, and ``summaryMetrics`` is JSON text
  (``wandb/apis/public/runs.py``, ``Run._load_from_attrs``); states are W&B's lowercase
  run states (``RUN_STATES``, from the ``sweeps`` package's ``RunState``).
* ``Sweep.runCountExpected`` is the grid's size for a grid sweep (nested parameters
  multiply) and null for any other method: what wandb's system test against a real
  server asserts (``tests/system_tests/test_sweep/test_sweep_public_api.py``,
  ``test_sweep_api_expected_run_count``: 3 for ``values: [1, 2, 3]``, 9 for a nested
  3 x 3, None for bayes and random). Whether the real server counts ``run_cap`` in it is
  unverified; this one does not.
* ``Sweep.agents`` lists the agents registered for the sweep with the fields of the
  client's ``AgentFragment`` (``GET_SWEEP_AGENTS_GQL``, ``wandb/apis/_generated/operations.py``),
  ``heartbeatAt`` the last heartbeat; ``add_agent`` plants one with any heartbeat time.
* ``WandbServer(legacy_sweeps=True)`` plays a server older than the wandb 0.31 client:
  no ``Sweep.runCountExpected`` and no ``Sweep.agents``, so a query asking for either
  fails validation (HTTP 400), as the client's fallback to ``GetSweepLegacy`` expects.

Simplifications: a run reports nothing by itself (tests log it), no
teams (a sweep another user made in a shared entity is planted with
``create_sweep(created_by=...)``), no permission checks on reads; ``method`` is read from the config
with a regular expression (YAML or JSON), because only the standard library
and graphql-core may be used for that. The agent's grid needs the whole
config: JSON is parsed with the standard library, YAML (what the client's
``_upsert_sweep`` sends) with PyYAML, a requirement of the project and of the
wandb client; only ``value`` and ``values`` parameters are supported. GraphQL
errors raised while resolving are returned with HTTP 200 (data + errors);
a request that does not parse or validate gets HTTP 400.

Every non-``/graphql`` path (wandb-core posts OpenTelemetry metrics to
``/sdk/otel/v1/metrics``) gets HTTP 200 with an empty body.

``inject(status=30x, location=URL)`` answers with a redirect, as a proxy or a
moved server would (tests check that the key never follows one).

``rewrite_replies(operation, change)`` acts on the request as usual, then answers with
``change(body)`` instead of the body: a server that names a sweep id no W&B server gives
(``abc/def``), another entity or project than asked, or an odd state (tests check that
the provider uses nothing the server names unchecked).

``WandbServer(ssl_context=...)`` serves HTTPS instead (``base_url`` is then
``https://127.0.0.1:<port>``), with the certificate loaded into that server-side
context: a self-managed W&B behind a private CA (tests/test_private_ca.py). Loading
another certificate into the same context later changes what new connections get.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import itertools
import json
import math
import re
import secrets
import ssl
import string
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import graphql

DEFAULT_KEY = "local-" + "0123456789abcdefghijklmnopqrstuvwxyz0123"
"""A key that passes the client's format check (prefix, dash, 40+ characters)."""

DEFAULT_ENTITY = "alice"
DEFAULT_PROJECT = "uncategorized"
SWEEP_STATES = frozenset({"PENDING", "RUNNING", "PAUSED", "CANCELED", "FINISHED", "FAILED", "CRASHED"})
"""States the server accepts; new sweeps start in ``PENDING``."""
RUN_STATES = frozenset(
    {"running", "pending", "preempting", "finished", "failed", "crashed", "killed", "preempted"}
)
"""Run states W&B reports (``sweeps/run.py``, ``RunState``, of W&B's ``sweeps`` package)."""
SWEEP_CREATOR_READINGS = ("user", "null", "absent")
"""The readings of ``Sweep.user`` the server can play (module docstring)."""

_SWEEP_ID_ALPHABET = string.ascii_lowercase + string.digits
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"  # The real server's DateTime has no zone.

SCHEMA_SDL = """
scalar JSONString
scalar JSON
scalar DateTime

type Query {
  viewer: User
  project(name: String, entityName: String): Project
  serverInfo: ServerInfo
}

type Mutation {
  upsertSweep(input: UpsertSweepInput!): UpsertSweepPayload
  createAgent(input: CreateAgentInput!): CreateAgentPayload
  agentHeartbeat(input: AgentHeartbeatInput!): AgentHeartbeatPayload
}

type ServerInfo {
  features: [ServerFeature!]!
}

type ServerFeature {
  name: String!
  isEnabled: Boolean!
}

type User {
  id: ID!
  name: String!
  username: String
  email: String
  admin: Boolean
  flags: JSONString
  entity: String
  deletedAt: DateTime
  apiKeys: ApiKeyConnection
  teams: EntityConnection
}

type ApiKeyConnection { edges: [ApiKeyEdge!]! }
type ApiKeyEdge { node: ApiKey }
type ApiKey { id: ID! name: String! description: String }

type EntityConnection { edges: [EntityEdge!]! }
type EntityEdge { node: Entity }
type Entity { id: ID! name: String! }

type PageInfo {
  startCursor: String
  endCursor: String
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
}

type Project {
  id: ID!
  name: String!
  entityName: String!
  entity: Entity!
  totalSweeps: Int!
  sweep(sweepName: String!): Sweep
  sweeps(after: String, first: Int, filters: JSONString, order: String): SweepConnection
  runCount(filters: JSONString): Int!
  runs(filters: JSONString, after: String, first: Int, order: String): RunConnection
}

type SweepConnection {
  pageInfo: PageInfo!
  edges: [SweepEdge!]!
}

type SweepEdge {
  cursor: String!
  node: Sweep!
}

type Sweep {
  id: ID!
  name: String!
  displayName: String
  description: String
  method: String!
  state: String!
  config: String!
  createdAt: DateTime!
  updatedAt: DateTime
  heartbeatAt: DateTime
  bestLoss: Float
  runCount: Int!
  runCountExpected: Int
  earlyStopJobRunning: Boolean!
  controller: JSONString
  scheduler: JSONString
  project: Project
  user: User  # not asked for by the wandb 0.31 client: see the module docstring
  runs(first: Int, after: String, order: String): RunConnection!
  agents: AgentConnection!
}

type RunConnection {
  pageInfo: PageInfo!
  edges: [RunEdge!]!
}
type RunEdge {
  cursor: String!
  node: Run!
}

type AgentConnection { edges: [AgentEdge!]! }
type AgentEdge { node: Agent! }

type Run {
  id: ID!
  name: String!
  displayName: String
  sweepName: String
  createdAt: DateTime
  state: String
  config: JSONString
  exitcode: Int
  heartbeatAt: DateTime
  shouldStop: Boolean
  failed: Boolean
  stopped: Boolean
  running: Boolean
  summaryMetrics: JSONString
  sampledHistory(specs: [JSONString!]!, packVersion: Int): [JSON]
}

input UpsertSweepInput {
  id: ID
  config: String
  description: String
  entityName: String
  projectName: String
  controller: JSONString
  launchScheduler: JSONString
  templateVariableValues: JSONString
  scheduler: JSONString
  state: String
  priorRunsFilters: JSONString
  displayName: String
  clientMutationId: String
}

type UpsertSweepPayload {
  sweep: Sweep
  inserted: Boolean
  configValidationWarnings: [String!]!
  clientMutationId: String
}

type Agent {
  id: ID!
  name: String!
  host: String!
  state: String!
  persistent: Boolean
  createdAt: DateTime!
  heartbeatAt: DateTime
  totalRuns: Int!
}

input CreateAgentInput {
  id: String
  host: String!
  projectName: String
  entityName: String
  persistent: Boolean
  sweep: String!
  clientMutationId: String
}

type CreateAgentPayload {
  agent: Agent
  clientMutationId: String
}

input AgentHeartbeatInput {
  id: ID!
  metrics: JSONString
  runState: JSONString
  commandResults: JSONString
  clientMutationId: String
}

type AgentHeartbeatPayload {
  agent: Agent
  commands: JSONString
  clientMutationId: String
}
"""


@dataclasses.dataclass
class SweepRecord:
    """A sweep as the server stores it."""

    gql_id: str
    name: str
    entity: str
    project: str
    config: str
    state: str
    display_name: str | None
    created_at: datetime
    description: str | None = None
    updated_at: datetime | None = None
    creator: str | None = None
    """The user (a key's entity name) who created it; ``Sweep.user``."""


@dataclasses.dataclass
class AgentRecord:
    """A sweep agent registered with ``createAgent``, and what it was told."""

    gql_id: str
    """The opaque id ``createAgent`` returned; heartbeats send it back."""
    name: str
    host: str
    entity: str
    project: str
    sweep: str
    """The sweep's 8-character name."""
    created_at: datetime
    state: str = "RUNNING"
    """``RUNNING`` until the agent is sent ``exit``, then ``FINISHED``."""
    heartbeats: int = 0
    heartbeat_at: datetime | None = None
    running: tuple[str, ...] = ()
    """Run ids the last heartbeat's ``runState`` reported as running."""
    commands: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """Every command sent to the agent, in order."""


@dataclasses.dataclass
class RunRecord:
    """A run of a sweep: handed to an agent by a ``run`` command, or logged (``log_run``)."""

    name: str
    """The run id (``run_id`` of the command; the run sees it as WANDB_RUN_ID)."""
    entity: str
    project: str
    sweep: str
    agent_id: str
    """``gql_id`` of the agent it was handed to; "" for a run logged by ``log_run``."""
    program: str | None
    params: dict[str, Any]
    """Parameter -> value; the command's ``args`` are ``{name: {"value": v}}``."""
    created_at: datetime
    state: str | None = None
    """The run's state as W&B reports it (``finished``, ``running``, ...); None for a run
    handed out whose trainer never reported to W&B: it is not listed (module docstring)."""
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Its summary (``summaryMetrics``): metric -> last value."""
    display_name: str | None = None


@dataclasses.dataclass
class GraphQLRequest:
    """One request to ``/graphql`` as received, and the HTTP status answered.

    ``operation_name`` is the body's ``operationName`` or else the name in the
    query; ``api_key`` is the Basic-auth password (None without one);
    ``status`` is 0 when the connection was closed without a reply.
    ``is_mutation`` and ``root_fields`` come from parsing the query.
    """

    operation_name: str | None
    query: str
    variables: dict[str, Any]
    api_key: str | None
    status: int = 0
    received_at: float = dataclasses.field(default_factory=time.monotonic)
    """``time.monotonic()`` on arrival, to measure the client's back-off."""
    is_mutation: bool = False
    root_fields: tuple[str, ...] = ()


@dataclasses.dataclass
class _Fault:
    """A fault-injection rule; see :meth:`WandbServer.inject`."""

    operation: str | None
    status: int | None
    delay: float
    drop_reply_after_acting: bool
    remaining: int
    location: str | None = None

    def matches(self, request: GraphQLRequest) -> bool:
        if self.remaining <= 0:
            return False
        if self.operation is None:
            return True
        return self.operation == request.operation_name or self.operation in request.root_fields[:1]


@dataclasses.dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` GraphQL requests per user in each ``window`` seconds (see
    :meth:`WandbServer.limit_rate`)."""

    requests: int
    window: float = 1.0
    retry_after: bool = True
    """Send ``Retry-After`` with the 429 (W&B's pages name only the ``RateLimit-*`` headers)."""


@dataclasses.dataclass
class _Window:
    """One user's current fixed window: when it began and the requests it has let through."""

    started: float
    used: int = 0


@dataclasses.dataclass
class _Context:
    """Per-request context handed to resolvers."""

    entity: str


class _NotFoundError(graphql.GraphQLError):
    """A resolver error that makes the whole reply HTTP 404 (see ``_execute``)."""


class _BadRequestError(graphql.GraphQLError):
    """A resolver error that makes the whole reply HTTP 400 (see ``_execute``)."""


TERMINAL_STATES = frozenset({"FINISHED", "CANCELED", "FAILED", "CRASHED"})
"""States in which the server refuses a new agent (module docstring)."""
PAUSED_AGENT_READINGS = ("accepted", "refused")


class WandbServer:
    """A local W&B GraphQL server on 127.0.0.1 with a random free port (HTTPS with `ssl_context`).

    All state lives in memory and is guarded by one lock; requests are handled
    on threads but executed one at a time, which keeps writes atomic.
    """

    def __init__(
        self,
        api_keys: dict[str, str] | None = None,
        *,
        sweep_creator: str = "user",
        ssl_context: ssl.SSLContext | None = None,
        paused_agents: str = "accepted",
        legacy_sweeps: bool = False,
    ) -> None:
        if api_keys is None:
            api_keys = {DEFAULT_KEY: DEFAULT_ENTITY}
        if sweep_creator not in SWEEP_CREATOR_READINGS:
            raise ValueError(f"sweep_creator must be one of {SWEEP_CREATOR_READINGS}, got {sweep_creator!r}")
        if paused_agents not in PAUSED_AGENT_READINGS:
            raise ValueError(f"paused_agents must be one of {PAUSED_AGENT_READINGS}, got {paused_agents!r}")
        self.paused_agents = paused_agents
        self.legacy_sweeps = legacy_sweeps
        """Play a server older than the wandb 0.31 client: no ``Sweep.runCountExpected``
        and no ``Sweep.agents`` (queries asking for them fail validation, HTTP 400)."""
        """Whether ``createAgent`` on a PAUSED sweep is accepted or refused (module docstring)."""
        self.api_keys: dict[str, str] = dict(api_keys)
        """API key -> entity (user) name; may be changed to revoke a key."""
        self.sweep_creator = sweep_creator
        """How ``Sweep.user`` is answered: ``"user"``, ``"null"`` or ``"absent"`` (module docstring)."""
        self.ssl_context = ssl_context
        """Serve HTTPS with this server-side context; None: plain HTTP."""
        self.base_url = ""
        self.sweeps: list[SweepRecord] = []
        """Sweeps that exist, in creation order (deleted ones are removed)."""
        self.requests: list[GraphQLRequest] = []
        self.agents: list[AgentRecord] = []
        """Agents registered with ``createAgent``, in registration order."""
        self.runs: list[RunRecord] = []
        """Runs handed out to agents by ``run`` commands, in order."""
        self._projects: set[tuple[str, str]] = set()
        self._faults: list[_Fault] = []
        self._rate_limit: RateLimit | None = None
        self._windows: dict[str, _Window] = {}
        self._rewrites: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], list[int]]] = []
        self._next_sweep_number = 1
        self._next_command_number = 1
        self._lock = threading.RLock()
        self._schema = _build_schema(self)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------

    def start(self) -> Self:
        server = self

        class Handler(_Handler):
            wandb_server = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.ssl_context is not None:
            # The handshake runs in accept(); a client that refuses the certificate
            # makes it raise, which the server loop ignores (socketserver catches OSError).
            self._httpd.socket = self.ssl_context.wrap_socket(self._httpd.socket, server_side=True)
        port = self._httpd.server_address[1]
        scheme = "https" if self.ssl_context is not None else "http"
        self.base_url = f"{scheme}://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"wandb-server-{port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- inspection and manipulation by tests ------------------------------

    def writes(self) -> list[GraphQLRequest]:
        """The GraphQL mutations received, whatever their outcome."""
        with self._lock:
            return [r for r in self.requests if r.is_mutation]

    def mark(self) -> int:
        """The number of GraphQL requests received so far: pass it to ``operations`` or
        ``operation_counts`` to see only what came after."""
        with self._lock:
            return len(self.requests)

    def operations(self, since: int = 0) -> list[str | None]:
        """The operation name of every GraphQL request from number ``since`` on, in order
        of arrival (a request without a name shows as None)."""
        with self._lock:
            return [r.operation_name for r in self.requests[since:]]

    def operation_counts(self, since: int = 0) -> dict[str | None, int]:
        """How many GraphQL requests arrived per operation name from number ``since`` on,
        e.g. ``{"GetSweep": 1, "UpsertSweep": 1}``; ``{}`` when none did. Every request
        counts, whatever its outcome (refused, failed, reply lost)."""
        return dict(Counter(self.operations(since)))

    def create_sweep(
        self,
        config: str | dict[str, Any],
        *,
        entity: str = DEFAULT_ENTITY,
        project: str = DEFAULT_PROJECT,
        state: str = "PENDING",
        display_name: str | None = None,
        created_by: str | None = None,
    ) -> SweepRecord:
        """Create a sweep directly, as ``upsertSweep`` without ``id`` would.

        A dict ``config`` is stored as JSON (which is also YAML, so the client
        reads it back like any sweep config). ``created_by`` is the user who
        made it (default: the entity): another user's name plays a teammate
        writing to a shared entity, which this server's API itself refuses.
        """
        if state not in SWEEP_STATES:
            raise ValueError(f"unknown sweep state {state!r}")
        if not isinstance(config, str):
            config = json.dumps(config)
        values = {"config": config, "state": state, "displayName": display_name}
        with self._lock:
            return self._create_sweep(entity, project, values, creator=created_by or entity)

    def log_run(
        self,
        sweep: SweepRecord,
        *,
        state: str = "finished",
        params: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
        name: str | None = None,
        display_name: str | None = None,
        created_at: datetime | None = None,
    ) -> RunRecord:
        """A run of ``sweep`` as W&B knows it once its trainer reported (``wandb.init``,
        ``wandb.log``): listed by ``Project.runs`` and ``Sweep.runs``, with its state,
        config (``params``) and summary. Runs are listed newest first by ``created_at``
        (default: now, each one a second after the last)."""
        if state not in RUN_STATES:
            raise ValueError(f"unknown run state {state!r}")
        with self._lock:
            taken = {r.name for r in self.runs}
            if name is None:
                name = _random_sweep_id()
                while name in taken:
                    name = _random_sweep_id()
            elif name in taken:
                raise ValueError(f"run {name!r} exists")
            if created_at is None:
                latest = max((r.created_at for r in self.runs), default=None)
                created_at = max(_now(), latest + timedelta(seconds=1)) if latest else _now()
            run = RunRecord(
                name=name,
                entity=sweep.entity,
                project=sweep.project,
                sweep=sweep.name,
                agent_id="",
                program=None,
                params=dict(params or {}),
                created_at=created_at,
                state=state,
                summary=dict(summary or {}),
                display_name=display_name or f"run-{name}",
            )
            self.runs.append(run)
            return run

    def update_run(
        self, run: RunRecord, *, state: str | None = None, summary: dict[str, Any] | None = None
    ) -> None:
        """Change a logged run, as its trainer's later reports would."""
        if state is not None and state not in RUN_STATES:
            raise ValueError(f"unknown run state {state!r}")
        with self._lock:
            if state is not None:
                run.state = state
            if summary is not None:
                run.summary.update(summary)

    def add_agent(
        self, sweep: SweepRecord, *, host: str, heartbeat_at: datetime | None = None, state: str = "RUNNING"
    ) -> AgentRecord:
        """An agent registered for ``sweep`` earlier, whose last heartbeat was at ``heartbeat_at``."""
        with self._lock:
            agent = AgentRecord(
                gql_id=_opaque_id("Agent", str(len(self.agents) + 1)),
                name=_random_sweep_id(),
                host=host,
                entity=sweep.entity,
                project=sweep.project,
                sweep=sweep.name,
                created_at=_now(),
                state=state,
                heartbeat_at=heartbeat_at,
            )
            self.agents.append(agent)
            return agent

    def agents_of(self, sweep: str) -> list[AgentRecord]:
        """The agents registered for the sweep with this name."""
        with self._lock:
            return [a for a in self.agents if a.sweep == sweep]

    def runs_of(self, agent: AgentRecord | str) -> list[RunRecord]:
        """The runs handed to an agent (an ``AgentRecord`` or its ``gql_id``)."""
        agent_id = agent if isinstance(agent, str) else agent.gql_id
        with self._lock:
            return [r for r in self.runs if r.agent_id == agent_id]

    def find_sweep(self, entity: str, project: str, name: str) -> SweepRecord | None:
        with self._lock:
            for sweep in self.sweeps:
                if (sweep.entity, sweep.project, sweep.name) == (entity, project, name):
                    return sweep
            return None

    def delete_sweep(self, entity: str, project: str, name: str) -> None:
        """Remove a sweep, as if someone deleted it in the UI behind the client's back."""
        with self._lock:
            self.sweeps.remove(self._require_sweep(entity, project, name))

    def set_sweep_state(self, entity: str, project: str, name: str, state: str) -> None:
        """Change a sweep's state outside the client (e.g. an agent started it)."""
        if state not in SWEEP_STATES:
            raise ValueError(f"unknown sweep state {state!r}")
        with self._lock:
            sweep = self._require_sweep(entity, project, name)
            sweep.state = state
            sweep.updated_at = _now()

    def inject(
        self,
        *,
        operation: str | None = None,
        status: int | None = None,
        delay: float = 0.0,
        drop_reply_after_acting: bool = False,
        times: int = 1,
        location: str | None = None,
    ) -> None:
        """Make the next ``times`` matching GraphQL requests misbehave.

        ``operation`` matches the operationName or the first root field
        (``"UpsertSweep"`` or ``"upsertSweep"``); None matches any request.
        ``status`` answers with that HTTP status WITHOUT acting (before the key
        is even checked, like a proxy in front of the server). Otherwise the
        request is executed, then the reply waits ``delay`` seconds, and with
        ``drop_reply_after_acting`` the connection is closed without a reply.
        With ``location``, that answer carries a ``Location`` header: a redirect
        when ``status`` is 301, 302, 303, 307 or 308.
        Rules are consulted in the order they were added; the first match wins.
        """
        with self._lock:
            self._faults.append(_Fault(operation, status, delay, drop_reply_after_acting, times, location))

    def limit_rate(self, requests: int | None, *, window: float = 1.0, retry_after: bool = True) -> None:
        """Let each user (the entity of an API key; an unknown key is its own user) make at
        most ``requests`` GraphQL requests per ``window`` seconds, in fixed windows; the
        rest get HTTP 429 with ``RateLimit-Limit``, ``RateLimit-Remaining: 0``,
        ``RateLimit-Reset`` (whole seconds until the window ends) and, with ``retry_after``,
        ``Retry-After`` (the same). None lifts the limit. See the module docstring."""
        with self._lock:
            self._rate_limit = None if requests is None else RateLimit(requests, window, retry_after)
            self._windows = {}

    def rewrite_replies(
        self, operation: str, change: Callable[[dict[str, Any]], dict[str, Any]], *, times: int = 1
    ) -> None:
        """Answer the next ``times`` requests named ``operation`` (the operationName) with
        ``change(body)``, ``body`` being the JSON reply after the request was acted on."""
        with self._lock:
            self._rewrites.append((operation, change, [times]))

    # -- internals ----------------------------------------------------------

    def _rewritten(self, request: GraphQLRequest, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            for operation, change, remaining in self._rewrites:
                if operation == request.operation_name and remaining[0] > 0:
                    remaining[0] -= 1
                    return change(body)
            return body

    def _require_sweep(self, entity: str, project: str, name: str) -> SweepRecord:
        sweep = self.find_sweep(entity, project, name)
        if sweep is None:
            raise KeyError(f"no sweep {entity}/{project}/{name}")
        return sweep

    def _rate_limited(self, request: GraphQLRequest) -> dict[str, str] | None:
        """The 429's headers when ``request`` is over its user's limit, else None (counted)."""
        with self._lock:
            limit = self._rate_limit
            if limit is None:
                return None
            key = request.api_key or ""
            user = self.api_keys.get(key, key)
            now = time.monotonic()
            window = self._windows.get(user)
            if window is None or now - window.started >= limit.window:
                window = self._windows[user] = _Window(started=now)
            if window.used < limit.requests:
                window.used += 1
                return None
            reset = str(max(1, math.ceil(window.started + limit.window - now)))
            headers = {"RateLimit-Limit": str(limit.requests), "RateLimit-Remaining": "0", "RateLimit-Reset": reset}
            if limit.retry_after:
                headers["Retry-After"] = reset
            return headers

    def _take_fault(self, request: GraphQLRequest) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(request):
                    fault.remaining -= 1
                    return fault
            return None

    def _execute(self, request: GraphQLRequest, entity: str) -> tuple[int, dict[str, Any]]:
        """Run one GraphQL request; returns the HTTP status and the JSON body.

        A request rejected as a whole (syntax, unknown field, bad variables)
        gets 400; errors raised while resolving come back with 200 next to
        the data, as GraphQL servers usually answer.
        """
        with self._lock:
            result = graphql.graphql_sync(
                self._schema,
                request.query,
                variable_values=request.variables,
                operation_name=request.operation_name,
                context_value=_Context(entity=entity),
            )
        for error in result.errors or ():
            if isinstance(error, _NotFoundError) or isinstance(error.original_error, _NotFoundError):
                return 404, {"errors": [{"message": error.message}]}
            if isinstance(error, _BadRequestError) or isinstance(error.original_error, _BadRequestError):
                return 400, {"errors": [{"message": error.message}]}
        status = 400 if result.data is None else 200
        return status, self._rewritten(request, result.formatted) if status == 200 else result.formatted

    def _sweeps_in(self, entity: str, project: str) -> list[SweepRecord]:
        return [s for s in self.sweeps if (s.entity, s.project) == (entity, project)]

    def _create_sweep(
        self, entity: str, project: str, values: dict[str, Any], *, creator: str
    ) -> SweepRecord:
        config = values.get("config")
        if not config:
            raise graphql.GraphQLError("sweep config is required")
        state = values.get("state") or "PENDING"
        _check_state(state)
        taken = {s.name for s in self.sweeps}
        name = _random_sweep_id()
        while name in taken:
            name = _random_sweep_id()
        number = self._next_sweep_number
        self._next_sweep_number += 1
        now = _now()
        sweep = SweepRecord(
            gql_id=base64.b64encode(f"Sweep:{number}".encode()).decode(),
            name=name,
            entity=entity,
            project=project,
            config=config,
            state=state,
            display_name=values.get("displayName"),
            created_at=now,
            description=values.get("description"),
            updated_at=now,
            creator=creator,
        )
        self._projects.add((entity, project))
        self.sweeps.append(sweep)
        return sweep

    def _update_sweep(self, sweep: SweepRecord, values: dict[str, Any]) -> None:
        if values.get("config") is not None:
            if sweep.state != "PENDING":
                raise graphql.GraphQLError("cannot reconfigure sweep which has already started")
            sweep.config = values["config"]
        if values.get("state") is not None:
            _check_state(values["state"])
            sweep.state = values["state"]
        if values.get("displayName") is not None:
            sweep.display_name = values["displayName"]
        if values.get("description") is not None:
            sweep.description = values["description"]
        sweep.updated_at = _now()

    def _register_agent(self, context: _Context, values: dict[str, Any]) -> AgentRecord:
        entity = values.get("entityName") or context.entity
        if entity != context.entity:
            raise graphql.GraphQLError("permission denied")
        project = values.get("projectName") or DEFAULT_PROJECT
        sweep = self.find_sweep(entity, project, values["sweep"])
        if sweep is None:
            raise graphql.GraphQLError(f"sweep {entity}/{project}/{values['sweep']} not found")
        refused = TERMINAL_STATES | ({"PAUSED"} if self.paused_agents == "refused" else set())
        if sweep.state in refused:
            raise _BadRequestError(f"Sweep {entity}/{project}/{sweep.name} is not running")
        agent = AgentRecord(
            gql_id=_opaque_id("Agent", str(len(self.agents) + 1)),
            name=_random_sweep_id(),
            host=values["host"],
            entity=entity,
            project=project,
            sweep=sweep.name,
            created_at=_now(),
        )
        self.agents.append(agent)
        return agent

    def _heartbeat(
        self, context: _Context, values: dict[str, Any]
    ) -> tuple[AgentRecord, list[dict[str, Any]]]:
        """Note an agent's heartbeat and decide the commands it gets (see the module's docstring)."""
        agent = next((a for a in self.agents if a.gql_id == values["id"]), None)
        if agent is None:
            raise _NotFoundError(f"agent {values['id']!r} not found")
        if agent.entity != context.entity:
            raise graphql.GraphQLError("permission denied")
        try:
            run_state = json.loads(values.get("runState") or "{}")
        except ValueError as error:
            raise graphql.GraphQLError(f"runState is not JSON: {error}") from None
        agent.heartbeats += 1
        agent.heartbeat_at = _now()
        agent.running = tuple(run for run, alive in run_state.items() if alive)
        sweep = self.find_sweep(agent.entity, agent.project, agent.sweep)
        if sweep is None:
            raise _NotFoundError(f"sweep {agent.entity}/{agent.project}/{agent.sweep} not found")

        commands: list[dict[str, Any]] = []
        if sweep.state in ("PENDING", "RUNNING") and not agent.running:
            run = self._next_run(sweep, agent)
            if run is None:
                sweep.state = "FINISHED"  # the grid is used up
                sweep.updated_at = _now()
            else:
                args = {name: {"value": value} for name, value in run.params.items()}
                commands.append({"type": "run", "run_id": run.name, "program": run.program, "args": args})
        if sweep.state == "CANCELED":
            commands.extend({"type": "stop", "run_id": run} for run in agent.running)
        if sweep.state not in ("PENDING", "RUNNING", "PAUSED") and not agent.running:
            commands.append({"type": "exit"})
            agent.state = "FINISHED"
        for command in commands:
            command["id"] = str(self._next_command_number)
            self._next_command_number += 1
            agent.commands.append(command)
        return agent, commands

    def _next_run(self, sweep: SweepRecord, agent: AgentRecord) -> RunRecord | None:
        """Hand the next point of the sweep's grid to ``agent``; None when none is left."""
        config = _parse_config(sweep.config)
        grid = _grid(config.get("parameters") or {})
        handed_out = sum(
            1
            for r in self.runs
            if (r.entity, r.project, r.sweep) == (sweep.entity, sweep.project, sweep.name)
        )
        if handed_out >= len(grid):
            return None
        taken = {r.name for r in self.runs}
        name = _random_sweep_id()
        while name in taken:
            name = _random_sweep_id()
        run = RunRecord(
            name=name,
            entity=sweep.entity,
            project=sweep.project,
            sweep=sweep.name,
            agent_id=agent.gql_id,
            program=config.get("program"),
            params=grid[handed_out],
            created_at=_now(),
        )
        self.runs.append(run)
        if sweep.state == "PENDING":
            sweep.state = "RUNNING"
        sweep.updated_at = _now()
        return run


class _Handler(BaseHTTPRequestHandler):
    """Routes ``POST /graphql`` to the server; every other request gets 200."""

    wandb_server: WandbServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        """Stay quiet: pytest shows failures, not every request."""

    def do_GET(self) -> None:
        self._reply(200, b"")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?", 1)[0].rstrip("/") != "/graphql":
            self._reply(200, b"")
            return
        server = self.wandb_server
        request = _parse_request(raw, _api_key(self.headers.get("Authorization")))
        with server._lock:
            server.requests.append(request)

        limited = server._rate_limited(request)
        if limited is not None:
            request.status = 429
            self._reply_json(429, {"error": "rate limit exceeded"}, limited)
            return

        fault = server._take_fault(request)
        if fault is not None and fault.status is not None:
            request.status = fault.status
            message = f"injected HTTP {fault.status}"
            headers = {"Location": fault.location} if fault.location else {}
            self._reply_json(fault.status, {"errors": [{"message": message}]}, headers)
            return

        entity = server.api_keys.get(request.api_key or "")
        if entity is None:
            request.status = 401
            self._reply_json(401, {"errors": [{"message": "user is not logged in"}]})
            return

        status, body = server._execute(request, entity)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.drop_reply_after_acting:
                request.status = 0
                self.close_connection = True
                return
        request.status = status
        self._reply_json(status, body)

    def _reply_json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._reply(status, json.dumps(body).encode(), "application/json", headers)

    def _reply(
        self,
        status: int,
        payload: bytes,
        content_type: str = "text/plain",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up waiting (a delay longer than its timeout).
            self.close_connection = True


def _api_key(authorization: str | None) -> str | None:
    """The password of a Basic ``Authorization`` header (the user is ``api``)."""
    if not authorization or not authorization.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[len("Basic ") :], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, _, password = decoded.partition(":")
    return password or None


def _parse_request(raw: bytes, api_key: str | None) -> GraphQLRequest:
    """Decode the JSON body and note the operation's name, type and root fields."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}  # e.g. a batch: not something the client sends
    query = body.get("query") or ""
    variables = body.get("variables") or {}
    operation_name = body.get("operationName") or None
    is_mutation = False
    root_fields: tuple[str, ...] = ()
    try:
        operation = graphql.get_operation_ast(graphql.parse(query), operation_name)
    except graphql.GraphQLError:
        operation = None
    if operation is not None:
        is_mutation = operation.operation == graphql.OperationType.MUTATION
        if operation_name is None and operation.name is not None:
            operation_name = operation.name.value
        root_fields = tuple(
            s.name.value for s in operation.selection_set.selections if isinstance(s, graphql.FieldNode)
        )
    return GraphQLRequest(
        operation_name=operation_name,
        query=query,
        variables=variables,
        api_key=api_key,
        is_mutation=is_mutation,
        root_fields=root_fields,
    )


# -- schema and resolvers ---------------------------------------------------


def _build_schema(server: WandbServer) -> graphql.GraphQLSchema:
    """Parse the SDL and attach the resolvers that need more than a dict lookup."""
    sdl = SCHEMA_SDL
    if server.sweep_creator == "absent":
        sdl = "\n".join(line for line in sdl.splitlines() if not line.strip().startswith("user: User"))
    if server.legacy_sweeps:
        dropped = {"runCountExpected: Int", "agents: AgentConnection!"}
        sdl = "\n".join(line for line in sdl.splitlines() if line.strip() not in dropped)
    schema = graphql.build_schema(sdl)
    resolvers: dict[tuple[str, str], Callable[..., Any]] = {
        ("Query", "viewer"): lambda _, info: _user(info.context.entity),
        ("Query", "serverInfo"): lambda _, info: {"features": _FEATURES},
        ("Query", "project"): lambda _, info, **args: _project_view(
            server, args.get("entityName") or info.context.entity, args.get("name")
        ),
        ("Project", "sweep"): lambda project, _, **args: _sweep_view(
            server,
            server.find_sweep(project["entityName"], project["name"], args["sweepName"]),
        ),
        ("Project", "sweeps"): lambda project, _, **args: _sweep_connection(server, project, **args),
        ("Project", "runCount"): lambda project, _, filters=None: len(_runs_of(server, project, filters)),
        ("Project", "runs"): lambda project, _, filters=None, **args: _run_connection(
            _runs_of(server, project, filters), **args
        ),
        ("Sweep", "runs"): lambda sweep, _, **args: _run_connection(
            _logged_runs(server, sweep["_record"]), **args
        ),
        ("Sweep", "agents"): lambda sweep, _: {
            "edges": [{"node": _agent_view(server, a)} for a in server.agents_of(sweep["_record"].name)]
        },
        ("Sweep", "project"): lambda sweep, _: _project_view(
            server, sweep["_record"].entity, sweep["_record"].project
        ),
        ("Sweep", "user"): lambda sweep, _: (
            _user(sweep["_record"].creator)
            if server.sweep_creator == "user" and sweep["_record"].creator
            else None
        ),
        ("Mutation", "upsertSweep"): lambda _, info, **args: _upsert_sweep(
            server, info.context, args["input"]
        ),
        ("Mutation", "createAgent"): lambda _, info, **args: {
            "agent": _agent_view(server, server._register_agent(info.context, args["input"])),
            "clientMutationId": args["input"].get("clientMutationId"),
        },
        ("Mutation", "agentHeartbeat"): lambda _, info, **args: _heartbeat_payload(
            server, info.context, args["input"]
        ),
    }
    for (type_name, field_name), resolve in resolvers.items():
        type_ = schema.get_type(type_name)
        assert isinstance(type_, graphql.GraphQLObjectType)
        if field_name in type_.fields:  # Sweep.user, Sweep.agents may be left out (above)
            type_.fields[field_name].resolve = resolve
    return schema


_FEATURES = [{"name": "SWEEPS_QUERY_FILTERING", "isEnabled": True}]
"""Server features: listing sweeps with ``filters`` is supported."""


def _user(entity: str) -> dict[str, Any]:
    return {
        "id": _opaque_id("User", entity),
        "name": entity,
        "username": entity,
        "email": f"{entity}@example.com",
        "admin": False,
        "flags": "{}",
        "entity": entity,
        "deletedAt": None,
        "apiKeys": {"edges": []},
        "teams": {"edges": []},
    }


def _project_view(server: WandbServer, entity: str, name: str | None) -> dict[str, Any] | None:
    name = name or DEFAULT_PROJECT
    if (entity, name) not in server._projects:
        return None
    return {
        "id": _opaque_id("Project", f"{entity}/{name}"),
        "name": name,
        "entityName": entity,
        "entity": {"id": _opaque_id("Entity", entity), "name": entity},
        "totalSweeps": len(server._sweeps_in(entity, name)),
    }


def _sweep_view(server: WandbServer, sweep: SweepRecord | None) -> dict[str, Any] | None:
    if sweep is None:
        return None
    return {
        "_record": sweep,
        "id": sweep.gql_id,
        "name": sweep.name,
        "displayName": sweep.display_name,
        "description": sweep.description,
        "method": _config_method(sweep.config),
        "state": sweep.state,
        "config": sweep.config,
        "createdAt": sweep.created_at.strftime(_TIME_FORMAT),
        "updatedAt": sweep.updated_at.strftime(_TIME_FORMAT) if sweep.updated_at else None,
        "heartbeatAt": None,
        "bestLoss": None,
        "runCount": len(_logged_runs(server, sweep)),
        "runCountExpected": _run_count_expected(sweep.config),
        "earlyStopJobRunning": False,
        "controller": None,
        "scheduler": None,
    }


def _logged_runs(server: WandbServer, sweep: SweepRecord) -> list[RunRecord]:
    """The sweep's runs that reported to W&B, oldest first."""
    return [
        r
        for r in server.runs
        if r.state is not None and (r.entity, r.project, r.sweep) == (sweep.entity, sweep.project, sweep.name)
    ]


def _run_count_expected(config: str) -> int | None:
    """``Sweep.runCountExpected``: the grid's size for a grid sweep (nested parameters
    multiply: 3 x 3 x 1 = 9), null for any other method, as wandb's system test finds
    the real server answer (module docstring)."""
    try:
        parsed = _parse_config(config)
    except graphql.GraphQLError:
        return None
    return _grid_size(parsed.get("parameters") or {}) if parsed.get("method") == "grid" else None


def _grid_size(parameters: Any) -> int | None:
    """The number of points of a grid over ``parameters``; None if one is not a grid's."""
    if not isinstance(parameters, dict):
        return None
    size = 1
    for spec in parameters.values():
        if isinstance(spec, dict) and isinstance(spec.get("values"), list):
            size *= len(spec["values"])
        elif isinstance(spec, dict) and "value" in spec:
            continue
        elif isinstance(spec, dict) and isinstance(spec.get("parameters"), dict):
            inner = _grid_size(spec["parameters"])
            if inner is None:
                return None
            size *= inner
        else:
            return None
    return size


_RUN_FILTER_FIELDS: dict[str, Callable[[RunRecord], Any]] = {
    "sweep": lambda r: r.sweep,
    "name": lambda r: r.name,
    "state": lambda r: r.state,
    "displayName": lambda r: r.display_name,
}


def _runs_of(server: WandbServer, project: dict[str, Any], filters: str | None) -> list[RunRecord]:
    """A project's logged runs that match ``filters`` (MongoDB-style, as for sweeps), oldest first."""
    runs = [
        r
        for r in server.runs
        if r.state is not None and (r.entity, r.project) == (project["entityName"], project["name"])
    ]
    if filters:
        try:
            condition = json.loads(filters)
        except ValueError as error:
            raise graphql.GraphQLError(f"filters is not JSON: {error}") from None
        runs = [r for r in runs if _matches(r, condition, _RUN_FILTER_FIELDS)]
    return sorted(runs, key=lambda r: r.created_at)


def _run_connection(
    runs: list[RunRecord], after: str | None = None, first: int | None = None, order: str | None = None
) -> dict[str, Any]:
    """A page of ``runs`` (oldest first as given), in ``order``, like the real listing."""
    if order in ("-created_at",):
        runs = runs[::-1]
    elif order not in (None, "", "+created_at", "created_at"):
        raise graphql.GraphQLError(f"unsupported order {order!r}")
    start = _cursor_index(after) + 1 if after else 0
    page = runs[start : start + (first if first is not None else 50)]
    edges = [{"cursor": _cursor(start + i), "node": _run_view(r)} for i, r in enumerate(page)]
    return {
        "edges": edges,
        "pageInfo": {
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": start + len(page) < len(runs),
            "hasPreviousPage": start > 0,
        },
    }


def _run_view(run: RunRecord) -> dict[str, Any]:
    """A run as the real server answers: config and summary as JSON text, the config's
    values wrapped as ``{"value": v, "desc": null}`` next to wandb's own ``_wandb``."""
    config = {name: {"value": value, "desc": None} for name, value in run.params.items()}
    config["_wandb"] = {"value": {"cli_version": "0.31.0"}, "desc": None}
    return {
        "id": _opaque_id("Run", f"{run.entity}/{run.project}/{run.name}"),
        "name": run.name,
        "displayName": run.display_name,
        "sweepName": run.sweep,
        "createdAt": run.created_at.strftime(_TIME_FORMAT),
        "state": run.state,
        "config": json.dumps(config),
        "exitcode": {"finished": 0, "failed": 1}.get(run.state or ""),
        "heartbeatAt": run.created_at.strftime(_TIME_FORMAT),
        "shouldStop": False,
        "failed": run.state == "failed",
        "stopped": run.state == "killed",
        "running": run.state == "running",
        "summaryMetrics": json.dumps(run.summary),
        "sampledHistory": [],
    }


def _sweep_connection(
    server: WandbServer,
    project: dict[str, Any],
    after: str | None = None,
    first: int | None = None,
    filters: str | None = None,
    order: str | None = None,
) -> dict[str, Any]:
    """A page of a project's sweeps, newest first, like the real listing."""
    if order not in (None, "", "-created_at", "+created_at", "created_at"):
        raise graphql.GraphQLError(f"unsupported order {order!r}")
    sweeps = server._sweeps_in(project["entityName"], project["name"])
    if order in (None, "", "-created_at"):
        sweeps = sweeps[::-1]
    if filters:
        try:
            condition = json.loads(filters)
        except ValueError as error:
            raise graphql.GraphQLError(f"filters is not JSON: {error}") from None
        sweeps = [s for s in sweeps if _matches(s, condition, _FILTER_FIELDS)]
    start = _cursor_index(after) + 1 if after else 0
    page = sweeps[start : start + (first if first is not None else 50)]
    edges = [{"cursor": _cursor(start + i), "node": _sweep_view(server, s)} for i, s in enumerate(page)]
    return {
        "edges": edges,
        "pageInfo": {
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": start + len(page) < len(sweeps),
            "hasPreviousPage": start > 0,
        },
    }


_FILTER_FIELDS: dict[str, Callable[[SweepRecord], Any]] = {
    "name": lambda s: s.name,
    "displayName": lambda s: s.display_name,
    "state": lambda s: s.state,
    "description": lambda s: s.description,
}


def _matches(record: Any, condition: Any, fields: dict[str, Callable[[Any], Any]]) -> bool:
    """Evaluate the MongoDB-style filter the client sends for sweeps (and runs).

    Supports ``$and``, ``$or``, ``$nor``, plain equality and the operators
    ``$eq``, ``$ne``, ``$in``, ``$nin`` and ``$regex`` on the fields in
    ``fields`` (``_FILTER_FIELDS``, ``_RUN_FILTER_FIELDS``). Anything else is an error
    rather than a silent mismatch, so a test never passes because a filter was ignored.
    """
    if not isinstance(condition, dict):
        raise graphql.GraphQLError(f"invalid filter {condition!r}")
    for key, value in condition.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(value, list):
                raise graphql.GraphQLError(f"{key} needs a list")
            results = [_matches(record, c, fields) for c in value]
            if key == "$and":
                ok = all(results)
            elif key == "$or":
                ok = any(results)
            else:
                ok = not any(results)
        elif key in fields:
            ok = _compare(fields[key](record), value)
        else:
            raise graphql.GraphQLError(f"unsupported filter field {key!r}")
        if not ok:
            return False
    return True


def _compare(actual: Any, expected: Any) -> bool:
    if not isinstance(expected, dict):
        return actual == expected
    checks: dict[str, Callable[[Any], bool]] = {
        "$eq": lambda v: actual == v,
        "$ne": lambda v: actual != v,
        "$in": lambda v: actual in v,
        "$nin": lambda v: actual not in v,
        "$regex": lambda v: actual is not None and re.search(v, actual) is not None,
    }
    for operator, operand in expected.items():
        if operator not in checks:
            raise graphql.GraphQLError(f"unsupported filter operator {operator!r}")
        if not checks[operator](operand):
            return False
    return True


def _upsert_sweep(server: WandbServer, context: _Context, values: dict[str, Any]) -> dict[str, Any]:
    if values.get("id"):
        sweep = next((s for s in server.sweeps if s.gql_id == values["id"]), None)
        if sweep is None:
            raise graphql.GraphQLError(f"sweep {values['id']!r} not found")
        if sweep.entity != context.entity:
            raise graphql.GraphQLError("permission denied")
        server._update_sweep(sweep, values)
        inserted = False
    else:
        entity = values.get("entityName") or context.entity
        if entity != context.entity:
            raise graphql.GraphQLError("permission denied")
        project = values.get("projectName") or DEFAULT_PROJECT
        sweep = server._create_sweep(entity, project, values, creator=context.entity)
        inserted = True
    return {
        "sweep": _sweep_view(server, sweep),
        "inserted": inserted,
        "configValidationWarnings": [],
        "clientMutationId": values.get("clientMutationId"),
    }


def _agent_view(server: WandbServer, agent: AgentRecord) -> dict[str, Any]:
    return {
        "id": agent.gql_id,
        "name": agent.name,
        "host": agent.host,
        "state": agent.state,
        "persistent": False,
        "createdAt": agent.created_at.strftime(_TIME_FORMAT),
        "heartbeatAt": agent.heartbeat_at.strftime(_TIME_FORMAT) if agent.heartbeat_at else None,
        "totalRuns": len(server.runs_of(agent)),
    }


def _heartbeat_payload(server: WandbServer, context: _Context, values: dict[str, Any]) -> dict[str, Any]:
    agent, commands = server._heartbeat(context, values)
    return {
        "agent": _agent_view(server, agent),
        "commands": json.dumps(commands),
        "clientMutationId": values.get("clientMutationId"),
    }


def _parse_config(config: str) -> dict[str, Any]:
    """A sweep config as a dict: JSON, else YAML (PyYAML, which the client needs anyway)."""
    try:
        parsed = json.loads(config)
    except ValueError:
        import yaml  # Imported here: only agents need the YAML parsed.

        try:
            parsed = yaml.safe_load(config)
        except yaml.YAMLError as error:
            raise graphql.GraphQLError(f"sweep config is not YAML: {error}") from None
    if not isinstance(parsed, dict):
        raise graphql.GraphQLError("sweep config is not a mapping")
    return parsed


def _grid(parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the parameters' ``values`` (or single ``value``), in config order."""
    names: list[str] = []
    choices: list[list[Any]] = []
    for name, spec in parameters.items():
        if isinstance(spec, dict) and isinstance(spec.get("values"), list):
            choices.append(spec["values"])
        elif isinstance(spec, dict) and "value" in spec:
            choices.append([spec["value"]])
        else:
            raise graphql.GraphQLError(f"parameter {name!r}: only 'value' and 'values' are supported")
        names.append(name)
    return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*choices)]


# -- small helpers ------------------------------------------------------------


def _check_state(state: str) -> None:
    if state not in SWEEP_STATES:
        raise graphql.GraphQLError(f"invalid sweep state {state!r}")


def _config_method(config: str) -> str:
    """The sweep's ``method`` from its YAML or JSON config, or "" if absent."""
    match = re.search(r"""^\s*"?method"?\s*:\s*"?([A-Za-z_]+)""", config, re.MULTILINE)
    return match.group(1) if match else ""


def _random_sweep_id() -> str:
    return "".join(secrets.choice(_SWEEP_ID_ALPHABET) for _ in range(8))


def _opaque_id(type_name: str, key: str) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:{index}".encode()).decode()


def _cursor_index(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor).decode().removeprefix("cursor:"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise graphql.GraphQLError(f"invalid cursor {cursor!r}") from None


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)

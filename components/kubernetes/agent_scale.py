"""What a sweep's size gives its agent pods: a start delay, and W&B client timeouts that
outlast W&B's back-off when many agents share one API key.

Every `wandb agent` sends `agentHeartbeat` every 5 s, busy or idle (wandb 0.31
wandb/wandb_agent.py, `Agent.POLL_INTERVAL`), after `Viewer`, `SweepWithRuns` and
`CreateAgent` at its start; W&B limits requests per user and answers 429 (docs/performance.md
has the numbers). Two things follow from the sweep's agent count N = pods x agentsPerPod:

- **A start spread** of floor(N / agentStartsPerSecond) s: each agent waits a random 0 .. spread
  - 1 s before it starts (launcher/setup.sh), so the sweep's agents start at about that rate,
  and so do a retried pod's. 0 (the rate is 0, or N is below it): at once.
- **Client timeouts** above `LARGE_SWEEP_AGENTS` agents. wandb-core retries 429 and 5xx with
  2 s x 2^n back-off (+ up to 25 %), at most 60 s apart, 20 times, obeying Retry-After
  (wandb/wandb core/internal/api/api.go `DefaultRetryMax`, `DefaultRetryWaitMin`/`Max`;
  core/internal/clients/retry_policy.go `RetryMostFailures`, backoff.go
  `ExponentialBackoffWithJitter`), but the Python side waits only WANDB_HTTP_TIMEOUT for each
  call (wandb 0.31 wandb/apis/public/api.py `Api._HTTP_TIMEOUT = env.get_http_timeout(19)`,
  the timeout of `ServiceApi.execute_graphql`): `wandb agent` exits 1 after about 20 s of
  429s at its start. WANDB_HTTP_TIMEOUT also sets wandb-core's timeout per attempt
  (wandb/sdk/wandb_settings.py `Settings.update_from_env_vars` maps it to
  `x_graphql_timeout_seconds`, default 30 s: core/internal/api/gql_client.go
  `NewGQLClient`), so a hung connection is retried that much later. WANDB_INIT_TIMEOUT is
  how long a run's `wandb.init` waits (`Settings.init_timeout`, 90 s): a run creation W&B
  keeps refusing fails the run. The retry settings (WANDB_X_GRAPHQL_RETRY_MAX and
  WANDB_X_GRAPHQL_RETRY_WAIT_MIN/MAX_SECONDS, read as `x_graphql_retry_*` by the same
  mapping; none set: the defaults above) are left alone: 20 retries take about 16 minutes,
  longer than any timeout set here, so the Python side's wait is what ends a call.

Both travel in a ConfigMap (`scale_config_map_name`) that the agent container reads with
`envFrom`, never in the pod template: the template is the same for every slot, and a value
that follows `pods` there would make scaling replace every Job (a Job's template cannot
change: `agent_job`), killing every running agent. Scaling changes the ConfigMap instead;
the pods that start after it read the new values. Variables the user sets in `env` win
over `envFrom` (Kubernetes API, `Container.envFrom`: "Values defined by an Env with a
duplicate key will take precedence"), so the timeouts are defaults, not reserved names.
"""

from __future__ import annotations

from .pods import AgentPods

MAX_AGENT_STARTS_PER_SECOND = 1000
"""Far above W&B's documented default of 80 run creations per second per project (Dedicated
Cloud, self-managed): a faster start only moves the burst to W&B."""
LARGE_SWEEP_AGENTS = 100
"""Above this many agents in one sweep, the agents get the longer client timeouts: their
heartbeats alone are more than 20 requests per second on one API key, the order at which
users met 429s from the hosted W&B (wandb/wandb#2810: 800 agents; its per-user limits are
unpublished). Below it, the pods render as before."""
AGENT_RESTARTS = 3
"""An agent that exits 1 while the sweep is RUNNING or PENDING (W&B kept refusing its
start-up calls) is restarted this many times in a row before its pod fails: with the
launcher's back-off (30, 60, 120 s, each plus up to as much again at random) that is about
3.5 to 7 minutes of W&B trouble, longer than a rate limit's reset (seconds to a minute) and
than wandb-core's own retries of one call; trouble that outlasts it fails the pod, which
`retriesPerPod` counts and Kubernetes shows."""
SPREAD_ENV = "AGENT_START_SPREAD_SECONDS"
RESTARTS_ENV = "AGENT_RESTARTS"
HTTP_TIMEOUT_ENV = "WANDB_HTTP_TIMEOUT"
INIT_TIMEOUT_ENV = "WANDB_INIT_TIMEOUT"
MAX_HTTP_TIMEOUT = 600
MAX_INIT_TIMEOUT = 1800


def agent_count(pods: AgentPods) -> int:
    """The sweep's `wandb agent` processes when every pod runs: pods x agentsPerPod."""
    return pods.pods * pods.agents_per_pod


def start_spread_seconds(agents: int, starts_per_second: int) -> int:
    """floor(agents / starts_per_second): the window over which the agents start; 0 for
    a rate of 0 (no stagger) and for fewer agents than the rate (they start at once)."""
    if starts_per_second <= 0:
        return 0
    return agents // starts_per_second


def client_timeouts(agents: int) -> dict[str, str]:
    """WANDB_HTTP_TIMEOUT and WANDB_INIT_TIMEOUT for a sweep of `agents` agents; none up to
    `LARGE_SWEEP_AGENTS`. Above it, 60 s plus 0.1 s per agent, at most 600 s (a call that
    waits 10 minutes is stuck, not queued), and three times that for `wandb.init`, at most
    30 minutes. Growing with the agents: under a per-user limit each agent's share of it
    shrinks as 1/N, so a call waits longer for its turn; 101 agents get 70 s (about wandb-core's
    first 5 retries, 2 to 32 s apart), 2,000 get 260 s (8), 5,400 and more 600 s (13)."""
    if agents <= LARGE_SWEEP_AGENTS:
        return {}
    http = min(MAX_HTTP_TIMEOUT, 60 + agents // 10)
    return {HTTP_TIMEOUT_ENV: str(http), INIT_TIMEOUT_ENV: str(min(MAX_INIT_TIMEOUT, 3 * http))}


def scale_env(pods: AgentPods) -> dict[str, str]:
    """The scale ConfigMap's data: the start spread (when not 0) and the client timeouts
    (above `LARGE_SWEEP_AGENTS`). Empty for a small sweep: no ConfigMap is made."""
    agents = agent_count(pods)
    env = client_timeouts(agents)
    spread = start_spread_seconds(agents, pods.agent_starts_per_second)
    if spread > 0:
        env[SPREAD_ENV] = str(spread)
    return dict(sorted(env.items()))


def scale_config_map_name(name: str) -> str:
    """The ConfigMap holding `scale_env` for the WandbSweep `name`. A fixed name, which
    every pod template refers to (`optional`: a small sweep has none)."""
    return f"{name}-agent-scale"

"""What `wandb-sweeps check` warns about a sweep's size: one API key for too many agents.

A pure function of the checked settings, so that the check command (and a test) can call
it without a program run. W&B's per-user request limits on the hosted service are
unpublished; what is documented and read is in docs/performance.md ("Many agents").
"""

from __future__ import annotations

from ..kubernetes.agent_scale import agent_count, start_spread_seconds
from .settings import SweepSettings

SCALE_WARNING_AGENTS = 400
"""Above this many agents the warning is given: 400 agents send 80 heartbeats a second on
one API key (one each every 5 s: wandb/wandb_agent.py, `Agent.POLL_INTERVAL`), and,
started together, can ask for 400 runs within one heartbeat interval, i.e. 80 run creations
a second, W&B's documented default limit per project on Dedicated Cloud and self-managed
instances (docs.wandb.ai, "Rate limits")."""
PERFORMANCE_PAGE = "docs/performance.md#many-agents-what-a-sweep-asks-of-wb"


def scale_warnings(settings: SweepSettings) -> list[str]:
    """The warnings for `settings`: one when pods x agentsPerPod exceeds
    `SCALE_WARNING_AGENTS`, with what those agents ask of W&B; none otherwise."""
    pods = settings.agents
    agents = agent_count(pods)
    if agents <= SCALE_WARNING_AGENTS:
        return []
    spread = start_spread_seconds(agents, pods.agent_starts_per_second)
    starting = (
        f"over about {spread} s at agentStartsPerSecond {pods.agent_starts_per_second}"
        if spread
        else "all at once (agentStartsPerSecond 0)"
    )
    return [
        f"pods x agentsPerPod: {pods.pods} x {pods.agents_per_pod} = {agents} agents on one W&B API key, more "
        f"than {SCALE_WARNING_AGENTS}. They send about {agents // 5} heartbeats a second (one each every 5 s) and "
        f"{3 * agents} requests as they start, {starting}; W&B limits requests per user (its hosted limits are "
        "unpublished) and documents 80 run creations a second per project for Dedicated Cloud and self-managed "
        "W&B, so expect 429s. The agents get longer W&B timeouts and are restarted when W&B refuses them; to "
        "go further, run the agents from several stacks attached to this sweep (sweepId), each with its own "
        f"user's API key, or split the search into sweeps in separate projects. See {PERFORMANCE_PAGE}."
    ]

"""What each kind of stop costs a slot: the rendered Job under the job controller's rules.

The agent Job the program registers (slot 0 of the dev stack, as Kubernetes gets it) is
judged by `platform_rules.counts_against_backoff_limit`, the job controller's
podFailurePolicy matching as read in kubernetes/kubernetes (`POD_FAILURE_POLICY_SOURCE`),
for the pod each kind of stop leaves: its conditions and the agent container's exit
status, which is the launcher's (tests/kubernetes/test_agent_launcher.py checks that the
launcher gives 143 only when the pod got SIGTERM, and 6 for an agent killed otherwise).
A Kueue preemption (`SUSPEND_DELETES_PODS_SOURCE`) leaves no DisruptionTarget condition:
before the exit-code rule it was counted. Read from source, not seen on a cluster; the
table in docs/failures.md says the same.
"""

from __future__ import annotations

from typing import Any

import pytest
from engine_model import plain
from platform_rules import counts_against_backoff_limit
from pulumi_harness import cli_config, run_program

API_KEY = "local-" + "k" * 40
DISRUPTION = {"type": "DisruptionTarget", "status": "True"}


def agent_job_spec() -> dict[str, Any]:
    config = cli_config("dev", wandbApiKey=API_KEY)
    run = run_program("dev", config, secret_keys=("wandbApiKey",))
    [job] = [plain(r.inputs) for r in run.registrations if r.typ == "kubernetes:batch/v1:Job"]
    return job["spec"]


def ended(exit_code: int, *conditions: dict[str, str], phase: str = "Failed") -> dict[str, Any]:
    """The status of an agent pod that ended: the agent container's exit code."""
    return {
        "phase": phase,
        "conditions": list(conditions),
        "containerStatuses": [{"name": "agent", "exitCode": exit_code}],
    }


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return agent_job_spec()


@pytest.mark.parametrize(
    ("stop", "pod", "counted"),
    [
        # Kueue suspends the Job; the job controller deletes the pod, no condition; the
        # launcher forwards the SIGTERM and exits 143.
        ("Kueue preemption or eviction", ended(143), False),
        ("node drain (eviction API)", ended(143, DISRUPTION), False),
        ("spot reclaim, killed at the end of the platform's grace", ended(137, DISRUPTION), False),
        ("kubectl delete pod", ended(143), False),
        # Kueue preemption whose pod Kubernetes had to SIGKILL: what the launcher's bounded
        # drain (exit 143 before terminationGracePeriodSeconds) avoids.
        ("Kueue preemption, SIGKILLed at the end of the grace period", ended(137), True),
        ("an agent killed by a signal the pod did not get (launcher: 6)", ended(6), True),
        ("a failing trainer: the agent gave up while the sweep runs (4)", ended(4), True),
        ("an agent that failed (key rejected, sweep deleted)", ended(1), True),
        ("the launcher itself OOM-killed", ended(137), True),
        ("a finished sweep, or an agent refused on one (0)", ended(0, phase="Succeeded"), False),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_what_each_stop_costs(spec: dict[str, Any], stop: str, pod: dict[str, Any], counted: bool) -> None:
    assert counts_against_backoff_limit(spec, pod) is counted, stop


def test_the_exit_code_rule_is_for_the_agent_container_and_143_only(spec: dict[str, Any]) -> None:
    [rule] = [r for r in spec["podFailurePolicy"]["rules"] if "onExitCodes" in r]
    assert rule == {
        "action": "Ignore",
        "onExitCodes": {"containerName": "agent", "operator": "In", "values": [143]},
    }
    assert spec["template"]["spec"]["containers"][0]["name"] == "agent"
    assert spec["template"]["spec"]["restartPolicy"] == "Never"  # podFailurePolicy needs it


def test_the_model_counts_every_failure_without_a_policy() -> None:
    """Guards the model: with no rule, a preempted pod counts (isPodFailed)."""
    assert counts_against_backoff_limit({}, ended(143, DISRUPTION))
    assert counts_against_backoff_limit({"podFailurePolicy": {"rules": []}}, ended(143))

"""`wandb-sweeps status`, run as users run it (`python -m wandb_sweeps status`, its own
process), against the test W&B server with seeded sweeps, and a stub `pulumi` for `-s`.

Checked: the table and the JSON fields for a grid (runs expected known) with finished,
failed, crashed and running runs, minimize and maximize goals, a sweep without a metric,
`run_cap`; the named errors and their exit codes (unknown sweep, rejected key, a server
that is down, usage); `-s` through the Pulumi CLI; and the key, never shown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from private_ca import make_ca
from status_cli import ROOT, calls_of, seed_grid, stack_of, status_command, write_pulumi_stub
from wandb_server import DEFAULT_KEY, WandbServer

REQUESTS_PER_REFRESH = {"GetSweep": 1, "Runs": 1, "GetSweepAgents": 1}
"""One refresh of a sweep with at most 50 runs (docs/status.md, "What it costs")."""


def test_the_table_shows_state_runs_expected_best_run_and_agents(server: WandbServer) -> None:
    seeded = seed_grid(server)
    mark = server.mark()
    done = status_command("--sweep", seeded.path, "--base-url", server.base_url)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == f"sweep     {seeded.path}"
    assert lines[1] == "name      resnet-grid"
    assert lines[2] == "state     RUNNING"
    assert lines[3] == f"url       {server.base_url}/alice/vision/sweeps/{seeded.sweep.name}"
    assert lines[4] == "runs      5 (running 1, finished 2, failed 1, crashed 1)"
    assert lines[5] == "expected  6 (4 done)"
    assert (
        lines[6]
        == f"best      val_loss = 0.21 (minimize), run run-{seeded.best_run} ({seeded.best_run}), finished"
    )
    assert lines[7] == "          lr=0.01  batch_size=16"
    assert lines[8] == "agents    2 registered, 1 alive (heartbeat in the last 60 s)"
    assert lines[9].startswith("          sweep-agent-0-3f2a9c1b07-x7k2p  RUNNING  heartbeat ")
    assert lines[10] == "          sweep-agent-1-8e41d2c0aa-q9z4m  RUNNING  heartbeat 20 min ago  0 runs"
    assert server.operation_counts(mark) == REQUESTS_PER_REFRESH


@pytest.mark.parametrize(("goal", "value"), [("minimize", 0.21), ("maximize", 0.93)])
def test_the_json_object_has_the_fields_ci_reads(server: WandbServer, goal: str, value: float) -> None:
    seeded = seed_grid(server, goal=goal)
    done = status_command("--sweep", seeded.path, "--base-url", server.base_url, "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert done.stdout.count("\n") == 1
    assert status["state"] == "RUNNING"
    assert status["sweep"] == seeded.path
    assert status["expected"] == 6
    assert status["runs"] == {
        "total": 5,
        "running": 1,
        "pending": 0,
        "preempting": 0,
        "finished": 2,
        "failed": 1,
        "crashed": 1,
        "killed": 0,
        "preempted": 0,
        "other": 0,
        "counted": 5,
    }
    best = status["best"]
    assert (best["run"], best["metric"], best["goal"], best["value"]) == (
        seeded.best_run,
        "val_loss",
        goal,
        value,
    )
    lr = 0.01 if goal == "minimize" else 0.1
    assert best["config"] == {"lr": lr, "batch_size": 16}
    assert [(a["host"], a["alive"]) for a in status["agents"]] == [
        ("sweep-agent-0-3f2a9c1b07-x7k2p", True),
        ("sweep-agent-1-8e41d2c0aa-q9z4m", False),
    ]
    assert status["agents"][1]["seconds_since_heartbeat"] >= 1200


def test_a_sweep_without_a_metric_has_no_best_run_and_random_no_end(server: WandbServer) -> None:
    sweep = server.create_sweep(
        {"method": "random", "parameters": {"lr": {"values": [1, 2]}}}, state="RUNNING"
    )
    server.log_run(sweep, summary={"loss": 0.1})
    path = f"alice/uncategorized/{sweep.name}"
    table = status_command("--sweep", path, "--base-url", server.base_url)
    assert table.returncode == 0, table.stderr
    assert "best      - (the sweep config names no metric)" in table.stdout
    assert "expected  no end known (random, no run_cap); 1 done" in table.stdout
    status = json.loads(status_command("--sweep", path, "--base-url", server.base_url, "--json").stdout)
    assert (status["best"], status["expected"], status["metric"]) == (None, None, None)


def test_run_cap_bounds_the_runs_expected(server: WandbServer) -> None:
    capped_grid = server.create_sweep({**_grid_of(9), "run_cap": 4})
    capped_random = server.create_sweep(
        {"method": "random", "run_cap": 7, "parameters": {"a": {"values": [1]}}}
    )
    for sweep, expected in ((capped_grid, 4), (capped_random, 7)):
        done = status_command(
            "--sweep", f"alice/uncategorized/{sweep.name}", "--base-url", server.base_url, "--json"
        )
        assert json.loads(done.stdout)["expected"] == expected


def _grid_of(size: int) -> dict[str, object]:
    return {"method": "grid", "parameters": {"a": {"values": list(range(size))}}}


def test_a_refresh_pages_through_runs_without_their_histories(server: WandbServer) -> None:
    sweep = server.create_sweep(
        {**_grid_of(200), "metric": {"name": "acc", "goal": "maximize"}}, state="RUNNING"
    )
    for index in range(120):
        server.log_run(sweep, params={"a": index}, summary={"acc": index / 1000})
    mark = server.mark()
    done = status_command(
        "--sweep", f"alice/uncategorized/{sweep.name}", "--base-url", server.base_url, "--json"
    )
    status = json.loads(done.stdout)
    assert (status["runs"]["total"], status["runs"]["finished"], status["best"]["value"]) == (120, 120, 0.119)
    assert server.operation_counts(mark) == {"GetSweep": 1, "Runs": 3, "GetSweepAgents": 1}
    queries = [r.query for r in server.requests[mark:]]
    assert not [q for q in queries if "History" in q or "history" in q or "files" in q]


def test_an_older_server_costs_one_request_more_and_reports_no_agents() -> None:
    with WandbServer(legacy_sweeps=True) as old:
        sweep = old.create_sweep(_grid_of(3), state="RUNNING")
        mark = old.mark()
        done = status_command("--sweep", f"alice/uncategorized/{sweep.name}", "--base-url", old.base_url)
        assert done.returncode == 0, done.stderr
        assert "agents    - (this W&B server does not report a sweep's agents)" in done.stdout
        assert "expected  no end known (grid, no run_cap); 0 done" in done.stdout
        assert old.operation_counts(mark) == {
            "GetSweep": 1,
            "GetSweepLegacy": 1,
            "Runs": 1,
            "GetSweepAgents": 1,
        }


def test_an_unknown_sweep_is_named_and_exits_1(server: WandbServer) -> None:
    seed_grid(server)
    mark = server.mark()
    done = status_command("--sweep", "alice/vision/zzzz9999", "--base-url", server.base_url)
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"W&B at {server.base_url} has no sweep alice/vision/zzzz9999" in done.stderr
    assert server.operation_counts(mark) == {"GetSweep": 1}


def test_a_rejected_key_is_named_never_shown_and_exits_1(server: WandbServer) -> None:
    seeded = seed_grid(server)
    revoked = "local-" + "x" * 40
    done = status_command("--sweep", seeded.path, "--base-url", server.base_url, key=revoked)
    assert done.returncode == 1
    assert "rejected the API key in WANDB_API_KEY (HTTP 401/403)" in done.stderr
    assert revoked not in done.stderr + done.stdout
    assert "x" * 20 not in done.stderr


def test_a_server_that_is_down_fails_within_the_call_timeout() -> None:
    with WandbServer() as gone:
        base_url = gone.base_url
    start = time.monotonic()
    done = status_command(
        "--sweep",
        "alice/vision/a1b2c3d4",
        "--base-url",
        base_url,
        "--call-timeout",
        "2",
        "--request-timeout",
        "1",
    )
    took = time.monotonic() - start
    assert done.returncode == 1
    assert f"W&B at {base_url} did not read sweep alice/vision/a1b2c3d4 within 2 s" in done.stderr
    assert "--request-timeout and --call-timeout" in done.stderr
    assert took < 10, f"took {took:.1f} s"


@pytest.mark.parametrize(
    ("args", "key", "says"),
    [
        (["--sweep", "alice/vision/a1b2c3d4"], None, "WANDB_API_KEY is not set"),
        (
            ["--sweep", "alice/vision/a1b2c3d4"],
            "short-key",
            "WANDB_API_KEY (environment): is not a W&B API key",
        ),
        (["--sweep", "alice/vision"], DEFAULT_KEY, "--sweep: 'alice/vision' is not ENTITY/PROJECT/ID"),
        (["--sweep", "a/b/c/d1234567"], DEFAULT_KEY, "is not ENTITY/PROJECT/ID"),
        (
            ["--sweep", "alice/vision/a1b2c3d4", "--base-url", "http://wandb.example.com"],
            DEFAULT_KEY,
            "https",
        ),
        (["--sweep", "alice/vision/a1b2c3d4", "--interval", "10"], DEFAULT_KEY, "go with --watch"),
        (["--sweep", "alice/vision/a1b2c3d4", "--watch", "--interval", "1"], DEFAULT_KEY, "from 5 to"),
        (["--sweep", "a/b/c1234567", "-s", "dev"], DEFAULT_KEY, "not allowed with argument"),
        (
            ["--sweep", "alice/vision/a1b2c3d4", "--call-timeout", "2", "--request-timeout", "5"],
            DEFAULT_KEY,
            "at least",
        ),
    ],
)
def test_usage_errors_exit_2_before_asking_w_b(
    server: WandbServer, args: list[str], key: str | None, says: str
) -> None:
    base_url = [] if "--base-url" in args else ["--base-url", server.base_url]
    done = status_command(*args, *base_url, key=key)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert done.stdout == ""
    assert server.mark() == 0
    if key:
        assert key not in done.stderr


def test_a_stack_names_the_sweep_its_server_and_url(server: WandbServer, tmp_path: Path) -> None:
    seeded = seed_grid(server)
    calls = tmp_path / "calls.jsonl"
    write_pulumi_stub(tmp_path / "bin", {"dev": stack_of(server, seeded)}, calls)
    done = status_command("-s", "dev", path_prefix=tmp_path / "bin")
    assert done.returncode == 0, done.stderr
    assert f"url       https://app.example.com/alice/vision/sweeps/{seeded.sweep.name}" in done.stdout
    assert "runs      5 (running 1, finished 2, failed 1, crashed 1)" in done.stdout
    assert [c["args"] for c in calls_of(calls)] == [
        ["stack", "output", "--json", "--stack=dev"],
        ["config", "--json", "--stack=dev"],
    ]
    assert not any(c["key_in_env"] for c in calls_of(calls)), "the Pulumi CLI needs no W&B key"


def test_without_a_stack_argument_the_selected_stack_is_read(server: WandbServer, tmp_path: Path) -> None:
    seeded = seed_grid(server)
    calls = tmp_path / "calls.jsonl"
    write_pulumi_stub(tmp_path / "bin", {"dev": stack_of(server, seeded)}, calls, selected="dev")
    done = status_command("--json", path_prefix=tmp_path / "bin")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sweep"] == seeded.path
    assert calls_of(calls)[0]["args"] == ["stack", "output", "--json"]


def test_the_stack_s_timeouts_apply(tmp_path: Path) -> None:
    with WandbServer() as gone:
        pass  # started and stopped at once: its address now refuses every connection
    stack = {
        "outputs": {"sweepPath": "alice/vision/a1b2c3d4"},
        "config": {
            "wandb-sweeps:project": "vision",
            "wandb-sweeps:baseUrl": gone.base_url,
            "wandb-sweeps:wandbRequestTimeoutSeconds": "1",
            "wandb-sweeps:wandbCallTimeoutSeconds": "2",
        },
    }
    write_pulumi_stub(tmp_path / "bin", {"dev": stack}, tmp_path / "calls.jsonl")
    done = status_command("-s", "dev", path_prefix=tmp_path / "bin")
    assert done.returncode == 1
    assert "within 2 s" in done.stderr


@pytest.mark.parametrize(
    ("stack", "says"),
    [
        (
            "nope",
            "`pulumi stack output --json --stack=nope` failed (exit status 6): error: no stack named 'nope' found",
        ),
        ("bare", "stack bare has no sweepPath output"),
        ("secret", "marks its sweepPath output secret"),
        ("odd", "stack odd's sweepPath output is 'a/b', not ENTITY/PROJECT/ID"),
        ("badconfig", "the config of stack badconfig: baseUrl: must be an https URL"),
        ("-s", "is not a Pulumi stack name"),
    ],
)
def test_a_stack_that_names_no_readable_sweep_exits_2(
    server: WandbServer, tmp_path: Path, stack: str, says: str
) -> None:
    seeded = seed_grid(server)
    good = stack_of(server, seeded)
    stacks = {
        "bare": {"outputs": {}, "config": {}},
        "secret": {"outputs": {"sweepPath": "[secret]"}, "config": {}},
        "odd": {"outputs": {"sweepPath": "a/b"}, "config": {}},
        "badconfig": {
            **good,
            "config": {**good["config"], "wandb-sweeps:baseUrl": "http://wandb.example.com"},
        },
    }
    write_pulumi_stub(tmp_path / "bin", stacks, tmp_path / "calls.jsonl")
    done = status_command(f"--stack={stack}", path_prefix=tmp_path / "bin")
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert server.mark() == 0


def test_without_the_pulumi_cli_a_stack_cannot_be_read(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = status_command("-s", "dev", env={"PATH": str(empty)})
    assert done.returncode == 2
    assert "the Pulumi CLI (`pulumi`) is not on PATH" in done.stderr


def test_what_the_server_names_reaches_the_terminal_without_escapes_or_the_key(server: WandbServer) -> None:
    sweep = server.create_sweep(
        {"method": "random", "metric": {"name": "loss"}, "parameters": {"x": {"value": 1}}}
    )
    server.log_run(
        sweep,
        params={"x": 1, "leaked": DEFAULT_KEY},
        summary={"loss": 0.5},
        display_name="\x1b]0;pwned\x07\x1b[31mred",
    )
    sweep.config = json.dumps(
        {"method": "random", "metric": {"name": "loss"}}
    )  # no parameters: the whole config
    for extra in ([], ["--json"]):
        done = status_command(
            "--sweep", f"alice/uncategorized/{sweep.name}", "--base-url", server.base_url, *extra
        )
        assert done.returncode == 0, done.stderr
        assert DEFAULT_KEY not in done.stdout
        assert "[API key]" in done.stdout
        assert "\x1b" not in done.stdout
        assert "\x07" not in done.stdout


def test_the_command_is_installed_and_starts_without_the_pulumi_face(server: WandbServer) -> None:
    """`wandb-sweeps` (the console script) and `python -m wandb_sweeps` run the same
    command; it imports neither pulumi_kubernetes nor the Kubernetes schemas."""
    seeded = seed_grid(server)
    script = Path(sys.executable).parent / "wandb-sweeps"
    argv = ["wandb-sweeps", "status", "--sweep", seeded.path, "--base-url", server.base_url]
    probe = (
        f"import runpy, sys; sys.argv = {argv!r}; code = 0\n"
        "try:\n runpy.run_module('wandb_sweeps', run_name='__main__')\n"
        "except SystemExit as e:\n code = e.code\n"
        "heavy = ('pulumi_kubernetes', 'kubernetes_validate', 'wandb_sweeps.wandb_sweep')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr); sys.exit(code)"
    )
    env = dict(os.environ, WANDB_API_KEY=DEFAULT_KEY)
    probed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )
    assert probed.returncode == 0, probed.stderr
    assert probed.stderr.strip().splitlines()[-1] == "[]"
    installed = subprocess.run(
        [str(script), "status", "--sweep", seeded.path, "--base-url", server.base_url, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    assert json.loads(installed.stdout)["sweep"] == seeded.path


def test_a_stack_s_ca_certificate_is_trusted_as_at_deploy(tmp_path: Path) -> None:
    """The stack's caCertificate (a file in the project folder) is trusted besides the
    public roots; without it, the TLS error names caCertificate. With --sweep, the
    machine's SSL_CERT_FILE is what a private CA goes in."""
    ca = make_ca("Corp CA")
    with WandbServer(ssl_context=ca.issue().server_context(tmp_path)) as tls:
        seeded = seed_grid(tls)
        project = tmp_path / "project"
        (project / "certs").mkdir(parents=True)
        (project / "Pulumi.yaml").write_text("name: wandb-sweeps\nruntime: python\n")
        (project / "certs" / "ca.pem").write_text(ca.pem)
        stacks = {"dev": stack_of(tls, seeded, caCertificate="certs/ca.pem"), "plain": stack_of(tls, seeded)}
        write_pulumi_stub(tmp_path / "bin", stacks, tmp_path / "calls.jsonl")
        trusted = status_command("-s", "dev", path_prefix=tmp_path / "bin", cwd=project / "certs")
        assert trusted.returncode == 0, trusted.stderr
        assert "runs      5 (running 1, finished 2, failed 1, crashed 1)" in trusted.stdout
        refused = status_command("-s", "plain", path_prefix=tmp_path / "bin", cwd=project)
        assert refused.returncode == 1
        assert "presented a TLS certificate this machine does not trust" in refused.stderr
        assert "set caCertificate to the CA's PEM file" in refused.stderr
        by_env = status_command(
            "--sweep",
            seeded.path,
            "--base-url",
            tls.base_url,
            env={"SSL_CERT_FILE": str(project / "certs" / "ca.pem")},
        )
        assert by_env.returncode == 0, by_env.stderr

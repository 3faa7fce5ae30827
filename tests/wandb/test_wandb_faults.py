"""The sweep provider when W&B misbehaves: errors, slowness, lost replies, drift, outages.

Same setup as test_sweep_provider: the real dynamic-provider process over gRPC,
the real wandb client, and the local W&B server, whose fault injection plays the
misbehaving network or server. Short timeouts (2 s per request, 10 s per call)
keep the module fast; the defaults are 20 s and 30 s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import yaml
from engine_driver import Engine, ProviderFailure
from sweep_inputs import SWEEP_YAML, inputs, lifecycle_inputs
from wandb_server import DEFAULT_KEY, WandbServer

from wandb_sweeps.wandb.adoption import sweep_display_name

REQUEST_TIMEOUT = 2
CALL_TIMEOUT = 10


@pytest.fixture
def engine() -> Iterator[Engine]:
    running = Engine()
    yield running
    running.close()


def fast(server: WandbServer, **overrides: object) -> dict:
    return inputs(server, request_timeout=REQUEST_TIMEOUT, call_timeout=CALL_TIMEOUT, **overrides)


def creates(server: WandbServer) -> int:
    return len(
        [r for r in server.writes() if "upsertSweep" in r.root_fields and not (r.variables or {}).get("id")]
    )


def test_a_server_error_on_create_is_retried_and_makes_one_sweep(server: WandbServer, engine: Engine) -> None:
    server.inject(operation="UpsertSweep", status=500, times=1)
    _, outs = engine.create(fast(server))
    assert len(server.sweeps) == 1
    assert server.sweeps[0].name == outs["sweep_id"]
    assert creates(server) == 2  # the failed attempt (not acted on) and the retry


def test_a_lost_reply_after_the_create_does_not_make_a_second_sweep(
    server: WandbServer, engine: Engine
) -> None:
    server.inject(operation="UpsertSweep", drop_reply_after_acting=True, times=1)
    _, outs = engine.create(fast(server))
    assert [s.name for s in server.sweeps] == [outs["sweep_id"]]
    assert creates(server) == 1  # found by its display name, never re-sent


def test_a_reply_slower_than_the_request_timeout_does_not_make_a_second_sweep(
    server: WandbServer, engine: Engine
) -> None:
    server.inject(operation="UpsertSweep", delay=REQUEST_TIMEOUT + 2, times=1)
    _, outs = engine.create(fast(server))
    assert [s.name for s in server.sweeps] == [outs["sweep_id"]]
    assert creates(server) == 1


def test_an_interrupted_up_finds_the_sweep_it_made_instead_of_making_another(
    server: WandbServer, engine: Engine
) -> None:
    """`pulumi up` made the sweep, then died before saving state: the next `up` creates again."""
    _, first = engine.create(fast(server))
    rerun = Engine()
    try:
        _, second = rerun.create(fast(server))
    finally:
        rerun.close()
    assert second["sweep_id"] == first["sweep_id"]
    assert len(server.sweeps) == 1 and creates(server) == 1


def test_the_display_name_is_unique_per_stack_resource_and_config(
    server: WandbServer, engine: Engine
) -> None:
    _, outs = engine.create(fast(server))
    name = server.find_sweep("alice", "proj", outs["sweep_id"]).display_name
    assert name == sweep_display_name(SWEEP_YAML, "wandb-sweeps/test/sweep", DEFAULT_KEY)
    other_stack = engine.create(fast(server, creation_key="wandb-sweeps/live/sweep"))[1]
    other_config = engine.create(fast(server, config_yaml=SWEEP_YAML.replace("0.1]", "0.2]")))[1]
    assert len({outs["sweep_id"], other_stack["sweep_id"], other_config["sweep_id"]}) == 3


def test_a_sweep_that_already_started_is_never_adopted(server: WandbServer, engine: Engine) -> None:
    """Same stack and config as a sweep that ran (e.g. kept by onDestroy: keep): a new sweep."""
    _, first = engine.create(fast(server))
    server.set_sweep_state("alice", "proj", first["sweep_id"], "RUNNING")
    _, second = engine.create(fast(server))
    assert second["sweep_id"] != first["sweep_id"]


def test_a_user_named_sweep_keeps_its_name_in_front(server: WandbServer, engine: Engine) -> None:
    named = "name: lr-search\n" + SWEEP_YAML
    _, outs = engine.create(fast(server, config_yaml=named))
    assert server.find_sweep("alice", "proj", outs["sweep_id"]).display_name.startswith("lr-search [")


def test_w_and_b_down_gives_a_clear_error_within_the_call_timeout(
    server: WandbServer, engine: Engine
) -> None:
    server.inject(status=503, times=10_000)
    started = time.monotonic()
    with pytest.raises(ProviderFailure) as failure:
        engine.create(fast(server, entity="alice"))
    elapsed = time.monotonic() - started
    message = str(failure.value)
    assert f"W&B at {server.base_url} did not" in message
    assert f"within {CALL_TIMEOUT} s" in message
    assert "wandbCallTimeoutSeconds" in message
    assert elapsed < CALL_TIMEOUT + 3, f"gave up after {elapsed:.1f} s"
    assert server.sweeps == []


def test_a_hanging_server_gives_up_within_the_call_timeout(server: WandbServer, engine: Engine) -> None:
    server.inject(delay=60, times=10_000)
    started = time.monotonic()
    with pytest.raises(ProviderFailure):
        engine.create(fast(server, entity="alice"))
    assert time.monotonic() - started < CALL_TIMEOUT + 3


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key_is_not_retried_and_the_error_says_so(
    server: WandbServer, engine: Engine, status: int
) -> None:
    server.inject(status=status, times=10_000)
    started = time.monotonic()
    with pytest.raises(ProviderFailure) as failure:
        engine.create(fast(server, entity="alice"))
    assert "rejected the API key" in str(failure.value)
    assert time.monotonic() - started < CALL_TIMEOUT


def test_a_create_re_run_after_a_key_rotation_makes_a_new_sweep(server: WandbServer, engine: Engine) -> None:
    """The display name is keyed with the API key: an `up` interrupted after its create,
    re-run with a rotated key, looks under another name and makes a second sweep; the
    first stays PENDING without agents. Never the other way round (a sweep found that is
    not ours)."""
    rotated = "local-" + "r" * 40
    server.api_keys[rotated] = "alice"
    _, first = engine.create(fast(server))
    _, second = engine.create(fast(server, api_key=rotated))
    assert second["sweep_id"] != first["sweep_id"]
    assert [s.state for s in server.sweeps] == ["PENDING", "PENDING"]


def test_refresh_reads_with_the_lifecycle_key_so_a_revoked_creation_key_does_not_blind_it(
    server: WandbServer, engine: Engine
) -> None:
    """The identity keeps no key (its outputs are never rewritten, so a key there would be
    the one it was created with); the lifecycle's is updated in place at a rotation. With
    the creation key revoked, refresh still reads the sweep, with the new key."""
    rotated = "local-" + "r" * 40
    server.api_keys[rotated] = "alice"
    id_, outs = engine.create(fast(server))
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
    life = engine.lifecycle.update(life_id, life, lifecycle_inputs(outs, api_key=rotated))
    del server.api_keys[DEFAULT_KEY]
    server.set_sweep_state("alice", "proj", outs["sweep_id"], "CANCELED")
    mark = server.mark()
    assert engine.read(id_, outs) == (id_, outs)
    read_id, refreshed = engine.lifecycle.read(life_id, life)
    assert (read_id, refreshed["sweep_state"]) == (life_id, "CANCELED")
    assert [(r.api_key, r.status) for r in server.requests[mark:]] == [(rotated, 200)]


def test_refresh_keeps_a_sweep_whose_key_is_refused_and_says_so(server: WandbServer) -> None:
    """Refused is not deleted: the sweep stays as it is, and the warning says why."""
    engine = Engine()
    try:
        _, outs = engine.create(fast(server))
        life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
        server.api_keys.clear()
        assert engine.lifecycle.read(life_id, life) == (life_id, life)
    finally:
        log = engine.close()
    assert "pulumi refresh could not look at sweep alice/proj/" in log and "rejected the API key" in log


def test_refresh_reflects_a_sweep_stopped_outside_pulumi(server: WandbServer, engine: Engine) -> None:
    _, outs = engine.create(fast(server))
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
    server.set_sweep_state("alice", "proj", outs["sweep_id"], "CANCELED")
    read_id, refreshed = engine.lifecycle.read(life_id, life)
    assert read_id == life_id
    assert refreshed == {**life, "sweep_state": "CANCELED"}


def test_a_sweep_deleted_on_w_and_b_stays_in_the_state_and_refresh_says_how_to_make_a_new_one(
    server: WandbServer,
) -> None:
    """Only the identity's read could drop it from the state, and the identity holds no key
    to look with (the price of keeping no old key in the state): the lifecycle's read,
    with the key in effect, sees it gone and says to replace the sweep resource."""
    engine = Engine()
    try:
        id_, outs = engine.create(fast(server))
        life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
        server.delete_sweep("alice", "proj", outs["sweep_id"])
        assert engine.read(id_, outs)[0] == id_
        assert engine.lifecycle.read(life_id, life)[1]["sweep_state"] == "DELETED"
        _, again = engine.create(fast(server))  # what `pulumi up --replace` does
        engine.lifecycle.delete(life_id, life)  # and then the old lifecycle: nothing to stop
    finally:
        log = engine.close()
    assert "no longer exists on W&B" in log and "pulumi up --replace" in log
    assert again["sweep_id"] != outs["sweep_id"]
    assert [(s.name, s.state) for s in server.sweeps] == [(again["sweep_id"], "PENDING")]


def test_destroy_while_w_and_b_is_down_fails_clearly_and_works_once_it_is_back(
    server: WandbServer, engine: Engine
) -> None:
    _, outs = engine.create(fast(server))
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
    server.inject(status=503, times=10_000)
    with pytest.raises(ProviderFailure) as failure:
        engine.lifecycle.delete(life_id, life)
    assert f"W&B at {server.base_url} did not" in str(failure.value)
    server._faults.clear()  # W&B is back
    engine.lifecycle.delete(life_id, life)
    assert server.find_sweep("alice", "proj", outs["sweep_id"]).state == "FINISHED"


def test_on_destroy_keep_is_the_way_out_when_w_and_b_stays_down(server: WandbServer, engine: Engine) -> None:
    """`pulumi config set onDestroy keep && pulumi up` (no W&B call), then destroy (none either)."""
    id_, outs = engine.create(fast(server))
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
    server.inject(status=503, times=10_000)
    before = len(server.requests)
    kept = engine.lifecycle.update(life_id, life, lifecycle_inputs(outs, on_destroy="keep"))
    engine.lifecycle.delete(life_id, kept)
    engine.delete(id_, outs)
    assert len(server.requests) == before


def test_attaching_to_a_missing_sweep_fails_at_check_before_anything_is_created(
    server: WandbServer, engine: Engine
) -> None:
    failures = engine.check({}, fast(server, config_yaml="", existing_sweep_id="zzzz9999"))
    assert [(f.property, f.reason) for f in failures] == [
        (
            "existing_sweep_id",
            f"sweepId: sweep alice/proj/zzzz9999 does not exist on W&B at {server.base_url}; check sweepId, "
            "entity and project (the sweep URL ends in <entity>/<project>/sweeps/<sweepId>).",
        )
    ]
    assert server.writes() == []


def test_check_makes_no_request_when_the_attached_sweep_is_unchanged(
    server: WandbServer, engine: Engine
) -> None:
    _, owner = engine.create(fast(server))
    attached = fast(server, config_yaml="", existing_sweep_id=owner["sweep_id"])
    assert engine.check({}, attached) == []
    before = len(server.requests)
    assert engine.check(attached, attached) == []
    assert engine.check(fast(server), fast(server)) == []
    assert len(server.requests) == before


def test_config_sent_to_w_and_b_keeps_integers_and_leading_zero_strings(
    server: WandbServer, engine: Engine
) -> None:
    text = SWEEP_YAML + "  seed:\n    value: '007'\n  layers:\n    min: 2\n    max: 8\n"
    _, outs = engine.create(fast(server, config_yaml=text))
    stored = yaml.safe_load(server.find_sweep("alice", "proj", outs["sweep_id"]).config)
    assert stored["parameters"]["seed"]["value"] == "007"
    assert stored["parameters"]["layers"] == {"min": 2, "max": 8, "distribution": "int_uniform"}
    assert stored["parameters"]["batch_size"]["values"] == [16, 32]

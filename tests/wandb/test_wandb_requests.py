"""How many requests W&B gets at each step of a sweep's life, counted by operation.

Each request is a round trip the user waits for (about 100-300 ms to the hosted W&B).
The provider runs as the engine runs it (engine_driver: its own process, over gRPC)
against the local W&B server, which counts the requests it receives by operation name;
the day-2 sequence at the end runs the real program under the engine model
(test_day2's `Stack`), preview and update together.

Requests per step, before (each call a `wandb.Api()`, through wandb-core) and now:

| step                                               | before | now                                         |
|----------------------------------------------------|--------|---------------------------------------------|
| first create, `entity` empty                       | 6      | 3: GetDefaultEntity, GetSweeps, UpsertSweep |
| first create, `entity` set                         | 4      | 2: GetSweeps, UpsertSweep                   |
| destroy (lifecycle delete)                         | 5      | 2: GetSweep, UpsertSweep                    |
| destroy of a sweep already final or deleted        | 2      | 1: GetSweep                                 |
| refresh (lifecycle read; the identity's asks none) | 2      | 1: GetSweep                                 |
| check (or create) of a new sweepId, `entity` empty | 4      | 2: GetDefaultEntity, GetSweep               |
| check (or create) of a new sweepId, `entity` set   | 2      | 1: GetSweep                                 |
| a new sweep file (create, then stop the old sweep) | 9      | 4, or 5 with `entity` empty                 |
| preview, no-op, scale-only, key rotation, ...      | 0      | 1: GetSweep, the refresh before each (*)    |
| create re-run after an interrupted `up` (adopts)   | -      | 2: GetSweeps, GetSweepCreator               |
| the same where W&B does not tell the creator (**)  | -      | 3: GetSweeps, GetSweepCreator, UpsertSweep  |

(*) This project's Pulumi.yaml refreshes before every preview, up and destroy
(`options: refresh: always`), so that Jobs the TTL controller removed leave the state
instead of failing the next update; each refresh reads the sweep once (a preview and an
up together: 2), through the lifecycle resource, which holds the key in effect. A W&B
that does not answer then only skips that read.

(**) A server that answers `Sweep.user` with null, or refuses the field, proves no sweep
ours: the one found is left PENDING and a new one is made (tests/wandb/test_wandb_trust.py).

A retry costs what the attempt does, plus the look-up that keeps a create (and a state
change) from happening twice. Adopting the sweep an earlier attempt made (a lost reply,
an interrupted `up`) costs one request more, GetSweepCreator: who made it, so that a
sweep someone else named like ours is not adopted (tests/test_wandb_trust.py). The
look-up's own reply carries each sweep's config, so a sweep whose config is not ours
costs nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_driver import Engine, changed
from engine_model import ServerWandb, destroy
from stacks import Stack, write_new_sweep_file
from sweep_inputs import SWEEP_YAML, inputs, lifecycle_inputs
from wandb_server import DEFAULT_ENTITY, DEFAULT_KEY, WandbServer

CREATE_RESOLVING_ENTITY = {"GetDefaultEntity": 1, "GetSweeps": 1, "UpsertSweep": 1}
CREATE = {"GetSweeps": 1, "UpsertSweep": 1}
STOP = {"GetSweep": 1, "UpsertSweep": 1}
READ = {"GetSweep": 1}
NONE: dict[str, int] = {}
REFRESHES = {"GetSweep": 2}
"""A preview and an up that change nothing on W&B: each refreshes first (Pulumi.yaml
`options: refresh: always`, so that Jobs the TTL controller removed leave the state),
and each refresh reads the sweep's state once."""
ROTATED_KEY = "local-" + "r" * 40


@pytest.fixture
def engine() -> Iterator[Engine]:
    running = Engine()
    yield running
    running.close()


def counted(server: WandbServer, step: Callable[[], Any]) -> tuple[Any, dict[str | None, int]]:
    """What `step` returned, and the requests it made, by operation."""
    mark = server.mark()
    result = step()
    return result, server.operation_counts(mark)


def fast(server: WandbServer, **overrides: object) -> dict[str, object]:
    """Inputs with short timeouts, for the steps that meet a fault and retry."""
    return inputs(server, request_timeout=2, call_timeout=10, **overrides)


# --- create -----------------------------------------------------------------------


def test_a_first_create_resolving_the_default_entity_makes_three_requests(
    server: WandbServer, engine: Engine
) -> None:
    """The key's default entity, the look for a sweep an earlier attempt made, the create."""
    (_, outs), counts = counted(server, lambda: engine.create(inputs(server)))
    assert counts == CREATE_RESOLVING_ENTITY
    assert sum(counts.values()) <= 4
    assert server.operations()[-3:] == ["GetDefaultEntity", "GetSweeps", "UpsertSweep"]
    assert outs["sweep_entity"] == DEFAULT_ENTITY and len(server.sweeps) == 1


def test_a_first_create_with_the_entity_set_makes_two_requests(server: WandbServer, engine: Engine) -> None:
    (_, outs), counts = counted(server, lambda: engine.create(inputs(server, entity=DEFAULT_ENTITY)))
    assert counts == CREATE
    assert sum(counts.values()) <= 3
    assert server.operations()[-2:] == ["GetSweeps", "UpsertSweep"]
    assert outs["sweep_entity"] == DEFAULT_ENTITY and len(server.sweeps) == 1


def test_a_create_re_run_after_an_interrupted_up_adopts_the_sweep_with_one_look_up(
    server: WandbServer, engine: Engine
) -> None:
    _, first = engine.create(inputs(server, entity=DEFAULT_ENTITY))
    (_, again), counts = counted(server, lambda: engine.create(inputs(server, entity=DEFAULT_ENTITY)))
    assert counts == {"GetSweeps": 1, "GetSweepCreator": 1}
    assert again["sweep_id"] == first["sweep_id"]


@pytest.mark.parametrize("reading", ["null", "absent"])
def test_a_create_re_run_where_w_and_b_does_not_tell_the_creator_costs_one_create_more(reading: str) -> None:
    """Nothing proves the sweep found ours: it is left PENDING and a new one is made."""
    with WandbServer(sweep_creator=reading) as server:
        engine = Engine()
        try:
            _, first = engine.create(inputs(server, entity=DEFAULT_ENTITY))
            (_, again), counts = counted(server, lambda: engine.create(inputs(server, entity=DEFAULT_ENTITY)))
        finally:
            engine.close()
    assert counts == {"GetSweeps": 1, "GetSweepCreator": 1, "UpsertSweep": 1}
    assert again["sweep_id"] != first["sweep_id"]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        # Not acted on: looked up again before the retry, then created.
        ({"status": 500}, {"GetSweeps": 2, "UpsertSweep": 2}),
        # Acted on, reply lost: the look-up before the retry finds it (and who made it); never re-sent.
        ({"drop_reply_after_acting": True}, {"GetSweeps": 2, "UpsertSweep": 1, "GetSweepCreator": 1}),
    ],
    ids=["server-error", "lost-reply"],
)
def test_a_retried_create_costs_one_look_up_and_at_most_one_more_create(
    server: WandbServer, engine: Engine, fault: dict[str, Any], expected: dict[str, int]
) -> None:
    server.inject(operation="UpsertSweep", **fault)
    (_, outs), counts = counted(server, lambda: engine.create(fast(server, entity=DEFAULT_ENTITY)))
    assert counts == expected
    assert [s.name for s in server.sweeps] == [outs["sweep_id"]]


# --- a server that cannot filter sweeps (W&B server before 0.81.4) -----------------


def other_sweeps(server: WandbServer, count: int) -> None:
    """`count` sweeps made after ours, so the listing (newest first) pages past them."""
    for _ in range(count):
        server.create_sweep({"method": "grid", "parameters": {}}, project="proj")


def test_a_server_that_refuses_the_filter_is_asked_for_every_page_of_the_listing(
    server: WandbServer, engine: Engine
) -> None:
    other_sweeps(server, 60)  # two pages of 50
    server.inject(operation="GetSweeps", status=400)  # the filtered query does not validate
    mark = server.mark()
    _, outs = engine.create(inputs(server, entity=DEFAULT_ENTITY))
    assert server.operation_counts(mark) == {"GetSweeps": 3, "UpsertSweep": 1}
    assert server.sweeps[-1].name == outs["sweep_id"]
    refused, *listing = server.requests[mark : mark + 3]
    assert "filters" in refused.variables
    for page in listing:
        assert "filters" not in page.variables and "filters" not in page.query
    assert len(server.sweeps) == 61


def test_a_server_that_cannot_filter_still_finds_the_sweep_an_interrupted_up_made(
    server: WandbServer, engine: Engine
) -> None:
    _, first = engine.create(inputs(server, entity=DEFAULT_ENTITY))
    other_sweeps(server, 60)  # ours is on the second page now
    server.inject(operation="GetSweeps", status=400)
    (_, again), counts = counted(server, lambda: engine.create(inputs(server, entity=DEFAULT_ENTITY)))
    assert counts == {"GetSweeps": 3, "GetSweepCreator": 1}
    assert again["sweep_id"] == first["sweep_id"]
    assert len(server.sweeps) == 61


# --- steps that must not ask W&B anything ------------------------------------------


def test_no_op_diffs_values_already_in_effect_and_the_lifecycle_make_no_request(
    server: WandbServer, engine: Engine
) -> None:
    """What a preview, a no-op `up`, a scale-only `up` and a key rotation do to the sweep's
    two resources: check and diff them, and create or update the lifecycle."""
    id_, outs = engine.create(inputs(server))
    reformatted = "# tuned\n" + yaml.safe_dump(yaml.safe_load(SWEEP_YAML))
    rotated = lifecycle_inputs(outs, api_key=ROTATED_KEY)
    life: dict[str, Any] = {}

    def lifecycle_create() -> None:
        life["id"], life["outs"] = engine.lifecycle.create(lifecycle_inputs(outs))

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("check, nothing changed", lambda: engine.check(inputs(server), inputs(server))),
        ("diff, nothing changed", lambda: engine.diff(id_, outs, inputs(server))),
        (
            "diff, entity set to the resolved one",
            lambda: engine.diff(id_, outs, inputs(server, entity="alice")),
        ),
        ("diff, base_url unset", lambda: engine.diff(id_, outs, inputs(server, base_url=""))),
        ("diff, comments edited", lambda: engine.diff(id_, outs, inputs(server, config_yaml=reformatted))),
        ("diff, rotated key", lambda: engine.diff(id_, outs, inputs(server, api_key=ROTATED_KEY))),
        ("lifecycle create", lifecycle_create),
        ("lifecycle check", lambda: engine.lifecycle.check(life["outs"], lifecycle_inputs(outs))),
        (
            "lifecycle diff, nothing changed",
            lambda: engine.lifecycle.diff(life["id"], life["outs"], lifecycle_inputs(outs)),
        ),
        ("lifecycle diff, rotated key", lambda: engine.lifecycle.diff(life["id"], life["outs"], rotated)),
        ("lifecycle update, rotated key", lambda: engine.lifecycle.update(life["id"], life["outs"], rotated)),
        (
            "lifecycle update, onDestroy keep",
            lambda: engine.lifecycle.update(life["id"], rotated, lifecycle_inputs(outs, on_destroy="keep")),
        ),
    ]
    made = {what: counted(server, step)[1] for what, step in steps}
    assert made == {what: NONE for what, _ in steps}
    assert not changed(engine.diff(id_, outs, inputs(server, entity="alice")))


# --- destroy and refresh ---------------------------------------------------------


@pytest.mark.parametrize(("on_destroy", "final"), [("finish", "FINISHED"), ("cancel", "CANCELED")])
def test_destroy_reads_the_state_and_changes_it(
    server: WandbServer, engine: Engine, on_destroy: str, final: str
) -> None:
    id_, outs = engine.create(inputs(server))
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs, on_destroy=on_destroy))
    _, counts = counted(server, lambda: engine.lifecycle.delete(life_id, life))
    assert counts == STOP
    assert server.operations()[-2:] == ["GetSweep", "UpsertSweep"]
    assert server.find_sweep("alice", "proj", outs["sweep_id"]).state == final
    _, counts = counted(server, lambda: engine.delete(id_, outs))  # the identity: nothing to undo
    assert counts == NONE


@pytest.mark.parametrize("found", ["FINISHED", "CANCELED", "deleted"])
def test_destroy_of_a_sweep_already_final_or_deleted_only_reads_it(
    server: WandbServer, engine: Engine, found: str
) -> None:
    _, outs = engine.create(inputs(server))
    if found == "deleted":
        server.delete_sweep("alice", "proj", outs["sweep_id"])
    else:
        server.set_sweep_state("alice", "proj", outs["sweep_id"], found)
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
    _, counts = counted(server, lambda: engine.lifecycle.delete(life_id, life))
    assert counts == READ


@pytest.mark.parametrize("case", ["keep", "attached"])
def test_destroy_with_on_destroy_keep_or_of_an_attached_sweep_makes_no_request(
    server: WandbServer, engine: Engine, case: str
) -> None:
    _, outs = engine.create(inputs(server))
    lifecycle = {"on_destroy": "keep"} if case == "keep" else {"attached": True}
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs, **lifecycle))
    _, counts = counted(server, lambda: engine.lifecycle.delete(life_id, life))
    assert counts == NONE
    assert server.find_sweep("alice", "proj", outs["sweep_id"]).state == "PENDING"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        # The read fails once and is retried.
        ({"operation": "GetSweep", "status": 503}, {"GetSweep": 2, "UpsertSweep": 1}),
        # The change is made but its reply is lost: read again before any re-send.
        ({"operation": "UpsertSweep", "drop_reply_after_acting": True}, {"GetSweep": 2, "UpsertSweep": 1}),
        # The change is refused for now: read again, then changed.
        ({"operation": "UpsertSweep", "status": 503}, {"GetSweep": 2, "UpsertSweep": 2}),
    ],
    ids=["read-fails-once", "change-reply-lost", "change-fails-once"],
)
def test_a_retried_destroy_costs_one_more_read_and_changes_the_state_once(
    server: WandbServer, engine: Engine, fault: dict[str, Any], expected: dict[str, int]
) -> None:
    _, outs = engine.create(fast(server))
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs, request_timeout=2, call_timeout=10))
    server.inject(**fault)
    mark = server.mark()
    _, counts = counted(server, lambda: engine.lifecycle.delete(life_id, life))
    assert counts == expected
    assert server.find_sweep("alice", "proj", outs["sweep_id"]).state == "FINISHED"
    acted = [r for r in server.requests[mark:] if r.operation_name == "UpsertSweep" and r.status != 503]
    assert len(acted) == 1


@pytest.mark.parametrize("found", ["CANCELED", "deleted"])
def test_refresh_reads_the_sweep_once(server: WandbServer, engine: Engine, found: str) -> None:
    """Through the lifecycle (the key in effect); the identity's read asks nothing."""
    id_, outs = engine.create(inputs(server))
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
    if found == "deleted":
        server.delete_sweep("alice", "proj", outs["sweep_id"])
    else:
        server.set_sweep_state("alice", "proj", outs["sweep_id"], found)
    (read_id, read), counts = counted(server, lambda: engine.read(id_, outs))
    assert counts == NONE and (read_id, read) == (id_, outs)
    (read_id, read), counts = counted(server, lambda: engine.lifecycle.read(life_id, life))
    assert counts == READ
    assert (read_id, read["sweep_state"]) == (life_id, "DELETED" if found == "deleted" else found)


# --- attaching to an existing sweep (sweepId) ----------------------------------------


@pytest.mark.parametrize(
    ("entity", "expected"),
    [("", {"GetDefaultEntity": 1, "GetSweep": 1}), (DEFAULT_ENTITY, READ)],
    ids=["entity-empty", "entity-set"],
)
def test_attaching_looks_the_sweep_up_once(
    server: WandbServer, engine: Engine, entity: str, expected: dict[str, int]
) -> None:
    """check of a new sweepId, and the create that follows: the sweep's state (and the
    key's default entity, when `entity` is empty). An unchanged sweepId: nothing."""
    _, owner = engine.create(inputs(server))
    attached = inputs(server, entity=entity, config_yaml="", existing_sweep_id=owner["sweep_id"])
    failures, counts = counted(server, lambda: engine.check({}, attached))
    assert failures == [] and counts == expected
    (_, outs), counts = counted(server, lambda: engine.create(attached))
    assert counts == expected and outs["sweep_path"] == owner["sweep_path"]
    _, counts = counted(server, lambda: engine.check(attached, attached))
    assert counts == NONE


# --- a whole day 2, through the real program ------------------------------------------


@pytest.mark.parametrize("entity", ["", DEFAULT_ENTITY], ids=["entity-empty", "entity-set"])
def test_the_day_2_steps_make_requests_only_for_a_new_sweep_and_a_stop(
    server: WandbServer, monkeypatch: pytest.MonkeyPatch, project_tmp_path: Path, entity: str
) -> None:
    """Each step is `pulumi preview` then `pulumi up` (test_day2's Stack); counted together.
    Only the first up, a new sweep file (a new sweep, then the old one stopped) and the
    destroy talk to W&B."""
    server.api_keys[ROTATED_KEY] = DEFAULT_ENTITY
    monkeypatch.setenv("WANDB_BASE_URL", server.base_url)
    config: dict[str, Any] = {"wandbApiKey": DEFAULT_KEY, "pods": "2"}
    if entity:
        config["entity"] = entity
    stack = Stack("live", server, monkeypatch, config)

    def up(what: str, **changes: Any) -> dict[str | None, int]:
        return counted(server, lambda: stack.up(what, **changes))[1]

    assert up("first up") == (CREATE if entity else CREATE_RESOLVING_ENTITY)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("no-op up", {}),
        ("scale to 4", {"pods": "4"}),
        ("scale back to 2", {"pods": "2"}),
        ("no pods", {"pods": "0"}),
        ("pods again", {"pods": "2"}),
        ("new image", {"image": "ghcr.io/example/wandb-sweeps-trainer:0.2.0"}),
        ("rotated key", {"wandbApiKey": ROTATED_KEY}),
        ("onDestroy keep", {"onDestroy": "keep"}),
        ("onDestroy back to finish", {"onDestroy": "finish"}),
        ("entity set to the one in effect", {"entity": DEFAULT_ENTITY}),
        ("another no-op up", {}),
    ]
    made = {what: up(what, **changes) for what, changes in steps}
    assert made == {what: REFRESHES for what, _ in steps}
    # `entity` is set from here on (the step above), so the create needs no default entity.
    assert up("new sweep file", sweepConfig=write_new_sweep_file(project_tmp_path)) == {
        "GetSweeps": 1,
        "GetSweep": 1 + 2,
        "UpsertSweep": 2,
    }
    assert server.operations()[-4:] == ["GetSweeps", "UpsertSweep", "GetSweep", "UpsertSweep"]
    assert [s.state for s in server.sweeps] == ["FINISHED", "PENDING"]
    assert up("no-op after the new sweep") == REFRESHES
    _, counts = counted(server, lambda: destroy(stack.state, ServerWandb()))
    assert counts == {"GetSweep": 1 + 1, "UpsertSweep": 1}  # the refresh's read, then STOP
    assert {r.api_key for r in server.requests[-2:]} == {ROTATED_KEY}
    assert [s.state for s in server.sweeps] == ["FINISHED", "FINISHED"]

"""The sweep providers against a W&B-protocol server on 127.0.0.1, with the real wandb client.

Every call goes through Pulumi's dynamic-provider servicer (see engine_driver),
so these are the requests W&B would see during `pulumi up` and `pulumi destroy`.
The sweep's identity (`engine.create`, ...) makes and finds sweeps; its
lifecycle (`engine.lifecycle`) holds the key and `on_destroy` and stops the sweep
when it is deleted (destroy, or a replaced sweep).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from engine_driver import Engine, ProviderFailure, changed
from sweep_inputs import SWEEP_YAML, inputs, lifecycle_inputs
from wandb_server import DEFAULT_KEY, WandbServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine() -> Iterator[Engine]:
    running = Engine()
    yield running
    running.close()


def destroy(engine: Engine, sweep: dict[str, object], **lifecycle: object) -> None:
    """What `pulumi destroy` does to W&B: the lifecycle made at `up` is deleted (then the
    identity, which makes no call)."""
    id_, outs = engine.lifecycle.create(lifecycle_inputs(sweep, **lifecycle))
    engine.lifecycle.delete(id_, outs)
    engine.delete(str(sweep["sweep_path"]), sweep)


def test_create_makes_one_sweep_with_the_config_exactly_as_written(
    server: WandbServer, engine: Engine
) -> None:
    id_, outs = engine.create(inputs(server))
    assert len(server.sweeps) == 1
    sweep = server.sweeps[0]
    assert (sweep.entity, sweep.project, sweep.state) == ("alice", "proj", "PENDING")
    sent = yaml.safe_load(sweep.config)
    assert sent["parameters"]["batch_size"]["values"] == [16, 32]
    assert all(type(v) is int for v in sent["parameters"]["batch_size"]["values"])
    assert id_ == f"alice/proj/{sweep.name}"
    assert outs["sweep_id"] == sweep.name
    assert outs["sweep_entity"] == "alice"
    assert outs["sweep_path"] == f"alice/proj/{sweep.name}"
    assert outs["sweep_url"] == f"{server.base_url}/alice/proj/sweeps/{sweep.name}"
    assert outs["sweep_base_url"] == server.base_url
    # The key is an input (the create needs it), never an output: no `up` rewrites the
    # outputs, so a key there would outlive a rotation (sweep_provider's docstring).
    assert outs["entity"] == "" and "api_key" not in outs
    assert DEFAULT_KEY not in repr(outs)


def test_an_empty_base_url_is_resolved_at_create_from_the_default(
    server: WandbServer, engine: Engine
) -> None:
    _, outs = engine.create(inputs(server, base_url="", default_base_url=server.base_url + "/"))
    assert outs["sweep_base_url"] == server.base_url
    assert len(server.sweeps) == 1


def test_an_explicit_entity_is_used(server: WandbServer, engine: Engine) -> None:
    server_with_team = server  # the default key's user may write to its own entity only
    _, outs = engine.create(inputs(server_with_team, entity="alice"))
    assert outs["sweep_entity"] == "alice"
    assert server.sweeps[0].entity == "alice"


def test_nothing_changed_means_no_w_and_b_request_at_all(server: WandbServer, engine: Engine) -> None:
    id_, outs = engine.create(inputs(server))
    before = len(server.requests)
    diff = engine.diff(id_, outs, inputs(server))
    assert not changed(diff)
    assert len(server.requests) == before


def test_a_comment_or_formatting_edit_is_no_change_and_no_w_and_b_request(
    server: WandbServer, engine: Engine
) -> None:
    id_, outs = engine.create(inputs(server))
    reformatted = "# tuned\n" + yaml.safe_dump(yaml.safe_load(SWEEP_YAML))
    before = len(server.requests)
    diff = engine.diff(id_, outs, inputs(server, config_yaml=reformatted))
    assert not changed(diff)
    assert len(server.requests) == before
    assert len(server.sweeps) == 1


def test_a_changed_sweep_config_replaces_the_sweep_new_one_first(server: WandbServer, engine: Engine) -> None:
    id_, outs = engine.create(inputs(server))
    new_yaml = SWEEP_YAML.replace("[0.01, 0.1]", "[0.001, 0.01]")
    diff = engine.diff(id_, outs, inputs(server, config_yaml=new_yaml))
    assert changed(diff)
    assert list(diff.replaces) == ["config_yaml"]
    assert diff.deleteBeforeReplace is False

    # What the engine then does: create the replacement and its lifecycle, move the
    # agents, then delete the old lifecycle (which stops the old sweep) and identity.
    old_life_id, old_life = engine.lifecycle.create(lifecycle_inputs(outs))
    _, new_outs = engine.create(inputs(server, config_yaml=new_yaml))
    assert new_outs["sweep_id"] != outs["sweep_id"]
    life_diff = engine.lifecycle.diff(old_life_id, old_life, lifecycle_inputs(new_outs))
    assert list(life_diff.replaces) == ["sweep_path"] and life_diff.deleteBeforeReplace is False
    engine.lifecycle.create(lifecycle_inputs(new_outs))
    engine.lifecycle.delete(old_life_id, old_life)
    engine.delete(id_, outs)
    old = server.find_sweep("alice", "proj", outs["sweep_id"])
    new = server.find_sweep("alice", "proj", new_outs["sweep_id"])
    assert old is not None and old.state == "FINISHED"
    assert new is not None and new.state == "PENDING"
    assert yaml.safe_load(new.config)["parameters"]["lr"]["values"] == [0.001, 0.01]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("project", "other"),
        ("entity", "bob"),
        ("base_url", "https://wandb.other.example"),
        ("existing_sweep_id", "other123"),
    ],
)
def test_identity_changes_replace_the_sweep(
    server: WandbServer, engine: Engine, key: str, value: str
) -> None:
    id_, outs = engine.create(inputs(server))
    diff = engine.diff(id_, outs, inputs(server, **{key: value}))
    assert list(diff.replaces) == [key]


@pytest.mark.parametrize(
    "change",
    [
        {"entity": "alice"},  # the entity "" resolved to
        {"base_url": ""},  # unset: the server pinned at create
        {"base_url": "", "default_base_url": "https://wandb.other.example"},  # another shell
        {"api_key": "local-" + "n" * 40},  # the lifecycle's business
        {"request_timeout": 7, "call_timeout": 9},
        {"creation_key": "wandb-sweeps/renamed/sweep"},
    ],
    ids=["entity-as-resolved", "base-url-unset", "other-shell", "api-key", "timeouts", "creation-key"],
)
def test_values_already_in_effect_and_non_identity_inputs_are_no_change(
    server: WandbServer, engine: Engine, change: dict[str, object]
) -> None:
    """Writing down what the sweep already resolved to is not a change: no new sweep,
    and no update either (the agents read this resource's outputs)."""
    id_, outs = engine.create(inputs(server))
    before = len(server.requests)
    diff = engine.diff(id_, outs, inputs(server, **change))
    assert not changed(diff), change
    assert len(server.requests) == before


def test_the_base_url_compares_by_what_it_resolves_to(server: WandbServer, engine: Engine) -> None:
    id_, outs = engine.create(inputs(server))
    spelled_otherwise = "HTTP://" + server.base_url.removeprefix("http://") + "/"
    assert not changed(engine.diff(id_, outs, inputs(server, base_url=spelled_otherwise)))


@pytest.mark.parametrize(("key", "value"), [("api_key", "local-" + "n" * 40), ("on_destroy", "cancel")])
def test_a_new_api_key_or_on_destroy_updates_the_lifecycle_in_place_with_no_w_and_b_request(
    server: WandbServer, engine: Engine, key: str, value: str
) -> None:
    _, outs = engine.create(inputs(server))
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
    before = len(server.requests)
    diff = engine.lifecycle.diff(life_id, life, lifecycle_inputs(outs, **{key: value}))
    assert changed(diff) and list(diff.replaces) == []
    new_life = engine.lifecycle.update(life_id, life, lifecycle_inputs(outs, **{key: value}))
    assert new_life[key] == value and new_life["sweep_path"] == outs["sweep_path"]
    assert len(server.requests) == before


def test_the_lifecycle_is_replaced_only_when_the_sweep_path_changes(
    server: WandbServer, engine: Engine
) -> None:
    """So a replacement never stops the sweep it resolves to: an identity replacement
    that lands on the same sweep keeps the lifecycle, whose delete is the only stop."""
    _, outs = engine.create(inputs(server))
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
    same_sweep_other_spelling = lifecycle_inputs(
        outs, base_url=server.base_url.replace("127.0.0.1", "localhost")
    )
    assert list(engine.lifecycle.diff(life_id, life, same_sweep_other_spelling).replaces) == []
    other = lifecycle_inputs(outs, sweep_path="alice/proj/zzzz9999")
    assert list(engine.lifecycle.diff(life_id, life, other).replaces) == ["sweep_path"]


@pytest.mark.parametrize(
    ("on_destroy", "final_state"), [("finish", "FINISHED"), ("cancel", "CANCELED"), ("keep", "PENDING")]
)
def test_destroy_follows_on_destroy(
    server: WandbServer, engine: Engine, on_destroy: str, final_state: str
) -> None:
    _, outs = engine.create(inputs(server))
    writes_before = len(server.writes())
    destroy(engine, outs, on_destroy=on_destroy)
    sweep = server.find_sweep("alice", "proj", outs["sweep_id"])
    assert sweep is not None and sweep.state == final_state
    assert len(server.writes()) == writes_before + (0 if on_destroy == "keep" else 1)


def test_destroy_of_a_sweep_already_finished_or_deleted_succeeds_without_a_write(
    server: WandbServer, engine: Engine
) -> None:
    _, outs = engine.create(inputs(server))
    server.set_sweep_state("alice", "proj", outs["sweep_id"], "FINISHED")
    destroy(engine, outs)
    server.delete_sweep("alice", "proj", outs["sweep_id"])
    destroy(engine, outs)
    assert len(server.writes()) == 1  # only the create


def test_attaching_to_an_existing_sweep_creates_none_and_never_changes_its_state(
    server: WandbServer, engine: Engine
) -> None:
    _, owner = engine.create(inputs(server))
    server.set_sweep_state("alice", "proj", owner["sweep_id"], "RUNNING")
    writes_before = len(server.writes())

    _, outs = engine.create(inputs(server, config_yaml="", existing_sweep_id=owner["sweep_id"]))
    assert outs["sweep_path"] == owner["sweep_path"]
    destroy(engine, outs, on_destroy="cancel")
    assert len(server.writes()) == writes_before
    assert server.find_sweep("alice", "proj", owner["sweep_id"]).state == "RUNNING"


def test_attaching_to_a_sweep_that_does_not_exist_is_a_clear_error(
    server: WandbServer, engine: Engine
) -> None:
    with pytest.raises(ProviderFailure) as failure:
        engine.create(inputs(server, config_yaml="", existing_sweep_id="zzzz9999"))
    assert "sweepId: sweep alice/proj/zzzz9999 does not exist on W&B at " + server.base_url in str(
        failure.value
    )
    assert server.writes() == []


def test_a_rejected_api_key_is_a_clear_error_without_the_key(server: WandbServer, engine: Engine) -> None:
    bad_key = "local-" + "x" * 40
    with pytest.raises(ProviderFailure) as failure:
        engine.create(inputs(server, api_key=bad_key))
    message = str(failure.value)
    assert f"W&B at {server.base_url} rejected the API key" in message
    assert "wandbApiKey" in message
    assert bad_key not in message and "x" * 40 not in message
    assert server.sweeps == []


def test_refresh_reads_the_sweep_through_its_lifecycle_and_sees_it_deleted_on_w_and_b(
    server: WandbServer,
) -> None:
    """The lifecycle holds the key in effect, so it is what refresh reads the sweep with;
    the identity's read asks W&B nothing. A sweep deleted on W&B stays in the state (only
    the identity's read could drop it, and it has no key) with a warning that says how to
    make a new one."""
    engine = Engine()
    try:
        id_, outs = engine.create(inputs(server))
        life_id, life = engine.lifecycle.create(lifecycle_inputs(outs))
        mark = server.mark()
        assert engine.read(id_, outs) == (id_, outs)
        assert engine.lifecycle.read(life_id, life) == (life_id, {**life, "sweep_state": "PENDING"})
        server.delete_sweep("alice", "proj", outs["sweep_id"])
        assert engine.read(id_, outs) == (id_, outs)
        assert engine.lifecycle.read(life_id, life) == (life_id, {**life, "sweep_state": "DELETED"})
        assert server.operation_counts(mark) == {"GetSweep": 2}
    finally:
        log = engine.close()
    assert f"Sweep {outs['sweep_path']} no longer exists on W&B at {server.base_url}" in log
    assert "`pulumi up --replace <URN>`" in log


def test_the_sweep_created_by_a_real_program_run_matches_the_example_sweep_file(
    server: WandbServer, engine: Engine
) -> None:
    text = (ROOT / "sweep.yaml").read_text()
    _, outs = engine.create(inputs(server, config_yaml=text))
    stored = yaml.safe_load(server.find_sweep("alice", "proj", outs["sweep_id"]).config)
    assert stored["parameters"]["batch_size"]["values"] == [16, 32, 64, 128]
    assert stored["parameters"]["epochs"]["value"] == 20
    assert stored["program"] == "train.py"

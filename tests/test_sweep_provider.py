"""The sweep provider against a W&B-protocol server on 127.0.0.1, with the real wandb client.

Every call goes through Pulumi's dynamic-provider servicer (see engine_driver),
so these are the requests W&B would see during `pulumi up` and `pulumi destroy`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from engine_driver import Engine, ProviderFailure, changed
from wandb_server import DEFAULT_KEY, WandbServer

ROOT = Path(__file__).resolve().parent.parent
SWEEP_YAML = """\
# batch_size must reach W&B (and train.py) as integers
program: train.py
method: grid
metric: {name: val_loss, goal: minimize}
parameters:
  batch_size:
    values: [16, 32]
  lr:
    values: [0.01, 0.1]
"""


@pytest.fixture
def engine() -> Iterator[Engine]:
    running = Engine()
    yield running
    running.close()


def inputs(server: WandbServer, **overrides: str) -> dict[str, str]:
    values = {
        "project": "proj",
        "entity": "",
        "base_url": server.base_url,
        "api_key": DEFAULT_KEY,
        "config_yaml": SWEEP_YAML,
        "existing_sweep_id": "",
        "on_destroy": "finish",
        "creation_key": "wandb-sweeps/test/sweep",
        "request_timeout": 5,
        "call_timeout": 15,
    }
    values.update(overrides)
    return values


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
    assert outs["entity"] == "" and outs["api_key"] == DEFAULT_KEY


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


def test_a_comment_or_formatting_edit_updates_in_place_without_w_and_b(
    server: WandbServer, engine: Engine
) -> None:
    id_, outs = engine.create(inputs(server))
    reformatted = "# tuned\n" + yaml.safe_dump(yaml.safe_load(SWEEP_YAML))
    before = len(server.requests)
    diff = engine.diff(id_, outs, inputs(server, config_yaml=reformatted))
    assert changed(diff) and list(diff.replaces) == []
    new_outs = engine.update(id_, outs, inputs(server, config_yaml=reformatted))
    assert new_outs["sweep_id"] == outs["sweep_id"]
    assert new_outs["config_yaml"] == reformatted
    assert len(server.requests) == before
    assert len(server.sweeps) == 1


def test_a_changed_sweep_config_replaces_the_sweep_new_one_first(server: WandbServer, engine: Engine) -> None:
    id_, outs = engine.create(inputs(server))
    new_yaml = SWEEP_YAML.replace("[0.01, 0.1]", "[0.001, 0.01]")
    diff = engine.diff(id_, outs, inputs(server, config_yaml=new_yaml))
    assert changed(diff)
    assert list(diff.replaces) == ["config_yaml"]
    assert diff.deleteBeforeReplace is False

    # What the engine then does: create the replacement, move the agents, delete the old one.
    _, new_outs = engine.create(inputs(server, config_yaml=new_yaml))
    assert new_outs["sweep_id"] != outs["sweep_id"]
    engine.delete(id_, outs)
    old = server.find_sweep("alice", "proj", outs["sweep_id"])
    new = server.find_sweep("alice", "proj", new_outs["sweep_id"])
    assert old is not None and old.state == "FINISHED"
    assert new is not None and new.state == "PENDING"
    assert yaml.safe_load(new.config)["parameters"]["lr"]["values"] == [0.001, 0.01]


@pytest.mark.parametrize("key", ["project", "entity", "base_url", "existing_sweep_id"])
def test_identity_changes_replace_the_sweep(server: WandbServer, engine: Engine, key: str) -> None:
    id_, outs = engine.create(inputs(server))
    diff = engine.diff(id_, outs, inputs(server, **{key: "other"}))
    assert list(diff.replaces) == [key]


@pytest.mark.parametrize("key", ["api_key", "on_destroy"])
def test_a_new_api_key_or_on_destroy_updates_in_place_with_no_w_and_b_write(
    server: WandbServer, engine: Engine, key: str
) -> None:
    id_, outs = engine.create(inputs(server))
    value = {"api_key": "local-" + "n" * 40, "on_destroy": "cancel"}[key]
    before = len(server.requests)
    diff = engine.diff(id_, outs, inputs(server, **{key: value}))
    assert changed(diff) and list(diff.replaces) == []
    new_outs = engine.update(id_, outs, inputs(server, **{key: value}))
    assert new_outs[key] == value and new_outs["sweep_id"] == outs["sweep_id"]
    assert len(server.requests) == before


@pytest.mark.parametrize(
    ("on_destroy", "final_state"), [("finish", "FINISHED"), ("cancel", "CANCELED"), ("keep", "PENDING")]
)
def test_destroy_follows_on_destroy(
    server: WandbServer, engine: Engine, on_destroy: str, final_state: str
) -> None:
    id_, outs = engine.create(inputs(server, on_destroy=on_destroy))
    writes_before = len(server.writes())
    engine.delete(id_, outs)
    sweep = server.find_sweep("alice", "proj", outs["sweep_id"])
    assert sweep is not None and sweep.state == final_state
    assert len(server.writes()) == writes_before + (0 if on_destroy == "keep" else 1)


def test_destroy_of_a_sweep_already_finished_or_deleted_succeeds_without_a_write(
    server: WandbServer, engine: Engine
) -> None:
    id_, outs = engine.create(inputs(server))
    server.set_sweep_state("alice", "proj", outs["sweep_id"], "FINISHED")
    engine.delete(id_, outs)
    server.delete_sweep("alice", "proj", outs["sweep_id"])
    engine.delete(id_, outs)
    assert len(server.writes()) == 1  # only the create


def test_attaching_to_an_existing_sweep_creates_none_and_never_changes_its_state(
    server: WandbServer, engine: Engine
) -> None:
    _, owner = engine.create(inputs(server))
    server.set_sweep_state("alice", "proj", owner["sweep_id"], "RUNNING")
    writes_before = len(server.writes())

    id_, outs = engine.create(inputs(server, config_yaml="", existing_sweep_id=owner["sweep_id"]))
    assert outs["sweep_path"] == owner["sweep_path"]
    engine.delete(id_, outs)
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


def test_refresh_sees_a_sweep_deleted_on_w_and_b(server: WandbServer, engine: Engine) -> None:
    id_, outs = engine.create(inputs(server))
    assert engine.read(id_, outs)[0] == id_
    server.delete_sweep("alice", "proj", outs["sweep_id"])
    assert engine.read(id_, outs)[0] == ""


def test_the_sweep_created_by_a_real_program_run_matches_the_example_sweep_file(
    server: WandbServer, engine: Engine
) -> None:
    text = (ROOT / "sweep.yaml").read_text()
    _, outs = engine.create(inputs(server, config_yaml=text))
    stored = yaml.safe_load(server.find_sweep("alice", "proj", outs["sweep_id"]).config)
    assert stored["parameters"]["batch_size"]["values"] == [16, 32, 64, 128]
    assert stored["parameters"]["epochs"]["value"] == 20
    assert stored["program"] == "train.py"

"""Every rendered resource of every variant checked against the engine and provider rules.

The rules and their sources are in `platform_rules`. A variant is one of the
example stacks with one change a user makes on day 2; every pair of variants
of a stack is a possible `pulumi up` (from one to the other), so each rule is
checked for every such pair, not only for the changes someone thought of.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from engine_model import JOB_TYPE, LIFECYCLE_TYPE, SWEEP_TYPE, FakeWandb, Resource, deploy
from platform_rules import (
    SKIP_AWAIT_SKIPS_DELETE_WAIT,
    kind_of,
    kubernetes_diff,
    skips_delete_wait,
)
from pulumi_harness import cli_config
from stacks import CHANGES

API_KEY = "local-" + "k" * 40
SECRET_TYPE = "kubernetes:core/v1:Secret"


def render(stack: str, change: dict[str, Any]) -> dict[str, Resource]:
    change = dict(change)
    secret = ("wandbApiKey", *change.pop("__secret__", ()))
    config = cli_config(stack, **{"wandbApiKey": API_KEY, **change})
    return deploy(stack, config, secret_keys=secret, backend=FakeWandb()).state


@pytest.fixture(scope="module", params=["dev", "live"])
def variants(request: pytest.FixtureRequest) -> dict[str, dict[str, Resource]]:
    return {name: render(request.param, change) for name, change in CHANGES.items()}


def pairs(variants: dict[str, dict[str, Resource]]) -> list[tuple[str, str, Resource, Resource]]:
    """(from, to, old resource, new resource) for every resource present in both variants."""
    found = []
    for (a, old), (b, new) in itertools.permutations(variants.items(), 2):
        for name in old.keys() & new.keys():
            found.append((a, b, old[name], new[name]))
    return found


def test_no_resource_replaced_under_the_same_name_skips_its_delete_wait(variants: dict) -> None:
    """pulumi-kubernetes: a same-name replacement deletes first; with skipAwait on these
    kinds the delete is not awaited and the create fails with AlreadyExists."""
    checked = 0
    for a, b, old, new in pairs(variants):
        if not old.typ.startswith("kubernetes:"):
            continue
        _, replaces, delete_first = kubernetes_diff(old.typ, old.inputs, new.inputs)
        if replaces and kind_of(old.typ) in SKIP_AWAIT_SKIPS_DELETE_WAIT:
            checked += 1
            assert not (delete_first and skips_delete_wait(old.typ, new.inputs)), (
                f"{a} -> {b}: {old.name} is replaced under the same name ({replaces}) and skips its delete wait"
            )
    assert checked > 50, "the variants must replace Jobs, or this proves nothing"


def test_a_job_is_named_after_every_field_that_forces_its_replacement(variants: dict) -> None:
    """The converse, for Jobs: same name <=> nothing that forces a replacement changed."""
    for a, b, old, new in pairs(variants):
        if old.typ == JOB_TYPE:
            _, replaces, _ = kubernetes_diff(old.typ, old.inputs, new.inputs)
            same_name = old.inputs["metadata"]["name"] == new.inputs["metadata"]["name"]
            assert same_name == (not replaces), f"{a} -> {b}: {old.name} {replaces}"


def test_jobs_take_no_input_from_a_resource_that_a_routine_change_replaces(variants: dict) -> None:
    """calculateDependentReplacements follows property dependencies: a Job may read only
    the Namespace and the sweep's identity, which are replaced only when the Jobs must be."""
    for state in variants.values():
        for job in (r for r in state.values() if r.typ == JOB_TYPE):
            sources = {state[n].typ for names in job.property_dependencies.values() for n in names}
            assert sources <= {"kubernetes:core/v1:Namespace", SWEEP_TYPE}, (job.name, sources)
            assert {state[n].typ for n in job.dependencies} >= {SECRET_TYPE, LIFECYCLE_TYPE}, job.name


def test_secrets_are_replaced_on_a_data_change_and_nothing_reads_their_outputs(variants: dict) -> None:
    """Under the provider's default settings (the program sets no enableSecretMutable, and
    registers no provider of its own) a Secret's data change replaces it, delete first.
    That is harmless only because no resource takes an input from a Secret."""
    for state in variants.values():
        assert not any(r.typ.startswith("pulumi:providers:") for r in state.values())
        secrets = {n for n, r in state.items() if r.typ == SECRET_TYPE}
        for resource in state.values():
            readers = {n for names in resource.property_dependencies.values() for n in names}
            assert not readers & secrets, (resource.name, readers & secrets)
    old, new = variants["as-is"]["sweep-api-key"], variants["rotated-key"]["sweep-api-key"]
    _, replaces, delete_first = kubernetes_diff(old.typ, old.inputs, new.inputs)
    assert replaces == [("stringData", "WANDB_API_KEY")] and delete_first


def test_the_resource_the_jobs_read_is_never_updated_in_place(variants: dict) -> None:
    """In a preview, a dynamic resource's in-place update exposes only its inputs, and every
    Job built from its other outputs would show as replaced: the sweep's identity either
    stays the same or is replaced, for every pair of variants."""
    outcomes = set()
    for a, b, old, new in pairs(variants):
        if old.typ == SWEEP_TYPE:
            provider = _provider(new)
            diff = provider.diff(old.id, old.outputs, _props(new))
            assert not diff.changes or diff.replaces, f"{a} -> {b}: in-place update of the sweep"
            outcomes.add(bool(diff.replaces))
    assert outcomes == {False, True}


def test_the_lifecycle_is_replaced_only_with_the_sweep(variants: dict) -> None:
    """Its delete stops the sweep: it must go only when the sweep's path changes."""
    for a, b, old, new in pairs(variants):
        if old.typ == LIFECYCLE_TYPE:
            diff = _provider(new).diff(old.id, old.outputs, _props(new))
            assert bool(diff.replaces) == (old.inputs["sweep_path"] != new.inputs["sweep_path"]), (a, b)


def _provider(resource: Resource) -> Any:
    import base64

    import dill

    return dill.loads(base64.b64decode(resource.inputs["__provider"]))


def _props(resource: Resource) -> dict[str, Any]:
    return {k: v for k, v in resource.inputs.items() if k != "__provider"}


def test_the_ca_configmap_is_replaced_under_a_new_name_never_delete_first(variants: dict) -> None:
    """pulumi-kubernetes replaces a ConfigMap whose data changes and deletes a same-name one
    first: the CA's ConfigMap is named by its digest, so a new CA is a new name, created
    before the old one goes, and the Jobs that mount it are replaced with it."""
    checked = 0
    for a, b, old, new in pairs(variants):
        if old.typ == "kubernetes:core/v1:ConfigMap":
            _, replaces, delete_first = kubernetes_diff(old.typ, old.inputs, new.inputs)
            assert not delete_first, f"{a} -> {b}: {old.name} replaced under its own name"
            if replaces:
                checked += 1
                assert ("metadata", "name") in replaces
                jobs = [n for n, r in variants[a].items() if r.typ == JOB_TYPE and n in variants[b]]
                assert all(
                    variants[a][n].inputs["metadata"]["name"] != variants[b][n].inputs["metadata"]["name"]
                    for n in jobs
                ), f"{a} -> {b}: a new CA must replace the Jobs"
    assert checked == 2, "ca -> other-ca and back"

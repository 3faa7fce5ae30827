"""The status refresh asks only what the wandb 0.31 client asks: every field, argument and
variable of `status_queries`' documents is in the client's own document it is trimmed from.

So the real server has each of them (the client sends these to it), although the test
W&B server's schema is written here. The client's documents are read from the installed
wandb package, the operations named in `status_queries`' docstring.
"""

from __future__ import annotations

from typing import Any

import graphql
import pytest
from wandb.apis._generated.operations import GET_SWEEP_AGENTS_GQL, GET_SWEEP_GQL, GET_SWEEP_LEGACY_GQL
from wandb.apis.public.runs import _create_runs_query

from wandb_sweeps.wandb import status_queries


def fields_of(document: str) -> tuple[set[tuple[str, ...]], dict[str, str]]:
    """Every field path (with its argument names as a last element) of the document's one
    operation, fragments spread in place, and its variables' types."""
    parsed = graphql.parse(document)
    fragments = {d.name.value: d for d in parsed.definitions if isinstance(d, graphql.FragmentDefinitionNode)}
    (operation,) = [d for d in parsed.definitions if isinstance(d, graphql.OperationDefinitionNode)]
    paths: set[tuple[str, ...]] = set()

    def walk(selection_set: Any, path: tuple[str, ...]) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, graphql.FragmentSpreadNode):
                walk(fragments[selection.name.value].selection_set, path)
            elif isinstance(selection, graphql.FieldNode):
                here = (*path, selection.name.value)
                arguments = ",".join(sorted(a.name.value for a in selection.arguments or ()))
                paths.add((*here, f"({arguments})"))
                if selection.selection_set:
                    walk(selection.selection_set, here)

    walk(operation.selection_set, ())
    variables = {v.variable.name.value: graphql.print_ast(v.type) for v in operation.variable_definitions}
    return paths, variables


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (status_queries._SWEEP_QUERY, GET_SWEEP_GQL),
        (status_queries._LEGACY_SWEEP_QUERY, GET_SWEEP_LEGACY_GQL),
        (status_queries._RUNS_QUERY, _create_runs_query(lazy=False)),
        (status_queries._AGENTS_QUERY, GET_SWEEP_AGENTS_GQL),
    ],
    ids=["GetSweep", "GetSweepLegacy", "Runs", "GetSweepAgents"],
)
def test_each_document_is_a_trimmed_copy_of_the_client_s(ours: str, theirs: str) -> None:
    our_fields, our_variables = fields_of(ours)
    their_fields, their_variables = fields_of(theirs)
    assert our_fields - their_fields == set()
    assert {name: their_variables.get(name) for name in our_variables} == our_variables
    assert graphql.parse(ours).definitions[0].name.value == graphql.parse(theirs).definitions[0].name.value


def test_no_document_asks_for_a_run_s_history() -> None:
    runs, _ = fields_of(status_queries._RUNS_QUERY)
    asked = {path[-2] for path in runs}
    assert asked.isdisjoint({"sampledHistory", "history", "historyKeys", "files", "systemMetrics"})
    assert {"summaryMetrics", "config", "state"} <= asked

"""The component's schema, as Pulumi's own inference builds it from the code.

`pulumi.provider.experimental.analyzer.Analyzer` is what a component-provider
package runs to give other languages the component (pulumi/pulumi#18526 for
why the args are a TypedDict). This checks that it can read WandbSweep at all,
and that every input and output has the type and description users will see:
a field that loses its type (e.g. annotated `Any`) or its docstring fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.provider.experimental.analyzer import Analyzer

from wandb_sweeps import WandbSweep, WandbSweepArgs
from wandb_sweeps.config.keys import ARGS_ONLY_DEFAULTS, CONFIG_KEYS, camel

INPUTS = {
    "project": "string",
    "image": "string",
    "entity": "string",
    "sweepConfig": "string",
    "sweepId": "string",
    "wandbApiKey": "string",
    "baseUrl": "string",
    "caCertificate": "string",
    "wandbRequestTimeoutSeconds": "integer",
    "wandbCallTimeoutSeconds": "integer",
    "onDestroy": "string",
    "renderYamlTo": "string",
    "apiKeySecret": "string",
    "namespace": "string",
    "createNamespace": "boolean",
    "queueName": "string",
    "labels": "object<string>",
    "annotations": "object<string>",
    "pods": "integer",
    "agentsPerPod": "integer",
    "agentPerGpu": "boolean",
    "runsPerAgent": "integer",
    "agentStartsPerSecond": "integer",
    "gpusPerPod": "integer",
    "gpusPerRun": "integer",
    "gpuResource": "string",
    "cpu": "string",
    "cpuRequest": "string",
    "memory": "string",
    "memoryRequest": "string",
    "shmSize": "string",
    "gpuToleration": "boolean",
    "nodeSelector": "object<string>",
    "tolerations": "array<object<pulumi.json#/Any>>",
    "affinity": "object<pulumi.json#/Any>",
    "priorityClassName": "string",
    "env": "object<string>",
    "envVars": "array<object<pulumi.json#/Any>>",
    "secretEnv": "object<string>",
    "volumes": "array<object<pulumi.json#/Any>>",
    "volumeMounts": "array<object<pulumi.json#/Any>>",
    "imagePullSecrets": "array<string>",
    "imagePullPolicy": "string",
    "serviceAccountName": "string",
    "runAsNonRoot": "boolean",
    "runAsUser": "integer",
    "supplementalGroups": "array<integer>",
    "allowPrivilegedPods": "boolean",
    "terminationGracePeriodSeconds": "integer",
    "retriesPerPod": "integer",
    "activeDeadlineSeconds": "integer",
    "ttlSecondsAfterFinished": "integer",
}
"""Kubernetes objects (tolerations, volumes, ...) are objects of Any: they are checked
against the Kubernetes schema by the component, not by the package schema."""
OUTPUTS = {
    "sweepId": "string",
    "sweepPath": "string",
    "sweepUrl": "string",
    "namespace": "string",
    "jobNames": "array<string>",
    "agentCommand": "string",
}
INPUT_VALUES = {"image", "namespace", "wandbApiKey", "env", "secretEnv"}
"""Inputs that take a pulumi.Input (an Output of another resource); the rest are plain."""


def described(prop: Any) -> str:
    if prop.ref:
        return prop.ref
    text = prop.type.value
    inner = prop.items or prop.additional_properties
    return f"{text}<{described(inner)}>" if inner else text


@pytest.fixture(scope="module")
def component() -> Any:
    return Analyzer("wandb-sweeps").analyze([WandbSweep])["component_definitions"]["WandbSweep"]


def test_every_input_has_its_type_and_a_description(component: Any) -> None:
    assert {name: described(prop) for name, prop in component.inputs.items()} == INPUTS
    for name, prop in component.inputs.items():
        assert prop.description and len(prop.description) > 15, f"{name} has no description"


def test_only_project_and_image_are_required(component: Any) -> None:
    assert sorted(name for name, prop in component.inputs.items() if not prop.optional) == [
        "image",
        "project",
    ]


def test_outputs_of_other_resources_are_accepted_where_users_need_them(component: Any) -> None:
    """`plain` is the schema's word for "no Output accepted" (pulumi.Input makes it None)."""
    takes_outputs = {
        name
        for name, prop in component.inputs.items()
        if not prop.plain or (prop.additional_properties and not prop.additional_properties.plain)
    }
    assert takes_outputs == INPUT_VALUES


def test_every_output_has_its_type_and_a_description(component: Any) -> None:
    assert {name: described(prop) for name, prop in component.outputs.items()} == OUTPUTS
    for name, prop in component.outputs.items():
        assert prop.description, f"output {name} has no description"
    assert component.description.startswith("A W&B sweep, created once through the W&B API")


def test_every_stack_key_is_an_argument_and_back() -> None:
    """The stack config and the component speak the same names (camelCase <-> snake_case)."""
    fields = {camel(name) for name in WandbSweepArgs.__annotations__}
    assert fields == {key.name for key in CONFIG_KEYS} | set(ARGS_ONLY_DEFAULTS)

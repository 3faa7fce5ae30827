"""The agent Jobs of one WandbSweep: what every slot shares is built once, a slot adds its own.

Every slot's Job runs the very same pod: the pod spec differs in nothing but the slot's
label (`SLOT_LABEL`) in the template's metadata, and the Job in its name and labels.
So the pod spec, the Outputs it holds (the sweep's identity, maybe the image) and the
canonical text its name digest covers are made once per component, and a slot costs
a few small dicts and one Output: its name, which waits for the sweep's identity. At
`pods: 1000`, building all of it per Job was about a third of the program's run
(docs/performance.md); `tests/component/test_per_slot_work.py` counts the builds and
the Outputs, so that cost does not come back.

The Jobs share one pod spec object: pulumi serializes a resource's inputs into new
structures (pulumi/runtime/rpc.py, `serialize_property`) and never writes into them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from operator import methodcaller
from typing import Any

import pulumi
from pulumi_kubernetes.batch.v1 import JobSpecArgsDict
from pulumi_kubernetes.core.v1 import PodSpecArgsDict
from pulumi_kubernetes.meta.v1 import ObjectMetaArgsDict

from .agent_job import (
    SLOT_LABEL,
    AgentJobInputs,
    agent_job_annotations,
    agent_job_labels,
    agent_job_spec,
    agent_pod_metadata,
    agent_pod_spec,
    job_digest_text,
    job_name,
    job_name_of_text,
)

SLOT_PLACEHOLDER = "\x00wandb-sweeps slot\x00"
"""The slot label's value in the one spec that is serialized; each slot's own value takes
its place in the text. No slot is named so (slots are numbers)."""


@dataclass(frozen=True)
class SlotNames:
    """Every slot's Job name (`agent_job.job_name`) from one serialization of the resolved spec.

    The digest text is sorted, compact JSON, so the slot label's value sits at the same
    place in it for every slot: the text is cut there once, and a slot's text is the two
    halves around its own value, exactly what `job_digest_text` gives for that slot's
    spec. Should the placeholder occur in the user's own values too (`cut` is None), each
    slot's spec is serialized whole, as `job_name` does.
    """

    name: str
    spec: Mapping[str, Any]
    """The resolved JobSpec, its slot label set to `SLOT_PLACEHOLDER`."""
    queue_name: str | None
    cut: tuple[str, str] | None

    @classmethod
    def of(cls, name: str, spec: Mapping[str, Any], queue_name: str | None) -> SlotNames:
        parts = job_digest_text(spec, queue_name).split(json.dumps(SLOT_PLACEHOLDER))
        cut = (parts[0], parts[1]) if len(parts) == 2 else None
        return cls(name, spec, queue_name, cut)

    def of_slot(self, slot: int) -> str:
        if self.cut is not None:
            head, tail = self.cut
            return job_name_of_text(self.name, slot, head + json.dumps(str(slot)) + tail)
        return job_name(self.name, slot, _with_slot(self.spec, slot), self.queue_name)


def _with_slot(spec: Mapping[str, Any], slot: int) -> dict[str, Any]:
    template = spec["template"]
    metadata = template["metadata"]
    labels = {**metadata["labels"], SLOT_LABEL: str(slot)}
    return {**spec, "template": {**template, "metadata": {**metadata, "labels": labels}}}


@dataclass(frozen=True)
class AgentJobSlots:
    """The Jobs' shared parts, built once (`agent_job_slots`); `spec(slot)` and
    `metadata(slot)` are a slot's Job."""

    job: AgentJobInputs
    pod_spec: PodSpecArgsDict
    shared_spec: JobSpecArgsDict
    """The JobSpec with the placeholder slot's template: every field but the template is shared."""
    annotations: dict[str, str]
    names: pulumi.Output[SlotNames] | SlotNames

    def spec(self, slot: int) -> JobSpecArgsDict:
        spec = dict(self.shared_spec)
        spec["template"] = {"metadata": agent_pod_metadata(self.job, slot), "spec": self.pod_spec}
        return spec  # type: ignore[return-value]  # the JobSpec's own keys, one replaced

    def names_of(self, slots: range) -> pulumi.Input[list[str]]:
        """The Job names of `slots`, as one Output (or plain list)."""
        names = self.names
        if isinstance(names, pulumi.Output):
            return names.apply(lambda resolved: [resolved.of_slot(slot) for slot in slots])
        return [names.of_slot(slot) for slot in slots]

    def metadata(self, slot: int) -> ObjectMetaArgsDict:
        names = self.names
        name = (
            names.apply(methodcaller("of_slot", slot))
            if isinstance(names, pulumi.Output)
            else names.of_slot(slot)
        )
        return {
            "name": name,
            "namespace": self.job.namespace,
            "labels": agent_job_labels(self.job, slot),
            "annotations": self.annotations,
        }


def agent_job_slots(job: AgentJobInputs) -> AgentJobSlots:
    """The pod spec, its Outputs and the names' digest text, once for all the slots."""
    pod_spec = agent_pod_spec(job)
    shared = agent_job_spec(job, {"metadata": agent_pod_metadata(job, SLOT_PLACEHOLDER), "spec": pod_spec})
    queue = job.metadata.queue_name
    names = once_resolved(shared, lambda resolved: SlotNames.of(job.name, resolved, queue))
    return AgentJobSlots(job, pod_spec, shared, agent_job_annotations(job), names)


def once_resolved(value: Any, build: Any) -> Any:
    """`build(value)` with every pulumi.Output inside `value` resolved: an Output if there
    are any, else a plain value.

    Only the Outputs are awaited (the sweep's identity, maybe the image), with one
    `Output.all`: `Output.from_input` on the whole spec would wrap each of its hundreds
    of plain values in an Output of its own.
    """
    found: list[tuple[tuple[Any, ...], pulumi.Output[Any]]] = []

    def collect(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, pulumi.Output):
            found.append((path, node))
        elif isinstance(node, dict):
            for key, item in node.items():
                collect(item, (*path, key))
        elif isinstance(node, list | tuple):
            for index, item in enumerate(node):
                collect(item, (*path, index))

    collect(value, ())
    if not found:
        return build(value)

    def substituted(node: Any, path: tuple[Any, ...], values: dict[tuple[Any, ...], Any]) -> Any:
        if path in values:
            return values[path]
        if isinstance(node, dict):
            return {key: substituted(item, (*path, key), values) for key, item in node.items()}
        if isinstance(node, list | tuple):
            return [substituted(item, (*path, index), values) for index, item in enumerate(node)]
        return node

    paths = [path for path, _ in found]
    return pulumi.Output.all(*[output for _, output in found]).apply(
        lambda resolved: build(substituted(value, (), dict(zip(paths, resolved, strict=True))))
    )

"""Drive the sweep provider the way the Pulumi engine does.

The provider runs in its own process, `python -m pulumi.dynamic` started in the
project root, exactly the plugin the engine launches; calls go over gRPC with
properties serialized to protobuf and the provider unpickled from `__provider`,
as in `pulumi up` / `pulumi destroy`. A failing call surfaces as
`ProviderFailure` carrying the exact text the engine would print (the servicer
sends the formatted traceback).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from wandb_sweeps.sweep_provider import SweepLifecycleProvider, SweepProvider

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_KEY = "__provider"
URN = "urn:pulumi:dev::wandb-sweeps::wandb-sweeps:index:WandbSweep$pulumi-python:dynamic/wandb:Sweep::sweep-sweep"
LIFECYCLE_URN = (
    "urn:pulumi:dev::wandb-sweeps::wandb-sweeps:index:WandbSweep$pulumi-python:dynamic/wandb:SweepLifecycle"
    "::sweep-lifecycle"
)


class ProviderFailure(Exception):
    """What the engine reports when a provider call fails."""


def _serialize(props: dict[str, Any]) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


class Engine:
    """The provider process, with the sweep's identity provider as the default target;
    `engine.lifecycle` calls the lifecycle provider in the same process."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pulumi.dynamic"],
            cwd=ROOT,
            env={**os.environ, **(env or {}), "PULUMI_PROJECT": "wandb-sweeps"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        port = self.process.stdout.readline().strip()  # type: ignore[union-attr]
        assert port.isdigit(), f"dynamic provider did not start: {port!r}"
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.sweep = ProviderClient(stub, serialize_provider(SweepProvider()), URN)
        self.lifecycle = ProviderClient(stub, serialize_provider(SweepLifecycleProvider()), LIFECYCLE_URN)

    def close(self) -> str:
        """Stop the provider process; returns what it wrote to stderr (its log)."""
        self.channel.close()
        self.process.terminate()
        _, stderr = self.process.communicate(timeout=10)
        return stderr

    def __getattr__(self, name: str) -> Any:
        # engine.create(...) etc.: the sweep's identity provider.
        if name in ("check", "create", "diff", "update", "read", "delete"):
            return getattr(self.sweep, name)
        raise AttributeError(name)


class ProviderClient:
    """One dynamic provider, called over gRPC as the engine calls it."""

    def __init__(self, stub: Any, pickled_provider: str, urn: str) -> None:
        self.stub = stub
        self.pickled_provider = pickled_provider
        self.urn = urn

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=120)
        except grpc.RpcError as error:
            raise ProviderFailure(error.details()) from None

    def _with_provider(self, props: dict[str, Any]) -> Any:
        return _serialize({**props, PROVIDER_KEY: self.pickled_provider})

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> list[Any]:
        """The CheckFailures (property, reason) the engine would report; empty when valid."""
        request = provider_pb2.CheckRequest(
            urn=self.urn,
            olds=self._with_provider(olds) if olds else _serialize({}),
            news=self._with_provider(news),
        )
        return list(self._call("Check", request).failures)

    def create(self, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        request = provider_pb2.CreateRequest(urn=self.urn, properties=self._with_provider(inputs))
        response = self._call("Create", request)
        outs = rpc.deserialize_properties(response.properties)
        outs.pop(PROVIDER_KEY)
        return response.id, outs

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> provider_pb2.DiffResponse:
        request = provider_pb2.DiffRequest(
            id=id_, urn=self.urn, olds=self._with_provider(olds), news=self._with_provider(news)
        )
        return self._call("Diff", request)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        request = provider_pb2.UpdateRequest(
            id=id_, urn=self.urn, olds=self._with_provider(olds), news=self._with_provider(news)
        )
        outs = rpc.deserialize_properties(self._call("Update", request).properties)
        outs.pop(PROVIDER_KEY)
        return outs

    def read(self, id_: str, outs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        request = provider_pb2.ReadRequest(id=id_, urn=self.urn, properties=self._with_provider(outs))
        response = self._call("Read", request)
        props = rpc.deserialize_properties(response.properties)
        props.pop(PROVIDER_KEY, None)
        return response.id, props

    def delete(self, id_: str, outs: dict[str, Any]) -> None:
        request = provider_pb2.DeleteRequest(id=id_, urn=self.urn, properties=self._with_provider(outs))
        self._call("Delete", request)


def changed(diff: provider_pb2.DiffResponse) -> bool:
    return diff.changes == provider_pb2.DiffResponse.DIFF_SOME

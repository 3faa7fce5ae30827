"""A Secret the stack does not make: where the agents read their W&B API key from.

With `apiKeySecret` the key reaches the cluster through the team's own secret manager
(External Secrets, Sealed Secrets, a platform team), and nothing that holds it is ever
applied or rendered by wandb-sweeps: needed when manifests go to Git (`renderYamlTo`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..checks import shown
from ..errors import ProblemList
from .api_rules import (
    CONFIG_MAP_KEY_RULE,
    DNS1123_SUBDOMAIN_RULE,
    is_config_map_key,
    is_dns1123_subdomain,
)

DEFAULT_SECRET_KEY = "WANDB_API_KEY"
"""The data key read when `apiKeySecret` names the Secret only; also the key of the
Secret wandb-sweeps makes itself (`agent_job.API_KEY_ENTRY`)."""


@dataclass(frozen=True)
class SecretKeyRef:
    """`apiKeySecret`: NAME or NAME/KEY ('/' is in neither a Secret's name nor a data key)."""

    name: str
    key: str = DEFAULT_SECRET_KEY

    def __post_init__(self) -> None:
        problems = ProblemList()
        if not is_dns1123_subdomain(self.name):
            problems.add(
                f"apiKeySecret: {shown(self.name)} is not a Secret name ({DNS1123_SUBDOMAIN_RULE}); "
                "give NAME or NAME/KEY, e.g. wandb-api-key or wandb-api-key/token."
            )
        if not is_config_map_key(self.key):
            problems.add(f"apiKeySecret: the key {shown(self.key)} is not a data key ({CONFIG_MAP_KEY_RULE}).")
        problems.raise_if_any()

    @classmethod
    def parse(cls, text: str) -> SecretKeyRef:
        name, slash, key = text.partition("/")
        return cls(name, key) if slash else cls(name)

    def __str__(self) -> str:
        return f"{self.name}/{self.key}"

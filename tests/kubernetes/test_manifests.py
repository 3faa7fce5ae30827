"""Every Kubernetes object the program registers passes the official schemas.

`kubernetes-validate` in strict mode (unknown fields are errors) for the minimum
Kubernetes version the README states and the newest version the package ships.
It does not check enum values or cross-field rules; the exact-input tests do.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from engine_model import plain  # the manifest as Kubernetes gets it: secrets unwrapped
from manifest_variants import VARIANTS, VERSIONS
from pulumi_harness import cli_config, run_program

from wandb_sweeps.kubernetes.schema import MIN_KUBERNETES

API_KEY = "local-" + "k" * 40


def rendered_objects(stack: str, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    config = cli_config(stack, wandbApiKey=API_KEY, **overrides)
    run = run_program(stack, config, secret_keys=("wandbApiKey",))
    return [plain(r.inputs) for r in run.registrations if r.typ.startswith("kubernetes:")]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_object_passes_strict_schema_validation(variant: str, version: str) -> None:
    objects = rendered_objects(*VARIANTS[variant])
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == ["Job", "Namespace", "Secret"], kinds
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_strict_validation_catches_a_misspelled_field() -> None:
    """Guards the guard: a field Kubernetes does not know must fail."""
    job = next(o for o in rendered_objects("dev", {}) if o["kind"] == "Job")
    job["spec"]["template"]["spec"]["restartPolcy"] = "Never"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, MIN_KUBERNETES, strict=True)

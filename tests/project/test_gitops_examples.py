"""examples/gitops/: the Argo CD Application and the Flux GitRepository and Kustomization are
valid for the released CRDs they are written for, and carry the settings docs/gitops.md
explains.

The CRDs are vendored byte for byte (tests/data/crds/, sha256 checked against its README).
Each document is checked the way an API server with strict field validation
(`kubectl apply --validate=strict`) checks a custom resource: against the version's
openAPIV3Schema, where an object that declares its properties takes no other field unless the
schema says `additionalProperties` or `x-kubernetes-preserve-unknown-fields`; `metadata`
against ObjectMeta (Kubernetes 1.31, the oldest release the project supports, from
kubernetes-validate's strict schemas); and every CEL rule (`x-kubernetes-validations`) the
document reaches must be one this file knows how to evaluate, so a new upstream rule fails
here instead of being skipped.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from docs_pages import marked_block, page
from kubernetes_validate.utils import all_versions, major_minor, schema_contents
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "gitops"
CRDS = ROOT / "tests" / "data" / "crds"
KUBERNETES = "1.31"
"""The oldest Kubernetes the project supports (README quickstart): ObjectMeta's schema."""

CEL_RULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    # source-controller v1.9.0, GitRepository spec
    "!has(self.serviceAccountName) || (has(self.provider) && (self.provider == 'azure' || self.provider == 'aws'))": (
        lambda s: "serviceAccountName" not in s or s.get("provider") in ("azure", "aws")
    ),
    # kustomize-controller v1.9.4, Kustomization spec.kubeConfig
    "has(self.configMapRef) || has(self.secretRef)": lambda s: "configMapRef" in s or "secretRef" in s,
    "!has(self.configMapRef) || !has(self.secretRef)": lambda s: (
        not ("configMapRef" in s and "secretRef" in s)
    ),
}
"""The CEL rules of the vendored CRDs, in Python; the key is the rule's text as the CRD has it."""


def normalized_rule(rule: str) -> str:
    return " ".join(rule.split())


KNOWN_RULES = {normalized_rule(rule): check for rule, check in CEL_RULES.items()}


def vendored_files() -> list[tuple[str, str]]:
    """(file name, sha256 of the uncompressed file), from the table in tests/data/crds/README.md."""
    text = (CRDS / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^\| `([^`]+\.yaml\.gz)` \| .+ \| `([0-9a-f]{64})` \|$", text, re.MULTILINE)


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema, for every served version of every vendored CRD."""
    schemas = {}
    for name, _ in vendored_files():
        crd = yaml.safe_load(gzip.decompress((CRDS / name).read_bytes()))
        assert crd["kind"] == "CustomResourceDefinition", name
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                api_version = f"{crd['spec']['group']}/{version['name']}"
                schemas[(api_version, crd["spec"]["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a structural schema in which every object node refuses undeclared fields, as
    the API server's strict field validation does; preserve-unknown and map nodes keep theirs."""
    node = copy.deepcopy(schema)
    for child in walk(node):
        if child.get("type") == "object" and not child.get("x-kubernetes-preserve-unknown-fields"):
            child.setdefault("additionalProperties", False)
    return node


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for sub in node.get("properties", {}).values():
        yield from walk(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from walk(node[key])
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key, []):
            yield from walk(sub)


def cel(
    validator: Any, rules: list[dict[str, str]], instance: Any, schema: Any
) -> Iterator[jsonschema.ValidationError]:
    """`x-kubernetes-validations`: each rule evaluated by its Python twin, or an error if it has none."""
    for rule in rules:
        check = KNOWN_RULES.get(normalized_rule(rule["rule"]))
        if check is None:
            yield jsonschema.ValidationError(f"a CEL rule this test cannot evaluate: {rule['rule']!r}")
        elif not check(instance):
            yield jsonschema.ValidationError(rule.get("message", rule["rule"]))


CrdValidator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"x-kubernetes-validations": cel})


def object_meta_validator() -> jsonschema.protocols.Validator:
    version = [v for v in all_versions() if major_minor(v) <= major_minor(KUBERNETES)][-1]
    directory = f"kubernetes-json-schema/v{version}-local-strict"
    meta = schema_contents(f"{directory}/objectmeta-meta-v1.json", KUBERNETES)
    definitions = schema_contents(f"{directory}/_definitions.json", KUBERNETES)
    registry: Registry = Resource.from_contents(meta) @ (Resource.from_contents(definitions) @ Registry())
    return jsonschema.Draft202012Validator(meta, registry=registry)


SCHEMAS = crd_schemas()
OBJECT_META = object_meta_validator()
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def where(prefix: str, error: jsonschema.ValidationError) -> str:
    return (
        ".".join([prefix, *map(str, error.absolute_path)] if prefix else map(str, error.absolute_path))
        or "(top)"
    )


def problems(document: dict[str, Any]) -> list[str]:
    """Why the API server would refuse `document` under strict field validation; [] if it would not."""
    key = (document.get("apiVersion"), document.get("kind"))
    if key not in SCHEMAS:
        return [f"no vendored CRD serves {key[0]} {key[1]} (tests/data/crds/README.md)"]
    schema = strict(SCHEMAS[key])
    schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta, checked below
    found = [f"{where('', error)}: {error.message}" for error in CrdValidator(schema).iter_errors(document)]
    metadata = document.get("metadata", {})
    found += [f"{where('metadata', error)}: {error.message}" for error in OBJECT_META.iter_errors(metadata)]
    name = metadata.get("name", "")
    if not (isinstance(name, str) and len(name) <= 253 and DNS_SUBDOMAIN.match(name)):
        found.append(f"metadata.name: {name!r} is not a DNS subdomain")
    return found


def documents() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}:{document['kind']}", document)
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
    ]


def example(kind: str) -> dict[str, Any]:
    (found,) = [document for _, document in documents() if document["kind"] == kind]
    return found


def test_the_vendored_crds_are_the_released_files() -> None:
    rows = vendored_files()
    assert {name for name, _ in rows} == {p.name for p in CRDS.glob("*.yaml.gz")}, "one README row per file"
    for name, digest in rows:
        assert hashlib.sha256(gzip.decompress((CRDS / name).read_bytes())).hexdigest() == digest, name
    assert {
        ("argoproj.io/v1alpha1", "Application"),
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
        ("source.toolkit.fluxcd.io/v1", "GitRepository"),
    } <= set(SCHEMAS)


@pytest.mark.parametrize(("name", "document"), documents(), ids=[name for name, _ in documents()])
def test_every_example_passes_its_crd_schema_strictly(name: str, document: dict[str, Any]) -> None:
    assert not problems(document), f"examples/gitops/{name}:\n  " + "\n  ".join(problems(document))


def test_the_examples_are_the_three_documents() -> None:
    assert sorted(name for name, _ in documents()) == [
        "argocd-application.yaml:Application",
        "flux.yaml:GitRepository",
        "flux.yaml:Kustomization",
    ]


def with_change(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[key]
    node[last] = value
    return changed


@pytest.mark.parametrize(
    ("kind", "path", "value", "expected"),
    [
        ("Application", "spec.syncPolicy.automated.selfHeals", True, "'selfHeals' was unexpected"),
        ("Application", "spec.source.directory.recurse", "yes", "is not of type 'boolean'"),
        ("Application", "spec.ignoreDifferences", [{"group": "batch"}], "'kind' is a required property"),
        ("Application", "metadata.nmae", "x", "'nmae' was unexpected"),
        ("Kustomization", "spec.waitt", False, "'waitt' was unexpected"),
        ("Kustomization", "spec.interval", "10 minutes", "does not match"),
        (
            "Kustomization",
            "spec.kubeConfig",
            {"secretRef": {"name": "a"}, "configMapRef": {"name": "b"}},
            "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef",
        ),
        ("GitRepository", "spec.serviceAccountName", "puller", "serviceAccountName can only be set"),
        ("GitRepository", "metadata.name", "Wandb_Sweeps", "is not a DNS subdomain"),
    ],
)
def test_a_typo_a_wrong_type_or_a_broken_rule_is_refused(
    kind: str, path: str, value: Any, expected: str
) -> None:
    """The control: what the check exists to catch does fail it, and the message names the field."""
    found = problems(with_change(example(kind), path, value))
    assert any(expected in problem and problem.startswith(path.rpartition(".")[0]) for problem in found), (
        found
    )


def test_an_unknown_cel_rule_is_an_error_not_a_pass() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [{"rule": "self.x == 1"}]}
    (error,) = CrdValidator(schema).iter_errors({})
    assert "cannot evaluate" in error.message


def render_directory() -> str:
    """The `renderYamlTo` of docs/gitops.md's command block."""
    command = marked_block(page("gitops.md"), "gitops-commands", "sh") or ""
    found = re.search(r"pulumi config set renderYamlTo (\S+)", command)
    assert found, "docs/gitops.md marks its commands with <!-- gitops-commands --> and sets renderYamlTo"
    return found.group(1)


def test_argo_cd_application_prunes_in_the_background_and_never_writes_a_live_jobs_template() -> None:
    spec = example("Application")["spec"]
    assert spec["source"]["path"] == render_directory() and spec["source"]["directory"]["recurse"] is True
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True, "allowEmpty": True}
    options = spec["syncPolicy"]["syncOptions"]
    assert {"PrunePropagationPolicy=background", "RespectIgnoreDifferences=true"} <= set(options)
    assert not [o for o in options if o.startswith(("Replace=", "Force="))], options
    (jobs,) = [
        rule for rule in spec["ignoreDifferences"] if (rule.get("group"), rule["kind"]) == ("batch", "Job")
    ]
    assert "/spec/template" in jobs["jsonPointers"]
    assert "resources-finalizer.argocd.argoproj.io" not in example("Application")["metadata"].get(
        "finalizers", []
    )


def test_flux_kustomization_prunes_waits_for_nothing_and_only_creates_jobs() -> None:
    source, spec = example("GitRepository"), example("Kustomization")["spec"]
    directory = render_directory()
    assert spec["path"] == f"./{directory}" and source["spec"]["sparseCheckout"] == [directory]
    assert spec["sourceRef"] == {"kind": "GitRepository", "name": source["metadata"]["name"]}
    assert (spec["prune"], spec["wait"], spec["force"]) == (True, False, False)
    assert "healthChecks" not in spec
    (patch,) = spec["patches"]
    assert patch["target"] == {"group": "batch", "kind": "Job"}
    assert yaml.safe_load(patch["patch"])["metadata"]["annotations"] == {
        "kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"
    }

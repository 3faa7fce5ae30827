"""`caCertificate`: a self-managed W&B behind a private CA, end to end.

The tests make a CA and a server certificate it signs (`private_ca`, with the
`cryptography` package) and run tests/wandb_server.py behind TLS with it. Then:

- config time: the file is refused, with a message that names caCertificate and
  quotes nothing of it (it may be a private key), unless it is PEM CERTIFICATE blocks
  that OpenSSL parses, at most 64 KiB, inside the project folder; nothing is registered;
- deploy time: the real sweep provider, in its own process over gRPC (engine_driver),
  fails at once with a TLS error that names the server and caCertificate when the key
  is not set, creates the sweep when it is, and still trusts the public roots (a
  "public" test CA put in SSL_CERT_FILE, as the deploying machine's roots);
- the program: a ConfigMap named by the CA's digest, mounted read-only, a writable
  emptyDir for the bundle, the launcher's two variables; valid for Kubernetes 1.31 and
  1.37 and Restricted;
- day 2 under the engine model (rules in platform_rules): a reformatted CA file changes
  nothing; a new CA replaces the ConfigMap under a new name and the Jobs, new ones first,
  touches neither the sweep nor the Secret, records the CA for destroy, and makes no W&B
  request; destroy stops the sweep through a server that presents only the new CA's
  certificate; removing the key is refused by the server at destroy, with the message;
- the launcher under /bin/sh with a stub `wandb`: one bundle, the image's public roots
  then the CA, exported as SSL_CERT_FILE and REQUESTS_CA_BUNDLE to every agent; certifi
  when the image has no OS bundle; a warning when it has neither;
- the real `wandb agent` (wandb 0.31, whose GraphQL goes through wandb-core, Go)
  registers with the TLS server through the launcher and runs a run; without the CA
  it fails with Go's "x509: certificate signed by unknown authority".
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from engine_driver import Engine, ProviderFailure
from engine_model import JOB_TYPE, LIFECYCLE_TYPE, SWEEP_TYPE, ServerWandb, deploy, destroy, plain
from kubernetes_validate.utils import latest_version
from pod_rules import broken_rules, pods
from private_ca import PrivateCA, make_ca
from pulumi_harness import ROOT, ProgramRun, cli_config, run_program
from stacks import Stack, env_of, ops_by_kind
from sweep_inputs import inputs, lifecycle_inputs
from wandb_server import DEFAULT_KEY, WandbServer

from wandb_sweeps.config.ca_file import load_ca_file
from wandb_sweeps.errors import ConfigError
from wandb_sweeps.kubernetes.agent_job import LAUNCHER_SCRIPT
from wandb_sweeps.kubernetes.ca_bundle import (
    CA_MOUNT_DIR,
    CA_VOLUME,
    TRUST_MOUNT_DIR,
    TRUST_VOLUME,
)
from wandb_sweeps.kubernetes.schema import MIN_KUBERNETES

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
API_KEY = "local-" + "k" * 40
LAUNCHER_SHELL = os.environ.get("LAUNCHER_SHELL", "/bin/sh").split()
BIN_DIR = Path(sys.executable).parent
PUBLIC_ROOTS_LINE = (
    'public_roots="/etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem"'
)


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def ca() -> PrivateCA:
    return make_ca("Corp Private CA")


@pytest.fixture
def tls_server(ca: PrivateCA, tmp_path: Path) -> Iterator[WandbServer]:
    """The test W&B server behind TLS, with a certificate `ca` signed for 127.0.0.1."""
    with WandbServer(ssl_context=ca.issue().server_context(tmp_path)) as server:
        yield server


@pytest.fixture
def engine() -> Iterator[Engine]:
    running = Engine()
    yield running
    running.close()


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


# --- config time: the file is checked before anything is registered --------------------


def refused(config_path: str) -> str:
    """The program's error for `caCertificate: config_path`; fails if anything was registered."""
    run = ProgramRun()
    config = cli_config("dev", wandbApiKey=API_KEY, caCertificate=config_path)
    with pytest.raises(ConfigError) as raised:
        run_program("dev", config, secret_keys=("wandbApiKey",), run=run)
    assert run.registrations == [], [r.name for r in run.registrations]
    return str(raised.value)


def quotes_nothing_of(message: str, text: str) -> None:
    """No line of the file's content (but the PEM markers) appears in the message."""
    for line in text.splitlines():
        line = line.strip()
        if len(line) >= 8 and not line.startswith("-----"):
            assert line not in message, f"the message quotes {line!r}"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("private-key", "holds a private key, not only CERTIFICATE blocks, so nothing of it is shown"),
        ("cert-and-key", "holds a private key, not only CERTIFICATE blocks, so nothing of it is shown"),
        ("kubeconfig", "is not a PEM certificate file: it has no -----BEGIN CERTIFICATE----- block"),
        ("damaged", "CERTIFICATE block 1 of 1 is not an X.509 certificate OpenSSL can read"),
        ("second-damaged", "CERTIFICATE block 2 of 2 is not an X.509 certificate OpenSSL can read"),
        ("cut-short", "has a PEM block without its matching -----END ...----- line"),
        ("der", "is not a PEM text file (not UTF-8 text), so nothing of it is shown"),
        ("csr", "holds CERTIFICATE REQUEST, not only CERTIFICATE blocks"),
        ("too-large", "is larger than 65536 bytes"),
        ("empty", "it has no -----BEGIN CERTIFICATE----- block"),
    ],
)
def test_a_ca_file_that_is_not_pem_certificates_is_refused_without_quoting_it(
    ca: PrivateCA, project_tmp_path: Path, content: str, expected: str
) -> None:
    lines = ca.pem.splitlines()
    texts: dict[str, str | bytes] = {
        "private-key": ca.key_pem,
        "cert-and-key": ca.pem + ca.key_pem,
        "kubeconfig": "apiVersion: v1\nusers:\n- name: me\n  user: {token: kubeconfig-token-zzzzzzzzzz}\n",
        "damaged": "\n".join([*lines[:2], "A" * 64, *lines[3:]]) + "\n",
        "second-damaged": ca.pem + "\n".join([*lines[:2], "B" * 64, *lines[3:]]) + "\n",
        "cut-short": ca.pem + "\n".join(lines[:3]) + "\n",
        "der": ssl.PEM_cert_to_DER_cert(ca.pem),
        "csr": ca.pem + "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
        "too-large": "# padding\n" * 7000 + ca.pem,
        "empty": "",
    }
    path = write(project_tmp_path, "ca.pem", texts[content])
    message = refused(str(path))
    assert f"caCertificate: '{path}' ({path})" in message
    assert expected in message
    text = texts[content]
    quotes_nothing_of(message, text if isinstance(text, str) else "")


@pytest.mark.parametrize("where", ["absolute", "dot-dot", "symlink"])
def test_a_ca_file_outside_the_project_folder_is_refused(
    ca: PrivateCA, tmp_path: Path, project_tmp_path: Path, where: str
) -> None:
    outside = write(tmp_path, "ca.pem", ca.pem)  # pytest's tmp_path is outside the project
    named = {
        "absolute": str(outside),
        "dot-dot": os.path.relpath(outside, ROOT),
        "symlink": str(project_tmp_path / "link.pem"),
    }[where]
    if where == "symlink":
        (project_tmp_path / "link.pem").symlink_to(outside)
    message = refused(named)
    assert f"caCertificate: {named!r} is outside the project folder {ROOT}" in message
    assert "the CA certificate must be a file inside it" in message and "Copy it into the project" in message


def test_a_missing_ca_file_or_a_directory_is_refused(project_tmp_path: Path) -> None:
    assert "does not exist; point caCertificate at the CA's PEM file" in refused(
        str(project_tmp_path / "nope.pem")
    )
    assert "is not a file; point caCertificate at the CA's PEM file" in refused(str(project_tmp_path))


def test_the_file_is_kept_as_its_certificates_only(ca: PrivateCA, project_tmp_path: Path) -> None:
    """Comments, `openssl x509 -text` output and CRLF line ends are dropped: the same
    certificates are the same CA, whatever the file's layout."""
    other = make_ca("Corp Issuing CA")
    messy = "Subject: CN=Corp Private CA\r\n" + ca.pem.replace("\n", "\r\n") + "\n# next\n" + other.pem
    loaded = load_ca_file(ROOT, str(write(project_tmp_path, "bundle.pem", messy)))
    assert loaded.count == 2
    assert loaded.pem == ca.pem + other.pem
    assert load_ca_file(ROOT, str(write(project_tmp_path, "plain.pem", ca.pem + other.pem))) == loaded


# --- deploy time: the sweep provider, over gRPC, against the TLS server -----------------


def test_without_the_key_the_create_fails_at_once_naming_the_server_and_the_key(
    tls_server: WandbServer, engine: Engine
) -> None:
    began = time.monotonic()
    with pytest.raises(ProviderFailure) as failed:
        engine.create(inputs(tls_server, call_timeout=6))
    elapsed = time.monotonic() - began
    message = str(failed.value)
    assert f"W&B at {tls_server.base_url} presented a TLS certificate this machine does not trust" in message
    assert "does not trust (unable to get local issuer certificate) while trying to look up" in message
    assert "set caCertificate to the CA's PEM file in the project folder" in message
    assert "`pulumi config set wandb-sweeps:caCertificate certs/ca.pem`" in message
    assert DEFAULT_KEY not in message
    assert elapsed < 5, f"a certificate that does not verify is not retried ({elapsed:.1f} s)"
    assert tls_server.sweeps == [] and tls_server.requests == []


def test_with_the_key_the_provider_creates_refreshes_and_stops_the_sweep(
    tls_server: WandbServer, engine: Engine, ca: PrivateCA
) -> None:
    id_, outs = engine.create(inputs(tls_server, ca_certificate=ca.pem))
    [sweep] = tls_server.sweeps
    assert (sweep.entity, sweep.project, sweep.state) == ("alice", "proj", "PENDING")
    assert outs["sweep_base_url"] == tls_server.base_url
    assert "ca_certificate" not in outs  # refresh reads with the lifecycle's, the CA in effect

    assert engine.read(id_, outs)[0] == id_
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs, ca_certificate=ca.pem))
    assert engine.lifecycle.read(life_id, life)[1]["sweep_state"] == "PENDING"
    engine.lifecycle.delete(life_id, life)
    assert sweep.state == "FINISHED"
    assert tls_server.operation_counts() == {
        "GetDefaultEntity": 1,
        "GetSweeps": 1,
        "UpsertSweep": 2,
        "GetSweep": 2,
    }


def test_a_ca_change_is_no_change_of_the_sweep_and_an_update_of_its_lifecycle(
    tls_server: WandbServer, engine: Engine, ca: PrivateCA
) -> None:
    """Like the timeouts: a new CA changes how W&B is reached, not which sweep it is."""
    id_, outs = engine.create(inputs(tls_server, ca_certificate=ca.pem))
    other = make_ca("Corp Next CA")
    diff = engine.diff(id_, outs, inputs(tls_server, ca_certificate=other.pem))
    assert diff.changes != diff.DIFF_SOME and not diff.replaces
    life_id, life = engine.lifecycle.create(lifecycle_inputs(outs, ca_certificate=ca.pem))
    life_diff = engine.lifecycle.diff(life_id, life, lifecycle_inputs(outs, ca_certificate=other.pem))
    assert life_diff.changes == life_diff.DIFF_SOME and not life_diff.replaces


def test_the_public_roots_stay_trusted_besides_the_ca(
    ca: PrivateCA, tmp_path: Path, project_tmp_path: Path
) -> None:
    """The deploying machine's roots (here a "public" test CA as its SSL_CERT_FILE) still
    verify a server when caCertificate names another CA: in addition, never instead."""
    public = make_ca("Public Root CA")
    roots = write(tmp_path, "roots.pem", public.pem)
    (tmp_path / "no-dir").mkdir()
    context = public.issue().server_context(tmp_path)
    with WandbServer(ssl_context=context) as public_server:
        engine = Engine(env={"SSL_CERT_FILE": str(roots), "SSL_CERT_DIR": str(tmp_path / "no-dir")})
        try:
            _, outs = engine.create(inputs(public_server, ca_certificate=ca.pem))
        finally:
            engine.close()
    assert outs["sweep_id"] == public_server.sweeps[0].name


def test_the_provider_refuses_a_ca_input_that_is_not_certificates_without_quoting_it(
    tls_server: WandbServer, engine: Engine, ca: PrivateCA
) -> None:
    """A program that builds the resource itself gets the same check; the failure names no
    property, so the engine prints no value (`issueCheckFailures`)."""
    failures = engine.check({}, inputs(tls_server, ca_certificate=ca.key_pem))
    assert [(f.property, f.reason) for f in failures] == [
        (
            "",
            "caCertificate: the CA certificate holds a private key, not only CERTIFICATE blocks, so nothing "
            "of it is shown. Give the CA's certificate(s) only; a private key never belongs in the stack "
            "(keep it out of the project).",
        )
    ]
    assert tls_server.requests == []


def test_refresh_reads_with_the_ca_in_effect_and_an_outdated_one_leaves_the_sweep_and_says_why(
    tls_server: WandbServer, ca: PrivateCA, tmp_path: Path
) -> None:
    """Refresh reads the sweep through the lifecycle, whose CA is updated in place when
    caCertificate changes: after the server moved to another CA, and the stack to it,
    refresh still looks. With the old CA it cannot, and says so."""
    engine = Engine()
    try:
        _, outs = engine.create(inputs(tls_server, ca_certificate=ca.pem))
        life_id, life = engine.lifecycle.create(lifecycle_inputs(outs, ca_certificate=ca.pem))
        following = make_ca("Corp Next CA")
        switch_certificate(tls_server, following, tmp_path)
        assert engine.lifecycle.read(life_id, life) == (life_id, life)
        moved = engine.lifecycle.update(life_id, life, lifecycle_inputs(outs, ca_certificate=following.pem))
        assert engine.lifecycle.read(life_id, moved)[1]["sweep_state"] == "PENDING"
    finally:
        log = engine.close()
    assert "pulumi refresh could not look at sweep alice/proj/" in log
    assert len(tls_server.sweeps) == 1


# --- the program: what the pods get ---------------------------------------------------


def ca_stack_config(ca_file: Path, **more: Any) -> dict[str, str]:
    return cli_config("live", wandbApiKey=API_KEY, caCertificate=str(ca_file), **more)


def test_the_pods_mount_the_ca_from_a_configmap_named_by_its_digest(
    ca: PrivateCA, project_tmp_path: Path
) -> None:
    ca_file = write(project_tmp_path, "corp-ca.pem", ca.pem)
    deployment = deploy("live", ca_stack_config(ca_file), secret_keys=("wandbApiKey",))
    [config_map] = deployment.by_type(CONFIG_MAP)
    digest = load_ca_file(ROOT, str(ca_file)).digest
    assert config_map.inputs == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"sweep-wandb-ca-{digest}",
            "namespace": "wandb-sweeps-live",
            "labels": {
                "app.kubernetes.io/name": "wandb-sweeps",
                "app.kubernetes.io/instance": "sweep",
                "app.kubernetes.io/part-of": "wandb-sweeps",
                "app.kubernetes.io/managed-by": "pulumi",
            },
        },
        "data": {"ca.crt": ca.pem},
        "immutable": True,
    }
    jobs = deployment.by_type(JOB_TYPE)
    assert len(jobs) == 4
    for job in jobs:
        spec = job.inputs["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes[CA_VOLUME] == {"name": CA_VOLUME, "configMap": {"name": f"sweep-wandb-ca-{digest}"}}
        assert volumes[TRUST_VOLUME] == {"name": TRUST_VOLUME, "emptyDir": {"sizeLimit": "16Mi"}}
        mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
        assert mounts[CA_VOLUME] == {"name": CA_VOLUME, "mountPath": CA_MOUNT_DIR, "readOnly": True}
        assert mounts[TRUST_VOLUME] == {"name": TRUST_VOLUME, "mountPath": TRUST_MOUNT_DIR}
        env = env_of(job.inputs)
        assert env["WANDB_SWEEPS_CA_FILE"] == "/etc/wandb-sweeps/ca/ca.crt"
        assert env["WANDB_SWEEPS_TRUST_DIR"] == "/etc/wandb-sweeps/trust"
        assert "SSL_CERT_FILE" not in env  # the launcher sets it, once the bundle exists
        # Mounted by name only: a new ConfigMap cannot make the engine replace a Job on
        # its own (calculateDependentReplacements follows property dependencies), and
        # the Job is made after it.
        assert "sweep-ca" in job.dependencies
        assert not any("sweep-ca" in deps for deps in job.property_dependencies.values())
        assert broken_rules(pods(deployment)[job.name]) == {}
    sweep, lifecycle = deployment.by_type(SWEEP_TYPE)[0], deployment.by_type(LIFECYCLE_TYPE)[0]
    assert sweep.inputs["ca_certificate"] == lifecycle.inputs["ca_certificate"] == ca.pem


def test_without_the_key_the_pods_are_as_before(project_tmp_path: Path) -> None:
    deployment = deploy("live", cli_config("live", wandbApiKey=API_KEY), secret_keys=("wandbApiKey",))
    assert deployment.by_type(CONFIG_MAP) == []
    for job in deployment.by_type(JOB_TYPE):
        assert "wandb-sweeps" not in json.dumps(job.inputs["spec"]["template"]["spec"].get("volumes", []))
        assert "WANDB_SWEEPS_CA_FILE" not in env_of(job.inputs)
    for resource in deployment.by_type(SWEEP_TYPE) + deployment.by_type(LIFECYCLE_TYPE):
        assert "ca_certificate" not in resource.inputs  # an existing stack's state is unchanged


@pytest.mark.parametrize("version", [MIN_KUBERNETES, latest_version()])
def test_every_object_with_a_ca_passes_strict_schema_validation(
    ca: PrivateCA, project_tmp_path: Path, version: str
) -> None:
    ca_file = write(project_tmp_path, "corp-ca.pem", ca.pem)
    config = ca_stack_config(
        ca_file,
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "ds"}}],
        volumeMounts=[{"name": "data", "mountPath": "/data"}],
    )
    run = run_program("live", config, secret_keys=("wandbApiKey",))
    objects = [plain(r.inputs) for r in run.registrations if r.typ.startswith("kubernetes:")]
    assert sorted({o["kind"] for o in objects}) == ["ConfigMap", "Job", "Namespace", "Secret"]
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"env": {"SSL_CERT_FILE": "/etc/ssl/mine.pem"}},
            "env: SSL_CERT_FILE is set by wandb-sweeps when caCertificate is set",
        ),
        (
            {"env": [{"name": "REQUESTS_CA_BUNDLE", "value": "/x"}]},
            "env: REQUESTS_CA_BUNDLE is set by wandb-sweeps when caCertificate is set",
        ),
        (
            {"volumes": [{"name": CA_VOLUME, "emptyDir": {}}], "volumeMounts": []},
            f"volumes: the name '{CA_VOLUME}' is reserved for caCertificate in the pods",
        ),
        (
            {
                "volumes": [{"name": "data", "emptyDir": {}}],
                "volumeMounts": [{"name": "data", "mountPath": TRUST_MOUNT_DIR}],
            },
            f"volumeMounts: the path '{TRUST_MOUNT_DIR}' is where caCertificate is mounted in the pods",
        ),
    ],
)
def test_what_would_collide_with_the_ca_in_the_pods_is_refused(
    ca: PrivateCA, project_tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    ca_file = write(project_tmp_path, "corp-ca.pem", ca.pem)
    run = ProgramRun()
    with pytest.raises(ConfigError) as raised:
        run_program("dev", ca_stack_config(ca_file, **change), secret_keys=("wandbApiKey",), run=run)
    assert expected in str(raised.value)
    assert run.registrations == []
    # Without caCertificate the same env replaces the agents' trust store: a power that needs
    # allowPrivilegedPods (issue 16.7, pod_security.TLS_ENV), and then it is the user's own business.
    if "env" in change:
        with pytest.raises(ConfigError, match="turns TLS verification off or replaces the roots"):
            run_program("dev", cli_config("dev", wandbApiKey=API_KEY, **change), secret_keys=("wandbApiKey",))
        run_program(
            "dev",
            cli_config("dev", wandbApiKey=API_KEY, allowPrivilegedPods="true", **change),
            secret_keys=("wandbApiKey",),
        )


# --- day 2, under the engine model, against the TLS server ------------------------------


def switch_certificate(server: WandbServer, to: PrivateCA, directory: Path) -> None:
    """The server now presents a certificate of `to` (new connections)."""
    issued = to.issue()
    write(directory, "current.crt", issued.cert_pem)
    write(directory, "current.key", issued.key_pem)
    assert server.ssl_context is not None
    server.ssl_context.load_cert_chain(directory / "current.crt", directory / "current.key")


def test_a_ca_lives_through_day_2(
    tls_server: WandbServer,
    ca: PrivateCA,
    monkeypatch: pytest.MonkeyPatch,
    project_tmp_path: Path,
    tmp_path: Path,
) -> None:
    ca_file = write(project_tmp_path, "corp-ca.pem", ca.pem)
    stack = Stack(
        "live",
        tls_server,
        monkeypatch,
        {
            "wandbApiKey": DEFAULT_KEY,
            "pods": "2",
            "baseUrl": tls_server.base_url,
            "caCertificate": str(ca_file),
        },
    )

    # 1. First up: the sweep is made through TLS; the ConfigMap is named by the CA.
    first = stack.up("first up")
    assert set(first.ops().values()) == {"create"}
    assert len(tls_server.sweeps) == 1
    [config_map] = first.by_type(CONFIG_MAP)
    first_name = config_map.inputs["metadata"]["name"]
    assert first_name.startswith("sweep-wandb-ca-")

    # 2. The same file with a comment and CRLF line ends: the same certificates, no change.
    write(project_tmp_path, "corp-ca.pem", "# Corp CA, from the wiki\r\n" + ca.pem.replace("\n", "\r\n"))
    same = stack.up("CA file reformatted")
    assert set(same.ops().values()) == {"same"}
    assert same.requests == 1  # type: ignore[attr-defined]  # the refresh reads the sweep (Pulumi.yaml)

    # 3. Rotation, first half: the file gets the next CA too (the server still has the old
    #    certificate). A new ConfigMap under a new name, created first; new Jobs, created
    #    first; the old Jobs go before the old ConfigMap. The sweep and the Secret stay, the
    #    lifecycle records the CA for destroy, and W&B hears only the refresh.
    following = make_ca("Corp Next CA")
    write(project_tmp_path, "corp-ca.pem", ca.pem + following.pem)
    old_jobs = stack.job_names()
    both = stack.up("the next CA added")
    assert ops_by_kind(both) == {
        "ConfigMap": {"replace"},
        "Job": {"replace"},
        "Namespace": {"same"},
        "Secret": {"same"},
        "Sweep": {"same"},
        "SweepLifecycle": {"update"},
    }
    assert not any(step.delete_before_replace for step in both.steps.values())
    assert stack.job_names().isdisjoint(old_jobs)
    assert both.by_type(CONFIG_MAP)[0].inputs["metadata"]["name"] != first_name
    assert both.deleted.index("sweep-agent-0") < both.deleted.index("sweep-ca")
    assert both.deleted.index("sweep-agent-1") < both.deleted.index("sweep-ca")
    assert stack.lifecycle_outputs()["ca_certificate"] == ca.pem + following.pem
    assert both.requests == 1  # type: ignore[attr-defined]  # the refresh's read only

    # 4. The server moves to the next CA, and the stack drops the old one: the same again.
    switch_certificate(tls_server, following, tmp_path)
    write(project_tmp_path, "corp-ca.pem", following.pem)
    moved = stack.up("the old CA dropped")
    assert ops_by_kind(moved)["ConfigMap"] == {"replace"}
    assert ops_by_kind(moved)["Job"] == {"replace"}
    assert ops_by_kind(moved)["Sweep"] == {"same"}
    for job in stack.jobs().values():
        assert env_of(job)["WANDB_SWEEPS_CA_FILE"] == "/etc/wandb-sweeps/ca/ca.crt"

    # 5. The key removed: the ConfigMap is deleted, the Jobs replaced without the CA. The
    #    server still needs it, so destroy fails, and says what to do.
    removed = stack.up("caCertificate removed", caCertificate=None)
    assert removed.steps["sweep-ca"].op == "delete"
    assert ops_by_kind(removed)["Job"] == {"replace"}
    assert "WANDB_SWEEPS_CA_FILE" not in env_of(next(iter(stack.jobs().values())))
    with pytest.raises(Exception, match="set caCertificate to the CA's PEM file") as refused_destroy:
        destroy(stack.state, ServerWandb())
    assert tls_server.base_url in str(refused_destroy.value)

    # 6. Back, then destroy: the sweep is stopped through the server that presents only the
    #    next CA's certificate, with the CA the lifecycle recorded.
    stack.up("caCertificate back", caCertificate=str(ca_file))
    gone = destroy(stack.state, ServerWandb())
    assert gone.deleted.index("sweep-agent-0") < gone.deleted.index("sweep-lifecycle")
    [sweep] = tls_server.sweeps
    assert sweep.state == "FINISHED"
    assert {r.api_key for r in tls_server.requests} == {DEFAULT_KEY}


# --- the launcher, under /bin/sh with a stub `wandb` -----------------------------------

STUB_SH = r"""#!/bin/sh
# Stub wandb agent: record the trust settings it was started with and the bundle's
# content, then act as if it was handed one run (RUNS_PER_AGENT=1) and exit 0.
{
  printf 'SSL_CERT_FILE\t%s\n' "${SSL_CERT_FILE-<unset>}"
  printf 'REQUESTS_CA_BUNDLE\t%s\n' "${REQUESTS_CA_BUNDLE-<unset>}"
} > "$STUB_DIR/agent.$$"
if [ -n "${SSL_CERT_FILE-}" ]; then cp "$SSL_CERT_FILE" "$STUB_DIR/bundle.$$"; fi
for last in "$@"; do :; done
mkdir -p "$WANDB_DIR/wandb/sweep-${last##*/}"
echo "lr: {value: 0.1}" > "$WANDB_DIR/wandb/sweep-${last##*/}/config-run$$.yaml"
"""

STUB_PY = """#!{python}
# The same stub as a Python console script: the launcher finds certifi through its first line.
import os, shutil, sys
from pathlib import Path
out = Path(os.environ["STUB_DIR"])
names = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
(out / f"agent.{{os.getpid()}}").write_text(
    "".join(f"{{n}}\\t{{os.environ.get(n, '<unset>')}}\\n" for n in names)
)
if os.environ.get("SSL_CERT_FILE"):
    shutil.copy(os.environ["SSL_CERT_FILE"], out / f"bundle.{{os.getpid()}}")
runs = Path(os.environ["WANDB_DIR"]) / "wandb" / ("sweep-" + sys.argv[-1].rsplit("/", 1)[-1])
runs.mkdir(parents=True, exist_ok=True)
(runs / f"config-run{{os.getpid()}}.yaml").write_text("lr: {{value: 0.1}}\\n")
"""

NO_PYTHON = "#!/bin/sh\necho 'No module named certifi' >&2\nexit 1\n"


def launch(
    stub_dir: Path, public_roots: list[Path], *, stub: str = STUB_SH, **settings: str
) -> subprocess.CompletedProcess[str]:
    """LAUNCHER_SCRIPT under /bin/sh, its list of OS bundles replaced by `public_roots`
    (the image's files), with a stub `wandb` (and stub Pythons without certifi)."""
    assert LAUNCHER_SCRIPT.count(PUBLIC_ROOTS_LINE) == 1
    script = LAUNCHER_SCRIPT.replace(PUBLIC_ROOTS_LINE, f'public_roots="{" ".join(map(str, public_roots))}"')
    bin_dir = stub_dir / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("wandb", stub), ("python3", NO_PYTHON), ("python", NO_PYTHON)):
        write(bin_dir, name, text).chmod(0o755)
    (stub_dir / "wandb-dir").mkdir(exist_ok=True)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(stub_dir),
        "STUB_DIR": str(stub_dir),
        "SWEEP_PATH": "team/proj/abcd1234",
        "WANDB_API_KEY": API_KEY,
        "WANDB_BASE_URL": "https://wandb.corp.example",
        "WANDB_DIR": str(stub_dir / "wandb-dir"),
        "AGENTS_PER_POD": "2",
        "RUNS_PER_AGENT": "1",
        **settings,
    }
    return subprocess.run(
        [*LAUNCHER_SHELL, "-c", script],
        env=env,
        cwd=stub_dir,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def agents_saw(stub_dir: Path) -> list[tuple[dict[str, str], str | None]]:
    """(the trust variables, the bundle's content) as each agent saw them."""
    seen = []
    for record in sorted(stub_dir.glob("agent.*")):
        env = dict(line.split("\t", 1) for line in record.read_text().splitlines())
        bundle = stub_dir / record.name.replace("agent.", "bundle.")
        seen.append((env, bundle.read_text() if bundle.exists() else None))
    return seen


def ca_settings(stub_dir: Path, ca: PrivateCA) -> dict[str, str]:
    """What the Job's env gives the launcher, with the pod's mounts as test directories."""
    return {
        "WANDB_SWEEPS_CA_FILE": str(write(stub_dir, "ca.crt", ca.pem)),
        "WANDB_SWEEPS_TRUST_DIR": str(stub_dir / "trust"),
    }


def test_the_launcher_gives_every_agent_one_bundle_of_the_public_roots_and_the_ca(
    ca: PrivateCA, tmp_path: Path
) -> None:
    public = make_ca("Public Root CA")
    roots = write(tmp_path, "ca-certificates.crt", public.pem)
    result = launch(tmp_path, [tmp_path / "absent.crt", roots], **ca_settings(tmp_path, ca))

    assert result.returncode == 0, result.stdout + result.stderr
    bundle = tmp_path / "trust" / "ca-bundle.pem"
    assert f"wandb-sweeps: trusting the public roots of {roots} and caCertificate ({bundle})" in result.stdout
    seen = agents_saw(tmp_path)
    assert len(seen) == 2
    for env, content in seen:
        assert env == {"SSL_CERT_FILE": str(bundle), "REQUESTS_CA_BUNDLE": str(bundle)}
        assert content == public.pem + "\n" + ca.pem
    # The bundle verifies both: a client trusting only it accepts either CA's servers.
    context = ssl.create_default_context(cafile=str(bundle))
    assert context.cert_store_stats()["x509_ca"] == 2


def test_an_image_without_an_os_bundle_gets_certifis_roots(ca: PrivateCA, tmp_path: Path) -> None:
    """No file of the OS list: the roots of certifi, found with the Python named in the
    first line of the `wandb` console script (as the launcher finds wandb's Python)."""
    import certifi

    stub = STUB_PY.format(python=sys.executable)
    result = launch(tmp_path, [tmp_path / "absent.crt"], stub=stub, **ca_settings(tmp_path, ca))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"trusting the public roots of {certifi.where()} and caCertificate" in result.stdout
    for env, content in agents_saw(tmp_path):
        assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == str(tmp_path / "trust" / "ca-bundle.pem")
        assert content == Path(certifi.where()).read_text() + "\n" + ca.pem


def test_an_image_without_any_public_roots_trusts_the_ca_and_says_so(ca: PrivateCA, tmp_path: Path) -> None:
    result = launch(tmp_path, [tmp_path / "absent.crt"], **ca_settings(tmp_path, ca))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "found no public root certificates in the image" in result.stderr
    assert "the agents trust caCertificate only" in result.stderr
    assert [content for _, content in agents_saw(tmp_path)] == [ca.pem, ca.pem]


def test_without_a_ca_the_launcher_sets_no_trust_variable(tmp_path: Path) -> None:
    roots = write(tmp_path, "ca-certificates.crt", make_ca("Public Root CA").pem)
    result = launch(tmp_path, [roots])

    assert result.returncode == 0, result.stdout + result.stderr
    assert agents_saw(tmp_path) == [({"SSL_CERT_FILE": "<unset>", "REQUESTS_CA_BUNDLE": "<unset>"}, None)] * 2
    assert not (tmp_path / "trust").exists()


def test_a_ca_file_the_launcher_cannot_read_starts_no_agent(ca: PrivateCA, tmp_path: Path) -> None:
    settings = ca_settings(tmp_path, ca)
    result = launch(tmp_path, [], **{**settings, "WANDB_SWEEPS_CA_FILE": str(tmp_path / "missing.crt")})

    assert result.returncode == 1
    assert f"cannot read the CA certificate {tmp_path / 'missing.crt'} (caCertificate)" in result.stderr
    assert agents_saw(tmp_path) == []


# --- the real `wandb agent`, through the launcher, against the TLS server ---------------

PROBE = "import os, sys\nprint('RUN', os.environ.get('WANDB_RUN_ID'), sys.argv[1:])\n"


def real_agent(server: WandbServer, directory: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """LAUNCHER_SCRIPT with the real wandb 0.31 CLI (the test's own) for one run."""
    sweep = server.create_sweep(
        {"method": "grid", "program": "probe.py", "parameters": {"lr": {"values": [0.1, 0.2]}}},
        project="proj",
    )
    write(directory, "probe.py", PROBE)
    env = {
        "PATH": f"{BIN_DIR}:/usr/bin:/bin",
        "LC_ALL": "C.UTF-8",
        "HOME": str(directory / "home"),
        "WANDB_DIR": str(directory / "wandb-dir"),
        "WANDB_CONFIG_DIR": str(directory / "home" / ".config" / "wandb"),
        "WANDB_CACHE_DIR": str(directory / "wandb-cache"),
        "SWEEP_PATH": f"{sweep.entity}/{sweep.project}/{sweep.name}",
        "WANDB_API_KEY": DEFAULT_KEY,
        "WANDB_BASE_URL": server.base_url,
        "RUNS_PER_AGENT": "1",
        **settings,
    }
    for name in ("HOME", "WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR"):
        Path(env[name]).mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [*LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
        env=env,  # no SSL_CERT_FILE of this machine: only what the launcher sets
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )


def test_the_real_wandb_agent_registers_through_the_launchers_bundle(
    tls_server: WandbServer, ca: PrivateCA, tmp_path: Path
) -> None:
    result = real_agent(tls_server, tmp_path, **ca_settings(tmp_path, ca))

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "trusting the public roots of" in result.stdout
    [agent] = tls_server.agents
    assert [c["type"] for c in agent.commands] == ["run"]
    [run] = tls_server.runs
    assert f"RUN {run.name} ['--lr=0.1']" in result.stdout
    assert "agent 0 is done: it started its 1 run(s)" in result.stdout


def test_without_the_ca_the_real_wandb_agent_cannot_verify_the_server(
    tls_server: WandbServer, tmp_path: Path
) -> None:
    result = real_agent(tls_server, tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "x509: certificate signed by unknown authority" in result.stderr
    assert tls_server.agents == [] and tls_server.requests == []

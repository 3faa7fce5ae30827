"""`caCertificate`: a private CA that the deploy-time W&B calls and the agent pods trust.

A self-managed W&B often sits behind a certificate from a company CA that neither the
deploying machine's Python nor the image's trust stores know. One stack key, a PEM
file in the project folder, serves both sides, always IN ADDITION to the public roots
(W&B's object storage and pip keep using public CAs):

- deploy time (`wandb_api`): the default SSL context plus `load_verify_locations(
  cadata=...)`. `ssl.create_default_context(cafile=...)` alone would trust ONLY that
  file, and `SSL_CERT_FILE` replaces OpenSSL's default file (research B1);
- agent pods: a ConfigMap `<name>-wandb-ca-<digest>` holding the certificates,
  mounted read-only, and a small writable emptyDir where the launcher writes ONE
  bundle, the image's public roots followed by the CA, and points `SSL_CERT_FILE`
  (wandb-core is Go: crypto/x509 reads it; Python's ssl too) and `REQUESTS_CA_BUNDLE`
  (Python requests, which uses a bundle INSTEAD of certifi: artifact downloads) at it.
  wandb has no CA setting of its own (research B2, B3).

The file is checked before anything is registered: inside the project folder
(symlinks resolved), at most MAX_CA_BYTES, and nothing but PEM CERTIFICATE blocks
that OpenSSL parses (text between blocks, such as `openssl x509 -text` output, is
allowed and dropped). Messages never quote the file: a file that is not a
certificate may be a private key.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import file_in_project, read_project_file
from ..errors import ConfigError

CA_KEY = "caCertificate"


MAX_CA_BYTES = 64 * 1024
"""A CA certificate is 1-2 KB of PEM; a chain or a company bundle a few dozen. More is
not a CA file (and every agent pod mounts it)."""


_BEGIN = "-----BEGIN "


_DASHES = "-----"


_LABEL = re.compile(r"[A-Z0-9 ]{1,64}")
"""A PEM label (`CERTIFICATE`, `RSA PRIVATE KEY`); only ever matched in full against
the at most 65 characters before a `-----`."""


@dataclass(frozen=True)
class CaCertificate:
    """The certificates of `caCertificate`, as canonical PEM (comments and layout dropped)."""

    pem: str
    """The CERTIFICATE blocks, each re-encoded as OpenSSL writes it: the same
    certificates give the same text (and ConfigMap name) however the file is laid out."""
    count: int
    source: str = field(default="", compare=False)
    """How the user named the file (`'certs/ca.pem'`), for messages."""

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.pem.encode()).hexdigest()[:10]


def load_ca_file(project_root: Path, relative_path: str) -> CaCertificate:
    """The certificates of the PEM file `relative_path` (relative to `project_root`, or
    absolute), which must lie inside `project_root` once every symlink is resolved, as
    `sweepConfig` must: the deploying machine's other files are no CA, and a message
    about them could show what they hold. Raises ConfigError naming caCertificate."""
    named = repr(relative_path) if isinstance(relative_path, str) and len(relative_path) <= 300 else None
    path, where = file_in_project(project_root, relative_path, CA_KEY, "the CA certificate")
    text = read_project_file(
        path,
        where,
        max_bytes=MAX_CA_BYTES,
        point_at=f"point {CA_KEY} at the CA's PEM file",
        size_hint="a CA file holds a few certificates of 1-2 KB",
        encoding="utf-8-sig",
        not_text=(
            "is not a PEM text file (not UTF-8 text), so nothing of it is shown. "
            "A DER file converts with `openssl x509 -inform der -in ca.der -out ca.pem`."
        ),
    )
    problem, ca = parse_ca(text)
    if ca is None:
        raise ConfigError([f"{where} {problem}"])
    return CaCertificate(ca.pem, ca.count, source=named or "")


def parse_ca(text: str) -> tuple[str, CaCertificate | None]:
    """(why `text` is not a CA file, None) or ("", its certificates). Never raises, and
    the reason quotes nothing of `text`."""
    if not isinstance(text, str):
        return "must be the text of a PEM file.", None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_CA_BYTES:
        return f"is larger than {MAX_CA_BYTES} bytes; a CA file holds a few certificates of 1-2 KB.", None
    blocks = _pem_blocks(text)
    if blocks is None:
        return (
            "has a PEM block without its matching -----END ...----- line, so nothing of it is shown; "
            "give the CA's certificate(s) in PEM form."
        ), None
    if not blocks:
        return (
            "is not a PEM certificate file: it has no -----BEGIN CERTIFICATE----- block, so nothing of it "
            "is shown. A DER file converts with `openssl x509 -inform der -in ca.der -out ca.pem`."
        ), None
    others = sorted({label for label, _ in blocks if label != "CERTIFICATE"})
    if others:
        kind = "a private key" if any("PRIVATE" in label for label in others) else ", ".join(others)
        return (
            f"holds {kind}, not only CERTIFICATE blocks, so nothing of it is shown. Give the CA's "
            "certificate(s) only; a private key never belongs in the stack (keep it out of the project)."
        ), None
    certificates = []
    for index, (_, body) in enumerate(blocks, start=1):
        der = _der(body)
        if der is None or not _parses(der):
            return (
                f"CERTIFICATE block {index} of {len(blocks)} is not an X.509 certificate OpenSSL can read "
                "(damaged or cut short?), so nothing of it is shown."
            ), None
        certificates.append(ssl.DER_cert_to_PEM_cert(der))
    return "", CaCertificate("".join(certificates), len(certificates))


def ca_problem(text: Any) -> str | None:
    """Why `text` (the PEM a sweep resource received) is not a CA file; None if it is."""
    problem, _ = parse_ca(text)
    return f"{CA_KEY}: the CA certificate {problem}" if problem else None


def _pem_blocks(text: str) -> list[tuple[str, str]] | None:
    """The (label, body) of every `-----BEGIN <label>-----<body>-----END <label>-----`
    block in `text`, in order; None if some `-----BEGIN ` starts no block or lies inside
    one (a block without its END).

    A scan, linear in the text: each BEGIN looks for its END only up to the next BEGIN,
    so no character is searched twice. It answers as the regular expression
    `-----BEGIN ([A-Z0-9 ]{1,64})-----(.*?)-----END \\1-----` (DOTALL), compared with the
    count of `-----BEGIN `, did; that expression searched to the end of the text from
    every BEGIN without its END: about 1.5 s for 64 KiB of BEGIN lines.
    """
    begins = []
    found = text.find(_BEGIN)
    while found >= 0:
        begins.append(found)
        found = text.find(_BEGIN, found + len(_BEGIN))
    blocks = []
    for index, begin in enumerate(begins):
        start = begin + len(_BEGIN)
        label_end = text.find(_DASHES, start, start + 65 + len(_DASHES))
        if label_end < 0 or not _LABEL.fullmatch(text, start, label_end):
            return None
        label = text[start:label_end]
        body_start = label_end + len(_DASHES)
        next_begin = begins[index + 1] if index + 1 < len(begins) else len(text)
        body_end = text.find(f"-----END {label}-----", body_start, next_begin)
        if body_end < 0:
            return None
        blocks.append((label, text[body_start:body_end]))
    return blocks


def _der(body: str) -> bytes | None:
    try:
        return binascii.a2b_base64("".join(body.split()).encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def _parses(der: bytes) -> bool:
    """Whether OpenSSL reads `der` as one X.509 certificate (the store then holds one)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=der)
    except (ssl.SSLError, ValueError):
        return False
    return context.cert_store_stats()["x509"] == 1

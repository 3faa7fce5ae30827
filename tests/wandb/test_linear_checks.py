"""Every check of user text runs in linear time (issue 16, item 5).

The sweep file's "does it look like a sweep config" check was a regular expression
with `\\s*` on both sides of a `^` that matches at every line: 32 KiB of blank lines
ending in broken YAML took about 8 s. The CA file's block search (`-----BEGIN X-----
(.*?)-----END X-----`) scanned to the end of the text from every BEGIN without its
END: about 1.5 s on 64 KiB. Both are scans now; the regular expressions left (in
sweep_file.py, ca_file.py and server.py) are single character classes.

For each check, the worst inputs we could construct, at the largest size the check
accepts, must take < 0.5 s, and 4 times the input may cost at most about 4 times
the time (a ratio under 8; a quadratic check gives 16), measured as the fastest of
several runs so that the machine's noise does not decide. Property tests show the
scans answer exactly as the regular expressions did.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wandb_sweeps.config.ca_file import MAX_CA_BYTES, _pem_blocks, parse_ca
from wandb_sweeps.errors import ConfigError
from wandb_sweeps.wandb.server import SWEEP_ID, WANDB_NAME, url_without_credentials
from wandb_sweeps.wandb.sweep_file import _PLAIN_KEY, MAX_FILE_BYTES, _looks_like_sweep, load_sweep_file

BOUND = 0.5
RATIO = 8.0


def seconds(check: Callable[[str], object], text: str, repeat: int) -> float:
    """The fastest of 3 runs of `check(text)` done `repeat` times."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            check(text)
        best = min(best, time.perf_counter() - start)
    return best


def fill(unit: str, size: int, tail: str = "") -> str:
    """`unit` repeated up to `size` characters (all ASCII, so bytes), then `tail`."""
    return (unit * ((size - len(tail)) // len(unit) + 1))[: size - len(tail)] + tail


def assert_linear(check: Callable[[str], object], make: Callable[[int], str], largest: int) -> None:
    small, large = make(largest // 4), make(largest)
    assert len(large.encode()) <= largest
    once = seconds(check, large, 1)
    assert once < BOUND, f"{once:.3f} s for {len(large)} characters"
    repeat = 1
    while seconds(check, small, repeat) < 0.02 and repeat < 100_000:  # long enough to measure on a busy machine
        repeat *= 4
    ratios = []
    for _ in range(3):  # noise only adds time: a quadratic check stays near 16 in every try
        ratios.append(seconds(check, large, repeat) / seconds(check, small, repeat))
        if ratios[-1] < RATIO:
            return
    raise AssertionError(
        f"4 times the input took {min(ratios):.1f} times as long or more ({once:.4f} s at {len(large)})"
    )


# --- the sweep file ---------------------------------------------------------------------

SWEEP_INPUTS: dict[str, Callable[[int], str]] = {
    "blank lines, broken YAML at the end": lambda n: fill("\n", n, "]["),
    "spaces": lambda n: fill(" ", n, "]["),
    "blank lines with spaces": lambda n: fill(" \t \n", n, "]["),
    "carriage returns": lambda n: fill("\r", n, "]["),
    "unicode spaces": lambda n: fill("\u3000", n // 3),
    "braces": lambda n: fill("{", n),
    "braces and blank lines": lambda n: fill("{\n", n),
    "commas and spaces": lambda n: fill(", ", n),
    "the word, again and again": lambda n: fill("method", n),
    "the word, quoted, no colon": lambda n: fill("'method' ", n),
    "the word on every line, no colon": lambda n: fill("\n method \n", n),
    "the word between long white space": lambda n: fill("method" + " " * 500 + "\n" * 500, n),
    "quotes": lambda n: fill("\"'", n),
    "nearly the word": lambda n: fill("metho\n", n),
}


@pytest.mark.parametrize("make", list(SWEEP_INPUTS.values()), ids=list(SWEEP_INPUTS))
def test_judging_a_broken_sweep_file_is_linear(make: Callable[[int], str]) -> None:
    assert_linear(_looks_like_sweep, make, MAX_FILE_BYTES)


def test_a_32_kib_sweep_file_of_blank_lines_and_broken_yaml_is_judged_quickly(project_tmp_path: Path) -> None:
    """The reported case, end to end: about 8 s before."""
    path = project_tmp_path / "sweep.yaml"
    path.write_text(fill("\n", MAX_FILE_BYTES, "]["))
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="does not look like a W&B sweep config"):
        load_sweep_file(project_tmp_path.parent, str(path))
    assert time.perf_counter() - start < 2 * BOUND


@pytest.mark.parametrize(
    "pattern",
    [_PLAIN_KEY, SWEEP_ID, WANDB_NAME],
    ids=["sweep_file._PLAIN_KEY", "server.SWEEP_ID", "server.WANDB_NAME"],
)
@pytest.mark.parametrize("unit", ["a", "a-"])
def test_the_character_class_patterns_are_linear(pattern: re.Pattern[str], unit: str) -> None:
    assert_linear(pattern.fullmatch, lambda n: fill(unit, n, "!"), MAX_CA_BYTES)


@pytest.mark.parametrize("unit", ["a", "@", "a:b@", "/", "://"])
def test_hiding_credentials_in_a_url_is_linear(unit: str) -> None:
    assert_linear(url_without_credentials, lambda n: "https://" + fill(unit, n - 8), MAX_CA_BYTES)


# The regular expression the scan replaces, as it was: the reference for what it answers.
OLD_LOOKS_LIKE_SWEEP = re.compile(r"(^|[{,])\s*['\"]?method['\"]?\s*:", re.MULTILINE)


@given(
    st.lists(
        st.sampled_from(
            ["method", "metho", "d", ":", "'", '"', " ", "\n", "\r", "\t", "\u3000", "{", ",", "x", "#"]
        ),
        max_size=16,
    ).map("".join)
)
def test_the_scan_answers_as_the_regular_expression_did(text: str) -> None:
    assert _looks_like_sweep(text) == (OLD_LOOKS_LIKE_SWEEP.search(text) is not None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("method: grid\n", True),
        ("  'method' : grid", True),
        ('{"method": "grid"}', True),
        ("{a: 1,\n  method\n  : grid", True),
        ("parameters: {}\nmethod:", True),
        ("x method: grid", False),
        ("methods: grid", False),
        ("method grid", False),
        ("# method: grid", False),
        ("", False),
    ],
)
def test_what_looks_like_a_sweep_config(text: str, expected: bool) -> None:
    assert _looks_like_sweep(text) is expected


# --- the CA file ------------------------------------------------------------------------

CA_INPUTS: dict[str, Callable[[int], str]] = {
    "BEGIN lines without END": lambda n: fill("-----BEGIN A-----\n", n),
    "BEGIN lines with the longest label": lambda n: fill(f"-----BEGIN {'A' * 64}-----\n", n),
    "BEGIN lines with a label too long": lambda n: fill(f"-----BEGIN {'A' * 65}-----\n", n),
    "BEGIN lines without the closing dashes": lambda n: fill("-----BEGIN CERTIFICATE\n", n),
    "one BEGIN, END lines of another label": lambda n: (
        "-----BEGIN A-----\n" + fill("-----END B-----\n", n - 18)
    ),
    "one BEGIN, END lines of a longer label": lambda n: (
        "-----BEGIN A-----\n" + fill("-----END AB-----\n", n - 18)
    ),
    "BEGIN lines, END of another label": lambda n: fill("-----BEGIN A-----\n-----END B-----\n", n),
    "blocks, each with an END of another label first": lambda n: fill(
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATX-----\nAAAA\n-----END CERTIFICATE-----\n", n
    ),
    "dashes": lambda n: fill("-", n),
    "dashes and BEGIN": lambda n: fill("----------BEGIN ", n),
    "nearly BEGIN": lambda n: fill("-----BEGI", n),
    "base64 without markers": lambda n: fill("QUFBQUFB\n", n),
}


@pytest.mark.parametrize("make", list(CA_INPUTS.values()), ids=list(CA_INPUTS))
def test_checking_a_ca_file_is_linear(make: Callable[[int], str]) -> None:
    assert_linear(parse_ca, make, MAX_CA_BYTES)


# The regular expressions the scan replaces, as they were.
OLD_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,64})-----(.*?)-----END \1-----", re.DOTALL)
OLD_BEGIN = re.compile(r"-----BEGIN ")


def old_blocks(text: str) -> list[tuple[str, str]] | None:
    blocks = OLD_BLOCK.findall(text)
    return blocks if len(blocks) == len(OLD_BEGIN.findall(text)) else None


@given(
    st.lists(
        st.sampled_from(
            [
                "-----BEGIN ",
                "-----END ",
                "-----",
                "-",
                "A",
                "B",
                "AB",
                " ",
                "\n",
                "x",
                "-----BEGIN A-----",
                "-----END A-----",
                "-----BEGIN B-----",
                "-----END B-----",
                "-----END AB-----",
                "BEGIN",
                "END",
            ]
        ),
        max_size=16,
    ).map("".join)
)
def test_the_block_scan_answers_as_the_regular_expressions_did(text: str) -> None:
    assert _pem_blocks(text) == old_blocks(text)


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN CERTIFICATE-----\nQUFB\n-----END CERTIFICATE-----\n",
        "text\n-----BEGIN A-----x-----END A----------BEGIN B-----y-----END B-----tail",
        "-----BEGIN A-----\n-----BEGIN A-----\n-----END A-----",
        "-----BEGIN A-----\n-----END B-----",
        f"-----BEGIN {'A' * 64}-----x-----END {'A' * 64}-----",
        f"-----BEGIN {'A' * 65}-----x-----END {'A' * 65}-----",
        "-----BEGIN a-----x-----END a-----",
        "----------BEGIN A-----x-----END A-----",
        "-----END A----------BEGIN A-----x-----END A-----",
        "no block",
    ],
)
def test_the_block_scan_on_examples(text: str) -> None:
    assert _pem_blocks(text) == old_blocks(text)

"""Every relative link and `#anchor` in the README, docs/, the examples' READMEs and the
changelog leads somewhere: to a file or folder that exists and, with an anchor, to a
heading of that Markdown file.

Anchors follow GitHub's rule for headings (its `anchor` filter, as in github-slugger):
the heading's text, lowercased, every character that is not a letter, mark, number,
connector (`_`), space or hyphen dropped, each space made a hyphen; a repeated heading
gets `-1`, `-2`, ... Fenced code blocks and inline code are not Markdown, so their
brackets are not links.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    {
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "examples").glob("**/README.md"),
    }
)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def markdown_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (``` or ~~~)."""
    lines, fence = [], None
    for line in text.splitlines():
        marker = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if fence is None and marker:
            fence = marker.group(1)[0] * len(marker.group(1))
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None:
            lines.append(line)
    return lines


def without_code_spans(line: str) -> str:
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", line)


def github_anchor(heading: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    kept = (
        c for c in text if c in " -" or unicodedata.category(c)[0] in "LMN" or unicodedata.category(c) == "Pc"
    )
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors GitHub makes for `path`: one per heading, numbered when repeated."""
    seen: Counter[str] = Counter()
    found = set()
    for line in markdown_lines(path.read_text(encoding="utf-8")):
        found.update(HTML_ANCHOR.findall(line))
        heading = HEADING.match(line)
        if heading:
            slug = github_anchor(heading.group(2))
            found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
            seen[slug] += 1
    return found


def links(path: Path) -> list[str]:
    """The targets of the inline links and link definitions in `path`, outside code."""
    text = "\n".join(without_code_spans(line) for line in markdown_lines(path.read_text(encoding="utf-8")))
    return INLINE_LINK.findall(text) + REFERENCE_DEFINITION.findall(text)


def problem(page: Path, target: str) -> str | None:
    """Why `target`, linked from `page`, leads nowhere; None when it resolves (or is not
    relative: a URL with a scheme, or mail)."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
        return None
    path_part, _, anchor = target.partition("#")
    destination = (page.parent / unquote(path_part)).resolve() if path_part else page
    if not destination.exists():
        return f"{target}: no file {destination.relative_to(ROOT) if destination.is_relative_to(ROOT) else destination}"
    if not destination.is_relative_to(ROOT):
        return f"{target}: leaves the repository"
    if anchor:
        if destination.suffix != ".md":
            return f"{target}: an anchor into a file that is not Markdown"
        if unquote(anchor) not in anchors(destination):
            return f"{target}: no heading with the anchor #{anchor} in {destination.relative_to(ROOT)}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    problems = [found for target in links(page) if (found := problem(page, target))]
    assert not problems, f"{page.relative_to(ROOT)}:\n  " + "\n  ".join(problems)


def test_the_pages_exist_and_link_to_each_other() -> None:
    """The check sees the pages and their links: not a pass for want of anything to check."""
    names = {str(p.relative_to(ROOT)) for p in PAGES}
    assert {"README.md", "CHANGELOG.md", "docs/configuration.md", "examples/fine-tune/README.md"} <= names
    relative = [t for p in PAGES for t in links(p) if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", t)]
    assert len(relative) >= 50, relative
    assert sum("#" in t for t in relative) >= 20, relative
    readme = links(ROOT / "README.md")
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme, f"the README links to no docs/{page.name}"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Self-managed W&B with a private CA", "self-managed-wb-with-a-private-ca"),
        ("Sizing the pods: requests, limits and /dev/shm", "sizing-the-pods-requests-limits-and-devshm"),
        (
            "Lifecycle: what up, config changes and destroy do",
            "lifecycle-what-up-config-changes-and-destroy-do",
        ),
        ("Many clusters, one sweep", "many-clusters-one-sweep"),
        ("`caCertificate` and `env_vars`", "cacertificate-and-env_vars"),
        ("[0.3.0] - 2026-12-04", "030---2026-12-04"),
        ("Pods → agents", "pods--agents"),
    ],
)
def test_anchors_follow_githubs_rule(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor


def test_a_broken_link_or_anchor_is_reported(tmp_path: Path) -> None:
    """The control: what the check exists to catch does fail it."""
    page = ROOT / "docs" / "configuration.md"
    assert problem(page, "lifecycle.md#key-rotation") is None
    assert problem(page, "#secrets-in-env") is None
    assert problem(page, "../README.md") is None
    assert "no file" in (problem(page, "lifecycle-and-day-2.md") or "")
    assert "no heading" in (problem(page, "lifecycle.md#key-rotations") or "")
    assert "no heading" in (problem(page, "#secrets") or "")
    assert problem(page, "https://example.com/nowhere#x") is None
    written = tmp_path / "page.md"
    written.write_text("# Title\n\n## Title\n\n[a](#title-1) `[b](#nowhere)`\n\n```\n[c](missing.md)\n```\n")
    assert links(written) == ["#title-1"]
    assert anchors(written) == {"title", "title-1"}

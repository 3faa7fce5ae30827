"""The text of the README and the docs/ pages, for the tests that check what they say.

The README is short and links into docs/, one topic per page; a test that checks a
statement, a table row or a marked block reads the page that holds it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def page(name: str) -> str:
    """`README.md` (the project root's), or `docs/<name>` such as `configuration.md`."""
    path = ROOT / name if name == "README.md" else DOCS / name
    return path.read_text(encoding="utf-8")


def all_pages() -> dict[str, str]:
    """The README and every docs/ page, by name: what a user may read."""
    return {"README.md": page("README.md")} | {p.name: page(p.name) for p in sorted(DOCS.glob("*.md"))}


def marked_block(text: str, marker: str, language: str = "yaml") -> str | None:
    """The fenced `language` block right after `<!-- marker -->`, or None."""
    found = re.search(rf"<!-- {re.escape(marker)} -->\n```{language}\n(.+?)\n```", text, re.DOTALL)
    return found.group(1) if found else None

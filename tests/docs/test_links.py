"""Every relative link and image in README.md, CHANGELOG.md and docs/**/*.md leads to a file
that exists, and every #anchor to a heading of its page. An anchor must be the heading's slug
both on GitHub and in mkdocs (they differ for some punctuation), so it works in both places;
a docs page must not link out of docs/, which the mkdocs site does not hold (write such a
path in backticks instead). External links are not fetched."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from tests.helpers import ROOT

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]+)\"", re.I)
HTML_ID = re.compile(r"<a\b[^>]*?\b(?:id|name)=\"([^\"]+)\"", re.I)
ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def pages() -> list[Path]:
    """The markdown files the check covers."""
    found = [ROOT / "README.md", ROOT / "CHANGELOG.md"]
    found += sorted((ROOT / "docs").rglob("*.md"))
    return [path for path in found if path.exists()]


def prose_lines(text: str, keep_code: bool = False) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, code spans blanked unless keep_code."""
    lines, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * len(match.group(1))
            continue
        if fence is not None:
            if line.strip().startswith(fence) and set(line.strip()) <= {fence[0]}:
                fence = None
            continue
        if not keep_code:
            line = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
        lines.append((number, line))
    return lines


def heading_text(raw: str) -> str:
    """A heading's visible text: links and images to their text, markup and HTML dropped."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", raw)
    text = re.sub(r"<[^>]+>", "", text)
    return text.replace("`", "").replace("*", "")


def github_slug(text: str) -> str:
    """GitHub's anchor: lowercase, punctuation but '-' and '_' dropped, each space a '-'."""
    text = heading_text(text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def mkdocs_slug(text: str) -> str:
    """Python-Markdown's toc slugify, as mkdocs uses it."""
    text = unicodedata.normalize("NFKD", heading_text(text)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    """The anchors a page has under both slug rules (a repeated heading gets -1 on GitHub
    and _1 in mkdocs: no anchor that works in both)."""
    text = path.read_text(encoding="utf-8")
    github: dict[str, int] = {}
    mkdocs: dict[str, int] = {}
    found_github, found_mkdocs = set(), set()
    lines = prose_lines(text)
    headings = [match.group(2) for _, line in prose_lines(text, keep_code=True)
                if (match := ATX.match(line))]
    for heading in headings:
        for slug, seen, found in ((github_slug(heading), github, found_github),
                                  (mkdocs_slug(heading), mkdocs, found_mkdocs)):
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}{'-' if found is found_github else '_'}"
                      f"{count}")
    ids = {name for _, line in lines for name in HTML_ID.findall(line)}
    return (found_github & found_mkdocs) | ids


def link_targets(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link and image of a page."""
    targets = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for pattern in (INLINE, REFERENCE, HTML):
            for target in pattern.findall(line):
                targets.append((number, target.strip("<>")))
    return targets


def problems(files: list[Path], root: Path = ROOT) -> list[str]:
    """One line per dead link: 'FILE:LINE: TARGET: why'."""
    found = []
    docs = root / "docs"
    for path in files:
        where = path.relative_to(root) if path.is_relative_to(root) else path
        for number, target in link_targets(path):
            if SCHEME.match(target) or target.startswith("//"):
                continue  # external: not fetched
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            why = None
            if not linked.exists():
                why = "no such file"
            elif path.is_relative_to(docs) and not linked.is_relative_to(docs):
                why = "leads out of docs/, which the mkdocs site does not hold"
            elif anchor:
                if linked.suffix != ".md":
                    why = "an anchor into a file that is not markdown"
                elif anchor not in anchors(linked):
                    why = f"no heading with the anchor #{anchor}"
            if why:
                found.append(f"{where}:{number}: {target}: {why}")
    return found


def test_no_dead_links():
    checked = pages()
    assert ROOT / "README.md" in checked and len(checked) > 5
    assert problems(checked) == []


def test_dead_links_are_reported(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "other.md").write_text("# Other page\n\n## The `gather` verb: shards\n")
    (tmp_path / "outside.md").write_text("# Outside\n")
    (docs / "page.md").write_text(
        "# Page\n\n## Twice\n\n## Twice\n\n"
        "[ok](other.md) [ok](other.md#the-gather-verb-shards) [ok](#twice) [dead](#twice-1)\n"
        "![ok](other.md) [external](https://example.invalid/x.md) `[code](gone.md)`\n"
        "```\n[in a fence](gone.md)\n```\n"
        "[dead](gone.md) ![dead image](pic.png) [bad anchor](other.md#nothing)\n"
        "[own anchor](#nothing-here) [outside](../outside.md)\n"
        "[ref]: missing.md\n")
    assert problems([docs / "page.md"], root=tmp_path) == [
        "docs/page.md:7: #twice-1: no heading with the anchor #twice-1",
        "docs/page.md:12: gone.md: no such file",
        "docs/page.md:12: pic.png: no such file",
        "docs/page.md:12: other.md#nothing: no heading with the anchor #nothing",
        "docs/page.md:13: #nothing-here: no heading with the anchor #nothing-here",
        "docs/page.md:13: ../outside.md: leads out of docs/, which the mkdocs site does not "
        "hold",
        "docs/page.md:14: missing.md: no such file",
    ]


def test_slugs_follow_github_and_mkdocs():
    assert github_slug("3.6 Packing, training, evaluation") == "36-packing-training-evaluation"
    assert mkdocs_slug("3.6 Packing, training, evaluation") == "36-packing-training-evaluation"
    assert github_slug("The `pack` format (`index.json`)") == "the-pack-format-indexjson"
    assert github_slug("a - b") == "a---b" and mkdocs_slug("a - b") == "a-b"

"""The user docs stay readable and whole: README.md is short, every relative link of the
README, the docs/ pages and bench/README.md reaches a file (and a heading, for an anchor)
that exists, and no user doc speaks of internal issue or session numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from revenue.settings import markdown_table

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_MAX_LINES = 250
OPERATIONS = ROOT / "docs" / "operations.md"
SETTINGS_BEGIN, SETTINGS_END = "<!-- settings:begin -->", "<!-- settings:end -->"

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
REPO_PATH = re.compile(r"[A-Za-z_][\w.-]*(?:/[\w.-]+)*(?:\.py|/)")
RUN_MODULE = re.compile(r"python -m ([a-z_][\w]*(?:\.[a-z_]\w*)*)")
# Folders the docs name that live in a lake, a bucket or the revenue home, not in the repo.
NOT_REPO_FOLDERS = {"_errors/", "_prefect_results/", "_state/"}
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INTERNAL_REFERENCE = re.compile(r"\bissues?\s+#?\d+|(?<![\w&/#])#\d+\b|\bstop\s+\d+|\bsession\s+\d+", re.IGNORECASE)


def user_docs() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]


def prose_lines(path: Path) -> list[str]:
    """The lines of ``path`` outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation dropped, spaces as dashes."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in prose_lines(path):
        match = HEADING.match(line)
        if match:
            found.add(anchor(match.group(2)))
    return found


def relative_links(path: Path) -> list[str]:
    links = []
    for line in prose_lines(path):
        line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
        links += [target for target in LINK.findall(line) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]
    return links


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines < README_MAX_LINES, f"README.md has {lines} lines; keep it under {README_MAX_LINES}"


@pytest.mark.parametrize("doc", user_docs(), ids=lambda doc: str(doc.relative_to(ROOT)))
def test_relative_links_reach_files_and_headings(doc: Path) -> None:
    assert doc.exists(), f"{doc.relative_to(ROOT)} is missing"
    broken = []
    for target in relative_links(doc):
        file_part, _, fragment = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target}: no heading #{fragment} in {linked.relative_to(ROOT)}")
    assert not broken, f"{doc.relative_to(ROOT)}: broken links: {broken}"


@pytest.mark.parametrize("doc", user_docs(), ids=lambda doc: str(doc.relative_to(ROOT)))
def test_no_internal_issue_or_session_numbers(doc: Path) -> None:
    found = [
        f"line {number}: {match.group(0)!r}"
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1)
        for match in INTERNAL_REFERENCE.finditer(line)
    ]
    assert not found, f"{doc.relative_to(ROOT)} refers to internal numbers: {found}"


def test_internal_reference_pattern_catches_what_it_should() -> None:
    for text in ("see issue 14", "(Issue #23)", "fixed in #27", "stop 3", "session 12"):
        assert INTERNAL_REFERENCE.search(text), text
    for text in ("a session's time zone", "`#` materialized", "[open](#limits)", "&#39;", "order 17 now counts"):
        assert not INTERNAL_REFERENCE.search(text), text


def test_anchor_matches_github() -> None:
    assert anchor("Limits on a landed file") == "limits-on-a-landed-file"
    assert anchor("The dev server: `revenue dev`") == "the-dev-server-revenue-dev"
    assert anchor("A partition's input: the source, overlaid") == "a-partitions-input-the-source-overlaid"


def test_every_doc_starts_workers_with_the_limit_the_e2e_stack_uses() -> None:
    """The end-to-end stack reads the worker command's ``--limit`` from README.md; the docs
    pages that repeat the command must not give another one."""
    pattern = re.compile(r"prefect worker start --pool revenue-process --limit (\d+)")
    limits = {
        doc.relative_to(ROOT).as_posix(): set(pattern.findall(doc.read_text(encoding="utf-8"))) for doc in user_docs()
    }
    assert limits["README.md"], "README.md no longer says how to start a worker with a limit"
    assert len(set().union(*limits.values())) == 1, f"the docs give several worker limits: {limits}"


def test_the_settings_table_is_the_generated_one() -> None:
    """docs/operations.md shows ``revenue settings``' table, unedited, between its markers."""
    text = OPERATIONS.read_text(encoding="utf-8")
    assert SETTINGS_BEGIN in text and SETTINGS_END in text, "docs/operations.md lost its settings markers"
    shown = text.split(SETTINGS_BEGIN, 1)[1].split(SETTINGS_END, 1)[0].strip()
    assert shown == markdown_table(), (
        "docs/operations.md's settings table differs from revenue/settings.py: paste `revenue settings` between "
        f"{SETTINGS_BEGIN} and {SETTINGS_END}"
    )


def cited_paths(text: str) -> set[str]:
    """Repo paths a doc cites in code spans: ``path/like/this.py`` or ``package/``."""
    return {span for span in CODE_SPAN.findall(text) if REPO_PATH.fullmatch(span) and "/" in span}


def missing_paths(text: str) -> list[str]:
    """The cited paths and ``python -m`` modules of this repo that do not exist in it. A bare
    ``name.py`` (a module named in its package's row) must exist somewhere in the repo."""
    missing = [path for path in sorted(cited_paths(text) - NOT_REPO_FOLDERS) if not (ROOT / path).exists()]
    bare = {span for span in CODE_SPAN.findall(text) if re.fullmatch(r"\w+\.py", span)}
    missing += [name for name in sorted(bare) if not any(repo_files(name))]
    for module in sorted(set(RUN_MODULE.findall(text))):
        path = ROOT / module.replace(".", "/")
        ours = (ROOT / module.split(".")[0]).is_dir()
        if ours and not (path.with_suffix(".py").exists() or (path / "__init__.py").exists()):
            missing.append(f"python -m {module}")
    return missing


def repo_files(name: str) -> list[Path]:
    return [
        path
        for top in ("revenue", "flows", "blocks", "cli", "testkit", "bench", "tests", "scripts")
        for path in (ROOT / top).rglob(name)
    ]


def outside_generated_tables(text: str) -> str:
    """The text without the tables generated from code (the catalog's lake folders are
    paths in the lake, not in the repo)."""
    return re.sub(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", "", text, flags=re.S)


@pytest.mark.parametrize("doc", user_docs(), ids=lambda doc: str(doc.relative_to(ROOT)))
def test_cited_paths_and_modules_exist(doc: Path) -> None:
    missing = missing_paths(outside_generated_tables(doc.read_text(encoding="utf-8")))
    assert not missing, f"{doc.relative_to(ROOT)} cites paths or modules the repo does not have: {missing}"


def test_missing_paths_finds_what_it_should() -> None:
    text = "`revenue/io/nowhere.py`, `nowhere/`, `nowhere.py`, `python -m revenue.nowhere`, `python -m prefect.engine`"
    assert missing_paths(text) == ["nowhere/", "revenue/io/nowhere.py", "nowhere.py", "python -m revenue.nowhere"]
    assert missing_paths("`revenue/settings.py`, `flows/`, `settings.py`, `python -m revenue.settings`") == []

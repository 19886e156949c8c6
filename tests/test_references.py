"""Every document, section and plan chapter the repository cites exists in the repository.

The code, tests and docs once cited files that lived outside it (the original specification,
the plan, the sops vectors); a clone could not follow them. This test reads every text file of
tools/, tests/, docs/, bench/, hooks/, schemas/, .ci/ and the root's README.md, Makefile,
hatch_build.py, pyproject.toml, .pre-commit-hooks.yaml and vault.yaml, and resolves:

(a) every mention of a Markdown file (`docs/<name>.md`, a bare `<name>.md`, any other path):
    the file exists in the repository (a bare name in docs/ or at the root);
(b) every `<name>.md §N` (also `§N.M`, `§N-M`, and lists `§A, §B`): that document has a
    heading numbered N (the convention of docs/decisions.md: `## N. Title`, `### N.M Title`);
(c) every `plan §N`: a heading of docs/plan.md;
(d) no path leaving the repository to the old shared folder (its spec, vectors or seed);
(e) every `§` followed by a number belongs to a citation of (b) or (c): a section number must
    say whose section it is;
(f) every relative Markdown link `](target)` and its `#anchor`, in every Markdown file.

A failure lists every unresolved reference as `path:line: reference (why)`.
"""
from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from conftest import REPO

ROOTS = ("tools", "tests", "docs", "bench", "hooks", "schemas", ".ci", "README.md", "Makefile",
         "hatch_build.py", "pyproject.toml", ".pre-commit-hooks.yaml", "vault.yaml")
SUFFIXES = {".py", ".md", ".json", ".yaml", ".yml", ".c", ".h", ".sh", ".toml", ".txt", ".csv",
            ".html", ".cfg", ".ini"}
SKIP_DIRS = {"__pycache__", ".hypothesis", ".pytest_cache", ".ruff_cache", "build", "dist", ".work"}

_SECTION = r"§\d+[a-z]?(?:\.\d+)*(?:[-–]\d+[a-z]?(?:\.\d+)*)?"
_SECTIONS = rf"{_SECTION}(?:(?:,\s*|\s+and\s+){_SECTION})*"
_PATH_MD = r"(?<![\w/.-])(?:[\w.-]+/)*[\w-]+\.md(?![\w-])"
MD_MENTION = re.compile(_PATH_MD)
# `<doc>.md §N` with the name possibly in backquotes or a link's text; `plan §N`, `plan's §N`
CITATION = re.compile(rf"(?P<doc>{_PATH_MD}|\bplan(?:'s)?)`?\s*(?P<sections>{_SECTIONS})")
ANY_SECTION = re.compile(r"§\d")
ONE_SECTION = re.compile(r"§?(\d+[a-z]?(?:\.\d+)*)")
OUTSIDE = re.compile(r"\.\./shared\b|\bshared/(?:spec|vectors|seed)\b")
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
NUMBERED = re.compile(r"§?(\d+[a-z]?(?:\.\d+)*)\.?(?:\s|$)")


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for root in ROOTS:
        path = REPO / root
        if path.is_file():
            files.append(path)
            continue
        found = []
        for folder, dirs, names in os.walk(path):  # pruned: bench/.work holds the benchmark vaults
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            found += [Path(folder) / name for name in names]
        for candidate in sorted(found):
            if not candidate.is_file():
                continue
            # extensionless files under hooks/ and .ci/ are scripts
            if candidate.suffix in SUFFIXES or (candidate.suffix == "" and root in ("hooks", ".ci")):
                files.append(candidate)
    return files


def text_lines(path: Path) -> list[str]:
    try:
        return path.read_text("utf-8").splitlines()
    except UnicodeDecodeError:
        return []


def inside_repo(path: Path) -> bool:
    return path.resolve().is_relative_to(REPO.resolve())


def resolve_md(mention: str, source: Path) -> Path | None:
    """The file a Markdown mention names: a path from the root or from the mentioning file's
    folder; a bare name in docs/ or at the root."""
    if "/" in mention:
        candidates = [REPO / mention, source.parent / mention]
    else:
        candidates = [REPO / "docs" / mention, REPO / mention, source.parent / mention]
    return next((c for c in candidates if c.is_file() and inside_repo(c)), None)


@cache
def headings(doc: Path) -> tuple[set[str], set[str]]:
    """(section numbers, anchors) of a Markdown file's headings."""
    numbers: set[str] = set()
    anchors: set[str] = set()
    fenced = False
    for line in text_lines(doc):
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match is None:
            continue
        title = match.group(2)
        number = NUMBERED.match(title)
        if number and len(match.group(1)) >= 2:  # `## N.` and deeper; the title is `#`
            numbers.add(number.group(1))
        anchors.add(slug(title))
    return numbers, anchors


def slug(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def section_numbers(sections: str) -> list[str]:
    """For `plan §7.1-7.2, §5`: ['7.1', '7.2', '5']; both ends of a range must exist."""
    numbers = []
    for item in re.findall(_SECTION, sections):
        for end in re.split(r"[-–]", item):
            numbers.append(ONE_SECTION.fullmatch(end).group(1))
    return numbers


def is_file_name_literal(line: str, match: re.Match, path: Path) -> bool:
    """In code, a string literal that is exactly a file name (`tmp_path / "notes.md"`) names a
    file the code makes, not a document it cites."""
    if path.suffix == ".md":
        return False
    before, after = line[match.start() - 1:match.start()], line[match.end():match.end() + 1]
    return before in ("'", '"') and after == before


def problems_in(path: Path, lines: list[str] | None = None) -> list[str]:
    """The unresolved references of one file (of `lines` as if they were that file)."""
    rel = path.relative_to(REPO).as_posix()
    found: list[str] = []
    is_markdown = path.suffix == ".md"
    for number, line in enumerate(text_lines(path) if lines is None else lines, 1):
        where = f"{rel}:{number}"
        for match in OUTSIDE.finditer(line):
            found.append(f"{where}: {match.group(0)} (outside the repository)")
        for match in MD_MENTION.finditer(line):
            if is_file_name_literal(line, match, path):
                continue
            if resolve_md(match.group(0), path) is None:
                found.append(f"{where}: {match.group(0)} (no such file in the repository)")
        covered: list[tuple[int, int]] = []
        for match in CITATION.finditer(line):
            covered.append(match.span("sections"))
            doc_name = match.group("doc")
            if doc_name.startswith("plan"):
                doc = resolve_md("docs/plan.md", path)
                if doc is None:
                    found.append(f"{where}: {match.group(0)} (docs/plan.md is missing)")
            else:
                doc = resolve_md(doc_name, path)  # None: reported above as a missing file
            if doc is None:
                continue
            numbers, _ = headings(doc)
            for section in section_numbers(match.group("sections")):
                if section not in numbers:
                    name = doc.relative_to(REPO).as_posix()
                    found.append(f"{where}: {doc_name} §{section} (no heading {section} in {name})")
        for match in ANY_SECTION.finditer(line):
            if not any(start <= match.start() < end for start, end in covered):
                found.append(f"{where}: {line[match.start():match.start() + 8]!r} "
                             "(a section number without its document: write `plan §N` or `<doc>.md §N`)")
        if not is_markdown:
            continue
        for match in LINK.finditer(line):
            target = match.group(1)
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto:
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part) if file_part else path
            if not linked.exists() or not inside_repo(linked):
                found.append(f"{where}: ]({target}) (link to a missing file)")
            elif anchor and linked.suffix == ".md" and anchor not in headings(linked)[1]:
                found.append(f"{where}: ]({target}) (no heading with anchor #{anchor})")
    return found


def test_every_reference_resolves():
    files = scanned_files()
    assert REPO / "docs" / "plan.md" in files and REPO / "tools" / "dangan" / "formats" / "sops.py" in files
    problems = [problem for path in files for problem in problems_in(path)]
    assert not problems, f"{len(problems)} unresolved references:\n" + "\n".join(problems)


def test_plan_has_every_chapter():
    """docs/plan.md follows the plan's own table of contents: chapters 1 to 8 and their
    sub-sections (1.1-1.2, then three in each chapter from 2 on)."""
    numbers, _ = headings(REPO / "docs" / "plan.md")
    chapters = {str(n) for n in range(1, 9)}
    sections = {f"{n}.{m}" for n in range(1, 9) for m in range(1, 4)} - {"1.3"}
    assert chapters | sections <= numbers, sorted(chapters | sections - numbers)


def test_the_checker_catches_what_it_must():
    """The scanner itself: each kind of bad reference is reported, good ones are not. (The
    probe's text is built from pieces so that this file itself holds no bad reference.)"""
    S, N, W = "\u00a7", ".md", "workflows"
    probe = [
        f"see {W}{N} {S}2 and docs/format.md {S}99",  # a missing file; a missing section
        f"the plan's {S}9.9 says",  # no such plan chapter
        f"as {S}6.3 says",  # whose section?
        "vectors in .." + "/shared" + "/vectors/sops",  # outside the repository
        f"[ok](format{N}#2-archive-codes-檔號-and-paths) [gone](nowhere{N}) [bad](format{N}#nope)",
        f"fine: docs/format{N} {S}7a, format{N} {S}4.1-4.3, plan {S}5.1, {S}7.1-7.2, README{N}",
    ]
    found = problems_in(REPO / "docs" / "probe.md", probe)
    text = "\n".join(found)
    for expected in (f"{W}{N} (no such file", f"docs/format{N} {S}99", f"plan's {S}9.9",
                     f"'{S}6.3 say'", ".." + "/shared (outside", f"](nowhere{N})",
                     f"](format{N}#nope)"):
        assert expected in text, (expected, text)
    assert not [p for p in found if ":6:" in p or "#2-archive-codes" in p], text
    assert len(found) == 8, text  # the missing file twice: as a mention and as a link


def test_every_rule_is_documented():
    """docs/ci.md's table names every rule id the checks can report, and no other."""
    from dangan.rules.check import RULES

    table = set(re.findall(r"^\| (DG\d{3}) \|", (REPO / "docs" / "ci.md").read_text("utf-8"), re.M))
    assert table == set(RULES), sorted(table ^ set(RULES))

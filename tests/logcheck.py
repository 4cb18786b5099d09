"""The check that no citizen's name or ID number reaches the logs: run on the log file of a whole
test run (`make test` writes every record, DEBUG included, to `build/test-run.log`).

    python -m tests.logcheck build/test-run*.log [--corpus ../shared/corpus-dev]

(one log per pytest-xdist worker: `tests/conftest.py` gives each its own file)

It looks, accent-folded and case-blind (`Nguyen thi HUONG` is `Nguyễn Thị Hương`), for:
- the names and ID numbers the tests use: `ho_ten` and `nguoi_ky` values and `*NAME`
  constants that look Vietnamese, and every 12-digit string, read from the sources of tests/,
  harness/ and bench/;
- the names and ID numbers of the development corpus's ground truth, when it is there;
- any name the synthetic generators can make (`server.seed`, `edge.sample_document`): a family
  name, one or two middle names and a given name from their lists, or an Êđê "Y/H' given
  family";
- any 12-digit number standing alone (a CCCD, whoever made it); the last twelve hex digits of
  a UUID are not one, nor is a result id's twelve-character prefix, which the code always
  writes with "…" after it (a hex prefix is all digits about once in 300).

The tests' own HTTP client (httpx, against `http://testserver`, or `https://testserver` for the
pages' Secure cookie) logs the URLs it asks for, CCCDs and names in paths and queries included:
those lines are the client's, not the application's, and are skipped.
The server does not log URLs (uvicorn's access log is off).

Exit 0 when nothing is found; 1 with each offending line (a few) and what it carries.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edge import sample_document
from server import seed
from server.search.fold import fold

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus-dev"
SOURCES = ("tests", "harness", "bench")
"""Where the names and ID numbers the tests use are written."""
NAME_KEYS = frozenset({"ho_ten", "nguoi_ky"})
"""Result fields that hold a person's name."""

_WORD = re.compile(r"[^\W_]+")
_LONE_ID = re.compile(r"(?<![\w-])\d{12}(?![\w…-])")
_ANY_ID = re.compile(r"\d{12}")
_TEST_CLIENT = re.compile(r"\bhttpx:.*HTTP Request: \w+ https?://testserver/")
_SHOWN = 20


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(fold(text)))


@dataclass
class Citizens:
    """What a log must not carry: whole names (folded words), the generators' name parts, and
    ID numbers."""

    names: set[tuple[str, ...]] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    families: set[tuple[str, ...]] = field(default_factory=set)
    middles: set[str] = field(default_factory=set)
    givens: set[str] = field(default_factory=set)
    ede_families: set[tuple[str, ...]] = field(default_factory=set)
    ede_givens: set[str] = field(default_factory=set)
    _known_ids: re.Pattern[str] | None = None
    """`ids` as one pattern, made on first use (glued to letters counts, inside a UUID not)."""

    def add_name(self, name: str) -> None:
        """Add a whole name, if it has two words or more (a lone word is no one's name) and
        looks Vietnamese: a letter with a mark, or a word of the generators' name parts (a
        test's "Someone Else" would find the device id "someone-else")."""
        words = _words(name)
        parts = self.middles | self.givens | {w for f in self.families for w in f}
        if len(words) >= 2 and (not name.isascii() or any(w in parts for w in words)):
            self.names.add(words)

    def add_ids(self, text: str) -> None:
        """Add every 12-digit run of `text`."""
        self.ids.update(_ANY_ID.findall(text))

    def found_in(self, line: str) -> list[str]:
        """What of this log line is a name or an ID number (empty: nothing)."""
        found = [f"ID number {m}" for m in _LONE_ID.findall(line)]
        if self.ids and any(c.isdigit() for c in line):
            if self._known_ids is None:
                alternatives = "|".join(sorted(self.ids))
                self._known_ids = re.compile(rf"(?<![\d-])(?:{alternatives})(?![\d-])")
            found += [
                f"ID number {m}"
                for m in self._known_ids.findall(line)
                if f"ID number {m}" not in found
            ]
        words = _words(line)
        lengths = {len(n) for n in self.names}
        for start in range(len(words)):
            for n in lengths:
                if start + n <= len(words) and words[start : start + n] in self.names:
                    found.append(f"name {' '.join(words[start : start + n])!r}")
            made = self._generated_at(words, start)
            if made is not None:
                found.append(f"name {made!r} (as the generators make them)")
        return list(dict.fromkeys(found))

    def _generated_at(self, words: tuple[str, ...], start: int) -> str | None:
        for family_length in (1, 2):
            end = start + family_length
            if words[start:end] in self.families:
                for middles in (1, 2):
                    given = end + middles
                    if (
                        given < len(words)
                        and all(w in self.middles for w in words[end:given])
                        and words[given] in self.givens
                    ):
                        return " ".join(words[start : given + 1])
        if (
            words[start] in ("y", "h")
            and start + 1 < len(words)
            and words[start + 1] in self.ede_givens
        ):
            for family_length in (1, 2):
                end = start + 2 + family_length
                if words[start + 2 : end] in self.ede_families:
                    return " ".join(words[start:end])
        return None


def generators(citizens: Citizens) -> None:
    """The name parts `server.seed` and `edge.sample_document` draw from."""
    families: list[str] = [
        *seed.KINH_FAMILY,
        *seed.RAGLAI_FAMILY,
        *seed.CHAM_FAMILY,
        *sample_document.FAMILY_NAMES,
    ]
    citizens.families.update(_words(f) for f in families)
    for middle in (
        *seed.MALE_MIDDLE,
        *seed.FEMALE_MIDDLE,
        *seed.CHAM_MIDDLE,
        *sample_document.MIDDLE_MALE,
        *sample_document.MIDDLE_FEMALE,
        "Thanh",
        "Minh",
        "Hoàng",
        "Ngọc",
    ):
        citizens.middles.update(_words(middle))
    for given in (
        *seed.MALE_GIVEN,
        *seed.FEMALE_GIVEN,
        *seed.RAGLAI_GIVEN,
        *seed.CHAM_GIVEN,
        *sample_document.GIVEN_MALE,
        *sample_document.GIVEN_FEMALE,
    ):
        citizens.givens.update(_words(given))
    citizens.ede_families.update(_words(f) for f in seed.EDE_FAMILY)
    citizens.ede_givens.update(w for g in seed.EDE_GIVEN for w in _words(g))


def corpus(citizens: Citizens, folder: Path) -> int:
    """The development corpus's names (subject, signer) and every 12-digit number of its
    texts; returns how many sidecars were read (0: no corpus here)."""
    sidecars = sorted(folder.glob("*.json"))
    for path in sidecars:
        truth = json.loads(path.read_text(encoding="utf-8"))
        for fields in (truth.get("fields"), truth.get("doc_fields")):
            for key in NAME_KEYS:
                if isinstance(fields, dict) and isinstance(fields.get(key), str):
                    citizens.add_name(fields[key])
        citizens.add_ids(json.dumps(truth, ensure_ascii=False))
    return len(sidecars)


def _strings(node: ast.AST) -> Iterator[str]:
    """The literal text of a string or f-string node (an f-string's constant parts)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        for part in node.values:
            yield from _strings(part)


def _named(target: ast.AST, value: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    if isinstance(target, ast.Name):
        yield target.id, value
    elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
        for t, v in zip(target.elts, value.elts, strict=False):
            yield from _named(t, v)


def sources(citizens: Citizens, files: Iterable[Path]) -> None:
    """Names and ID numbers written in test sources: `ho_ten`/`nguoi_ky` values (dict entries
    and keyword arguments), `*NAME` constants, and every 12-digit string."""
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            values: list[ast.AST] = []
            if isinstance(node, ast.Dict):
                values += [
                    v
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value in NAME_KEYS
                ]
            elif isinstance(node, ast.keyword) and node.arg in NAME_KEYS:
                values.append(node.value)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    values += [v for name, v in _named(target, node.value) if name.endswith("NAME")]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                citizens.add_ids(node.value)
            for value in values:
                for text in _strings(value):
                    citizens.add_name(text.strip())


def collect(corpus_folder: Path = CORPUS) -> tuple[Citizens, int]:
    """Everything a log must not carry, and how many corpus sidecars were read."""
    citizens = Citizens()
    generators(citizens)
    sources(citizens, (p for d in SOURCES for p in sorted((ROOT / d).rglob("*.py"))))
    return citizens, corpus(citizens, corpus_folder)


def leaks(log: Path, citizens: Citizens) -> Iterator[tuple[int, str, list[str]]]:
    """Each line of `log` that carries a name or an ID: (line number, line, what)."""
    with log.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if _TEST_CLIENT.search(line):
                continue
            found = citizens.found_in(line)
            if found:
                yield number, line.rstrip("\n"), found


def main(argv: list[str] | None = None) -> int:
    """Check the log files; print what leaks and return 1, or return 0."""
    parser = argparse.ArgumentParser(prog="python -m tests.logcheck", description=__doc__)
    parser.add_argument("logs", type=Path, nargs="+", help="the log file(s) of a test run")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the development corpus")
    args = parser.parse_args(argv)
    missing = [log for log in args.logs if not log.is_file()]
    if missing:
        print(
            f"logcheck: no log at {missing[0]}: run pytest with --log-file first", file=sys.stderr
        )
        return 1
    citizens, sidecars = collect(args.corpus)
    found = [(log, *hit) for log in args.logs for hit in leaks(log, citizens)]
    corpus_note = f"{sidecars} corpus sidecars" if sidecars else f"no corpus at {args.corpus}"
    checked = (
        f"{len(citizens.names)} names, {len(citizens.ids)} ID numbers from tests and "
        f"{corpus_note}, the generators' name grammar, any lone 12-digit number"
    )
    logs = ", ".join(str(log) for log in args.logs)
    if not found:
        print(f"logcheck: no citizen name or ID number in {logs} ({checked})")
        return 0
    print(
        f"logcheck: {len(found)} lines of {logs} carry a citizen's name or ID number "
        f"({checked}); log the record's id instead:",
        file=sys.stderr,
    )
    for log, number, line, what in found[:_SHOWN]:
        print(f"  {log}:{number}: {', '.join(what)}: {line[:240]}", file=sys.stderr)
    if len(found) > _SHOWN:
        print(f"  … and {len(found) - _SHOWN} more lines", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

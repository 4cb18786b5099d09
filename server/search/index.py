"""The search index: an embedded Tantivy index derived from the repository database.

Why outside the database: ranking a common name's hit set in SQL costs 250–425 ms at 1,000,000
results (shared/STACK-NOTES.md), Tantivy single-digit milliseconds, and one index serves a
SQLite and a PostgreSQL repository alike. The database stays the truth: the index holds only
what is needed to find and order results (the folded forms of `server.search.fold`, a few
filter terms, a sort key and the record id) and the API loads the results themselves from the
database. It can be rebuilt from the database at any time (`rebuild`, `sohoa server search
rebuild`), and an index that is lost or corrupt is simply rebuilt.

Freshness without a hook in ingest: every process that searches first catches the index up
with the database, at most once per `refresh_s`. It compares the records received in the last
`WINDOW` before the newest indexed one with those the index holds, and adds the missing ones;
only one process at a time can write (Tantivy's writer lock, across processes), the others
skip and see that process's commit on their next refresh. So a result merged by any ingest
process is searchable from every API process on the host within about `refresh_s` plus the
time of one commit. A record whose commit came more than `WINDOW` after its `received_at`
would be missed until the next rebuild (ingest commits within milliseconds of that stamp).
A result whose text ingest has not read yet (`server.pdftext.TEXT_PENDING`) is left out until
it has, or until `TEXT_WAIT_S` have passed: indexed once, with its text.

Ranking: results come in tiers, then newest first. With ranking words (the name, else the free
text), tier 4 holds results whose fields contain every word exactly as typed (marks and all),
tier 3 those that contain every word with the tones typed (letters folded: `Huong` → Hương,
not Hưởng), tier 2 (several words) those with some word's tones as typed, tier 1 the other
matches (folded, anywhere, including the recognised text). The
order key (tier, received time, a hash of the id) is total, so pages continue by key
(`Position`): no result is repeated or skipped while new ones arrive.

Cost: a common word ("khai sinh", a frequent given name) matches most results, and a pass
over such a hit set is what a search pays for (tens of milliseconds at a million results).
A search makes one such pass, which counts the hits and keeps the newest few; each tier then
takes its page from those newest hits when it has enough among them (`_ranked`), so only
tiers too thin there are searched on their own, and those are small ones. Later pages take
the total from the cursor instead of counting again.

Layout: `<root>/current` names the live index folder `<root>/index-<stamp>`; a rebuild writes a
new folder and swaps the name atomically; processes reopen when it changes.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import shutil
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import tantivy
from sqlalchemy import Engine
from sqlmodel import Session

from server.errors import IndexBehindError, SearchError
from server.pdftext import TEXT_WAIT_S
from server.repository import search_source
from server.search.fold import exact_form, fold, tone_form, words
from server.search.query import Position, SearchQuery, Words, doc_type_key, so_ky_hieu_key

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(seconds=120)
"""How far behind the newest indexed result the catch-up compares the index with the database."""
CATCH_UP_MAX = 20_000
"""The most records one catch-up adds; an index further behind needs `rebuild`."""
FIELD_KEYS = (
    "so_ky_hieu",
    "co_quan_ban_hanh",
    "loai_van_ban",
    "trich_yeu",
    "ho_ten",
    "cccd",
    "nguoi_ky",
)
"""The fields whose words the free text ranks on (with the recognised text: matched only)."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Hits:
    """One page of a search: the record ids in rank order, how many match in all, and where
    the next page starts (None: this was the last)."""

    ids: list[str]
    total: int
    next: Position | None


FOLDING = "sohoa_fold"
"""The analyzer of the folded body: words, lower case, ASCII folding, no word over 40 bytes."""


def folding_analyzer() -> tantivy.TextAnalyzer:
    """The `FOLDING` analyzer (registered on every index this module opens)."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def _registered(index: tantivy.Index) -> tantivy.Index:
    index.register_tokenizer(FOLDING, folding_analyzer())
    return index


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_text_field("id", stored=True, tokenizer_name="raw")
    b.add_integer_field("key", stored=False, indexed=True, fast=True)
    # Words are made in Python (server.search.fold) and joined by spaces: the index only splits.
    # The body (fields and recognised text, a few hundred words) is folded by Tantivy's own
    # analyzer (lower case, ASCII folding: the same words as `fold` on Vietnamese, đ included;
    # a test checks every letter), because folding it in Python took most of a rebuild's time.
    b.add_text_field("all_f", stored=False, tokenizer_name=FOLDING, index_option="basic")
    for name in ("fields_t", "fields_x", "name_f", "name_t", "name_x"):
        b.add_text_field(name, stored=False, tokenizer_name="whitespace", index_option="basic")
    for name in ("cccd", "skh", "procedure", "unit", "doctype"):
        b.add_text_field(name, stored=False, tokenizer_name="raw", index_option="basic")
    b.add_integer_field("issued", stored=False, indexed=True, fast=True)
    return b.build()


SCHEMA = _schema()
SCHEMA_VERSION = 2
"""Counted up whenever `SCHEMA` or `document` changes: an index folder carries the version it
was made with (`index-v<N>-…`), and one of another version is refused until it is rebuilt
(version 2: the result type, `doctype`)."""


def sort_key(received_at: dt.datetime, record_id: str) -> int:
    """The order of results within a tier: received time in microseconds, then 10 bits of a
    hash of the id (ties within a microsecond are then all but impossible)."""
    micros = (received_at - _EPOCH) // dt.timedelta(microseconds=1)
    return (micros << 10) | (zlib.crc32(record_id.encode()) & 1023)


def _received_of(key: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=key >> 10)


def document(row: Any) -> tantivy.Document:
    """The index entry of a record row (`search_source.INDEXED_COLUMNS`)."""
    fields_text = " ".join(v for k in FIELD_KEYS if (v := getattr(row, k)))
    body = f"{fields_text} {row.ocr_text or ''}"
    doc: dict[str, Any] = {
        "id": row.id,
        "key": sort_key(row.received_at, row.id),
        "all_f": body,
        "fields_t": " ".join(words(tone_form(fields_text))),
        "fields_x": " ".join(words(exact_form(fields_text))),
    }
    if row.ho_ten:
        doc["name_f"] = " ".join(words(fold(row.ho_ten)))
        doc["name_t"] = " ".join(words(tone_form(row.ho_ten)))
        doc["name_x"] = " ".join(words(exact_form(row.ho_ten)))
    if row.cccd:
        doc["cccd"] = row.cccd
    if row.so_ky_hieu:
        doc["skh"] = so_ky_hieu_key(row.so_ky_hieu)
    if row.procedure_code:
        doc["procedure"] = row.procedure_code
    if row.loai_van_ban:
        doc["doctype"] = doc_type_key(row.loai_van_ban)
    if row.unit_code:
        doc["unit"] = row.unit_code
    issued = _issued_int(row.ngay_ban_hanh)
    if issued is not None:
        doc["issued"] = issued
    return tantivy.Document(**doc)


def _issued_int(text: str | None) -> int | None:
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError:
        return None
    return day.year * 10000 + day.month * 100 + day.day


def _day_int(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


class SearchIndex:
    """The search index of one repository, shared by the processes of one host.

    Args:
        root: its folder (`<data_dir>/search`); made if missing.
        engine: the repository database it is derived from.
        refresh_s: at most how often a search first catches the index up with the database.
        catch_up_max: the most results a search catches up; an index further behind answers
            `IndexBehindError` until it is rebuilt.
    """

    def __init__(
        self,
        root: Path,
        engine: Engine,
        refresh_s: float = 1.0,
        catch_up_max: int = CATCH_UP_MAX,
    ) -> None:
        self.root = root
        self.catch_up_max = catch_up_max
        self.engine = engine
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._index: tantivy.Index | None = None
        self._folder: str | None = None
        self._next_check = 0.0

    # --- searching ----------------------------------------------------------------------------

    def search(self, query: SearchQuery, limit: int, after: Position | None = None) -> Hits:
        """A page of results of `query`, ranked (see the module), after `after`.

        Raises:
            SearchError: the index cannot be opened or brought up to date.
        """
        if query.units is not None and not query.units:
            return Hits([], 0, None)
        index = self.refresh()
        searcher = index.searcher()
        levels = self._levels(query, searcher)
        candidates = self._base(query)
        if after is not None:
            candidates = _after(candidates, levels, after)
        want = limit + 1
        # One pass over every candidate: the newest ones by key, and how many there are.
        window = newest_window(want) if levels else want
        newest = searcher.search(
            candidates,
            window,
            count=True,
            order_by_field="key",
            order=tantivy.Order.Desc,
        )
        if levels:
            found = _ranked(searcher, candidates, levels, newest.hits, want, count=_count(newest))
        else:  # nothing to rank on: newest first
            found = [(1, key, address) for key, address in newest.hits]
        # The total is the first page's, carried by the cursor (a later page counts only
        # what is left after it).
        total = _count(newest) if after is None else after.total
        page = found[:limit]
        ids = [searcher.doc(address)["id"][0] for _, _, address in page]
        following = Position(page[-1][0], page[-1][1], total) if len(found) > limit else None
        return Hits(ids, total, following)

    def _base(self, q: SearchQuery) -> tantivy.Query:
        clauses: list[tantivy.Query] = []
        if q.text is not None:
            clauses += [_term("all_f", w) for w in q.text.folded]
        if q.name is not None:
            clauses += [_term("name_f", w) for w in q.name.folded]
        if q.cccd is not None:
            clauses.append(_term("cccd", q.cccd))
        if q.so_ky_hieu is not None:
            clauses.append(_term("skh", q.so_ky_hieu))
        if q.procedure is not None:
            clauses.append(_term("procedure", q.procedure))
        if q.doc_type is not None:
            clauses.append(_term("doctype", q.doc_type))
        if q.units is not None:
            clauses.append(tantivy.Query.term_set_query(SCHEMA, "unit", sorted(q.units)))
        if q.issued_from is not None or q.issued_to is not None:
            clauses.append(
                tantivy.Query.range_query(
                    SCHEMA,
                    "issued",
                    tantivy.FieldType.Integer,
                    _day_int(q.issued_from) if q.issued_from else None,
                    _day_int(q.issued_to) if q.issued_to else None,
                )
            )
        return _all_of(clauses) if clauses else tantivy.Query.all_query()

    def _levels(self, q: SearchQuery, searcher: tantivy.Searcher) -> Levels:
        """What puts a result in each tier above the lowest, for the ranking words of `q`
        (the name, else the free text); empty without ranking words."""
        ranking: Words | None
        if q.name is not None:
            ranking, tone_field, exact_field = q.name, "name_t", "name_x"
        else:
            ranking, tone_field, exact_field = q.text, "fields_t", "fields_x"
        if ranking is None:
            return {}

        def every(field: str, terms: Sequence[str]) -> Level:
            return Level(
                _all_of([_term(field, w) for w in terms]),
                min(searcher.doc_freq(field, w) for w in terms),
            )

        levels = {4: every(exact_field, ranking.exact), 3: every(tone_field, ranking.tone)}
        if len(ranking.tone) > 1:
            # Several words: those with some word's tones as typed before the rest
            # ("nguyen thi huong": Nguyễn Thị Hương, whose "Hương" has the tone typed, first).
            levels[2] = Level(
                tantivy.Query.boolean_query(
                    [(tantivy.Occur.Should, _term(tone_field, w)) for w in ranking.tone]
                ),
                sum(searcher.doc_freq(tone_field, w) for w in ranking.tone),
            )
        return levels

    # --- keeping up with the database --------------------------------------------------------

    def refresh(self, *, force: bool = False) -> tantivy.Index:
        """The live index, caught up with the database if `refresh_s` has passed (or `force`).

        Raises:
            SearchError: the index cannot be opened or written.
        """
        with self._lock:
            now = time.monotonic()
            index = self._open()
            if force or now >= self._next_check:
                try:
                    self._catch_up(index)
                except IndexBehindError:
                    raise
                except (ValueError, OSError, sa.exc.SQLAlchemyError) as e:
                    raise SearchError(
                        f"cannot bring the search index in {self.root} up to date: {e}; "
                        "if it persists, run `sohoa server search rebuild`"
                    ) from e
                index.reload()
                self._next_check = time.monotonic() + self.refresh_s
            return index

    def _open(self) -> tantivy.Index:
        """The index `current` names, reopened if a rebuild swapped it, made if there is none."""
        folder = self._current_folder()
        if folder is None:
            with self._root_lock():
                folder = self._current_folder()
                if folder is None:
                    folder = self._new_folder()
                    _registered(tantivy.Index(SCHEMA, path=str(self.root / folder)))
                    self._point_at(folder)
        if not folder.startswith(f"index-v{SCHEMA_VERSION}-"):
            raise IndexBehindError(
                f"the search index {self.root / folder} was made by an earlier version of Sohoa: "
                "run `sohoa server search rebuild` (searches resume when it is done)"
            )
        if folder != self._folder or self._index is None:
            try:
                self._index = _registered(tantivy.Index.open(str(self.root / folder)))
            except ValueError as e:
                raise SearchError(
                    f"cannot open the search index {self.root / folder}: {e}; "
                    "run `sohoa server search rebuild`"
                ) from e
            self._folder = folder
        return self._index

    def _catch_up(self, index: tantivy.Index) -> int:
        """Add the records of the last `WINDOW` the index lacks; return how many."""
        index.reload()
        searcher = index.searcher()
        top = searcher.search(
            tantivy.Query.all_query(), 1, count=True, order_by_field="key", order=tantivy.Order.Desc
        )
        since = _received_of(top.hits[0][0]) - WINDOW if top.hits else None
        in_window_query = (
            tantivy.Query.range_query(
                SCHEMA, "key", tantivy.FieldType.Integer, sort_key(since, "") & ~1023, None
            )
            if since is not None
            else tantivy.Query.all_query()
        )
        with Session(self.engine) as session:
            waited_from = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=TEXT_WAIT_S)
            in_database = search_source.count_received_since(session, since, waited_from)
            in_index = _count(searcher.search(in_window_query, 1, count=True))
            if in_database <= in_index:
                return 0
            if in_database - in_index > self.catch_up_max:
                # An index lost, or made before results were loaded in bulk: catching up by
                # window would leave the older results unsearchable without saying so.
                raise IndexBehindError(
                    f"the search index lacks {in_database - in_index} results of the database: "
                    "run `sohoa server search rebuild` (searches resume when it is done)"
                )
            wanted = search_source.ids_received_since(
                session, since, self.catch_up_max, waited_from
            )
            held = searcher.search(in_window_query, max(in_index, 1), count=False)
            have = {searcher.doc(address)["id"][0] for _, address in held.hits}
            missing = sorted(wanted - have)
            if not missing:
                return 0
            try:
                writer = index.writer(50_000_000, 1)
            except ValueError:
                return 0  # another process is writing: its commit shows on our next refresh
            for row in search_source.rows_of(session, missing):
                writer.delete_documents_by_term("id", row.id)
                writer.add_document(document(row))
            writer.commit()
            writer.wait_merging_threads()
        log.info("search index: %d new records added", len(missing))
        return len(missing)

    # --- rebuilding ---------------------------------------------------------------------------

    def rebuild(self, *, threads: int = 2, heap_mb: int = 256) -> int:
        """Index every record of the database into a new folder, then make it the live one.

        Searches go on against the old index meanwhile; records merged during the rebuild are
        caught up by the next refresh.

        Returns:
            How many records were indexed.
        """
        folder = self._new_folder()
        path = self.root / folder
        index = _registered(tantivy.Index(SCHEMA, path=str(path)))
        writer = index.writer(heap_mb * 1_000_000, threads)
        count = 0
        with Session(self.engine) as session:
            waited_from = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=TEXT_WAIT_S)
            for row in search_source.every_row(session, waited_from):
                writer.add_document(document(row))
                count += 1
        writer.commit()
        writer.wait_merging_threads()
        with self._root_lock():
            old = self._current_folder()
            self._point_at(folder)
        if old is not None and old != folder:
            shutil.rmtree(self.root / old, ignore_errors=True)
        with self._lock:
            self._next_check = 0.0
        log.info("search index rebuilt: %d records in %s", count, path)
        return count

    # --- the folder ---------------------------------------------------------------------------

    def _current_folder(self) -> str | None:
        try:
            name = (self.root / "current").read_text().strip()
        except FileNotFoundError:
            return None
        return name or None

    def _new_folder(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"index-v{SCHEMA_VERSION}-{time.time_ns()}-{os.getpid()}"
        (self.root / name).mkdir()
        return name

    def _point_at(self, folder: str) -> None:
        temp = self.root / f"current.{os.getpid()}.tmp"
        temp.write_text(folder)
        temp.replace(self.root / "current")

    @contextmanager
    def _root_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _count(result: tantivy.SearchResult) -> int:
    """The number of matches a search counted (its stubs omit the attribute)."""
    return int(getattr(result, "count", None) or 0)


def _term(field: str, value: str) -> tantivy.Query:
    return tantivy.Query.term_query(SCHEMA, field, value)


def _all_of(queries: Sequence[tantivy.Query]) -> tantivy.Query:
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])


def newest_window(want: int) -> int:
    """How many of the newest candidates the counting pass keeps for a page of `want`: twice
    as many and some, so that a large tier's page is usually among them (`_ranked`), and few
    enough to check cheaply which of them match a tier."""
    return 2 * want + 10


RARE = 2000
"""A tier level matched by at most this many results (by its terms' frequencies) is searched
directly: cheaper than checking which of the newest results match it."""


@dataclass(frozen=True)
class Level:
    """What a result of a tier (or above) matches, and at most how many results do."""

    query: tantivy.Query
    bound: int


Levels = dict[int, Level]
"""Per tier above the lowest (4: every word exactly as typed, 3: with the tones typed, 2: some
word with its tones typed), what a result of that tier matches."""


def _at_least(levels: Levels, tier: int) -> tantivy.Query | None:
    """What a result in `tier` or above matches; None for the lowest (every result)."""
    above = [level.query for t, level in levels.items() if t >= tier]
    if tier <= 1 or not above:
        return None
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in above])


def _after(candidates: tantivy.Query, levels: Levels, after: Position) -> tantivy.Query:
    """`candidates` that come after `after` in rank order: a lower tier, or the same tier
    and an older key."""
    not_ = tantivy.Occur.MustNot
    clauses = [(tantivy.Occur.Must, candidates)]
    higher = _at_least(levels, after.tier + 1)
    if higher is not None:
        clauses.append((not_, higher))
    newer = tantivy.Query.range_query(
        SCHEMA, "key", tantivy.FieldType.Integer, after.key, None, True, True
    )
    same = _at_least(levels, after.tier)
    clauses.append((not_, newer if same is None else _all_of([same, newer])))
    return tantivy.Query.boolean_query(clauses)


def _ranked(
    searcher: tantivy.Searcher,
    candidates: tantivy.Query,
    levels: Levels,
    newest: list[tuple[int, Any]],
    want: int,
    *,
    count: int,
) -> list[tuple[int, int, Any]]:
    """The first `want` of `candidates` in rank order (tier, then key, both descending) as
    (tier, key, address), given `newest`: the newest candidates as (key, address), and how
    many candidates there are (`count`: `newest` is all of them if it has that many).

    Tiers are filled from the highest. When the search reaches a tier, every result above it
    is known (each tier above had fewer than it was asked for), so that tier's results among
    `newest` are those matching its level less the known ones, and if there are enough of
    them they are its newest: no pass over the whole tier. A tier whose terms are rare
    (`Level.bound`), or of few candidates, is simply searched, newest first; so is a large
    one too thin among the newest results.
    """
    complete = len(newest) >= count
    found: list[tuple[int, int, Any]] = []
    known: set[tuple[int, int]] = set()
    window_keys = [key for key, _ in newest]
    for tier in sorted({1, *levels}, reverse=True):
        need = want - len(found)
        if need <= 0:
            break
        level = levels.get(tier)
        page: list[tuple[int, int, Any]] | None = None
        if level is None or min(level.bound, count) > RARE:
            floor = _at_least(levels, tier)
            matching = None if floor is None else _matching(searcher, window_keys, floor)
            here = [
                (tier, key, address)
                for key, address in newest
                if (place := _place(address)) not in known
                and (matching is None or place in matching)
            ]
            if complete or len(here) >= need:
                page = here[:need]
        if page is None:
            page = _tier_page(searcher, candidates, levels, tier, need)
        found += page
        known.update(_place(address) for _, _, address in page)
    return found


def _matching(searcher: tantivy.Searcher, keys: list[int], query: tantivy.Query) -> set[Any]:
    """Which of the results with `keys` match `query` (as `_place`s)."""
    if not keys:
        return set()
    among = tantivy.Query.term_set_query(SCHEMA, "key", keys)
    result = searcher.search(_all_of([among, query]), len(keys), count=False, order_by_field="key")
    return {_place(address) for _, address in result.hits}


def _tier_page(
    searcher: tantivy.Searcher, candidates: tantivy.Query, levels: Levels, tier: int, need: int
) -> list[tuple[int, int, Any]]:
    """The newest `need` candidates of `tier` as (tier, key, address)."""
    clauses = [(tantivy.Occur.Must, candidates)]
    floor = _at_least(levels, tier)
    if floor is not None:
        clauses.append((tantivy.Occur.Must, floor))
    ceiling = _at_least(levels, tier + 1)
    if ceiling is not None:
        clauses.append((tantivy.Occur.MustNot, ceiling))
    result = searcher.search(
        tantivy.Query.boolean_query(clauses),
        need,
        count=False,
        order_by_field="key",
        order=tantivy.Order.Desc,
    )
    return [(tier, key, address) for key, address in result.hits]


def _place(address: Any) -> tuple[int, int]:
    return (address.segment_ord, address.doc)

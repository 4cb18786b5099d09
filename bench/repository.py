"""Repository benchmark (issue 15): loading synthetic results, then searching them through the
HTTP API beside the same query run directly (the floor).

    .venv/bin/python -m bench.repository --results 1000000 --backend sqlite|postgres|both
                                         [--queries 200]

Per backend (SQLite in WAL mode in a temp folder; PostgreSQL 15 in a throw-away cluster,
`harness.postgres`): `server.seed.seed` loads the results (executemany / COPY) and the search
index is rebuilt from the database: the load rate of each, the database's and the index's size.
Then a real uvicorn server (`server.api.main.create_app` in a separate process, as `sohoa
server run` serves it) with auth on, and one HTTP client with keep-alive and a bearer token,
measures p50/p95 of:
- CCCD lookup: `GET /api/citizens/{cccd}/results`; floor: the same SQL query
  (`results.load_citizen_results`) in this process;
- accent-insensitive name search: `GET /api/search?name=<a seeded name, folded>`;
- free-text search: `GET /api/search?q=<two words of the body and a given name, folded>`;
- unit subtree with a date range: `GET /api/search?unit=<district>&from=…&to=…`;
  floor for the three searches: the same `SearchIndex.search` plus the SQL load of the page
  (`results.load_search_results`) in this process, without HTTP, auth or JSON.
Targets: p95 ≤ 50 ms at 1,000,000 results on both backends; the API ≤ 2× the floor. The API
figures include the audit entry each of these reads writes and commits; the floor writes none.
A second floor, "floor+audit", is the same query with its audit entry appended and committed
in this process (`server.repository.disclosures`, the code path the routes call), so the
ratio to it is what HTTP, the token, the account and JSON cost; the audit's durable commit is
in both. `GET /healthz` (no token, no audit, one `SELECT 1`) is measured too, as the fixed
cost of an HTTP round trip through this stack. The last line is one JSON object with every
figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col

TARGET_P95_MS = 50.0
TARGET_RATIO = 2.0
PASSWORD = "bench-password-not-secret"  # noqa: S105 (a throw-away account of the benchmark)
Calls = list[Callable[[], Any]]
"""Timed calls of one kind of query."""
WORDS = ("khai sinh", "ket hon", "tinh trang hon nhan", "chung thuc", "ho tich", "khai tu")


def out(line: str = "") -> None:
    """Print a line of the report now."""
    print(line, flush=True)


def _serve(url: str, data_dir: str, port: int) -> None:
    """The API process: the app as `sohoa server run` builds it, on 127.0.0.1:`port`."""
    import logging

    import uvicorn

    from server.api.main import create_app
    from server.config import ServerSettings

    logging.basicConfig(level=logging.WARNING)
    settings = ServerSettings(database_url=url, data_dir=Path(data_dir))
    uvicorn.run(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2), "p95_ms": round(p95 * 1000, 2)}


def _time(calls: list[Callable[[], Any]]) -> list[float]:
    samples = []
    for call in calls:
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_backend(backend: str, results: int, queries: int, seed_value: int) -> dict[str, Any]:
    """Load, then measure one backend; return its figures."""
    from harness.postgres import PostgresCluster
    from server.db import make_engine, migrate
    from server.seed import seed

    work = Path(tempfile.mkdtemp(prefix=f"sohoa-bench-repo-{backend}-"))
    cluster = None
    try:
        if backend == "postgres":
            cluster = PostgresCluster()
            cluster.start()
            url = cluster.create_database("repository")
        else:
            url = f"sqlite:///{work / 'data' / 'repository.db'}"
        (work / "data").mkdir(exist_ok=True)
        engine = make_engine(url)
        migrate(engine)
        out(f"[{backend}] loading {results} results ...")
        loaded, load_s = seed(engine, work / "data", results, seed_value=seed_value)
        from server.search.index import SearchIndex

        started = time.perf_counter()
        index = SearchIndex(work / "data" / "search", engine, refresh_s=1.0)
        index.rebuild()
        index_s = time.perf_counter() - started
        if backend == "postgres":
            with engine.connect() as conn:
                conn.execute(sa.text("ANALYZE"))
                db_bytes = conn.execute(
                    sa.text("SELECT pg_database_size(current_database())")
                ).scalar_one()
        else:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.exec_driver_sql("ANALYZE")
            db_bytes = _size(work / "data" / "repository.db")
        figures: dict[str, Any] = {
            "results": loaded,
            "load_s": round(load_s, 1),
            "load_per_s": round(loaded / load_s),
            "index_s": round(index_s, 1),
            "index_per_s": round(loaded / index_s),
            "db_mb": round(db_bytes / 1e6, 1),
            "index_mb": round(_size(work / "data" / "search") / 1e6, 1),
        }
        out(
            f"[{backend}] loaded {loaded} in {load_s:.1f} s ({figures['load_per_s']}/s), "
            f"indexed in {index_s:.1f} s ({figures['index_per_s']}/s); database "
            f"{figures['db_mb']} MB, index {figures['index_mb']} MB"
        )
        figures["queries"] = _measure(backend, engine, index, url, work, queries, seed_value)
        engine.dispose()
        return figures
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def _measure(
    backend: str,
    engine: Engine,
    index: Any,
    url: str,
    work: Path,
    queries: int,
    seed_value: int,
) -> dict[str, Any]:
    from server.models import Record, Role
    from server.repository import accounts, disclosures, results
    from server.repository.audit import Reader
    from server.search.fold import fold
    from server.search.query import SearchQuery, check_dates, text_words
    from support.sockets import free_port

    rng = random.Random(seed_value + 1)
    with Session(engine) as s:
        accounts.add_account(s, "bench-admin", Role.PROVINCE_ADMIN, PASSWORD, None)
        sample: list[tuple[str, str]] = []
        while len(sample) < queries:  # distinct results, found by a random point in the id order
            pivot = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            row = s.execute(
                sa.select(col(Record.cccd), col(Record.ho_ten))
                .where(col(Record.id) >= pivot)
                .order_by(col(Record.id))
                .limit(1)
            ).first()
            if row is not None:
                sample.append((row[0], row[1]))
    cccds = [c for c, _ in sample]
    names = [fold(n) for _, n in sample]
    texts = [f"{rng.choice(WORDS)} {n.split()[-1]}" for n in names]
    districts = ["568", "569", "570", "571", "572", "573", "574", "56"]
    spans = []
    for _ in range(queries):
        year = rng.randint(2017, 2025)
        spans.append((rng.choice(districts), f"{year}-01-01", f"{year}-06-30"))

    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(url, str(work / "data"), port), daemon=True
    )
    process.start()
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the API process did not start within 60 s")
                time.sleep(0.2)
            token = http.post(
                "/api/auth/token", data={"username": "bench-admin", "password": PASSWORD}
            ).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"

            def api(path: str, params: dict[str, str] | None = None) -> Callable[[], Any]:
                def call() -> Any:
                    response = http.get(path, params=params)
                    if response.status_code != 200:
                        raise RuntimeError(
                            f"{path} {params}: {response.status_code} {response.text}"
                        )
                    return response.json()

                return call

            def floor_search(query: SearchQuery) -> Callable[[], Any]:
                def call() -> Any:
                    hits = index.search(query, 20)
                    with Session(engine) as s:
                        return results.load_search_results(s, hits.ids, visible=None)

                return call

            def floor_cccd(cccd: str) -> Callable[[], Any]:
                def call() -> Any:
                    with Session(engine) as s:
                        return results.load_citizen_results(s, cccd, visible=None)

                return call

            reader = Reader("bench-admin", Role.PROVINCE_ADMIN.value, "127.0.0.1")

            def audited_search(query: SearchQuery, asked: str) -> Callable[[], Any]:
                def call() -> Any:
                    hits = index.search(query, 20)
                    with Session(engine) as s:
                        return disclosures.search_results(
                            s, reader, hits.ids, visible=None, query=asked
                        )

                return call

            def audited_cccd(cccd: str) -> Callable[[], Any]:
                def call() -> Any:
                    with Session(engine) as s:
                        return disclosures.citizen_results(s, reader, cccd, visible=None)

                return call

            from server.repository import units

            with Session(engine) as s:
                subtrees = {d: units.visible_units(s, d) for d in districts}

            def unit_query(unit: str, start: str, end: str) -> SearchQuery:
                issued_from, issued_to = check_dates(start, end)
                return SearchQuery(
                    units=subtrees[unit], issued_from=issued_from, issued_to=issued_to
                )

            # each kind: (API calls, floor calls, floor+audit calls)
            kinds: dict[str, tuple[Calls, Calls, Calls]] = {
                "cccd_lookup": (
                    [api(f"/api/citizens/{c}/results") for c in cccds],
                    [floor_cccd(c) for c in cccds],
                    [audited_cccd(c) for c in cccds],
                ),
                "name_search": (
                    [api("/api/search", {"name": n}) for n in names],
                    [floor_search(SearchQuery(name=text_words(n, "name"))) for n in names],
                    [
                        audited_search(SearchQuery(name=text_words(n, "name")), f"name={n}")
                        for n in names
                    ],
                ),
                "free_text": (
                    [api("/api/search", {"q": t}) for t in texts],
                    [floor_search(SearchQuery(text=text_words(t, "q"))) for t in texts],
                    [audited_search(SearchQuery(text=text_words(t, "q")), f"q={t}") for t in texts],
                ),
                "unit_date_range": (
                    [api("/api/search", {"unit": u, "from": a, "to": b}) for u, a, b in spans],
                    [floor_search(unit_query(u, a, b)) for u, a, b in spans],
                    [
                        audited_search(unit_query(u, a, b), f"unit={u}&from={a}&to={b}")
                        for u, a, b in spans
                    ],
                ),
            }
            figures: dict[str, Any] = {}
            health = [api("/healthz") for _ in range(queries)]
            _time(health[:10])
            figures["healthz"] = _percentiles(_time(health))
            out(
                f"[{backend}] {'healthz':16} API p50 {figures['healthz']['p50_ms']:7.2f} ms  p95 "
                f"{figures['healthz']['p95_ms']:7.2f} ms (HTTP round trip, no token, no audit)"
            )
            for kind, (api_calls, floor_calls, audited_calls) in kinds.items():
                _time(api_calls[:10] + floor_calls[:10] + audited_calls[:10])  # warm every path
                api_stats = _percentiles(_time(api_calls))
                floor_stats = _percentiles(_time(floor_calls))
                audited_stats = _percentiles(_time(audited_calls))
                ratio = round(api_stats["p95_ms"] / max(floor_stats["p95_ms"], 0.01), 2)
                audited_ratio = round(api_stats["p95_ms"] / max(audited_stats["p95_ms"], 0.01), 2)
                figures[kind] = {
                    "api": api_stats,
                    "floor": floor_stats,
                    "floor_audited": audited_stats,
                    "ratio_p95": ratio,
                    "ratio_p95_audited": audited_ratio,
                }
                verdict = "ok" if api_stats["p95_ms"] <= TARGET_P95_MS else "OVER TARGET"
                out(
                    f"[{backend}] {kind:16} API p50 {api_stats['p50_ms']:7.2f} ms  p95 "
                    f"{api_stats['p95_ms']:7.2f} ms ({verdict}, target {TARGET_P95_MS:.0f})   "
                    f"floor p50 {floor_stats['p50_ms']:7.2f} ms  p95 {floor_stats['p95_ms']:7.2f} "
                    f"ms   ratio {ratio}   floor+audit p50 {audited_stats['p50_ms']:7.2f} ms  "
                    f"p95 {audited_stats['p95_ms']:7.2f} ms   ratio {audited_ratio} "
                    f"(target ≤ {TARGET_RATIO})"
                )
            hits = http.get("/api/search", params={"name": "nguyen thi"}).json()["total"]
            figures["nguyen_thi_hits"] = hits
            return figures
    finally:
        process.terminate()
        process.join(10)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the last line printed is its JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.repository",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--queries", type=int, default=200, help="queries of each kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    out(
        f"bench.repository: {args.results} results, {args.queries} queries of each kind, "
        f"{os.cpu_count()} CPUs; API: uvicorn in its own process, httpx keep-alive, bearer token"
    )
    report: dict[str, Any] = {
        "results": args.results,
        "queries": args.queries,
        "target_p95_ms": TARGET_P95_MS,
        "target_ratio": TARGET_RATIO,
    }
    for backend in backends:
        report[backend] = run_backend(backend, args.results, args.queries, args.seed)
    out(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

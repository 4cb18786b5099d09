"""Web pages benchmark (issue 18): each page's server time and size with a million results
and ten thousand appliances on file, and the browser's load time in headless Chromium.

    .venv/bin/python -m bench.web [--results 1000000] [--devices 10000] [--requests 40]
                                  [--loads 5] [--history-days 7]

Set-up (SQLite in WAL mode in a temp folder): `server.seed.seed` loads the results (it also
tallies them for the reports); synthetic appliances `seed-bench-NNNNN` are registered on the
communes and given heartbeats and an hourly history (`server.seed_fleet`); every unit gets a
target and monthly issued counts; a few review cases are merged; the search index is rebuilt.
The app is served by uvicorn in a separate process, as `sohoa server run` serves it, over
plain HTTP on loopback (`web_secure_cookie` off, the one setting that differs); one client
signs in through the sign-in form as a province admin and keeps its session cookie.

Per page, `--requests` GETs over one keep-alive connection, each with a different query where
the page takes one (names, units, devices drawn from the data): p50/p95 of the time to the last
byte, and the page's bytes (the HTML and the stylesheet it links; the PDF a result page frames
is not counted). Anchors, in the same run: `GET /static/site.css` (the same stack serving a
file: no session, no database) and `GET /healthz`. Then Chromium (Debian's, driven by
Playwright) opens each page `--loads` times: navigation start to the load event, median
(anchor: the sign-in page, which reads nothing). Targets: p95 ≤ 200 ms, ≤ 150 KB per page.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import Session, col, select

TARGET_P95_MS = 200.0
TARGET_KB = 150.0
PASSWORD = "bench-password-not-secret"  # noqa: S105 (a throw-away account of the benchmark)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def out(line: str = "") -> None:
    print(line, flush=True)


def _serve(url: str, data_dir: str, port: int) -> None:
    """The server process: the app as `sohoa server run` builds it, on 127.0.0.1:`port`."""
    import logging

    import uvicorn

    from server.api.main import create_app
    from server.config import ServerSettings

    logging.basicConfig(level=logging.WARNING)
    settings = ServerSettings(database_url=url, data_dir=Path(data_dir), web_secure_cookie=False)
    uvicorn.run(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _figures(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 1),
        "p95_ms": round(_p(samples, 0.95) * 1000, 1),
    }


def fill(engine: sa.Engine, data_dir: Path, results: int, devices: int, days: int) -> None:
    """Load the results, the appliances and the report inputs (see the module's docstring)."""
    from server.models import Device, IssuedTally, MonthlyTally, UnitTarget
    from server.repository import units
    from server.search.index import SearchIndex
    from server.seed import seed
    from server.seed_fleet import seed_fleet

    started = time.perf_counter()
    seed(engine, data_dir, results, seed_value=18)
    out(f"  {results} results loaded and tallied in {time.perf_counter() - started:.1f} s")
    rng = random.Random(18)
    with Session(engine) as s:
        communes = [
            v.code
            for v in units.current_versions(s)
            if v.kind in ("xa", "phuong", "dac_khu") and v.valid_to is None
        ]
        s.add_all(
            Device(
                device_id=f"seed-bench-{n:05d}",
                unit=f"Đơn vị {code}",
                unit_code=code,
                signing_cert_sha256="ab" * 32,
            )
            for n, code in enumerate(rng.choices(communes, k=devices))
        )
        s.commit()
        started = time.perf_counter()
        seeded = seed_fleet(s, days=days, seed_value=18)
        out(
            f"  {seeded} appliances with {days} days of history in "
            f"{time.perf_counter() - started:.1f} s"
        )
        for row in s.exec(select(MonthlyTally).where(MonthlyTally.unit_code != "")).all():
            issued = row.digitized * 2 + 1
            s.merge(
                IssuedTally(
                    unit_code=row.unit_code, month=row.month, issued=issued, electronic=issued // 2
                )
            )
        held = s.exec(
            select(MonthlyTally.unit_code, sa.func.sum(MonthlyTally.digitized)).group_by(
                col(MonthlyTally.unit_code)
            )
        ).all()
        for code, count in held:
            if code:
                s.merge(UnitTarget(unit_code=code, volume=int(count * 1.5) + 1))
        s.commit()
    started = time.perf_counter()
    SearchIndex(data_dir / "search", engine, 1.0).rebuild()
    out(f"  search index rebuilt in {time.perf_counter() - started:.1f} s")


def _sign_in(client: httpx.Client) -> None:
    form = client.get("/login")
    token = _CSRF.search(form.text)
    assert token is not None, "no sign-in form"
    answer = client.post(
        "/login", data={"username": "bench-admin", "password": PASSWORD, "csrf": token.group(1)}
    )
    assert answer.status_code == 303, answer.text[:300]


def _targets(engine: sa.Engine, requests: int) -> dict[str, list[str]]:
    """The pages to measure, each with `requests` paths (a different query each where it can)."""
    from server.models import Device, Record
    from server.search.fold import fold

    rng = random.Random(19)
    with Session(engine) as s:
        names = [n for n in s.exec(select(Record.ho_ten).limit(20_000)) if n]
        ids = list(s.exec(select(Record.id).limit(20_000)))
        codes = [c for c in s.exec(select(Record.unit_code).distinct()) if c]
        devices = list(s.exec(select(Device.device_id).limit(20_000)))

    def each(make: Callable[[], str]) -> list[str]:
        return [make() for _ in range(requests)]

    return {
        "search (name, no accents)": each(lambda: f"/search?q={fold(rng.choice(names))}"),
        "search (unit, dates)": each(
            lambda: f"/search?unit={rng.choice(codes)}&from=2020-01-01&to=2024-12-31"
        ),
        "result": each(lambda: f"/results/{rng.choice(ids)}"),
        "reports (province)": each(lambda: "/reports"),
        "reports (a unit)": each(lambda: f"/reports?unit={rng.choice(codes)}"),
        "reports.xlsx (province)": each(lambda: "/reports.xlsx"),
        "fleet": each(lambda: "/fleet"),
        "fleet (offline, backlog)": each(lambda: "/fleet?offline=1&backlog=10"),
        "device": each(lambda: f"/fleet/{rng.choice(devices)}"),
        "review": each(lambda: "/review"),
        "audit": each(lambda: "/audit"),
    }


def measure_server(base: str, pages: dict[str, list[str]]) -> dict[str, Any]:
    """Each page's p50/p95 and bytes, with the anchors'."""
    figures: dict[str, Any] = {}
    with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as client:
        _sign_in(client)
        css = len(client.get("/static/site.css").content)
        for name, paths in {
            "anchor: /static/site.css": ["/static/site.css"] * len(next(iter(pages.values()))),
            "anchor: /healthz": ["/healthz"] * len(next(iter(pages.values()))),
            **pages,
        }.items():
            client.get(paths[0])  # warm: the first load of a kind reads more than the rest
            samples, sizes = [], []
            for path in paths:
                started = time.perf_counter()
                answer = client.get(path)
                samples.append(time.perf_counter() - started)
                assert answer.status_code == 200, f"{path}: {answer.status_code}"
                sizes.append(len(answer.content))
            html = not name.startswith("anchor") and not name.startswith("reports.xlsx")
            kb = (max(sizes) + (css if html else 0)) / 1024
            figures[name] = {**_figures(samples), "kb": round(kb, 1)}
    return figures


def measure_browser(base: str, pages: dict[str, list[str]], loads: int) -> dict[str, float]:
    """Median navigation-to-load time of each HTML page in headless Chromium."""
    from playwright.sync_api import sync_playwright

    from tests.server.web.browser import CHROMIUM, CHROMIUM_ARGS

    timing = (
        "(() => { const n = performance.getEntriesByType('navigation')[0]; "
        "return n.loadEventEnd - n.startTime; })()"
    )
    figures: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{base}/login")
        figures["anchor: /login"] = round(
            statistics.median(_loads(page, f"{base}/login", loads, timing)), 1
        )
        page.fill("#username", "bench-admin")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        for name, paths in pages.items():
            if name.startswith("reports.xlsx"):
                continue
            samples = [_loads(page, f"{base}{path}", 1, timing)[0] for path in paths[:loads]]
            figures[name] = round(statistics.median(samples), 1)
        browser.close()
    return figures


def _loads(page: Any, url: str, n: int, timing: str) -> list[float]:
    out_ms = []
    for _ in range(n):
        page.goto(url, wait_until="load")
        out_ms.append(float(page.evaluate(timing)))
    return out_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=1_000_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--history-days", type=int, default=7)
    parser.add_argument(
        "--workdir",
        type=Path,
        help="Keep the seeded repository here, and measure again on it when it is there "
        "(seeding a million results takes minutes).",
    )
    args = parser.parse_args(argv)

    from server.db import make_engine, migrate
    from server.models import Role
    from server.repository import accounts
    from support.sockets import free_port

    work = args.workdir or Path(tempfile.mkdtemp(prefix="sohoa-bench-web-"))
    server = None
    try:
        data = work / "data"
        seeded = (data / "repository.db").exists()
        data.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{data / 'repository.db'}"
        engine = make_engine(url)
        migrate(engine)
        if seeded:
            out(f"measuring again on the repository seeded in {work}")
        else:
            out(f"seeding {args.results} results and {args.devices} appliances ...")
            fill(engine, data, args.results, args.devices, args.history_days)
            with Session(engine) as s:
                accounts.add_account(s, "bench-admin", Role.PROVINCE_ADMIN, PASSWORD, None)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.exec_driver_sql("ANALYZE")
        pages = _targets(engine, args.requests)
        engine.dispose()
        port = free_port()
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(url, str(data), port), daemon=True
        )
        server.start()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not server.is_alive():
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        served = measure_server(base, pages)
        anchor = served["anchor: /static/site.css"]["p95_ms"]
        out()
        out(
            f"{'page':<28}{'p50 ms':>8}{'p95 ms':>8}{'× css':>7}{'KB':>7}  target p95 ≤ "
            f"{TARGET_P95_MS:.0f} ms, ≤ {TARGET_KB:.0f} KB"
        )
        for name, f in served.items():
            ratio = f["p95_ms"] / anchor if anchor else float("nan")
            ok = (
                ""
                if name.startswith("anchor")
                else (
                    "ok"
                    if f["p95_ms"] <= TARGET_P95_MS and (f["kb"] <= TARGET_KB or "xlsx" in name)
                    else "MISSED"
                )
            )
            out(f"{name:<28}{f['p50_ms']:>8}{f['p95_ms']:>8}{ratio:>7.1f}{f['kb']:>7}  {ok}")
        browser = measure_browser(base, pages, args.loads)
        out()
        out(f"{'page (Chromium, headless)':<28}{'load ms':>8}{'× /login':>9}")
        for name, ms in browser.items():
            ratio = ms / browser["anchor: /login"] if browser["anchor: /login"] else float("nan")
            out(f"{name:<28}{ms:>8}{ratio:>9.1f}")
        out(
            json.dumps(
                {
                    "results": args.results,
                    "devices": args.devices,
                    "server": served,
                    "browser_load_ms": browser,
                },
                ensure_ascii=False,
            )
        )
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.join(10)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

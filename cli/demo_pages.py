"""`sohoa demo --serve`: after the demo, the web pages left running for a person to look
around — the demo's repository filled with synthetic results (`server.seed`), made-up targets
and issued counts for the progress reports (no real unit's plan), synthetic heartbeats for the
seed's appliances (`server.seed_fleet`), one account per role, and the addresses to open —
until Ctrl-C.

The accounts' passwords are random, printed once and kept in `<workdir>/accounts.txt` (readable
by its owner only); they are the demo's, on this machine's loopback address only.
"""

from __future__ import annotations

import random
import secrets
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from sqlmodel import Session, col, select

from server.db import make_engine
from server.models import IssuedTally, MonthlyTally, Record, Role, UnitTarget
from server.repository.accounts import add_account
from server.search.index import SearchIndex
from server.seed import seed
from server.seed_fleet import seed_fleet
from support.files import private_file

RESULTS = 2000
"""How many synthetic results fill the demo's repository for the pages."""


@dataclass(frozen=True)
class PageAccount:
    """An account made for looking around the pages."""

    username: str
    role: Role
    password: str
    unit: str | None = None


def prepare_pages(
    database_url: str, data_dir: Path, *, results: int = RESULTS
) -> list[PageAccount]:
    """Fill the repository with `results` synthetic results, rebuild its search index, and add
    an officer (of the unit with the most results) and an auditor account (the province admin
    is the demo's own)."""
    engine = make_engine(database_url)
    try:
        seed(engine, data_dir, results, seed_value=2026)
        SearchIndex(data_dir / "search", engine, 1.0).rebuild()
        with Session(engine) as session:
            _synthetic_report_inputs(session)
            seed_fleet(session)  # the seed's appliances: heartbeats and a month of history
        with Session(engine) as session:
            busiest = session.exec(
                select(Record.unit_code)
                .where(col(Record.unit_code).is_not(None))
                .group_by(col(Record.unit_code))
                .order_by(sa.func.count().desc())
            ).first()
        made = [
            PageAccount("demo-officer", Role.UNIT_OFFICER, secrets.token_urlsafe(12), busiest),
            PageAccount("demo-auditor", Role.AUDITOR, secrets.token_urlsafe(12)),
        ]
        with Session(engine) as session:
            for account in made:
                add_account(session, account.username, account.role, account.password, account.unit)
    finally:
        engine.dispose()
    return made


def _synthetic_report_inputs(session: Session, seed_value: int = 2026) -> None:
    """Made-up targets (a little above or below what each unit holds) and issued counts (each
    month's results, a half or so electronically), so the reports have something to show."""
    rng = random.Random(seed_value)  # noqa: S311 (made-up figures, not a secret)
    rows = session.exec(select(MonthlyTally).where(MonthlyTally.unit_code != "")).all()
    held: dict[str, int] = {}
    for row in rows:
        held[row.unit_code] = held.get(row.unit_code, 0) + row.digitized
        issued = round(row.digitized * rng.uniform(1.5, 3.0)) + 1
        session.merge(
            IssuedTally(
                unit_code=row.unit_code,
                month=row.month,
                issued=issued,
                electronic=round(issued * rng.uniform(0.35, 0.65)),
            )
        )
    for code, count in held.items():
        session.merge(
            UnitTarget(unit_code=code, volume=max(1, round(count * rng.uniform(0.8, 2.5))))
        )
    session.commit()


def serve_until_interrupted(
    api_url: str, accounts: list[PageAccount], workdir: Path, console: Console | None = None
) -> None:
    """Say where the pages are and who may sign in, then wait for Ctrl-C (or SIGTERM: either
    returns, so the caller stops the server and the broker it started)."""
    out = console or Console()
    lines = [f"{a.username}\t{a.role.value}\t{a.password}" for a in accounts]
    keep = workdir / "accounts.txt"
    private_file(keep).write_text("\n".join(lines) + "\n", encoding="utf-8")
    out.print(f"\n[bold]The web pages are served at {api_url}/login[/] (Ctrl-C stops everything)")
    for a in accounts:
        unit = f", unit {a.unit}" if a.unit else ""
        out.print(f"  {a.username:<14} {a.role.value}{unit}   password: {a.password}")
    out.print(f"  (also in {keep}, readable by you only)")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    out.print("stopping the server and the broker")

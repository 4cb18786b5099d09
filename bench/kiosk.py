"""Kiosk benchmark (issue 16): keys and seconds per result, start-up, the UI's lag under OCR.

    .venv/bin/python -m bench.kiosk [--results 3]

On the demo appliance of `sohoa edge tui --demo` (SoftHSM token, SANE's `pnm` backend scanning
a rendered one-page result, its own broker, server and sync agent), the kiosk is driven headless
by Textual's Pilot at 80x24, as an officer would: N, Enter (the highlighted procedure), Enter
(read), F2 (sign and queue). For each result it measures:
- keys from "new" to "queued" (target <= 6);
- the wall time of each step (scan, read = capture + OCR + PDF, sign + queue) and the UI's own
  share: the whole minus the read step (target <= 1 s: OCR excluded, as the issue asks);
- the event loop's lag while the read step runs (a 10 ms ticker's lateness: how long the UI
  could not draw; target: no frame over 100 ms);
- the seconds from queued to the server's acknowledgement (a real server over a real broker).
In batch mode (`--batch N`, issue 16 item 4): a stack of N rendered results with a blank sheet
between each two, fed through the `pnm` scanner as a feeder hands it, driven as L (batch),
Enter (the procedure), Enter (the stack), then F2 on each review the batch opens by itself: keys
per result (target <= 2 when no field is flagged; the keys that are not reviews are reported
apart, since every sample result has its issuer read with low confidence, hence flagged) and
seconds per result.
And once: the kiosk's start to its lock screen in this process (the app, not the interpreter),
and a fresh interpreter's import of the `sohoa` command with the kiosk (what `sohoa edge tui`
adds before the first frame). The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from cli.kiosk_demo import DemoKiosk, demo_appliance
from edge.sample_document import render_sample_result
from edge.sync.outbox import Outbox, State
from edge.tui.app import KioskApp, make_kiosk
from edge.tui.batch import ItemState, pnm_stack
from edge.tui.screens.batch import BatchReviewScreen, BatchScreen
from edge.tui.screens.capture import CaptureScreen
from edge.tui.screens.home import HomeScreen
from edge.tui.screens.lock import LockScreen
from edge.tui.screens.review import ReviewScreen

SIZE = (80, 24)


async def settle(app: KioskApp) -> None:
    """Wait for the app's workers and the messages they posted."""
    for _ in range(2):
        await app.workers.wait_for_complete()
        await asyncio.sleep(0.02)


async def lag_while(app: KioskApp, done: asyncio.Event) -> list[float]:
    """The lateness of a 10 ms ticker on the app's loop until `done` (seconds each)."""
    lags = []
    while not done.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - start - 0.01)
    return lags


async def one_result(app: KioskApp, pilot: Any) -> dict[str, float]:
    """Drive one result from N to queued; the keys and times of its steps."""
    keys = 0

    async def press(*names: str) -> None:
        nonlocal keys
        keys += len(names)
        await pilot.press(*names)

    begin = time.perf_counter()
    await press("n")
    await asyncio.sleep(0.02)
    await press("enter")  # the first procedure of the catalogue, highlighted
    await settle(app)
    assert isinstance(app.screen, CaptureScreen), app.screen
    scanned = time.perf_counter()
    await press("enter")
    done = asyncio.Event()
    ticker = asyncio.ensure_future(lag_while(app, done))
    await settle(app)
    done.set()
    lags = await ticker
    assert isinstance(app.screen, ReviewScreen), app.screen
    read = time.perf_counter()
    await press("f2")
    await settle(app)
    assert isinstance(app.screen, HomeScreen), app.screen
    queued = time.perf_counter()
    return {
        "keys": keys,
        "scan_s": scanned - begin,
        "read_s": read - scanned,
        "sign_s": queued - read,
        "total_s": queued - begin,
        "ui_overhead_s": (queued - begin) - (read - scanned),
        "max_lag_ms": max(lags) * 1000,
        "p99_lag_ms": sorted(lags)[int(len(lags) * 0.99)] * 1000,
    }


async def run(ready: DemoKiosk, results: int) -> dict[str, Any]:
    """Start the kiosk, unlock it, make `results` results, wait for their acks."""
    started = time.perf_counter()
    app = make_kiosk(ready.settings, scan=ready.scan, refresh_s=1.0)
    rows = []
    async with app.run_test(size=SIZE) as pilot:
        while not isinstance(app.screen, LockScreen):
            await asyncio.sleep(0.005)
        to_lock = time.perf_counter() - started
        await pilot.press(*ready.user_pin, "enter")
        await settle(app)
        assert isinstance(app.screen, HomeScreen), app.screen
        for _ in range(results):
            rows.append(await one_result(app, pilot))
        queued_at = time.perf_counter()
    with Outbox(ready.settings.outbox_dir) as outbox:
        deadline = time.monotonic() + 60
        while outbox.counts()[State.ACKED] < results and time.monotonic() < deadline:
            time.sleep(0.05)
        acked = outbox.counts()[State.ACKED]
    return {"start_to_lock_s": to_lock, "rows": rows, "acked": acked,
            "queued_to_all_acked_s": time.perf_counter() - queued_at}  # fmt: skip


async def review_opens(app: KioskApp) -> bool:
    """Whether the batch opens a review (it does a few frames after the last one is signed)."""
    for _ in range(100):
        screen = app.screen
        if isinstance(screen, BatchReviewScreen):
            return True
        if isinstance(screen, BatchScreen) and not screen.busy and not screen.documents:
            return False
        await asyncio.sleep(0.02)
    return False


async def batch(ready: DemoKiosk, results: int, workdir: Path) -> dict[str, Any]:
    """Feed a stack of `results` results with blank separators; keys and seconds per result."""
    files = []
    blank = workdir / "blank.pgm"
    Image.new("L", (2480, 3508), 235).save(blank)
    for i in range(results):
        page = workdir / f"stack-{i}.pgm"
        render_sample_result(100 + i).image.save(page)
        files += [page, blank] if i < results - 1 else [page]
    app = make_kiosk(ready.settings, scan=ready.scan, refresh_s=1.0)
    app.batch_feed = pnm_stack("pnm:0", ready.scan, files)
    setup_keys = review_keys = 0
    async with app.run_test(size=SIZE) as pilot:
        while not isinstance(app.screen, LockScreen):
            await asyncio.sleep(0.005)
        await pilot.press(*ready.user_pin, "enter")
        await settle(app)
        begin = time.perf_counter()
        await pilot.press("l")
        await settle(app)
        await pilot.press("enter")  # the first procedure of the catalogue, highlighted
        await settle(app)
        assert isinstance(app.screen, BatchScreen), app.screen
        await pilot.press("enter")  # the whole stack
        setup_keys = 3
        await settle(app)
        while await review_opens(app):
            await pilot.press("f2")
            review_keys += 1
            await settle(app)
        assert isinstance(app.screen, BatchScreen), app.screen
        seconds = time.perf_counter() - begin
        queued = app.screen.batch_state.count(ItemState.QUEUED)
    assert queued == results, f"{queued} of {results} results queued"
    return {
        "batch_results": results,
        "batch_keys_per_result": (setup_keys + review_keys) / results,
        "batch_unreviewed_keys_per_result": setup_keys / results,
        "batch_flagged": review_keys,
        "batch_seconds_per_result": seconds / results,
    }


def import_seconds() -> float:
    """A fresh interpreter's wall time to import the `sohoa` command and the kiosk app."""
    code = "import cli.main, edge.tui.app"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark; print a table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=3)
    parser.add_argument("--batch", type=int, default=5, help="results in the batch-mode stack")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-kiosk-") as work,
        demo_appliance(Path(work)) as ready,
    ):
        figures = asyncio.run(run(ready, args.results))
        if args.batch:
            figures |= asyncio.run(batch(ready, args.batch, Path(work)))
    figures["import_s"] = import_seconds()
    rows = figures.pop("rows")
    for key in rows[0]:
        figures[f"{key}_median"] = statistics.median(r[key] for r in rows)
        figures[f"{key}_max"] = max(r[key] for r in rows)
    for i, row in enumerate(rows, 1):
        print(f"result {i}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()))
    print(
        f"start to lock screen {figures['start_to_lock_s']:.2f} s in process + imports "
        f"{figures['import_s']:.2f} s; acked {figures['acked']}/{len(rows)} within "
        f"{figures['queued_to_all_acked_s']:.1f} s of the last queued"
    )
    if args.batch:
        print(
            f"batch mode: {figures['batch_keys_per_result']:.2f} keys per result "
            f"({figures['batch_flagged']} of {args.batch} flagged, one F2 each; "
            f"{figures['batch_unreviewed_keys_per_result']:.2f} without the reviews), "
            f"{figures['batch_seconds_per_result']:.1f} s per result"
        )
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()

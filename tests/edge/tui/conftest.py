"""Fixtures of the kiosk's tests: the appliance's settings on a real SoftHSM token and a real
outbox in a temp folder, the admin PIN, and helpers to drive the app with Pilot."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from edge.config import EdgeSettings
from edge.sync.outbox import Outbox
from edge.tui.services import hash_admin_pin
from tests.fixtures.token import BlankToken

ADMIN_PIN = "80246"
SIZE = (80, 24)
"""The smallest screen the kiosk must work on."""


@pytest.fixture(scope="session")
def admin_pin_hash() -> str:
    """The argon2 hash of `ADMIN_PIN` (hashed once: argon2 is slow on purpose)."""
    return hash_admin_pin(ADMIN_PIN)


@pytest.fixture
def kiosk_settings(tmp_path: Path, blank_token: BlankToken, admin_pin_hash: str) -> EdgeSettings:
    """An appliance with its own token (PIN `blank_token.user_pin`) and an empty outbox."""
    return EdgeSettings(
        device_id="kiosk-test-01",
        data_dir=tmp_path / "data",
        pkcs11_module=blank_token.module_path,
        token_label=blank_token.label,
        kiosk_admin_pin_hash=admin_pin_hash,
    )


@pytest.fixture
def outbox(kiosk_settings: EdgeSettings) -> Iterator[Outbox]:
    """The appliance's outbox, opened as the sync agent would (another connection)."""
    with Outbox(kiosk_settings.outbox_dir) as box:
        yield box


def fake_pdf(n: int) -> bytes:
    """A small distinct PDF-looking result (the outbox checks XMP only when there is one)."""
    return b"%PDF-1.7\n" + f"result {n}\n".encode() + os.urandom(16) + b"\n%%EOF\n"


async def type_pin(pilot: Pilot[None], pin: str) -> None:
    """Type `pin` into the focused PIN input and press Enter, then let the worker answer."""
    await pilot.press(*pin, "enter")
    await wait_workers(pilot)


async def wait_workers(pilot: Pilot[None]) -> None:
    """Wait until the app's and its screens' workers are done, and the messages handled."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()

"""A damaged draft or batch file is set aside, not read and not crashed on: the kiosk starts
clean and an admin finds the file as `.unreadable`."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.tui import batch, flow


@pytest.mark.parametrize(
    ("name", "load"),
    [(flow.DRAFT_FILE, flow.load_draft), (batch.BATCH_FILE, batch.load_batch)],
)
def test_a_damaged_file_is_set_aside(tmp_path: Path, name: str, load: object) -> None:
    kept = tmp_path / name
    kept.write_text('{"procedure": "1.001193", "items": [{"name": 3}', encoding="utf-8")
    assert load(tmp_path) is None  # type: ignore[operator]
    assert not kept.exists() and kept.with_suffix(".unreadable").exists()


def test_a_draft_comes_back_as_it_was_saved(tmp_path: Path) -> None:
    draft = flow.Draft(procedure="1.001193", procedure_name="Đăng ký khai sinh", pages=[])
    flow.save_draft(tmp_path, draft)
    assert flow.load_draft(tmp_path) == draft
    assert (tmp_path / flow.DRAFT_FILE).stat().st_mode & 0o077 == 0  # citizen data: 0600

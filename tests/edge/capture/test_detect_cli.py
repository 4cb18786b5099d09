"""`sohoa edge detect`: one JSON object per line, corners in the page's order, every gate."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from edge.capture.detect_cli import detect_command
from edge.capture.gates import Gate
from edge.capture.geometry import PageQuad, mean_corner_error
from tests.edge.capture.synthetic import make_frame, tilted, turned


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("detect")
    made = {}
    for name, corners in (("thang", tilted()), ("nam-ngang", turned(clockwise=True))):
        frame = make_frame(corners, desk_kind="dark", seed=0)
        path = folder / f"{name}.jpg"
        cv2.imwrite(str(path), frame.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        made[name] = path
        (folder / f"{name}.truth.json").write_text(json.dumps(frame.corners.corners))
    desk = folder / "ban-trong.png"
    cv2.imwrite(str(desk), make_frame(tilted(), desk_kind="dark").image[:300, :300])
    made["ban-trong"] = desk
    broken = folder / "hong.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    made["hong"] = broken
    return made


def test_json_lines_with_corners_in_page_order(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status = detect_command([files["thang"], files["nam-ngang"], files["ban-trong"]], True)
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    for record, name in zip(records[:2], ("thang", "nam-ngang"), strict=True):
        assert record["file"] == str(files[name])
        truth = PageQuad.from_array(
            json.loads(files[name].with_name(f"{name}.truth.json").read_text())
        )
        assert mean_corner_error(PageQuad.from_array(record["corners"]), truth) < 0.005
        assert set(record["gates"]) == {g.value for g in Gate}
        for verdict in record["gates"].values():
            assert set(verdict) >= {"passed", "value", "message"}
    assert records[2]["corners"] is None
    assert records[2]["gates"]["page_found"]["passed"] is False
    assert records[2]["gates"]["page_found"]["message"]


def test_table_and_unreadable_file(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status = detect_command([files["hong"], files["ban-trong"]], False)
    assert status == 1
    captured = capsys.readouterr()
    assert "hong.png" in captured.err
    assert "ban-trong.png: no page" in captured.out
    assert "Không tìm thấy trang giấy" in captured.out

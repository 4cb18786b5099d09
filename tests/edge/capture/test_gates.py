"""Quality gates: good captures pass, each kind of bad capture is caught by its own gate."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edge.capture.detect import detect_page
from edge.capture.gates import (
    MESSAGES_VI,
    Gate,
    GateResult,
    GateThresholds,
    effective_dpi,
    evaluate_gates,
)
from edge.capture.geometry import PageQuad
from tests.edge.capture.synthetic import CORPUS, CORPUS_MISSING, Frame, make_frame, read

FRAME = (2400, 3200)  # a phone's portrait frame; the page at ~250 dpi


def page_corners() -> list[tuple[float, float]]:
    return [(260.0, 220.0), (2150.0, 260.0), (2190.0, 2950.0), (220.0, 2920.0)]


@pytest.fixture(scope="module")
def good() -> Frame:
    return make_frame(page_corners(), FRAME, desk_kind="wood", seed=3, shade=0.1)


def verdicts(image: np.ndarray, **kwargs: object) -> dict[Gate, GateResult]:
    quad = detect_page(image)
    return {r.gate: r for r in evaluate_gates(image, quad, **kwargs)}  # type: ignore[arg-type]


def failed(image: np.ndarray) -> set[Gate]:
    return {gate for gate, result in verdicts(image).items() if not result.passed}


def test_good_capture_passes_every_gate(good: Frame) -> None:
    results = verdicts(good.image)
    assert set(results) == set(Gate)
    assert all(r.passed for r in results.values()), results
    assert all(r.message_vi == "" for r in results.values())
    assert results[Gate.RESOLUTION].value == pytest.approx(effective_dpi(good.corners), rel=0.01)


def test_blur_is_caught(good: Frame) -> None:
    assert Gate.BLUR in failed(cv2.GaussianBlur(good.image, (0, 0), 4.0))


def test_glare_is_caught(good: Frame) -> None:
    image = good.image.astype(np.float32)
    height, width = image.shape[:2]
    ys, xs = np.ogrid[:height, :width]
    spot = np.exp(-((xs - 1200) ** 2 + (ys - 1500) ** 2) / (2 * 260.0**2))
    image += (255 - image) * np.minimum(1.0, 1.6 * spot)[..., None]
    assert failed(np.clip(image, 0, 255).astype(np.uint8)) == {Gate.GLARE}


def test_page_cut_off_is_caught(good: Frame) -> None:
    cut = good.image[400:, :2050]  # the top and the right edge leave the frame
    assert Gate.CUT_OFF in failed(cut)


def test_low_resolution_is_caught(good: Frame) -> None:
    small = cv2.resize(good.image, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    results = verdicts(small)
    assert not results[Gate.RESOLUTION].passed
    assert results[Gate.RESOLUTION].value < 200


def test_dark_capture_is_caught(good: Frame) -> None:
    assert Gate.TOO_DARK in failed((good.image * 0.25).astype(np.uint8))


def test_bright_capture_is_caught(good: Frame) -> None:
    assert Gate.TOO_BRIGHT in failed(cv2.convertScaleAbs(good.image, alpha=2.2, beta=140))


def test_no_page_fails_every_gate_with_the_page_message() -> None:
    results = evaluate_gates(np.full((480, 640, 3), 60, np.uint8), None)
    assert [r.gate for r in results] == list(Gate)
    assert not any(r.passed for r in results)
    assert all(r.message_vi == MESSAGES_VI[Gate.PAGE_FOUND] for r in results)


def test_thresholds_are_configurable(good: Frame) -> None:
    strict = GateThresholds(min_dpi=400)
    quad = detect_page(good.image)
    results = {r.gate: r for r in evaluate_gates(good.image, quad, thresholds=strict)}
    assert not results[Gate.RESOLUTION].passed
    assert results[Gate.RESOLUTION].threshold == 400
    assert "200 dpi" in results[Gate.RESOLUTION].message_vi


def test_scan_is_judged_at_its_own_resolution() -> None:
    page = np.full((2339, 1654), 235, np.uint8)  # A4 at 200 dpi
    cv2.putText(page, "Giay xac nhan", (200, 400), cv2.FONT_HERSHEY_SIMPLEX, 3, 20, 6)
    quad = PageQuad.from_array([[0, 0], [1653, 0], [1653, 2338], [0, 2338]])
    results = {r.gate: r for r in evaluate_gates(page, quad, full_frame=True, dpi=200)}
    assert results[Gate.RESOLUTION].passed
    assert results[Gate.CUT_OFF].passed
    low = {r.gate: r for r in evaluate_gates(page, quad, full_frame=True, dpi=150)}
    assert not low[Gate.RESOLUTION].passed


def test_every_message_is_vietnamese_and_says_what_to_do() -> None:
    assert set(MESSAGES_VI) == set(Gate)
    for message in MESSAGES_VI.values():
        assert "—" in message  # what is wrong — what to do
        assert any(ord(ch) > 127 for ch in message)


def test_corpus_good_photos_pass_and_glare_photos_are_caught() -> None:
    if not CORPUS.is_dir():
        pytest.skip(CORPUS_MISSING)
    for path in sorted(CORPUS.glob("*_photo.jpg"))[:3]:
        bad = [g for g, r in verdicts(read(path)).items() if not r.passed]
        assert not bad, f"{path.name}: {bad}"
    glared = [
        path
        for path in sorted(CORPUS.glob("*_photo_hard.jpg"))
        if json.loads(path.with_name(path.name + ".json").read_text())["capture"]
        .get("glare", {})
        .get("strength", 0)
        > 0.5
    ]
    for path in glared:
        assert not verdicts(read(path))[Gate.GLARE].passed, path.name

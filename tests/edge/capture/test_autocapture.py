"""The auto-capture state machine on plain numbers: when it fires, and when it must not."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.capture.autocapture import (
    AutoCapture,
    AutoCaptureSettings,
    CaptureState,
    Decision,
    Trigger,
    corner_motion,
)
from edge.capture.geometry import PageQuad

SHARP = 0.7
BLURRED = 0.2
FPS = 15


def quad(dx: float = 0.0, dy: float = 0.0, grow: float = 0.0) -> PageQuad:
    """A page of ~100×141 px (diagonal ~173) shifted by (dx, dy) and grown by `grow` px."""
    x0, y0, x1, y1 = 200 + dx - grow, 150 + dy - grow, 300 + dx + grow, 291 + dy + grow
    return PageQuad(((x0, y0), (x1, y0), (x1, y1), (x0, y1)))


def run(
    machine: AutoCapture,
    frames: Sequence[tuple[PageQuad | None, float | None]],
    start: float = 0.0,
    fps: float = FPS,
) -> list[Decision]:
    return [machine.feed(start + i / fps, q, s) for i, (q, s) in enumerate(frames)]


def fired(decisions: list[Decision]) -> list[int]:
    return [i for i, d in enumerate(decisions) if d.capture is not None]


def test_a_still_sharp_page_is_captured_once_after_the_steady_time() -> None:
    machine = AutoCapture()  # 0.8 s steady
    decisions = run(machine, [(quad(), SHARP)] * (FPS * 3))

    # The first frame starts the clock; 0.8 s later is frame 12 at 15 fps.
    assert fired(decisions) == [12]
    assert decisions[12].capture is Trigger.AUTO
    assert decisions[0].state is CaptureState.TRACKING
    assert {d.state for d in decisions[1:12]} == {CaptureState.STEADY}
    assert {d.state for d in decisions[12:]} == {CaptureState.CAPTURED}
    progress = [d.progress for d in decisions[:13]]
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_the_steady_time_is_configurable() -> None:
    machine = AutoCapture(AutoCaptureSettings(steady_seconds=2.0))
    decisions = run(machine, [(quad(), SHARP)] * (FPS * 4))
    assert fired(decisions) == [30]


def test_small_detector_jitter_still_counts_as_steady() -> None:
    # ±1 px on a 173 px diagonal is 0.6%, under the default 1.5%.
    frames = [(quad(dx=(-1) ** i, dy=0.5 * (-1) ** (i // 2)), SHARP) for i in range(FPS * 2)]
    assert fired(run(AutoCapture(), frames)) == [12]


def test_a_moving_page_is_never_captured() -> None:
    frames = [(quad(dx=4 * i), SHARP) for i in range(FPS * 5)]  # 4 px a frame: 2.3% a frame
    decisions = run(AutoCapture(), frames)
    assert fired(decisions) == []
    assert {d.state for d in decisions} == {CaptureState.TRACKING}


def test_a_slow_drift_cannot_pass_for_still() -> None:
    # 1 px a frame is under the threshold frame to frame, but 12 px over the steady time.
    frames = [(quad(dx=i), SHARP) for i in range(FPS * 5)]
    assert fired(run(AutoCapture(), frames)) == []


def test_a_blurred_page_holds_the_capture_back_until_it_is_sharp_for_the_whole_time() -> None:
    frames = [(quad(), BLURRED)] * 20 + [(quad(), SHARP)] * 20
    decisions = run(AutoCapture(), frames)
    assert {d.state for d in decisions[:20]} == {CaptureState.TRACKING}
    # The clock starts at the last blurred frame (19): 0.8 s later is frame 31.
    assert fired(decisions) == [31]


def test_unmeasured_sharpness_counts_as_sharp() -> None:
    assert fired(run(AutoCapture(), [(quad(), None)] * 20)) == [12]


def test_short_detector_dropouts_are_bridged_but_never_captured_on() -> None:
    frames: list[tuple[PageQuad | None, float | None]] = [(quad(), SHARP)] * 10
    frames += [(None, None)] * 4  # 0.27 s, under lost_seconds (0.3)
    frames += [(quad(), SHARP)] * 10
    decisions = run(AutoCapture(), frames)
    # The clock kept running through the gap; the capture waits for a frame with the page.
    assert fired(decisions) == [14]
    assert decisions[12].state is CaptureState.STEADY and decisions[12].quad is None


def test_a_page_gone_longer_restarts_from_searching() -> None:
    frames: list[tuple[PageQuad | None, float | None]] = [(quad(), SHARP)] * 10
    frames += [(None, None)] * 6  # 0.4 s
    frames += [(quad(), SHARP)] * 20
    decisions = run(AutoCapture(), frames)
    assert decisions[15].state is CaptureState.SEARCHING
    assert fired(decisions) == [16 + 12]


def test_after_a_capture_the_next_page_is_captured_once_it_is_in_place() -> None:
    machine = AutoCapture()
    first = run(machine, [(quad(), SHARP)] * 30)
    assert fired(first) == [12]
    # Page taken away, the next one put down.
    gap = run(machine, [(None, None)] * 8, start=2.0)
    assert gap[-1].state is CaptureState.SEARCHING
    second = run(machine, [(quad(dx=3), SHARP)] * 30, start=3.0)
    assert fired(second) == [12]


def test_a_page_swapped_in_place_is_a_new_page_once_it_moved_enough() -> None:
    machine = AutoCapture()
    run(machine, [(quad(), SHARP)] * 15)
    assert machine.state is CaptureState.CAPTURED
    # Nudged by 5 px (2.9%): still the page just captured.
    nudged = run(machine, [(quad(dx=5), SHARP)] * 30, start=1.0)
    assert fired(nudged) == [] and machine.state is CaptureState.CAPTURED
    # Replaced by a page lying 30 px further (17%): captured after its own steady time.
    replaced = run(machine, [(quad(dx=30), SHARP)] * 30, start=3.0)
    assert fired(replaced) == [12]


def test_manual_capture_fires_on_the_next_frame_even_while_moving_or_without_a_page() -> None:
    machine = AutoCapture()
    run(machine, [(quad(dx=10 * i), SHARP) for i in range(5)])
    machine.request_capture()
    decision = machine.feed(1.0, quad(dx=60), SHARP)
    assert decision.capture is Trigger.MANUAL and decision.state is CaptureState.CAPTURED
    assert machine.feed(1.1, quad(dx=60), SHARP).capture is None

    machine.request_capture()
    empty = machine.feed(1.2, None, None)
    assert empty.capture is Trigger.MANUAL and empty.state is CaptureState.SEARCHING


def test_time_must_not_go_backwards() -> None:
    machine = AutoCapture()
    machine.feed(1.0, quad(), SHARP)
    with pytest.raises(ValueError, match="backwards"):
        machine.feed(0.5, quad(), SHARP)
    with pytest.raises(ValueError, match="finite"):
        machine.feed(float("nan"), quad(), SHARP)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="steady_seconds"):
        AutoCaptureSettings(steady_seconds=-1)
    with pytest.raises(ValueError, match="rearm_motion"):
        AutoCaptureSettings(max_motion=0.1, rearm_motion=0.05)


def test_corner_motion_is_relative_to_the_diagonal() -> None:
    assert corner_motion(quad(), quad()) == 0
    assert corner_motion(quad(dx=quad().diagonal / 10), quad()) == pytest.approx(0.1)


# ---------------------------------------------------------------------------------------------
# Properties over arbitrary frame streams


@dataclass(frozen=True)
class Step:
    dt: float
    kind: str  # "still", "jitter", "move", "gone", "blur"
    amount: float


step = st.builds(
    Step,
    dt=st.floats(0.01, 0.2),
    kind=st.sampled_from(["still", "jitter", "move", "gone", "blur"]),
    amount=st.floats(-1.0, 1.0),
)
# Streams are runs of one kind of frame (a page held still, moved, taken away…), as in life.
runs = st.lists(st.tuples(step, st.integers(1, 25)), min_size=1, max_size=12)
steps = runs.map(lambda rs: [s for s, n in rs for _ in range(n)])


@settings(max_examples=300, deadline=None)
@given(steps)
def test_every_auto_capture_follows_a_still_sharp_stretch_and_never_repeats_on_one_page(
    stream: list[Step],
) -> None:
    config = AutoCaptureSettings()
    machine = AutoCapture(config)
    t, x = 0.0, 0.0
    seen: list[tuple[float, PageQuad | None, float | None]] = []
    captures: list[int] = []
    for step in stream:
        t += step.dt
        if step.kind == "move":
            x += 6 + 20 * abs(step.amount)  # ≥ 3.5% of the diagonal
        elif step.kind == "jitter":
            x += step.amount  # ≤ 0.6%
        page = None if step.kind == "gone" else quad(dx=x)
        sharp = BLURRED if step.kind == "blur" else SHARP
        decision = machine.feed(t, page, sharp if page else None)
        seen.append((t, page, sharp if page else None))
        if decision.capture is Trigger.AUTO:
            captures.append(len(seen) - 1)

    for k in captures:
        t_k, q_k, _ = seen[k]
        assert q_k is not None
        # the frame that started the clock may itself have been blurred or moved: after it
        window = [s for s in seen[: k + 1] if s[0] > t_k - config.steady_seconds + 1e-6]
        for _, q, sharpness in window:
            if q is not None:  # every page seen in the steady time was still and sharp
                assert sharpness is not None and sharpness >= config.min_sharpness
                assert corner_motion(q, q_k) <= 2 * config.max_motion * 1.05
        # the clock needs the steady time, which a stream starting later than t_k - steady lacks
        assert t_k - config.steady_seconds >= seen[0][0] - 1e-9
    for earlier, later in itertools.pairwise(captures):
        # one capture per page: between two, the page went away or moved to a new place
        between = seen[earlier + 1 : later + 1]
        q_e = seen[earlier][1]
        assert q_e is not None
        assert any(q is None or corner_motion(q, q_e) > config.rearm_motion for _, q, _ in between)


@settings(max_examples=100, deadline=None)
@given(
    before=steps,
    steady=st.floats(0.2, 2.0),
    fps=st.sampled_from([5, 10, 15, 30]),
)
def test_a_new_page_held_still_and_sharp_long_enough_is_always_captured(
    before: list[Step], steady: float, fps: int
) -> None:
    machine = AutoCapture(AutoCaptureSettings(steady_seconds=steady))
    t, x = 0.0, 0.0
    for step in before:
        t += step.dt
        x += 6 if step.kind == "move" else 0
        machine.feed(t, None if step.kind == "gone" else quad(dx=x), SHARP)
    # Then a new page, far from anything seen, held still for the steady time and a frame more.
    frames = int(steady * fps) + 2
    decisions = run(machine, [(quad(dx=x + 500), SHARP)] * frames, start=t + 0.5, fps=fps)
    assert [d.capture for d in decisions].count(Trigger.AUTO) == 1

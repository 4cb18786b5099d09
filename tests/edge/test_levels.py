"""Grey-level statistics from histograms give numpy's own answers."""

from __future__ import annotations

import numpy as np
import pytest

from edge.levels import is_bilevel, level_percentile


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32])
def test_level_percentile_is_numpys_percentile(dtype: type) -> None:
    rng = np.random.default_rng(3)
    for size in (1, 2, 7, 1000, 4097):
        values: np.ndarray = rng.integers(0, 256 if dtype is np.uint8 else 1021, size).astype(dtype)
        for q in (0.0, 0.5, 50.0, 95.0, 98.0, 100.0, 37.3):
            assert level_percentile(values, q) == pytest.approx(
                float(np.percentile(values, q)), abs=1e-3
            )


def test_only_black_and_white_is_bilevel() -> None:
    page = np.full((40, 30), 255, np.uint8)
    page[10:20, 5:25] = 0
    assert is_bilevel(page)
    page[15, 15] = 128
    assert not is_bilevel(page)
    assert not is_bilevel(np.zeros((0, 0), np.uint8))

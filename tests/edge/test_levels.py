"""Grey-level statistics from histograms give numpy's own answers."""

from __future__ import annotations

import numpy as np
import pytest

from edge.levels import level_percentile


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32])
def test_level_percentile_is_numpys_percentile(dtype: type) -> None:
    rng = np.random.default_rng(3)
    for size in (1, 2, 7, 1000, 4097):
        values: np.ndarray = rng.integers(0, 256 if dtype is np.uint8 else 1021, size).astype(dtype)
        for q in (0.0, 0.5, 50.0, 95.0, 98.0, 100.0, 37.3):
            assert level_percentile(values, q) == pytest.approx(
                float(np.percentile(values, q)), abs=1e-3
            )

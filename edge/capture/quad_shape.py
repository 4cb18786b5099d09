"""Checks of a candidate page quadrilateral on the detector's work image: its angles, its
proportions, and how sharp its edges are. Shared by the two ways a page is found
(`edge.capture.detect`: bright regions; `edge.capture.straight_edges`: straight edges).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[Any]
FloatArray = npt.NDArray[np.float64]


def plausible_angles(quad: FloatArray, max_deviation: float) -> bool:
    """Convex, and every interior angle within `max_deviation` degrees of a right angle."""
    signs = []
    for i in range(4):
        a, b, c = quad[i - 1], quad[i], quad[(i + 1) % 4]
        u, v = a - b, c - b
        norm = np.linalg.norm(u) * np.linalg.norm(v)
        if norm == 0:
            return False
        angle = np.degrees(np.arccos(np.clip(np.dot(u, v) / norm, -1.0, 1.0)))
        if abs(angle - 90.0) > max_deviation:
            return False
        signs.append(np.sign(u[0] * v[1] - u[1] * v[0]))
    return bool(abs(sum(signs)) == 4)


def aspect(quad: FloatArray) -> float:
    """How many times longer the quad is than wide: its opposite sides' mean lengths, the
    longer pair over the shorter."""
    sides = [float(np.linalg.norm(quad[(i + 1) % 4] - quad[i])) for i in range(4)]
    across, down = (sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2
    return max(across, down) / max(min(across, down), 1e-9)


def edge_contrast(paper: Image, quad: FloatArray) -> float:
    """The weakest edge's sharpness: per edge, the median over points along it of the largest
    paper-map step (inside minus outside, across a few pixels) found within a band around the
    edge — the band lets a bowed edge stray from the straight chord. Edges along the frame's
    border (a page cut off) are skipped."""
    height, width = paper.shape
    centre = quad.mean(axis=0)
    half = max(2.0, max(height, width) / 240)  # half the step's width
    band = np.arange(-3 * half, 3 * half + 1, 1.0)
    ts = np.linspace(0.1, 0.9, 16)
    steps = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        direction = b - a
        normal = np.array([direction[1], -direction[0]]) / (np.linalg.norm(direction) + 1e-9)
        if np.dot(centre - (a + b) / 2, normal) < 0:
            normal = -normal  # point inwards
        points = (a + ts[:, None] * direction)[:, None, :] + band[None, :, None] * normal
        inside = np.rint(points + half * normal).astype(int)
        outside = np.rint(points - half * normal).astype(int)
        valid = (
            (np.minimum(inside, outside) >= 0).all(axis=2)
            & (np.maximum(inside[..., 0], outside[..., 0]) < width)
            & (np.maximum(inside[..., 1], outside[..., 1]) < height)
        )
        rows = valid.all(axis=1)
        if rows.sum() < len(ts) // 2:
            continue  # an edge on the frame's border: nothing outside to compare with
        inner = paper[inside[rows, :, 1], inside[rows, :, 0]].astype(np.float64)
        outer = paper[outside[rows, :, 1], outside[rows, :, 0]].astype(np.float64)
        steps.append(float(np.median((inner - outer).max(axis=1))))
    return min(steps) if steps else 0.0

"""Plane geometry of a page in an image: the page quadrilateral and paper sizes.

Rules of this module:
- Corners are (x, y) in image pixels, origin at the top-left pixel's corner, floats.
- A `PageQuad` lists its corners in the *page's* own order: top-left, top-right, bottom-right,
  bottom-left as the page reads. For a page lying rotated in the frame that is not the frame's
  order; `frame_order` gives the frame's order when a caller needs it.
- No OpenCV here: plain numbers and numpy, so any module may import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Point = tuple[float, float]


@dataclass(frozen=True)
class PaperSize:
    """A sheet of paper, portrait.

    Attributes:
        name: e.g. "A4".
        width_mm, height_mm: the portrait size in millimetres (width ≤ height).
    """

    name: str
    width_mm: float
    height_mm: float

    @property
    def aspect(self) -> float:
        """Height over width of the portrait sheet (√2 for the A series)."""
        return self.height_mm / self.width_mm

    def pixels(self, dpi: int, *, landscape: bool = False) -> tuple[int, int]:
        """The sheet's (width, height) in pixels at `dpi` (A4 at 300 dpi: 2480×3508)."""
        width = round(self.width_mm / 25.4 * dpi)
        height = round(self.height_mm / 25.4 * dpi)
        return (height, width) if landscape else (width, height)


A4 = PaperSize("A4", 210.0, 297.0)
A5 = PaperSize("A5", 148.0, 210.0)
LETTER = PaperSize("Letter", 215.9, 279.4)


def _distance(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


@dataclass(frozen=True)
class PageQuad:
    """The page's four corners in an image, in the page's own order TL, TR, BR, BL.

    Attributes:
        corners: four (x, y) points in image pixels.

    Raises:
        ValueError: not exactly four finite points.
    """

    corners: tuple[Point, ...]

    def __post_init__(self) -> None:
        if len(self.corners) != 4:
            raise ValueError(f"a page quadrilateral has 4 corners, not {len(self.corners)}")
        for point in self.corners:
            if len(point) != 2 or not all(math.isfinite(v) for v in point):
                raise ValueError(f"corner {point!r} is not a finite (x, y) point")

    @classmethod
    def from_array(cls, points: npt.ArrayLike) -> PageQuad:
        """Build from anything shaped (4, 2) (or (4, 1, 2), as OpenCV returns contours)."""
        array = np.asarray(points, dtype=np.float64).reshape(4, 2)
        return cls(tuple((float(x), float(y)) for x, y in array))

    def as_array(self) -> npt.NDArray[np.float32]:
        """The corners as a (4, 2) float32 array, as `cv2.getPerspectiveTransform` wants."""
        return np.array(self.corners, dtype=np.float32)

    @property
    def area(self) -> float:
        """The enclosed area in square pixels (shoelace formula; 0 for a degenerate quad)."""
        xs = [p[0] for p in self.corners]
        ys = [p[1] for p in self.corners]
        twice = sum(xs[i] * ys[(i + 1) % 4] - xs[(i + 1) % 4] * ys[i] for i in range(4))
        return abs(twice) / 2

    @property
    def top_width(self) -> float:
        """Length of the page's top edge (TL→TR) in pixels."""
        return _distance(self.corners[0], self.corners[1])

    @property
    def bottom_width(self) -> float:
        """Length of the page's bottom edge (BL→BR) in pixels."""
        return _distance(self.corners[3], self.corners[2])

    @property
    def left_height(self) -> float:
        """Length of the page's left edge (TL→BL) in pixels."""
        return _distance(self.corners[0], self.corners[3])

    @property
    def right_height(self) -> float:
        """Length of the page's right edge (TR→BR) in pixels."""
        return _distance(self.corners[1], self.corners[2])

    @property
    def aspect(self) -> float:
        """Mean height over mean width as the page reads (≈√2 for portrait A4 seen square-on)."""
        width = (self.top_width + self.bottom_width) / 2
        height = (self.left_height + self.right_height) / 2
        return height / width if width > 0 else math.inf

    @property
    def diagonal(self) -> float:
        """Mean length of the two diagonals, the scale corner errors are measured against."""
        return (
            _distance(self.corners[0], self.corners[2])
            + _distance(self.corners[1], self.corners[3])
        ) / 2

    def scaled(self, factor: float) -> PageQuad:
        """The same quad in an image resized by `factor` (e.g. from a preview to full size)."""
        return PageQuad(tuple((x * factor, y * factor) for x, y in self.corners))

    def rotated_order(self, quarter_turns: int) -> PageQuad:
        """The same four points with the page's order turned by `quarter_turns` × 90°.

        If the page's text reads rotated by 90° clockwise relative to the current order (its
        top is where the current order's right edge is), `rotated_order(1)` makes the old TR the
        new TL, and so on.
        """
        k = quarter_turns % 4
        return PageQuad(self.corners[k:] + self.corners[:k])

    def frame_order(self) -> PageQuad:
        """The same points ordered as the *frame* sees them: the corner nearest the frame's top
        left first, then clockwise on screen."""
        return PageQuad.from_array(order_clockwise(self.as_array()))

    def touches_border(self, width: int, height: int, margin: float) -> bool:
        """Whether any corner lies within `margin` pixels of the frame's border or outside it."""
        return any(
            x < margin or y < margin or x > width - 1 - margin or y > height - 1 - margin
            for x, y in self.corners
        )


def order_clockwise(points: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Order four points clockwise on screen (y down), starting at the one nearest the top-left.

    "Nearest the top-left" is the point with the smallest x + y among the two topmost after
    sorting by angle, which stays stable for quads rotated up to 45°.
    """
    array = np.asarray(points, dtype=np.float64).reshape(4, 2)
    centre = array.mean(axis=0)
    angles = np.arctan2(array[:, 1] - centre[1], array[:, 0] - centre[0])
    ordered = array[np.argsort(angles)]  # clockwise on screen, because y points down
    start = int(np.argmin(ordered.sum(axis=1)))
    return np.roll(ordered, -start, axis=0)


def portrait_order(points: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Order four points clockwise so that the first edge (TL→TR) is a *short* edge.

    A page lying on its side in the frame then gets the order of a portrait page turned by
    90° clockwise; whether the text really reads that way (or 270°) needs OSD
    (`edge.capture.orientation`). Quads whose edges are nearly equal keep the frame order.
    """
    ordered = order_clockwise(points)
    top = np.linalg.norm(ordered[1] - ordered[0]) + np.linalg.norm(ordered[2] - ordered[3])
    side = np.linalg.norm(ordered[3] - ordered[0]) + np.linalg.norm(ordered[2] - ordered[1])
    if top > side * 1.05:
        # Landscape in the frame: start from the bottom-left so that the page's top is the
        # frame's left edge (a page turned 90° clockwise in the frame... or counter-clockwise).
        ordered = np.roll(ordered, 1, axis=0)
    return ordered


def mean_corner_error(found: PageQuad, truth: PageQuad) -> float:
    """Mean distance between corresponding corners, as a fraction of the true page diagonal."""
    total = sum(_distance(a, b) for a, b in zip(found.corners, truth.corners, strict=True))
    return total / 4 / truth.diagonal

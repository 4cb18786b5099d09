"""The five capture conditions of shared/corpus-dev, applied to a rendered page with exact geometry.

Every condition maps the 300-dpi page to the image by one 3×3 homography (a translation, a
similarity or a perspective), returned with the image, so page corners and line quads in the
sidecar are exact. Degradations that do not move ink (toner, fading, specks, light, blur, noise,
JPEG) leave the geometry alone.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from bench.corpus.typeset import PAGE_H, PAGE_W

CONDITIONS = ("scan_clean", "scan_degraded", "scan_bw", "photo", "photo_hard")


@dataclass
class Capture:
    """An image of the page: encoded bytes, size, the page→image homography and parameters."""

    data: bytes
    ext: str
    width: int
    height: int
    dpi: int | None
    H: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)


def _np_rng(rng: random.Random) -> np.random.Generator:
    return np.random.default_rng(rng.getrandbits(63))


def _noisy(img: np.ndarray, nrng: np.random.Generator, sigma: float) -> np.ndarray:
    """Sensor noise (the same in every channel), from the capture's own generator."""
    noise = nrng.standard_normal(img.shape[:2], dtype=np.float32) * sigma
    if img.ndim == 3:
        noise = noise[..., None]
    out: np.ndarray = np.clip(img + noise, 0, 255).astype(np.uint8)
    return out


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    assert ok
    return buf.tobytes()


def _affine(
    scale: float, angle_deg: float, out_size: tuple[int, int], offset: tuple[float, float]
) -> np.ndarray:
    """Page → image: scale and rotate about the page centre, centred in the output, shifted."""
    a = math.radians(angle_deg)
    cos, sin = math.cos(a) * scale, math.sin(a) * scale
    cx, cy = PAGE_W / 2, PAGE_H / 2
    ox, oy = out_size[0] / 2 + offset[0], out_size[1] / 2 + offset[1]
    return np.array(
        [[cos, -sin, ox - cos * cx + sin * cy], [sin, cos, oy - sin * cx - cos * cy], [0, 0, 1]],
        np.float64,
    )


def _specks(gray: np.ndarray, nrng: np.random.Generator, count: int) -> None:
    h, w = gray.shape
    for _ in range(count):
        x, y = int(nrng.integers(0, w)), int(nrng.integers(0, h))
        cv2.circle(gray, (x, y), int(nrng.integers(1, 4)), int(nrng.integers(0, 90)), -1)


def scan_clean(page: np.ndarray, rng: random.Random) -> Capture:
    gray = cv2.cvtColor(page, cv2.COLOR_RGB2GRAY)
    off = (rng.randint(-12, 12), rng.randint(-12, 12))
    hom = np.array([[1, 0, off[0]], [0, 1, off[1]], [0, 0, 1]], np.float64)
    img = cv2.warpAffine(gray, hom[:2], (PAGE_W, PAGE_H), borderValue=250)
    return Capture(
        _png(img),
        "png",
        PAGE_W,
        PAGE_H,
        300,
        hom,
        {"dpi": 300, "mode": "gray8", "skew_deg": 0.0, "offset_px": list(off)},
    )


def scan_degraded(page: np.ndarray, rng: random.Random) -> Capture:
    nrng = _np_rng(rng)
    gray = cv2.cvtColor(page, cv2.COLOR_RGB2GRAY)
    ink = rng.choice(["faded", "heavy_toner", "faded", "heavy_toner", "normal"])
    params: dict[str, Any] = {"mode": "gray8", "ink": ink}
    if ink == "heavy_toner":
        k = rng.choice([3, 3, 5])
        gray = cv2.erode(gray, np.ones((k, k), np.uint8))
        gray = cv2.convertScaleAbs(gray, alpha=1.08, beta=-18)
        params["toner_kernel"] = k
    elif ink == "faded":
        f = rng.uniform(0.4, 0.65)
        gray = (255 - (255 - gray.astype(np.float32)) * f).astype(np.uint8)
        params["fade"] = round(f, 3)
    # punch holes, a staple and a crease sit in the margins and across the page
    if rng.random() < 0.5:
        for y in (PAGE_H * 0.38, PAGE_H * 0.62):
            cv2.circle(gray, (int(rng.uniform(60, 110)), int(y)), 38, 70, -1)
        params["punch_holes"] = True
    if rng.random() < 0.4:
        x, y = int(rng.uniform(70, 160)), int(rng.uniform(60, 140))
        cv2.line(gray, (x, y), (x + 120, y + 25), 60, 7)
        params["staple"] = True
    if rng.random() < 0.4:
        y = int(rng.uniform(0.3, 0.7) * PAGE_H)
        cv2.line(gray, (0, y), (PAGE_W, y + int(rng.uniform(-40, 40))), 200, 3)
        params["crease"] = True
    n = rng.randint(40, 400)
    _specks(gray, nrng, n)
    params["specks"] = n
    dpi = rng.choice([200, 300])
    s = dpi / 300
    size = (round(PAGE_W * s), round(PAGE_H * s))
    angle = rng.uniform(-3, 3)
    off = (rng.uniform(-15, 15) * s, rng.uniform(-15, 15) * s)
    hom = _affine(s, angle, size, off)
    img = cv2.warpAffine(
        gray,
        hom[:2],
        size,
        flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
        borderValue=int(rng.uniform(200, 250)),
    )
    sigma = rng.uniform(2, 6)
    img = _noisy(img, nrng, sigma)
    if rng.random() < 0.7:
        q = rng.randint(25, 55)
        jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])[1]
        img = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE))
        params["jpeg_quality"] = q
    params.update(
        dpi=dpi,
        skew_deg=round(angle, 3),
        offset_px=[round(off[0], 1), round(off[1], 1)],
        noise_sigma=round(sigma, 2),
    )
    return Capture(_png(img), "png", size[0], size[1], dpi, hom, params)


_BAYER = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], np.float32) / 16


def scan_bw(page: np.ndarray, rng: random.Random) -> Capture:
    nrng = _np_rng(rng)
    gray = cv2.cvtColor(page, cv2.COLOR_RGB2GRAY)
    angle = rng.uniform(-1.0, 1.0)
    off = (rng.uniform(-10, 10), rng.uniform(-10, 10))
    hom = _affine(1.0, angle, (PAGE_W, PAGE_H), off)
    img = cv2.warpAffine(gray, hom[:2], (PAGE_W, PAGE_H), borderValue=255)
    # an ADF's threshold with ordered dither in the mid-tones: the red seal becomes dots
    lo, span = rng.uniform(55, 75), rng.uniform(110, 150)
    thr = lo + span * np.tile(_BAYER, (PAGE_H // 4 + 1, PAGE_W // 4 + 1))[:PAGE_H, :PAGE_W]
    black = img < thr
    n = rng.randint(80, 600)
    ys, xs = nrng.integers(0, PAGE_H, n), nrng.integers(0, PAGE_W, n)
    for y, x in zip(ys, xs, strict=True):
        black[y : y + int(nrng.integers(2, 6)), x : x + int(nrng.integers(2, 6))] = True
    out = np.where(black, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", out, [cv2.IMWRITE_PNG_BILEVEL, 1])
    assert ok
    return Capture(
        buf.tobytes(),
        "png",
        PAGE_W,
        PAGE_H,
        300,
        hom,
        {
            "dpi": 300,
            "mode": "bw1",
            "skew_deg": round(angle, 3),
            "offset_px": [round(off[0], 1), round(off[1], 1)],
            "threshold": [round(lo), round(span)],
            "specks": n,
        },
    )


DESKS = {
    "wood": (118, 84, 56),
    "grey": (96, 96, 100),
    "dark": (42, 40, 38),
    "light": (196, 190, 178),
}


def _background(
    size: tuple[int, int], rng: random.Random, nrng: np.random.Generator
) -> tuple[np.ndarray, str]:
    w, h = size
    desk = rng.choice(sorted(DESKS))
    base = np.array(DESKS[desk], np.float32)
    small = nrng.normal(0, 1, (h // 64 + 2, w // 64 + 2)).astype(np.float32)
    tex = np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))[..., None]
    bg = np.clip(base + tex * 10, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(bg), desk


def _lighting(
    size: tuple[int, int], rng: random.Random, hard: bool
) -> tuple[np.ndarray, dict[str, Any]]:
    """A low-resolution illumination field (gradient, vignette, soft shadows), scaled up."""
    w, h = size
    sw, sh = w // 8, h // 8
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)
    g = rng.uniform(0.05, 0.2 if not hard else 0.35)
    proj = (xx / sw - 0.5) * math.cos(a) + (yy / sh - 0.5) * math.sin(a)
    field_ = 1 - g * (proj + 0.5)
    v = rng.uniform(0.1, 0.3)
    r2 = ((xx / sw - 0.5) ** 2 + (yy / sh - 0.5) ** 2) * 2
    field_ *= 1 - v * r2
    shadow = np.ones((sh, sw), np.float32)
    depth = rng.uniform(0.75, 0.9) if not hard else rng.uniform(0.45, 0.65)
    pts = np.array([[rng.uniform(0, sw), rng.uniform(0, sh)] for _ in range(4)], np.int32)
    cv2.fillPoly(shadow, [cv2.convexHull(pts)], depth)
    field_ *= np.asarray(cv2.GaussianBlur(shadow, (0, 0), sw / (30 if hard else 12)))
    params = {"gradient": round(g, 3), "vignette": round(v, 3), "shadow_depth": round(depth, 3)}
    if hard and rng.random() < 0.7:  # glare: a bright blurred spot
        glare = np.zeros((sh, sw), np.float32)
        cv2.circle(
            glare,
            (int(rng.uniform(0.2, 0.8) * sw), int(rng.uniform(0.2, 0.8) * sh)),
            int(sw * rng.uniform(0.05, 0.12)),
            1.0,
            -1,
        )
        field_ += np.asarray(cv2.GaussianBlur(glare, (0, 0), sw * 0.04)) * rng.uniform(0.3, 0.6)
        params["glare"] = True
    return cv2.resize(field_, (w, h), interpolation=cv2.INTER_LINEAR), params


def _photo(page: np.ndarray, rng: random.Random, hard: bool) -> Capture:
    nrng = _np_rng(rng)
    device = "phone" if rng.random() < 0.65 else "pi_camera"
    size = (3000, 4000) if device == "phone" else (2592, 1944)
    w, h = size
    params: dict[str, Any] = {"device": device}
    if device == "phone":
        turn = 0
        k = min(w / PAGE_W, h / PAGE_H) * rng.uniform(0.72, 0.86 if not hard else 0.92)
    else:
        turn = rng.choice([90, -90])  # the overhead camera sees the page lying sideways
        k = min(w / PAGE_H, h / PAGE_W) * rng.uniform(0.8, 0.92)
    roll = rng.uniform(-4, 4) if not hard else rng.uniform(-10, 10)
    base = _affine(
        k, turn + roll, size, (rng.uniform(-0.04, 0.04) * w, rng.uniform(-0.04, 0.04) * h)
    )
    corners = np.array([[0, 0], [PAGE_W, 0], [PAGE_W, PAGE_H], [0, PAGE_H]], np.float64)
    quad = cv2.perspectiveTransform(corners[None], base)[0]
    # perspective: a keystone (pitch/yaw) plus a jitter of each corner
    persp = rng.uniform(0.02, 0.05) if not hard else rng.uniform(0.07, 0.13)
    diag = k * math.hypot(PAGE_W, PAGE_H)
    edge = rng.randrange(4)
    for j in (edge, (edge + 1) % 4):  # one edge nearer the camera: its corners spread out
        centre = quad.mean(axis=0)
        quad[j] += (quad[j] - centre) * persp * 1.5
    quad += (
        np.array([[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(4)]) * persp * diag * 0.2
    )
    # keep the page inside the frame
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    shrink = min(1.0, (w - 20) / (hi[0] - lo[0]), (h - 20) / (hi[1] - lo[1]))
    centre = (lo + hi) / 2
    quad = (quad - centre) * shrink + centre
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    quad += np.array(
        [
            max(0, 10 - lo[0]) - max(0, hi[0] - (w - 10)),
            max(0, 10 - lo[1]) - max(0, hi[1] - (h - 10)),
        ]
    )
    hom = cv2.getPerspectiveTransform(corners.astype(np.float32), quad.astype(np.float32)).astype(
        np.float64
    )
    img, desk = _background(size, rng, nrng)
    if hard and rng.random() < 0.6:  # a second sheet, under the page
        other = quad + np.array(
            [rng.uniform(-0.5, 0.5) * w, rng.uniform(0.3, 0.6) * h * rng.choice([-1, 1])]
        )
        cv2.fillPoly(img, [other.astype(np.int32)], (236, 234, 228), cv2.LINE_AA)
        params["second_sheet"] = True
    cv2.warpPerspective(
        page, hom, size, dst=img, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_TRANSPARENT
    )
    if hard and rng.random() < 0.6:  # a finger holding the margin
        side = rng.choice([0, 1])
        px = 40.0 if side == 0 else PAGE_W - 40.0
        py = rng.uniform(0.3, 0.8) * PAGE_H
        fx, fy = cv2.perspectiveTransform(np.array([[[px, py]]], np.float64), hom)[0, 0]
        ang = math.degrees(math.atan2(quad[1][1] - quad[0][1], quad[1][0] - quad[0][0]))
        cv2.ellipse(
            img,
            (int(fx), int(fy)),
            (int(170 * k * 2), int(60 * k * 2)),
            ang,
            0,
            360,
            (176, 128, 104),
            -1,
            cv2.LINE_AA,
        )
        params["finger"] = True
    light, lparams = _lighting(size, rng, hard)
    params.update(lparams)
    gains = np.array([rng.uniform(0.95, 1.05), 1.0, rng.uniform(0.92, 1.04)], np.float32)
    img = img.astype(np.float32) * light[..., None] * gains
    sigma_blur = rng.uniform(0.5, 1.1) if not hard else rng.uniform(0.8, 1.6)
    img = cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (0, 0), sigma_blur)
    sigma = rng.uniform(1.5, 3.5)
    img = _noisy(img, nrng, sigma)
    q = rng.randint(80, 90) if not hard else rng.randint(72, 86)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q]
    )
    assert ok
    params.update(
        page_scale=round(k, 4),
        roll_deg=round(roll + turn, 2),
        perspective=round(persp, 3),
        desk=desk,
        wb_gains=[round(float(x), 3) for x in gains],
        blur={"kind": "gaussian", "sigma_px": round(sigma_blur, 2)},
        noise_sigma=round(sigma, 2),
        jpeg_quality=q,
    )
    return Capture(buf.tobytes(), "jpg", w, h, None, hom, params)


def photo(page: np.ndarray, rng: random.Random) -> Capture:
    return _photo(page, rng, hard=False)


def photo_hard(page: np.ndarray, rng: random.Random) -> Capture:
    return _photo(page, rng, hard=True)


CAPTURE = {
    "scan_clean": scan_clean,
    "scan_degraded": scan_degraded,
    "scan_bw": scan_bw,
    "photo": photo,
    "photo_hard": photo_hard,
}


def capture(page: np.ndarray, condition: str, rng: random.Random) -> Capture:
    """The page as captured in the condition."""
    return CAPTURE[condition](page, rng)

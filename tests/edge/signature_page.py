"""Test pages whose signature area is two columns on the same rows: "Nơi nhận" and its list on
the left, the signer's block on the right (titles, a red seal and a blue signature over the
space between the title and the name, the name), captured as a clean scan, a degraded 200-dpi
scan and a phone photo.

Typeset here with Pillow in a serif font that carries Vietnamese (found with `fc-match`), so the
text is exact; the captures are made with OpenCV (resampling, blur, toner, noise, JPEG, a
perspective warp onto a desk).
"""

from __future__ import annotations

import io
import math
import random
import subprocess
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 2480, 3508  # A4 at 300 dpi
LEFT, RIGHT = 280, 2260  # text margins
RIGHT_CENTRE = 1720  # centre of the header's and the signer block's right column
INK = (20, 20, 20)
SEAL_RED = (205, 40, 45)
PEN_BLUE = (35, 55, 170)


@dataclass(frozen=True)
class SignatureLayout:
    """What one test page prints in its signature area."""

    recipients: tuple[str, ...]
    titles: tuple[str, ...]
    name: str
    instruction: str | None = None
    font: str = "Noto Serif"
    name_gap: int = 420  # px from the last title (or instruction) line down to the name


LAYOUTS = (
    SignatureLayout(
        recipients=(
            "- Như Điều 3;",
            "- Phòng Tư pháp huyện;",
            "- Chủ tịch, các PCT UBND xã;",
            "- Lưu: VT, hồ sơ.",
        ),
        titles=("TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"),
        name="Trần Văn Thắng",
    ),
    SignatureLayout(
        recipients=(
            "- Như trên;",
            "- Sở Lao động - TB và XH;",
            "- UBND xã Cam Phước Tây;",
            "- Lưu: VT, LĐTBXH.",
        ),
        titles=("KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"),
        instruction="(Ký, ghi rõ họ tên, đóng dấu)",
        name="Katơr Thị Hồng",
        font="DejaVu Serif",
        name_gap=470,
    ),
)


@dataclass(frozen=True)
class SignaturePage:
    """A rendered page (RGB, 300 dpi) and what it prints in its signature area."""

    image: Image.Image
    layout: SignatureLayout


@cache
def _font_file(family: str, style: str) -> str:
    pattern = f"{family}:{style}" if style else family
    found = subprocess.run(
        ["fc-match", "-f", "%{file}", pattern], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert found, f"fc-match found no font for {pattern!r}"
    return found


def _font(family: str, style: str, points: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(_font_file(family, style), round(points * 300 / 72))


def _centred(
    draw: ImageDraw.ImageDraw, text: str, x: float, y: float, font: ImageFont.FreeTypeFont
) -> None:
    draw.text((x, y), text, font=font, fill=INK, anchor="ms")


def _seal(image: Image.Image, centre: tuple[int, int], rng: random.Random) -> None:
    """A round red seal (two rings, the issuer's name around, a star inside), semi-transparent
    as ink is, stamped over the space between the title and the name."""
    size = 460
    seal = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(seal)
    c = size / 2
    draw.ellipse((8, 8, size - 8, size - 8), outline=(*SEAL_RED, 200), width=10)
    draw.ellipse((70, 70, size - 70, size - 70), outline=(*SEAL_RED, 200), width=5)
    star = [
        (
            c + (60 if k % 2 == 0 else 24) * math.sin(k * math.pi / 5),
            c - (60 if k % 2 == 0 else 24) * math.cos(k * math.pi / 5),
        )
        for k in range(10)
    ]
    draw.polygon(star, fill=(*SEAL_RED, 200))
    font = _font("Noto Sans", "bold", 9)
    text = "ỦY BAN NHÂN DÂN * XÃ CAM HẢI ĐÔNG * "
    for i, char in enumerate(text):
        angle = 2 * math.pi * i / len(text)
        glyph = Image.new("RGBA", (60, 60), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((30, 30), char, font=font, fill=(*SEAL_RED, 210), anchor="mm")
        glyph = glyph.rotate(-math.degrees(angle), resample=Image.Resampling.BICUBIC)
        x = c + 190 * math.sin(angle) - 30
        y = c - 190 * math.cos(angle) - 30
        seal.alpha_composite(glyph, (round(x), round(y)))
    seal = seal.rotate(rng.uniform(-20, 20), resample=Image.Resampling.BICUBIC)
    image.paste(seal, (centre[0] - size // 2, centre[1] - size // 2), seal)


def _signature(draw: ImageDraw.ImageDraw, centre: tuple[int, int], rng: random.Random) -> None:
    """A handwritten-looking scribble in blue ink: loops and a long tail."""
    x, y = centre
    points = []
    for step in range(160):
        t = step / 159
        points.append(
            (
                x - 260 + 520 * t + 45 * math.sin(t * 19 + rng.uniform(0, 0.2)),
                y + 90 * math.sin(t * 11) * (1 - t) - 40 * t + rng.uniform(-2, 2),
            )
        )
    draw.line(points, fill=PEN_BLUE, width=6, joint="curve")
    draw.line([(x - 200, y + 70), (x + 300, y + 20)], fill=PEN_BLUE, width=5)


def render_signature_page(layout: SignatureLayout, seed: int = 0) -> SignaturePage:
    """A one-page decision whose "Nơi nhận" list and signer's block share rows.

    Args:
        layout: what the signature area prints.
        seed: places the seal and the signature's strokes.
    """
    rng = random.Random(seed)
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    family = layout.font
    regular = _font(family, "", 13)
    bold = _font(family, "bold", 13)
    # Header: issuer and number left, motto and place-date right, on the same rows.
    left_centre = 720
    _centred(draw, "ỦY BAN NHÂN DÂN", left_centre, 330, _font(family, "", 12.5))
    _centred(draw, "XÃ CAM HẢI ĐÔNG", left_centre, 400, _font(family, "bold", 12.5))
    _centred(draw, "Số: 57/QĐ-UBND", left_centre, 500, regular)
    _centred(
        draw, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", RIGHT_CENTRE, 330, _font(family, "bold", 12)
    )
    _centred(draw, "Độc lập - Tự do - Hạnh phúc", RIGHT_CENTRE, 400, bold)
    _centred(
        draw,
        "Cam Hải Đông, ngày 12 tháng 3 năm 2025",
        RIGHT_CENTRE,
        500,
        _font(family, "italic", 13),
    )
    _centred(draw, "QUYẾT ĐỊNH", WIDTH / 2, 690, _font(family, "bold", 14))
    _centred(draw, "Về việc hỗ trợ chi phí mai táng", WIDTH / 2, 770, bold)
    body = (
        "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;",
        "Căn cứ Nghị định số 20/2021/NĐ-CP ngày 15 tháng 3 năm 2021 của Chính phủ",
        "quy định chính sách trợ giúp xã hội đối với đối tượng bảo trợ xã hội;",
        "Xét đề nghị của công chức Văn hóa - Xã hội xã.",
        "Điều 1. Hỗ trợ chi phí mai táng cho gia đình ông Lê Văn Bảy, số tiền",
        "là 9.000.000 đồng (Chín triệu đồng).",
        "Điều 2. Quyết định này có hiệu lực kể từ ngày ký. Công chức Văn hóa - Xã hội",
        "và ông có tên tại Điều 1 chịu trách nhiệm thi hành Quyết định này./.",
    )
    y = 900
    for line in body:
        draw.text((LEFT, y), line, font=regular, fill=INK, anchor="ls")
        y += 78
    # Signature area: "Nơi nhận" left, the signer's block right, starting on the same row.
    top = y + 90
    small = _font(family, "", 11)
    draw.text(
        (LEFT, top), "Nơi nhận:", font=_font(family, "bold:italic", 12), fill=INK, anchor="ls"
    )
    for i, recipient in enumerate(layout.recipients):
        draw.text((LEFT, top + 60 + 55 * i), recipient, font=small, fill=INK, anchor="ls")
    for i, title in enumerate(layout.titles):
        _centred(draw, title, RIGHT_CENTRE, top + 72 * i, bold)
    below = top + 72 * (len(layout.titles) - 1)
    if layout.instruction:
        below += 66
        _centred(draw, layout.instruction, RIGHT_CENTRE, below, _font(family, "italic", 12))
    name_y = below + layout.name_gap
    _centred(draw, layout.name, RIGHT_CENTRE, name_y, bold)
    _seal(image, (RIGHT_CENTRE - 170 + rng.randint(-20, 20), below + 200), rng)
    _signature(ImageDraw.Draw(image), (RIGHT_CENTRE + rng.randint(-30, 30), below + 210), rng)
    return SignaturePage(image, layout)


def clean_scan(page: SignaturePage) -> Image.Image:
    """A grey 300-dpi scan, straight."""
    return page.image.convert("L")


def degraded_scan(page: SignaturePage, seed: int = 0) -> Image.Image:
    """A grey 200-dpi scan: skewed a little, heavy toner, soft, specks and JPEG artefacts."""
    rng = np.random.default_rng(seed)
    grey = np.asarray(page.image.convert("L"))
    small = cv2.resize(grey, (1653, 2339), interpolation=cv2.INTER_AREA)
    small = cv2.erode(small, np.ones((2, 2), np.uint8))  # toner spreads
    skew = cv2.getRotationMatrix2D((826, 1170), 0.8, 1.0)
    small = cv2.warpAffine(small, skew, (1653, 2339), borderValue=(255,))
    small = cv2.GaussianBlur(small, (3, 3), 0.7)
    noisy = small.astype(np.float32) * 0.93 + rng.normal(0, 9, small.shape)
    specks = rng.random(small.shape) < 0.0004
    noisy[specks] = 40
    out = np.clip(noisy, 0, 255).astype(np.uint8)
    return _jpeg_round_trip(Image.fromarray(out), 55)


def photo(page: SignaturePage, seed: int = 0) -> Image.Image:
    """A phone photo (3000×4000) of the page lying on a desk, seen at an angle: perspective,
    uneven light, a little blur, JPEG."""
    rng = np.random.default_rng(seed)
    frame_w, frame_h = 3000, 4000
    src = np.array([[0, 0], [WIDTH, 0], [WIDTH, HEIGHT], [0, HEIGHT]], dtype=np.float32)
    dst = np.array([[380, 330], [2680, 420], [2820, 3700], [230, 3620]], dtype=np.float32)
    warp = cv2.getPerspectiveTransform(src, dst)
    desk = np.empty((frame_h, frame_w, 3), np.uint8)
    desk[:] = (92, 70, 52)  # a wooden desk, BGR order doesn't matter: PIL sees RGB
    paper = cv2.warpPerspective(
        np.asarray(page.image), warp, (frame_w, frame_h), flags=cv2.INTER_AREA
    )
    mask = cv2.warpPerspective(
        np.full((HEIGHT, WIDTH), 255, np.uint8), warp, (frame_w, frame_h), flags=cv2.INTER_AREA
    )
    alpha = (mask.astype(np.float32) / 255)[..., None]
    frame = paper * alpha + desk * (1 - alpha)
    ys, xs = np.mgrid[0:frame_h, 0:frame_w].astype(np.float32)
    light = 0.8 + 0.2 * (1 - ((xs - 1200) ** 2 + (ys - 1500) ** 2) / (3200.0**2))
    frame = frame * light[..., None] + rng.normal(0, 4, frame.shape)
    out = cv2.GaussianBlur(np.clip(frame, 0, 255).astype(np.uint8), (3, 3), 0.9)
    return _jpeg_round_trip(Image.fromarray(out), 88)


def _jpeg_round_trip(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert(image.mode)

"""Realistic signed results for a fleet's appliances, signed on the fleet's token as an appliance
signs them.

`ResultMaker` signs results for any appliance of a `harness.fleet.Fleet`: PDF/A files of 200-500
KB from rendered 300-dpi sample pages with a text layer, each unique, signed PAdES through
PKCS#11 with that appliance's key, exactly as `DocumentSigner` signs on an appliance, and puts
them in its outbox (`fill`, or `fill_in_parallel` over several processes). Signatures are
invisible: the visible box costs another ~35 ms of PDF work per document and changes nothing
the server checks.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from edge.ocr.model import OcrPage, OcrWord
from edge.pdf.assemble import EncodedImage, assemble_pdf, encode_image
from edge.pdf.xmp import Provenance
from edge.sample_document import render_sample_result
from edge.signing.pades import DocumentSigner
from edge.sync.outbox import Outbox
from harness.fleet import Appliance, Fleet
from protocol.messages import sha256_hex

DEFAULT_SIZE_KB = (200, 500)
"""Size range of a realistic result: one or two 300-dpi A4 pages, greyscale, with text layer."""
SMALL_PAGE_DPI = 200
"""A small result (the offline-week test): one bilevel A4 page at 200 dpi, ~65 KB signed."""


@dataclass(frozen=True)
class SignedResult:
    """A signed result ready for an outbox.

    Attributes:
        result_id: SHA-256 hex of `pdf`.
        pdf: the signed PDF.
        fields: the fields the officer confirmed.
        created_at: when it was signed, ISO 8601 UTC.
    """

    result_id: str
    pdf: bytes = field(repr=False)
    fields: dict[str, str | None]
    created_at: str


@dataclass(frozen=True)
class _Page:
    image: EncodedImage
    ocr: OcrPage


class ResultMaker:
    """Signs unique, realistic results for the fleet's appliances on the fleet's token.

    The pages are rendered and encoded once (the slow part); each result is assembled from one
    or two of them as a PDF/A-2b with its own fields (a unique `so_ky_hieu`) and creation time,
    then signed with the appliance's key: ~30 ms per result on these machines.

    Args:
        fleet: the fleet (its token is opened here: one `ResultMaker` per process).
        size_kb: the range the signed PDFs' sizes fall in (realistic: 200-500).
        small: make small results instead (one bilevel 200-dpi page, ~65 KB).

    Raises:
        TokenError: the token cannot be opened.
        ValueError: no page combination falls in `size_kb`.
    """

    def __init__(
        self,
        fleet: Fleet,
        *,
        size_kb: tuple[int, int] = DEFAULT_SIZE_KB,
        small: bool = False,
    ) -> None:
        self._token = fleet.token.open()
        self._province = fleet.province
        self._signers: dict[bytes, DocumentSigner] = {}
        self._variants = _small_variants() if small else _variants_in(size_kb)
        self._counter = 0

    def make(
        self, appliance: Appliance, number: int, *, created_at: dt.datetime | None = None
    ) -> SignedResult:
        """A new signed result of `appliance` (its `number` goes into the document's number)."""
        pages, fields = self._variants[self._counter % len(self._variants)]
        self._counter += 1
        when = (created_at or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        fields = {**fields, "so_ky_hieu": f"{number}/{appliance.device_id}/QĐ-UBND"}
        pdf = assemble_pdf(
            [(p.image, p.ocr) for p in pages],
            title=fields.get("loai_van_ban") or "QUYẾT ĐỊNH",
            metadata=fields,
            provenance=Provenance(self._province.unit, converted_at=when),
            created=when,
        )
        signed = self._signer(appliance).sign(pdf)
        return SignedResult(sha256_hex(signed), signed, fields, when.isoformat())

    def fill(
        self,
        appliance: Appliance,
        count: int,
        *,
        first: int = 1,
        created_at: Sequence[dt.datetime] | None = None,
    ) -> list[str]:
        """Sign `count` results of `appliance` and add them to its outbox; return their ids.

        Args:
            first: the number of the first result (numbers go into the documents).
            created_at: each result's signing time (default now).
        """
        ids = []
        with Outbox(appliance.outbox_dir) as outbox:
            for i in range(count):
                when = created_at[i] if created_at is not None else None
                result = self.make(appliance, first + i, created_at=when)
                ids.append(outbox.add(result.pdf, result.fields, result.created_at))
        return ids

    def close(self) -> None:
        """Close the token."""
        self._token.close()

    def __enter__(self) -> ResultMaker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _signer(self, appliance: Appliance) -> DocumentSigner:
        signer = self._signers.get(appliance.key_id)
        if signer is None:
            signer = DocumentSigner(
                self._token,
                appliance.key_id,
                organisation=self._province.unit,
                location=self._province.location,
            )
            self._signers[appliance.key_id] = signer
        return signer


def fill_in_parallel(
    fleet: Fleet,
    appliance: Appliance,
    count: int,
    *,
    processes: int = 2,
    small: bool = False,
    created_at: Sequence[dt.datetime] | None = None,
) -> list[str]:
    """`ResultMaker.fill` split over `processes` child processes (each logs in to the token
    once) writing into the same outbox, as the kiosk and other writers may: signing is
    CPU-bound and the outbox takes concurrent writers.

    Returns:
        The result ids, in no particular order.
    """
    context = multiprocessing.get_context("spawn")
    shares = [range(i, count, processes) for i in range(processes)]
    jobs = [
        (
            fleet,
            appliance,
            list(share),
            small,
            [created_at[i] for i in share] if created_at else None,
        )
        for share in shares
    ]
    with context.Pool(processes) as pool:
        return [rid for ids in pool.starmap(_fill_share, jobs) for rid in ids]


def _fill_share(
    fleet: Fleet,
    appliance: Appliance,
    numbers: list[int],
    small: bool,
    created_at: list[dt.datetime] | None,
) -> list[str]:
    with ResultMaker(fleet, small=small) as maker, Outbox(appliance.outbox_dir) as outbox:
        ids = []
        for i, number in enumerate(numbers):
            when = created_at[i] if created_at else None
            result = maker.make(appliance, number + 1, created_at=when)
            ids.append(outbox.add(result.pdf, result.fields, result.created_at))
        return ids


_Variant = tuple[tuple[_Page, ...], dict[str, str | None]]
_PAGE_OVERHEAD_KB = 14
"""What assembly and the signature add to the encoded images (text layer, XMP, ICC, CMS)."""


def _variants_in(size_kb: tuple[int, int]) -> list[_Variant]:
    """Page combinations whose signed size falls in `size_kb`, spread over the range."""
    low, high = size_kb
    variants: list[tuple[float, _Variant]] = []
    for seed in range(3):
        sample = render_sample_result(seed)
        full = _page(sample.image, sample.text, 300)
        # A second page that is mostly blank paper (the end of a decision: "Nơi nhận", signer).
        lines = sample.text.splitlines()
        tail = Image.new("L", sample.image.size, 255)
        tail.paste(sample.image.crop((0, 2000, sample.image.width, 3508)), (0, 200))
        half = _page(tail, "\n".join(lines[len(lines) * 2 // 3 :]), 300)
        for pages in ((full,), (full, half), (half,)):
            kb = sum(len(p.image.data) for p in pages) / 1024 + _PAGE_OVERHEAD_KB
            if low <= kb <= high:
                variants.append((kb, (pages, dict(sample.fields))))
    if not variants:
        raise ValueError(
            f"no realistic result falls in {low}-{high} KB (one page is ~330 KB, two ~480 KB, "
            "a short page ~170 KB): widen --size-kb"
        )
    variants.sort(key=lambda v: v[0])
    return [v for _, v in variants]


def _small_variants() -> list[_Variant]:
    sample = render_sample_result(7)
    width = sample.image.width * SMALL_PAGE_DPI // 300
    height = sample.image.height * SMALL_PAGE_DPI // 300
    image = sample.image.resize((width, height), Image.Resampling.BOX).convert("1")
    return [((_page(image, sample.text, SMALL_PAGE_DPI),), dict(sample.fields))]


def _page(image: Image.Image, text: str, dpi: int) -> _Page:
    """An encoded page with a text layer written from its known text (no Tesseract needed)."""
    scale = dpi / 300
    words = []
    for number, line in enumerate(text.splitlines()):
        x = int(300 * scale)
        top = int((250 + 75 * number) * scale)
        for word in line.split():
            width = int(32 * len(word) * scale)
            box = (
                x,
                top,
                min(x + width, image.width - 1),
                min(top + int(50 * scale), image.height),
            )
            words.append(OcrWord(word, box, 95.0, number))
            x = min(x + width + int(25 * scale), image.width - 2)
    ocr = OcrPage(text, tuple(words), image.width, image.height, dpi, 95.0)
    return _Page(encode_image(image), ocr)

"""`sohoa demo`: the whole main job on embedded defaults (filled in below)."""

from __future__ import annotations


def demo() -> None:
    """Run the whole path once: provision, capture, OCR, sign, queue, sync, verify, serve."""
    raise NotImplementedError

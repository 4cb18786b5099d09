"""What `sohoa demo` shows a newcomer: fields read, signer, verdict, record URL, time per stage."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

FIELD_LABELS = {
    "so_ky_hieu": "Số, ký hiệu",
    "ngay_ban_hanh": "Ngày ban hành",
    "co_quan_ban_hanh": "Cơ quan ban hành",
    "loai_van_ban": "Loại văn bản",
    "trich_yeu": "Trích yếu",
    "ho_ten": "Họ và tên",
    "cccd": "Số CCCD",
    "ngay_sinh": "Ngày sinh",
    "nguoi_ky": "Người ký",
}


def print_report(
    result: dict[str, Any], *, kept: bool, serving: bool = False, console: Console | None = None
) -> None:
    """Print the demo's result as tables (the `--json` object is the same data); `serving`:
    the server stays up for the web pages (`sohoa demo --serve`)."""
    out = console or Console()
    fields = Table(title="Fields read from the page", show_header=True)
    fields.add_column("field")
    fields.add_column("value")
    for key, value in result["fields"].items():
        fields.add_row(f"{key} ({FIELD_LABELS.get(key, key)})", value or "—")
    out.print(fields)

    verdict = "[green]valid[/]" if result["signature_valid"] else "[red]NOT valid[/]"
    out.print(f"Device:     {result['device_id']}")
    out.print(f"Signer:     {result['signer']}")
    out.print(f"Signature:  {verdict} (verified by the server against the demo CA)")
    out.print(f"Record:     {result['record_id']}")
    if serving:
        out.print(f"API:        {result['record_url']}")
    else:
        out.print(f"API:        {result['record_url']} (served while the demo ran)")
        out.print("Web pages:  run `sohoa demo --serve` to look around them (search, results, log)")
    if kept:
        out.print(f"Signed PDF: {result['pdf_path']}")
        out.print(f"CA:         {result['ca_cert_path']}")
    else:
        out.print("Files:      removed with the temp folder; run with --workdir DIR to keep them")

    stages = Table(title="Time per stage", show_header=True)
    stages.add_column("stage")
    stages.add_column("seconds", justify="right")
    for name, seconds in result["seconds"].items():
        stages.add_row(name, f"{seconds:.2f}")
    out.print(stages)

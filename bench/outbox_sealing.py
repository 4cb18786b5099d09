"""What sealing the outbox at rest costs per result (issue 19, part 5).

    .venv/bin/python -m bench.outbox_sealing [--results 30] [--rounds 4]

The result is a typical one: a rendered sample decision (one A4 page at 300 dpi, its text
layer and its fields in the XMP), about 340 KB once signed (PAdES, EC P-256 on a SoftHSM2
token), each of the `--results` distinct (its own creation time). In the same run, on the same
PDFs, the same disk and the same process:

- the plain outbox and the sealed one (`edge.sync.at_rest.open_outbox` with `outbox_sealing`
  off and on), fresh each round, side by side: each result goes into one right after the
  other, the order alternating, so that the drift of these shared cores hits both alike;
- per result: `add` (what the kiosk pays at F2, fsyncs included), `load_pdf` + `get` (what
  the sync agent pays before sending it), wall and CPU time, medians over every result of
  every round, and the sealed/plain ratio;
- opening the outbox, new (the sealed one makes its data key and seals it on the token) and
  existing (what each process start pays: the sealed one unseals its data key on the token,
  a public PKCS#11 session, no PIN);
- the sealing work alone per result (`Sealer`: the PDF and the fields sealed, then opened),
  which the add's own noise (fsyncs, pyHanko reading the XMP) hides in the difference above;
- the anchor: `cryptography`'s bare AES-256-GCM on the PDF's bytes, encrypt and decrypt, the
  floor of what sealing can cost.

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("bench.outbox_sealing")

DEVICE_ID = "bench-seal-01"
UNIT = "UBND xã Vạn Thắng"
KEY_ID = bytes.fromhex("ec05")
USER_PIN = "246810"
TOKEN_LABEL = "bench-sealing"  # noqa: S105 - a token's label, not a secret


def out(line: str = "") -> None:
    """Print one report line (the benchmark's output, not a diagnostic)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def ms(seconds: float) -> float:
    """Seconds as milliseconds, rounded for the report."""
    return round(seconds * 1000, 3)


def signed_results(token: Any, count: int) -> tuple[list[bytes], dict[str, str | None]]:
    """`count` distinct signed one-page results (the page encoded once) and their fields."""
    from edge.ocr import OcrPage
    from edge.pdf.assemble import assemble_pdf, encode_image
    from edge.pdf.xmp import Provenance
    from edge.sample_document import render_sample_result
    from edge.signing.pades import DocumentSigner

    sample = render_sample_result(0)
    page = OcrPage(sample.text, (), sample.image.width, sample.image.height, 300, 95.0)
    encoded = encode_image(sample.image)
    fields = dict(sample.fields)
    signer = DocumentSigner(token, KEY_ID, organisation=UNIT, location="Vạn Ninh")
    start = dt.datetime(2025, 5, 2, 1, 0, tzinfo=dt.UTC)
    pdfs = []
    for n in range(count):
        unsigned = assemble_pdf(
            [(encoded, page)],
            title="QUYẾT ĐỊNH",
            metadata=fields,
            provenance=Provenance(UNIT),
            created=start + dt.timedelta(seconds=n),
        )
        pdfs.append(signer.sign(unsigned))
    return pdfs, fields


def timed(call: Any) -> tuple[Any, float, float]:
    """`call()`'s value, wall seconds and CPU seconds (this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = call()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def time_pair(
    outboxes: dict[str, Any], pdfs: list[bytes], fields: dict[str, str | None]
) -> dict[str, dict[str, list[float]]]:
    """Each result added to both outboxes one right after the other (the order alternating),
    then read back from both the same way (`load_pdf` and `get`): paired timings, so that the
    machine's drift (other processes on these 2 cores) hits both alike."""
    created = "2025-05-02T01:00:00+00:00"
    times: dict[str, dict[str, list[float]]] = {
        m: {"add": [], "add_cpu": [], "read": [], "read_cpu": []} for m in outboxes
    }
    modes = list(outboxes)
    ids = []
    for n, pdf in enumerate(pdfs):
        for mode in modes if n % 2 == 0 else modes[::-1]:
            box = outboxes[mode]
            result_id, wall, cpu = timed(
                lambda box=box, pdf=pdf: box.add(pdf, fields, created, {"p": "1"})
            )
            times[mode]["add"].append(wall)
            times[mode]["add_cpu"].append(cpu)
        ids.append(result_id)
    for n, (result_id, pdf) in enumerate(zip(ids, pdfs, strict=True)):
        for mode in modes if n % 2 == 0 else modes[::-1]:
            box = outboxes[mode]
            (loaded, item), wall, cpu = timed(
                lambda box=box, rid=result_id: (box.load_pdf(rid), box.get(rid))
            )
            times[mode]["read"].append(wall)
            times[mode]["read_cpu"].append(cpu)
            if loaded != pdf or dict(item.fields) != fields:
                raise RuntimeError("the outbox gave back other bytes than it was given")
    return times


def aesgcm_anchor(pdf: bytes, rounds: int) -> tuple[float, float]:
    """Median seconds of bare AES-256-GCM encrypt and decrypt of `pdf` (cryptography)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    enc, dec = [], []
    for _ in range(rounds):
        nonce = os.urandom(12)
        start = time.perf_counter()
        sealed = aead.encrypt(nonce, pdf, b"aad")
        enc.append(time.perf_counter() - start)
        start = time.perf_counter()
        aead.decrypt(nonce, sealed, b"aad")
        dec.append(time.perf_counter() - start)
    return statistics.median(enc), statistics.median(dec)


def sealer_seconds(pdfs: list[bytes], fields: dict[str, str | None]) -> list[float]:
    """The sealing work alone per result, as a sealed outbox does it: the PDF and the fields'
    JSON sealed (add), then opened (read)."""
    from edge.sync.sealing import Purpose, Sealer

    sealer = Sealer(os.urandom(32))
    text = json.dumps(fields, ensure_ascii=False, sort_keys=True)
    times = []
    for pdf in pdfs:
        result_id = "0" * 64
        start = time.perf_counter()
        blob = sealer.seal(pdf, result_id=result_id, purpose=Purpose.PDF)
        sealed_text = sealer.seal_text(text, result_id=result_id, purpose=Purpose.FIELDS)
        sealer.open(blob, result_id=result_id, purpose=Purpose.PDF)
        sealer.open_text(sealed_text, result_id=result_id, purpose=Purpose.FIELDS)
        times.append(time.perf_counter() - start)
    return times


def measure(results: int, rounds: int) -> dict[str, Any]:
    """Every figure of the benchmark."""
    from edge.config import EdgeSettings
    from edge.signing.token import Token
    from edge.sync.at_rest import open_outbox
    from provisioning.ca import CertificateAuthority, Profile
    from provisioning.softhsm import init_token, write_softhsm_conf

    with tempfile.TemporaryDirectory(prefix="bench-sealing-") as work:
        root = Path(work)
        setup = write_softhsm_conf(root / "token")
        os.environ.update(setup.env())
        init_token(setup, TOKEN_LABEL, so_pin="13579135", user_pin=USER_PIN)
        ca = CertificateAuthority.create("Sohoa Bench Provincial CA")
        log.info("making %d signed results", results)
        with Token.open(setup.module_path, label=TOKEN_LABEL, pin=USER_PIN) as token:
            token.generate_signing_key(KEY_ID, "bench-ec")
            csr = token.make_csr(KEY_ID, DEVICE_ID)
            cert = ca.issue_from_csr(csr, DEVICE_ID, Profile.DOCUMENT_SIGNING, unit=UNIT)
            token.import_certificate(cert, KEY_ID, "bench-ec")
            pdfs, fields = signed_results(token, results)
        # The token is closed again: the sealed outbox opens as the sync agent does, no PIN.
        runs: dict[str, dict[str, list[float]]] = {
            mode: {"add": [], "add_cpu": [], "read": [], "read_cpu": [], "open": [], "reopen": []}
            for mode in ("plain", "sealed")
        }
        for round_ in range(rounds):
            log.info("round %d: a fresh plain and sealed outbox, side by side", round_ + 1)
            settings = {
                mode: EdgeSettings(
                    device_id=DEVICE_ID,
                    data_dir=root / f"{mode}-{round_}",
                    pkcs11_module=setup.module_path,
                    token_label=TOKEN_LABEL,
                    outbox_sealing=mode == "sealed",
                )
                for mode in ("plain", "sealed")
            }
            outboxes = {}
            for mode, appliance in settings.items():
                outboxes[mode], wall, _cpu = timed(lambda a=appliance: open_outbox(a))
                runs[mode]["open"].append(wall)
            try:
                for mode, timings in time_pair(outboxes, pdfs, fields).items():
                    for key, values in timings.items():
                        runs[mode][key].extend(values)
            finally:
                for box in outboxes.values():
                    box.close()
            for mode, appliance in settings.items():  # a process starting on an existing outbox
                box, wall, _cpu = timed(lambda a=appliance: open_outbox(a))
                box.close()
                runs[mode]["reopen"].append(wall)
        encrypt_s, decrypt_s = aesgcm_anchor(pdfs[0], 50)
        sealing_work = sealer_seconds(pdfs * 2, fields)

    median = statistics.median
    figures: dict[str, Any] = {"results": results, "rounds": rounds, "pdf_bytes": len(pdfs[0])}
    for mode, times in runs.items():
        figures[mode] = {
            "add_ms": ms(median(times["add"])),
            "read_ms": ms(median(times["read"])),
            "per_result_ms": ms(median(times["add"]) + median(times["read"])),
            "cpu_per_result_ms": ms(median(times["add_cpu"]) + median(times["read_cpu"])),
            "open_new_ms": ms(median(times["open"])),
            "open_existing_ms": ms(median(times["reopen"])),
        }
    plain, sealed = figures["plain"], figures["sealed"]
    figures["ratio_per_result"] = round(sealed["per_result_ms"] / plain["per_result_ms"], 3)
    figures["ratio_cpu_per_result"] = round(
        sealed["cpu_per_result_ms"] / plain["cpu_per_result_ms"], 3
    )
    figures["sealing_overhead_ms"] = round(sealed["per_result_ms"] - plain["per_result_ms"], 3)
    figures["sealing_work_ms"] = ms(median(sealing_work))
    figures["anchor_aesgcm_encrypt_ms"] = ms(encrypt_s)
    figures["anchor_aesgcm_decrypt_ms"] = ms(decrypt_s)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the summary and, last, one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.outbox_sealing", description=__doc__)
    parser.add_argument("--results", type=int, default=30, help="distinct results per outbox")
    parser.add_argument("--rounds", type=int, default=4, help="alternating plain/sealed rounds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("edge", "pyhanko", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    started = time.perf_counter()
    figures = measure(args.results, args.rounds)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    plain, sealed = figures["plain"], figures["sealed"]
    out(
        f"outbox, per result ({figures['pdf_bytes']} bytes signed PDF, {figures['results']} "
        f"results x {figures['rounds']} rounds):"
    )
    for name, f in (("plain ", plain), ("sealed", sealed)):
        out(
            f"  {name}: add {f['add_ms']} ms + read {f['read_ms']} ms = {f['per_result_ms']} ms "
            f"(CPU {f['cpu_per_result_ms']} ms); open: new {f['open_new_ms']} ms, existing "
            f"{f['open_existing_ms']} ms"
        )
    out(
        f"  sealed/plain: {figures['ratio_per_result']}x wall, {figures['ratio_cpu_per_result']}x "
        f"CPU ({figures['sealing_overhead_ms']:+} ms per result)"
    )
    out(
        f"  the sealing work alone (PDF and fields sealed, then opened): "
        f"{figures['sealing_work_ms']} ms per result; anchor: bare AES-256-GCM "
        f"{figures['anchor_aesgcm_encrypt_ms']} ms encrypt + "
        f"{figures['anchor_aesgcm_decrypt_ms']} ms decrypt of the PDF"
    )
    out(json.dumps(figures, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`sohoa demo`: the whole main job once, on embedded defaults, on this machine.

It provisions a CA, a SoftHSM token with the device's signing key and a device; starts its own
Mosquitto (TLS, client-certificate identity, ACL) and its own server; renders a sample result page,
OCRs it, assembles and signs the PDF on the token, queues it in the outbox, syncs it over MQTT,
and reads back the record the server verified and stored. Everything it makes stays in the work
folder (a temp folder unless `--workdir` is given) so other tools can check it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import Engine
from sqlmodel import Session

from cli.errors import DemoError
from cli.report import print_report
from cli.services import ServerProcess, free_port
from edge.config import EdgeSettings
from edge.errors import EdgeError
from edge.ocr import OcrEngine
from edge.pipeline import PageImages, process_document
from edge.sample_document import render_sample_result
from edge.signing.pades import DocumentSigner, signature_box
from edge.signing.token import Token
from edge.sync.agent import SyncAgent
from edge.sync.outbox import Outbox
from protocol.errors import ProtocolError
from provisioning.broker import Mosquitto, prepare_broker
from provisioning.ca import (
    CertificateAuthority,
    Profile,
    new_key,
    publish_crl,
    write_certificate,
    write_private_key,
)
from provisioning.errors import ProvisioningError
from provisioning.softhsm import init_token, write_softhsm_conf
from server.db import make_engine, migrate
from server.errors import ServerError
from server.repository import register_device

DEVICE_ID = "demo-appliance-01"
UNIT = "UBND xã Vạn Thắng"
SERVER_IDENTITY = "sohoa-server"
TOKEN_LABEL = "sohoa-demo"  # noqa: S105 (a label, not a secret)
SIGNING_KEY_ID = bytes.fromhex("01")


@dataclass
class DemoResult:
    """What the demo made and measured."""

    workdir: Path
    device_id: str = DEVICE_ID
    record_id: str | None = None
    record_url: str | None = None
    signature_valid: bool = False
    signer: str | None = None
    fields: dict[str, str | None] = field(default_factory=dict)
    pdf_path: Path | None = None
    ca_cert_path: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The `--json` object (DESIGN.md: stable keys that scripts rely on)."""
        return {
            "record_id": self.record_id,
            "device_id": self.device_id,
            "signature_valid": self.signature_valid,
            "signer": self.signer,
            "fields": self.fields,
            "record_url": self.record_url,
            "pdf_path": str(self.pdf_path) if self.pdf_path else None,
            "ca_cert_path": str(self.ca_cert_path) if self.ca_cert_path else None,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


class _Stages:
    """Times each stage and turns a failure into a DemoError that names the stage."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds

    @contextmanager
    def __call__(self, name: str, *, timed: bool = True) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        except (EdgeError, ServerError, ProvisioningError, ProtocolError, OSError) as e:
            raise DemoError(f"stage '{name}' failed: {e}") from e
        finally:
            if timed:
                self.seconds[name] = time.perf_counter() - start


def run_demo(workdir: Path, *, seed: int = 0) -> DemoResult:
    """Run the whole path once in `workdir` and return what it made.

    Raises:
        DemoError: a stage failed; the message names it and the cause.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    result = DemoResult(workdir=workdir)
    stage = _Stages(result.seconds)
    user_pin = secrets.token_hex(4)
    total = time.perf_counter()

    with ExitStack() as services:
        with stage("provision"):
            ca = CertificateAuthority.create("Sohoa Demo Provincial CA")
            result.ca_cert_path = ca.save(workdir / "ca")
            crl_path = publish_crl(workdir / "ca")  # none revoked: the server checks against it
            hsm = write_softhsm_conf(workdir / "token")
            # SoftHSM reads its configuration when the PKCS#11 library is first loaded.
            os.environ.update(hsm.env())
            init_token(hsm, TOKEN_LABEL, so_pin=secrets.token_hex(8), user_pin=user_pin)
            token = services.enter_context(
                Token.open(hsm.module_path, label=TOKEN_LABEL, pin=user_pin)
            )
            token.generate_signing_key(SIGNING_KEY_ID, label="document-signing")
            csr = token.make_csr(SIGNING_KEY_ID, DEVICE_ID)
            signing_cert = ca.issue_from_csr(csr, DEVICE_ID, Profile.DOCUMENT_SIGNING, unit=UNIT)
            token.import_certificate(signing_cert, SIGNING_KEY_ID, label="document-signing")
            device_dir = workdir / "device"
            write_certificate(signing_cert, device_dir / "signing.pem")
            transport_key = new_key()
            write_private_key(transport_key, device_dir / "transport-key.pem")
            write_certificate(
                ca.issue(transport_key.public_key(), DEVICE_ID, Profile.TLS_CLIENT, unit=UNIT),
                device_dir / "transport.pem",
            )
            server_dir = workdir / "server"
            server_key = new_key()
            write_private_key(server_key, server_dir / "mqtt-key.pem")
            write_certificate(
                ca.issue(server_key.public_key(), SERVER_IDENTITY, Profile.TLS_CLIENT),
                server_dir / "mqtt.pem",
            )
            broker_files = prepare_broker(workdir / "broker", ca, server_identity=SERVER_IDENTITY)
            database_url = f"sqlite:///{server_dir / 'repository.db'}"
            engine = make_engine(database_url)
            migrate(engine)
            register_device_with_cert(engine, signing_cert)
            engine.dispose()

        with stage("broker"):
            broker = services.enter_context(Mosquitto(broker_files))

        with stage("server"):
            api_port = free_port()
            api_url = f"http://127.0.0.1:{api_port}"
            config = server_dir / "server.toml"
            config.write_text(
                _toml(
                    database_url=database_url,
                    data_dir=str(server_dir),
                    broker_host=broker.host,
                    broker_port=broker.port,
                    ca_file=str(result.ca_cert_path),
                    crl_path=str(crl_path),
                    cert_file=str(server_dir / "mqtt.pem"),
                    key_file=str(server_dir / "mqtt-key.pem"),
                    api_host="127.0.0.1",
                    api_port=api_port,
                )
            )
            services.enter_context(ServerProcess(config, server_dir / "server.log", api_url))

        with stage("render"):
            sample = render_sample_result(seed)
            page_path = workdir / "page.png"
            sample.image.save(page_path, dpi=(300, 300))

        # The pipeline times its own stages (ocr, fields, pdf).
        with stage("ocr, fields, pdf", timed=False), OcrEngine() as ocr:
            processed = process_document([PageImages.upright(sample.image, 300)], ocr)
        result.seconds.update(processed.seconds)
        result.fields = dict(processed.fields)

        edge_settings = EdgeSettings(
            device_id=DEVICE_ID,
            data_dir=device_dir / "data",
            broker_host=broker.host,
            broker_port=broker.port,
            ca_file=result.ca_cert_path,
            cert_file=device_dir / "transport.pem",
            key_file=device_dir / "transport-key.pem",
            pkcs11_module=hsm.module_path,
            token_label=TOKEN_LABEL,
            signing_key_id=SIGNING_KEY_ID.hex(),
            organisation=UNIT,
            location="Vạn Ninh",
        )
        with stage("sign"):
            # As the appliance signs: with the Nghị định 30 box its settings describe.
            signer = DocumentSigner(
                token,
                SIGNING_KEY_ID,
                organisation=UNIT,
                location="Vạn Ninh",
                box=signature_box(edge_settings),
            )
            signed = signer.sign(processed.pdf)

        with stage("outbox"):
            outbox = Outbox(edge_settings.outbox_dir)
            services.callback(outbox.close)
            result_id = outbox.add(signed, result.fields, _utc_now())

        with stage("sync"):
            report = SyncAgent(edge_settings, outbox).run_until_drained(timeout=60.0)
            if report.accepted + report.duplicates != 1:
                raise DemoError(f"stage 'sync': the server did not accept the result ({report})")
            item = outbox.get(result_id)
            result.record_id = item.record_id

        with stage("fetch"):
            result.record_url = f"{api_url}/api/records/{result.record_id}"
            record = _get_json(result.record_url)
            result.signature_valid = bool(record["signature_valid"])
            result.signer = record.get("signer_common_name")
            pdf = httpx.get(f"{result.record_url}/pdf", timeout=10.0)
            pdf.raise_for_status()
            result.pdf_path = workdir / "result-signed.pdf"
            result.pdf_path.write_bytes(pdf.content)
            if pdf.content != signed:
                raise DemoError("the PDF the server serves differs from the one the device signed")

    result.seconds["total"] = time.perf_counter() - total
    return result


def register_device_with_cert(engine: Engine, signing_cert: x509.Certificate) -> None:
    """Register the demo device and its token certificate with the server's repository."""
    with Session(engine) as session:
        register_device(
            session,
            device_id=DEVICE_ID,
            unit=UNIT,
            signing_cert_sha256=signing_cert.fingerprint(hashes.SHA256()).hex(),
        )
        session.commit()


def _get_json(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=10.0)
    if response.status_code != 200:
        raise DemoError(f"GET {url} answered {response.status_code}: {response.text[:200]}")
    data: dict[str, Any] = response.json()
    return data


def _toml(**values: str | int) -> str:
    return "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in values.items())


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def demo(
    workdir: Annotated[
        Path | None, typer.Option(help="Keep everything the demo makes in this folder.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seed: Annotated[int, typer.Option(help="Which sample document to render.")] = 0,
) -> None:
    """Run the whole path once: provision, render, OCR, sign, queue, sync, verify, serve."""
    keep = workdir is not None
    folder = workdir.resolve() if workdir else Path(tempfile.mkdtemp(prefix="sohoa-demo-"))
    try:
        result = run_demo(folder, seed=seed)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    if not keep:
        result.pdf_path = result.ca_cert_path = None  # gone with the temp folder
    if json_output:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        print_report(result.as_json(), kept=keep)

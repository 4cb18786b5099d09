"""`sohoa demo`: the whole main job once, on embedded defaults, on this machine.

It provisions a CA, a SoftHSM token with the device's signing key and a device; starts its own
Mosquitto (TLS, client-certificate identity, ACL) and its own server; renders a sample result page,
OCRs it, assembles and signs the PDF on the token, queues it in the outbox, syncs it over MQTT,
and reads back the record the server verified and stored, signed in as a province admin
account it makes (`demo-admin`, with a random password known to the run only). Everything it
makes stays in the work folder (a temp folder unless `--workdir` is given) so other tools can
check it.

A stage that fails raises one `DemoError` whose message is one line: the stage, the cause and
where to look; the temp folder is then kept, for the look.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
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
from sqlmodel import Session

from cli.demo_pages import PageAccount, prepare_pages, serve_until_interrupted
from cli.errors import DemoError
from cli.report import print_report
from edge.config import EdgeSettings
from edge.errors import EdgeError
from edge.ocr import OcrPool
from edge.pipeline.run import process_document
from edge.pipeline.stages import PageImages
from edge.sample_document import render_sample_result
from edge.signing.pades import DocumentSigner, signature_box
from edge.signing.token import Token
from edge.sync.agent import SyncAgent
from edge.sync.outbox import Outbox
from protocol.errors import ProtocolError
from provisioning.broker import Mosquitto
from provisioning.errors import ProvisioningError
from provisioning.province import ApplianceIdentity, provision_province, write_config
from server.db import make_engine, migrate
from server.errors import ServerError
from server.models import Role
from server.process import ServerProcess
from server.repository.accounts import add_account
from server.repository.devices import register_device
from support.sockets import free_port

DEVICE_ID = "demo-appliance-01"
UNIT = "UBND xã Vạn Thắng"
LOCATION = "Vạn Ninh"
TOKEN_LABEL = "sohoa-demo"  # noqa: S105 (a label, not a secret)
DEMO_ACCOUNT = "demo-admin"
"""The province admin account the demo makes to read its record back through the API."""
SIGNING_KEY_ID = bytes.fromhex("01")

log = logging.getLogger(__name__)


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
    """Times each stage and turns its failure into a one-line DemoError: the stage, the cause
    and where to look."""

    def __init__(self, seconds: dict[str, float], workdir: Path) -> None:
        self.seconds = seconds
        self.workdir = workdir

    @contextmanager
    def __call__(
        self, name: str, *, look: Path | None = None, timed: bool = True
    ) -> Iterator[None]:
        """Run the stage `name`; `look` is where its files or logs are (default: the workdir)."""
        start = time.perf_counter()
        try:
            yield
        except (
            EdgeError,
            ServerError,
            ProvisioningError,
            ProtocolError,
            DemoError,
            OSError,
            httpx.HTTPError,
        ) as e:
            raise DemoError(_one_line(name, e, look or self.workdir)) from e
        finally:
            if timed:
                self.seconds[name] = time.perf_counter() - start


def _one_line(stage: str, error: Exception, look: Path) -> str:
    """`stage 'NAME' failed: CAUSE; see WHERE`, the cause cut to its first line (the rest, such
    as a log's last lines, is logged for --verbose)."""
    cause = str(error).strip() or type(error).__name__
    first, *rest = cause.splitlines()
    if rest:
        log.info("stage '%s' failed: %s", stage, cause)
    where = "" if str(look) in first else f"; see {look}"
    return f"stage '{stage}' failed: {first.rstrip(':')}{where}"


def run_demo(workdir: Path, *, seed: int = 0, serve: bool = False) -> DemoResult:
    """Run the whole path once in `workdir` and return what it made.

    Args:
        serve: then leave the server (its web pages) and the broker running, with synthetic
            results and an account per role, until Ctrl-C (`cli.demo_pages`).

    Raises:
        DemoError: a stage failed; the message names it, the cause and where to look.
    """
    result = DemoResult(workdir=workdir)
    stage = _Stages(result.seconds, workdir)
    with stage("workdir", timed=False):
        workdir.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()

    with ExitStack() as services:
        with stage("provision"):
            province = provision_province(
                workdir,
                ca_name="Sohoa Demo Provincial CA",
                token_label=TOKEN_LABEL,
                unit=UNIT,
                location=LOCATION,
            )
            result.ca_cert_path = province.ca_file
            # SoftHSM reads its configuration when the PKCS#11 library is first loaded.
            os.environ.update(province.softhsm.env())
            token = services.enter_context(
                Token.open(province.softhsm.module_path, label=TOKEN_LABEL, pin=province.user_pin)
            )
            device = province.enroll(token, DEVICE_ID, SIGNING_KEY_ID, workdir / "device")
            server_dir = province.server_dir
            database_url = f"sqlite:///{server_dir / 'repository.db'}"
            password = secrets.token_urlsafe(18)  # known to this run only
            register_appliance(database_url, device, password)

        with stage("broker", look=workdir / "broker"):
            broker = services.enter_context(Mosquitto(province.broker_files))

        server_log = server_dir / "server.log"
        with stage("server", look=server_log):
            api_port = free_port()
            api_url = f"http://127.0.0.1:{api_port}"
            config = write_config(
                server_dir / "server.toml",
                province.server_config(
                    database_url=database_url,
                    data_dir=server_dir,
                    broker_host=broker.host,
                    broker_port=broker.server_port,
                    api_port=api_port,
                ),
            )
            services.enter_context(ServerProcess(config, server_log, api_port=api_port))

        with stage("render"):
            sample = render_sample_result(seed)
            page_path = workdir / "page.png"
            sample.image.save(page_path, dpi=(300, 300))

        # The pipeline times its own stages (ocr, fields, pdf).
        with stage("ocr, fields, pdf", timed=False), OcrPool(1) as ocr:
            processed = process_document([PageImages.upright(sample.image, 300)], ocr)
        result.seconds.update(processed.seconds.as_dict())
        result.fields = dict(processed.fields)

        edge_settings = EdgeSettings(
            **province.edge_config(device, broker_host=broker.host, broker_port=broker.port)
        )
        with stage("sign", look=workdir / "token"):
            # As the appliance signs: with the Nghị định 30 box its settings describe.
            signer = DocumentSigner(
                token,
                SIGNING_KEY_ID,
                organisation=UNIT,
                location=LOCATION,
                box=signature_box(edge_settings),
            )
            signed = signer.sign(processed.pdf)

        with stage("outbox", look=edge_settings.outbox_dir):
            outbox = Outbox(edge_settings.outbox_dir)
            services.callback(outbox.close)
            result_id = outbox.add(signed, result.fields, _utc_now())

        with stage("sync", look=server_log):
            report = SyncAgent(edge_settings, outbox).run_until_drained(timeout=60.0)
            if report.accepted + report.duplicates != 1:
                raise DemoError(f"the server did not accept the result ({report.summary()})")
            item = outbox.get(result_id)
            result.record_id = item.record_id

        with stage("fetch", look=server_log), httpx.Client(timeout=10.0) as api:
            api.headers["Authorization"] = f"Bearer {_sign_in(api_url, password)}"
            result.record_url = f"{api_url}/api/records/{result.record_id}"
            record = _get_json(api, result.record_url)
            result.signature_valid = bool(record["signature_valid"])
            result.signer = record.get("signer_common_name")
            pdf = api.get(f"{result.record_url}/pdf")
            pdf.raise_for_status()
            result.pdf_path = workdir / "result-signed.pdf"
            result.pdf_path.write_bytes(pdf.content)
            if pdf.content != signed:
                raise DemoError("the PDF the server serves differs from the one the device signed")

        if serve:
            result.seconds["total"] = time.perf_counter() - total
            with stage("pages", look=server_log, timed=False):
                accounts = [PageAccount(DEMO_ACCOUNT, Role.PROVINCE_ADMIN, password)]
                accounts += prepare_pages(database_url, server_dir)
            print_report(result.as_json(), kept=True, serving=True)
            serve_until_interrupted(api_url, accounts, workdir)

    result.seconds.setdefault("total", time.perf_counter() - total)
    return result


def register_appliance(database_url: str, appliance: ApplianceIdentity, password: str) -> None:
    """Migrate the server's repository, register the demo appliance with its signer, and add
    the province admin account (`DEMO_ACCOUNT`, with `password`) the demo reads back with."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with Session(engine) as session:
            signing = x509.load_pem_x509_certificate(appliance.signing_cert_file.read_bytes())
            register_device(
                session,
                appliance.device_id,
                UNIT,
                appliance.signing_cert_sha256,
                cert_not_after=signing.not_valid_after_utc,  # shown on the fleet pages
            )
            session.commit()
            add_account(session, DEMO_ACCOUNT, Role.PROVINCE_ADMIN, password)
    finally:
        engine.dispose()


def _sign_in(api_url: str, password: str) -> str:
    """A bearer token of the demo's account (OAuth2 password flow)."""
    response = httpx.post(
        f"{api_url}/api/auth/token",
        data={"username": DEMO_ACCOUNT, "password": password},
        timeout=10.0,
    )
    if response.status_code != 200:
        raise DemoError(
            f"signing in as {DEMO_ACCOUNT} answered {response.status_code}: {response.text[:200]}"
        )
    token: str = response.json()["access_token"]
    return token


def _get_json(api: httpx.Client, url: str) -> dict[str, Any]:
    response = api.get(url)
    if response.status_code != 200:
        raise DemoError(f"GET {url} answered {response.status_code}: {response.text[:200]}")
    data: dict[str, Any] = response.json()
    return data


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def demo(
    workdir: Annotated[
        Path | None, typer.Option(help="Keep everything the demo makes in this folder.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seed: Annotated[int, typer.Option(help="Which sample document to render.")] = 0,
    serve: Annotated[
        bool,
        typer.Option(
            help="Then keep the server running with synthetic results and an account per "
            "role, to look around the web pages, until Ctrl-C (the work folder is kept)."
        ),
    ] = False,
) -> None:
    """Run the whole path once: provision, render, OCR, sign, queue, sync, verify, serve.

    A stage that fails is named on one line, with its cause and where to look; a failed run
    keeps its temp folder for that look.
    """
    # A DemoError goes up to cli.main, which prints its line and exits DEMO.
    keep = workdir is not None or serve
    folder = workdir.resolve() if workdir else Path(tempfile.mkdtemp(prefix="sohoa-demo-"))
    try:
        result = run_demo(folder, seed=seed, serve=serve)
    except DemoError:
        keep = True  # its line points into the folder: leave it there for the look
        raise
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    if workdir is None:
        result.pdf_path = result.ca_cert_path = None  # gone with the temp folder
    if json_output:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False))
    elif not serve:  # a served demo printed its report before serving
        print_report(result.as_json(), kept=keep)

"""A throw-away fleet of simulated appliances for the sync benchmark and the sync fault tests.

`provision_fleet` makes, in one work folder, everything a province has before its first result
arrives: a provincial CA and its CRL, one SoftHSM2 token holding every appliance's document-signing
key (each generated on the token, its CSR signed by the token, its certificate issued by the CA
and stored beside it), each appliance's own transport (TLS client) key and certificate, the
server's MQTT identity, the broker's files, and a migrated repository with every appliance
registered with its signer. `ResultMaker` then signs realistic results for any appliance: PDF/A
files of 200-500 KB from rendered 300-dpi sample pages with a text layer, each unique, signed
PAdES through PKCS#11 with that appliance's key, exactly as `DocumentSigner` signs on an
appliance. `audit_repository` checks what arrived: every result once, every signature valid.

Why one token for the whole fleet: a SoftHSM token per appliance costs a `softhsm2-util` run
each and a process may log in to a token only once (`edge.signing.token`), so one token with N keys
(selected by CKA_ID) lets one process sign for many appliances. The signing keys still never
leave the token. Signatures are invisible: the visible box costs another ~35 ms of PDF work per
document and changes nothing the server checks.

Nothing here is a stand-in: the certificates, the token, the signatures, the broker files and
the repository are the real ones the demo makes, multiplied.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import os
import random
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from PIL import Image
from sqlalchemy import func
from sqlmodel import Session, select

from edge.config import EdgeSettings
from edge.errors import TokenError
from edge.ocr.model import OcrPage, OcrWord
from edge.pdf.assemble import EncodedImage, assemble_pdf, encode_image
from edge.pdf.xmp import Provenance
from edge.sample_document import render_sample_result
from edge.signing.pades import DocumentSigner
from edge.signing.token import Token
from edge.sync.outbox import Outbox
from protocol.messages import sha256_hex
from provisioning.broker import BrokerFiles, prepare_broker
from provisioning.ca import (
    CertificateAuthority,
    Profile,
    new_key,
    publish_crl,
    read_certificate,
    write_certificate,
    write_private_key,
)
from provisioning.softhsm import SoftHsmSetup, init_token, write_softhsm_conf
from server.db import make_engine, migrate
from server.models import Record
from server.repository import register_device

log = logging.getLogger(__name__)

SERVER_IDENTITY = "sohoa-server"
UNIT = "UBND xã Vạn Thắng"
LOCATION = "Vạn Ninh"
TOKEN_LABEL = "sohoa-fleet"  # noqa: S105 (a label, not a secret)
DEFAULT_SIZE_KB = (200, 500)
"""Size range of a realistic result: one or two 300-dpi A4 pages, greyscale, with text layer."""
SMALL_PAGE_DPI = 200
"""A small result (the offline-week test): one bilevel A4 page at 200 dpi, ~65 KB signed."""


@dataclass(frozen=True)
class Appliance:
    """One simulated appliance of the fleet.

    Attributes:
        device_id: its id (certificates' commonName, MQTT username).
        key_id: the CKA_ID of its document-signing key on the fleet's token.
        signing_cert_sha256: SHA-256 hex of its document-signing certificate (registered).
        home: its folder: transport certificate and key, `data/` (the outbox), `edge.toml`.
    """

    device_id: str
    key_id: bytes
    signing_cert_sha256: str
    home: Path

    @property
    def cert_file(self) -> Path:
        """Its transport (TLS client) certificate."""
        return self.home / "transport.pem"

    @property
    def key_file(self) -> Path:
        """Its transport key (0600)."""
        return self.home / "transport-key.pem"

    @property
    def config_file(self) -> Path:
        """Its `edge.toml` (written by `Fleet.write_edge_config`)."""
        return self.home / "edge.toml"

    @property
    def outbox_dir(self) -> Path:
        """Where its outbox lives (`EdgeSettings.outbox_dir` of its settings)."""
        return self.home / "data" / "outbox"


@dataclass(frozen=True)
class TokenAccess:
    """How to open the fleet's token (in this process or a child: set `env()` first)."""

    module_path: Path
    conf_path: Path
    label: str
    pin: str

    def env(self) -> dict[str, str]:
        """The environment SoftHSM2 reads when its module is loaded."""
        return {"SOFTHSM2_CONF": str(self.conf_path)}

    def open(self, attempts: int = 5) -> Token:
        """Open and log in (one `Token` per process, see `edge.signing.token`).

        SoftHSM2's file store answers a login with CKR_GENERAL_ERROR now and then when several
        processes log in to one token holding hundreds of objects at the same instant
        (measured: 1 of 4 processes starting together, 100 keys), and once listed no token at
        all to a process starting beside three others: both are tried again.

        Raises:
            TokenError: the token still cannot be opened after `attempts` tries.
        """
        os.environ.update(self.env())
        for attempt in range(1, attempts + 1):
            try:
                return Token.open(self.module_path, label=self.label, pin=self.pin)
            except TokenError as e:
                transient = "GeneralError" in str(e) or "tokens present: none" in str(e)
                if attempt == attempts or not transient:
                    raise
                log.warning("token login failed (%s); trying again", e)
                time.sleep(0.2 * attempt + random.random() * 0.3)  # noqa: S311 (jitter)
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class Fleet:
    """What `provision_fleet` made.

    Attributes:
        workdir: the fleet's folder.
        ca_file: the provincial CA certificate (trust root of the broker, server and devices).
        crl_path: the CA's current CRL (nothing revoked).
        token: the shared signing token.
        appliances: the appliances, in order.
        broker_files: the broker's files (`provisioning.broker.Mosquitto` runs them).
        server_dir: the server's folder: MQTT identity, data_dir (blobs, SQLite), configs, logs.
        database_url: the repository (migrated, every appliance registered).
    """

    workdir: Path
    ca_file: Path
    crl_path: Path
    token: TokenAccess
    appliances: tuple[Appliance, ...]
    broker_files: BrokerFiles
    server_dir: Path
    database_url: str

    @property
    def server_data_dir(self) -> Path:
        """The server's data_dir (blob store)."""
        return self.server_dir / "data"

    def edge_settings(
        self, appliance: Appliance, broker_host: str, broker_port: int, **extra: Any
    ) -> EdgeSettings:
        """The appliance's settings for a broker at `broker_host:broker_port`.

        Args:
            extra: further `EdgeSettings` keys (e.g. `ack_timeout_s`).
        """
        return EdgeSettings(**self._edge_values(appliance, broker_host, broker_port, extra))

    def write_edge_config(
        self, appliance: Appliance, broker_host: str, broker_port: int, **extra: Any
    ) -> Path:
        """Write the appliance's `edge.toml` (for `sohoa edge sync --config`) and return it."""
        values = self._edge_values(appliance, broker_host, broker_port, extra)
        EdgeSettings(**values)  # refuse a bad key here, not in a child process
        appliance.config_file.write_text(_toml(values))
        return appliance.config_file

    def write_server_config(
        self,
        broker_host: str,
        broker_port: int,
        *,
        api_port: int,
        name: str = "server.toml",
        **extra: Any,
    ) -> Path:
        """Write a server TOML (for `sohoa server run|ingest --config`) and return it.

        Long-term-validation copies are off unless `extra` turns them on (`ltv = true`): they
        are made after the ack and are no part of ingest.
        """
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "data_dir": self.server_data_dir,
            "broker_host": broker_host,
            "broker_port": broker_port,
            "ca_file": self.ca_file,
            "crl_path": self.crl_path,
            "cert_file": self.server_dir / "mqtt.pem",
            "key_file": self.server_dir / "mqtt-key.pem",
            "api_host": "127.0.0.1",
            "api_port": api_port,
            "ltv": False,
            **extra,
        }
        path = self.server_dir / name
        path.write_text(_toml(values))
        return path

    def _edge_values(
        self, appliance: Appliance, host: str, port: int, extra: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "device_id": appliance.device_id,
            "data_dir": appliance.home / "data",
            "broker_host": host,
            "broker_port": port,
            "ca_file": self.ca_file,
            "cert_file": appliance.cert_file,
            "key_file": appliance.key_file,
            "pkcs11_module": self.token.module_path,
            "token_label": self.token.label,
            "signing_key_id": appliance.key_id.hex(),
            "organisation": UNIT,
            "location": LOCATION,
            **extra,
        }


def provision_fleet(
    workdir: Path,
    devices: int,
    *,
    database_url: str | None = None,
    prefix: str = "fleet",
) -> Fleet:
    """Provision a CA, a token with `devices` signing keys, the appliances, the broker's and the
    server's files, and a migrated repository with every appliance registered.

    Args:
        workdir: the fleet's folder (made if missing).
        devices: how many appliances.
        database_url: the repository (default: SQLite in the server's data_dir).
        prefix: the appliances' ids are `{prefix}-001`, `{prefix}-002`, ...

    Raises:
        ProvisioningError, EdgeError, ServerError: a step failed (message says which).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    ca_dir = workdir / "ca"
    ca = CertificateAuthority.create("Sohoa Fleet Provincial CA")
    ca_file = ca.save(ca_dir)
    crl_path = publish_crl(ca_dir)

    hsm: SoftHsmSetup = write_softhsm_conf(workdir / "token")
    access = TokenAccess(hsm.module_path, hsm.conf_path, TOKEN_LABEL, secrets.token_hex(4))
    os.environ.update(access.env())  # before the PKCS#11 module is loaded
    init_token(hsm, TOKEN_LABEL, so_pin=secrets.token_hex(8), user_pin=access.pin)

    appliances = []
    with access.open() as token:
        for number in range(1, devices + 1):
            device_id = f"{prefix}-{number:03d}"
            key_id = number.to_bytes(2, "big")
            token.generate_signing_key(key_id, label=f"signing-{device_id}")
            csr = token.make_csr(key_id, device_id)
            cert = ca.issue_from_csr(csr, device_id, Profile.DOCUMENT_SIGNING, unit=UNIT)
            token.import_certificate(cert, key_id, label=f"signing-{device_id}")
            home = workdir / "appliances" / device_id
            appliance = Appliance(device_id, key_id, _sha256(cert), home)
            _issue_tls_client(ca, device_id, appliance.cert_file, appliance.key_file)
            appliances.append(appliance)

    server_dir = workdir / "server"
    _issue_tls_client(ca, SERVER_IDENTITY, server_dir / "mqtt.pem", server_dir / "mqtt-key.pem")
    (server_dir / "data").mkdir(parents=True, exist_ok=True)
    broker_files = prepare_broker(workdir / "broker", ca, server_identity=SERVER_IDENTITY)
    url = database_url or f"sqlite:///{server_dir / 'data' / 'repository.db'}"
    engine = make_engine(url)
    try:
        migrate(engine)
        with Session(engine) as session:
            for appliance in appliances:
                register_device(session, appliance.device_id, UNIT, appliance.signing_cert_sha256)
            session.commit()
    finally:
        engine.dispose()
    return Fleet(
        workdir=workdir,
        ca_file=ca_file,
        crl_path=crl_path,
        token=access,
        appliances=tuple(appliances),
        broker_files=broker_files,
        server_dir=server_dir,
        database_url=url,
    )


# --- results --------------------------------------------------------------------------------------


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
            provenance=Provenance(UNIT, converted_at=when),
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
                self._token, appliance.key_id, organisation=UNIT, location=LOCATION
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


# --- what arrived ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    """What the repository holds of the results that were sent.

    Attributes:
        expected: results sent.
        in_repository: of those, how many have a record.
        duplicates: records beyond one per result (the repository's unique key forbids them;
            counted, not assumed).
        missing: ids of sent results without a record.
        unexpected: records of results that were not sent.
        invalid_signatures: records whose signature the server did not find valid.
        damaged_blobs: records whose stored PDF is missing or differs from its id.
        reverified: stored PDFs verified again here, independently of the server's verdict.
        reverify_failures: of those, how many did not verify (signer registered for the
            device, chain to the CA, CRL checked).
    """

    expected: int
    in_repository: int
    duplicates: int
    missing: tuple[str, ...]
    unexpected: int
    invalid_signatures: int
    damaged_blobs: int
    reverified: int = 0
    reverify_failures: int = 0

    @property
    def exactly_once(self) -> bool:
        """Every sent result is there once, nothing else is, every signature and blob is sound."""
        return (
            self.in_repository == self.expected
            and not self.duplicates
            and not self.unexpected
            and not self.invalid_signatures
            and not self.damaged_blobs
            and not self.reverify_failures
        )


def audit_repository(
    fleet: Fleet, sent: Iterable[str], *, check_blobs: bool = True, reverify: int | None = None
) -> Audit:
    """Check the fleet's repository against the ids of the results that were sent.

    Args:
        fleet: the fleet (its repository, blob store, CA and CRL).
        sent: the result ids sent.
        check_blobs: also read every stored PDF back and compare its SHA-256 with its id.
        reverify: verify this many stored PDFs again with the server's verifier (a fresh one
            here, trusting only the fleet's CA, checking its CRL and the registered signer);
            None: all of them (~15 ms each).
    """
    database_url, data_dir = fleet.database_url, fleet.server_data_dir
    expected = set(sent)
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            total = session.exec(select(func.count()).select_from(Record)).one()
            rows = list(session.exec(select(Record)).all())
    finally:
        engine.dispose()
    ids = {r.result_id for r in rows}
    damaged = 0
    if check_blobs:
        for row in rows:
            try:
                data = (data_dir / row.pdf_path).read_bytes()
            except OSError:
                damaged += 1
                continue
            damaged += sha256_hex(data) != row.result_id
    checked, failures = _reverify(fleet, rows[: len(rows) if reverify is None else reverify])
    return Audit(
        expected=len(expected),
        in_repository=len(ids & expected),
        duplicates=total - len(ids),
        missing=tuple(sorted(expected - ids)),
        unexpected=len(ids - expected),
        invalid_signatures=sum(1 for r in rows if not r.signature_valid),
        damaged_blobs=damaged,
        reverified=checked,
        reverify_failures=failures,
    )


def _reverify(fleet: Fleet, rows: Sequence[Any]) -> tuple[int, int]:
    """(verified, failed) for the stored PDFs of `rows`, checked here from scratch."""
    if not rows:
        return 0, 0
    from server.verify import Verifier  # pyHanko: loaded only when asked

    verifier = Verifier([read_certificate(fleet.ca_file)], crl_path=fleet.crl_path)
    registered = {a.device_id: a.signing_cert_sha256 for a in fleet.appliances}
    failures = 0
    for row in rows:
        try:
            pdf = (fleet.server_data_dir / row.pdf_path).read_bytes()
        except OSError:
            failures += 1
            continue
        verdict = verifier.verify(pdf, device_id=row.device_id)
        signer = (verdict.signer_cert_sha256 or "").lower()
        failures += not (verdict.valid and signer == registered.get(row.device_id))
    return len(rows), failures


def _issue_tls_client(ca: CertificateAuthority, name: str, cert_file: Path, key_file: Path) -> None:
    key = new_key()
    write_private_key(key, key_file)
    write_certificate(ca.issue(key.public_key(), name, Profile.TLS_CLIENT, unit=UNIT), cert_file)


def _sha256(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _toml(values: dict[str, Any]) -> str:
    """Flat TOML of strings, paths, numbers and booleans (JSON strings are TOML strings)."""
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float):
            text = repr(value)
        else:
            text = json.dumps(str(value), ensure_ascii=False)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"

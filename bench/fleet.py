"""Fleet benchmark (issue 19): enrolling appliances, ten thousand appliances' heartbeats, and
revoking one everywhere.

    .venv/bin/python -m bench.fleet [--enrollments 200] [--clients 4] [--devices 10000]
        [--interval 60] [--seconds 120] [--publishers 4] [--flood 5000] [--revocations 5]
        [--reloads 5] [--workdir DIR]

One throw-away province on this machine (`provisioning.province`: the provincial CA and its CRL,
the server-clients CA and the server's MQTT identity, a SoftHSM2 store) and three measurements,
each printed beside an anchor measured in the same run, and their ratio: the machine is shared
and noisy, so the ratios are what count.

1. **Enrollment** (target >= 10 enrollments/s, token key generation included). A `sohoa server
   run` serving HTTPS with the CA (`ca_dir`), as `tests/integration/test_enroll_appliance.py`
   runs it, beside a Mosquitto run from a production broker folder (`sohoa provision
   broker-config`); the one-time codes are issued beforehand straight into its repository
   (`server.enrollment.issue_code`, what `sohoa provision device add` does). `--clients`
   processes each enroll appliances one after the other with the appliance's own code,
   `edge.enroll.enroll` (what `sohoa edge enroll` runs): a fresh TLS connection whose key is
   checked against the code's pin, the clocks compared (GET /healthz), the signing key pair
   generated on a SoftHSM token and its CSR signed there, a transport key and its CSR made in
   memory, POST /api/enroll, the answer checked, the certificate stored on the token, the
   appliance's files and configuration written atomically. Each client process has a token of
   its own in a SoftHSM store of its own, as each appliance has (`_client_start` says why not
   threads, nor one store); by the end a token holds ceil(enrollments / clients) key pairs.
   Figures: enrollments / wall seconds from the first start to the last end, latency p50/p95,
   the server's and the clients' CPU per enrollment. Anchors, each on one thread: the CA
   issuing the same two certificates in-process from CSRs (`CertificateAuthority.
   issue_from_csr` x2: no HTTP, no database, no token), and SoftHSM alone making a key pair
   and its CSR (`Token.generate_signing_key` + `Token.make_csr`, as many as one client's token
   ends with).
2. **Heartbeats** (targets: lag p95 < 5 s; the server under one core). The server's own
   consumer, `sohoa server ingest` with its default settings (its `DeviceWatcher` records the
   heartbeats; `sohoa server run` runs the same one), on a repository with `--devices`
   appliances registered, and a private Mosquitto (`provisioning.broker.prepare_broker`) whose
   ACL is the generated one plus, for this benchmark only, `--publishers` identities
   (certificates of the provincial CA named `bench-heartbeats-N`) each allowed to write every
   appliance's status topic (`user bench-heartbeats-N` / `topic write sohoa/v1/dev/+/status`).
   A device never has that right (its line is `pattern write sohoa/v1/dev/%u/status`); a few
   publishers instead of ten thousand TLS connections put the load on the path measured, the
   broker's routing and the server's recording, not on Mosquitto's connection handling. They
   publish `sohoa.status/1` heartbeats (QoS 1, retained, as the sync agent does), one per
   appliance every `--interval` seconds, spread evenly, for `--seconds`. Figures: the lag of
   every heartbeat, its row's `status_received_at` minus its `at` (the moment it was published,
   on this machine's clock), read from the device table every few seconds (so the commit of
   the row itself, a few ms, is not counted); the server's CPU (user + system of its process
   and its children, /proc) over the publishing window, in cores, and the broker's beside it;
   then the most heartbeats/s the server records: `--flood` appliances each publish one at
   once, timed from the first publish to the last `status_received_at`. Anchor: the same
   publishers flooding the same heartbeats through the same broker to a plain paho subscriber
   with the server's identity that only counts them (no decoding, no database): the broker
   path's limit on this machine.
3. **Revocation** (target <= 10 s). On the server of 1, `--revocations` times: an appliance is
   enrolled (as in 1), connects to the broker as itself and subscribes to its topics; then
   `sohoa provision device revoke` runs (a child process, as an admin runs it) and, from its
   start: every 0.2 s the appliance publishes on its result topic over its open connection
   until the broker answers 0x87 (not authorised), and then a new connection with its
   certificate must be refused (the CRL): "broker"; every 0.3 s a second, honest appliance
   relays a result signed with the revoked appliance's token key until the server answers
   `revoked_device` (its verifier read the new CRL; before, the same relay is answered
   `signer_not_registered`), and the device's row must say revoked (what ingest checks before
   taking its own results): "server". Figure: the later of the two, from the command's start,
   median and max over the trials; also the command's own time and when the appliance was
   told (its revoke command). Anchor: the broker reload alone (`provisioning.broker_folder.
   reload_broker` on the same folder: the CRL and ACL checked and replaced, SIGHUP, the reload
   confirmed in the broker's log). The time a `sohoa` command takes to start is printed too.

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import logging
import math
import multiprocessing
import os
import queue
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from paho.mqtt.enums import CallbackAPIVersion
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import col, select

from edge.config import EdgeSettings, load_edge_settings
from edge.enroll import TokenChoice, enroll
from edge.errors import EdgeError
from edge.signing.pades import DocumentSigner
from edge.signing.token import Token
from harness.broker import loopback_settings
from harness.processes import cpu_seconds, default_ingest_workers
from protocol import topics
from protocol.encoding import decode, encode
from protocol.enrollment import EnrollmentCode
from protocol.messages import Ack, ResultMessage
from protocol.reasons import RejectReason
from protocol.status import Heartbeat, LinkState
from provisioning.broker import Mosquitto
from provisioning.broker_folder import reload_broker, write_broker_folder
from provisioning.ca import (
    CertificateAuthority,
    Profile,
    new_key,
    write_certificate,
    write_private_key,
)
from provisioning.province import Province, provision_province, write_config
from provisioning.softhsm import init_token, write_softhsm_conf
from server.catalogue_files import KHANH_HOA_UNITS, PROCEDURES, read_procedures, read_units
from server.config import load_server_settings
from server.db import make_engine, migrate, session_scope
from server.enrollment import issue_code, server_key_der
from server.models import Device, DeviceStatus
from server.process import ServerProcess
from server.repository import procedures, units
from support.mqtt import MqttClient
from support.mqtt_types import Incoming, MqttError, Puback, TlsIdentity
from support.sockets import LOOPBACK, free_port

log = logging.getLogger("bench.fleet")

TARGET_ENROLL_PER_S = 10.0
TARGET_LAG_P95_S = 5.0
TARGET_CPU_CORES = 1.0
TARGET_REVOKE_S = 10.0

UNIT_CODE = "22516"
COMMITTEE = "UBND xã Vạn Thắng"
LOCATION = "Vạn Thắng"
REVOKE_TOKEN = "bench-revoke"  # noqa: S105 (a token label, not a secret)
ANCHOR_TOKEN = "bench-anchor"  # noqa: S105 (a token label, not a secret)
PUBLISHER = "bench-heartbeats-{}"
VERSIONS = {"sohoa": "0.1.0", "protocol": "1"}
NOT_AUTHORIZED = 0x87

SNAPSHOT_S = 5.0
"""How often the device table is read during the heartbeat window."""
DRAIN_S = 60.0
"""How long the heartbeat phases wait, after their last publish, for the last rows."""
POKE_S = 0.2
"""How often the revoked appliance tries its result topic."""
PROBE_S = 0.3
"""How often the honest appliance relays a result signed with the revoked appliance's key."""
TRIAL_S = 30.0
"""How long one revocation is watched before it counts as not cut off."""
IDLE_S = 5.0
"""How long the heartbeat server's CPU is measured idle, before the heartbeats."""


def out(line: str = "") -> None:
    """Print one report line (the benchmark's output, not a diagnostic)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def quantile(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile (nearest rank) of `values`, rounded; None if there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 3)


def ratio(ours: float | None, anchor: float | None) -> float | None:
    """ours / anchor, or None if either is missing."""
    if not ours or not anchor:
        return None
    return round(ours / anchor, 4)


def tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of process `pid` and of its living descendants."""
    if pid is None:
        return 0.0
    total = cpu_seconds(pid) or 0.0
    try:
        children = [
            int(c)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()
        ]
    except (OSError, ValueError):
        return total
    return total + sum(tree_cpu(child) for child in children)


def utc_now() -> dt.datetime:
    """The wall clock, UTC (what heartbeats and the repository carry)."""
    return dt.datetime.now(dt.UTC)


# --- the province ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """The province and the tokens of this run.

    Attributes:
        province: CA, CRL, SoftHSM store (its own token is the revocation phase's), the
            server's MQTT identity, the private broker's files.
        client_tokens: the enrollment clients' tokens, one per client process, each alone in
            a SoftHSM store of its own (as an appliance's token is alone): (label, the store's
            `softhsm2.conf`).
    """

    province: Province
    client_tokens: tuple[tuple[str, Path], ...]

    @property
    def workdir(self) -> Path:
        """The run's folder."""
        return self.province.workdir

    @property
    def ca_dir(self) -> Path:
        """The provincial CA's folder."""
        return self.province.ca_file.parent

    @property
    def module(self) -> Path:
        """SoftHSM's PKCS#11 module."""
        return self.province.softhsm.module_path

    @property
    def pin(self) -> str:
        """Every token's user PIN."""
        return self.province.user_pin


def make_site(workdir: Path, clients: int) -> Site:
    """Provision the province and initialise every token before any is opened (SoftHSM lists
    its tokens when its module is loaded, see `edge.signing.token`)."""
    province = provision_province(
        workdir,
        ca_name="Sohoa Fleet Bench CA",
        token_label=REVOKE_TOKEN,
        unit=COMMITTEE,
        location=LOCATION,
    )
    init_token(
        province.softhsm, ANCHOR_TOKEN, so_pin=secrets.token_hex(8), user_pin=province.user_pin
    )
    tokens = []
    for number in range(1, clients + 1):
        label = f"bench-client-{number}"
        store = write_softhsm_conf(workdir / "client-tokens" / label)
        init_token(store, label, so_pin=secrets.token_hex(8), user_pin=province.user_pin)
        tokens.append((label, store.conf_path))
    os.environ.update(province.softhsm.env())
    return Site(province, tuple(tokens))


@dataclass(frozen=True)
class EnrollServer:
    """The HTTPS server with its CA and its broker folder's Mosquitto, running.

    Attributes:
        url: the API's https:// address.
        config: the server's TOML (the revoke command reads it too).
        engine: this process's engine on the server's repository.
        server_key: the SubjectPublicKeyInfo the codes pin.
        broker: the Mosquitto of the broker folder.
        broker_dir: the broker folder (`sohoa provision broker-config`'s).
        server: the `sohoa server run` process.
    """

    url: str
    config: Path
    engine: Engine
    server_key: bytes
    broker: Mosquitto
    broker_dir: Path
    server: ServerProcess


@contextmanager
def enroll_server(site: Site) -> Iterator[EnrollServer]:
    """`sohoa server run` over HTTPS with the CA, units and procedures, and a Mosquitto from a
    production broker folder, as the enrollment integration test runs them."""
    province = site.province
    ca = CertificateAuthority.load(site.ca_dir)
    key = new_key()
    https = ca.issue(key.public_key(), LOOPBACK, Profile.TLS_SERVER, ip_addresses=[LOOPBACK])
    cert_file, key_file = province.server_dir / "https.pem", province.server_dir / "https-key.pem"
    write_certificate(https, cert_file)
    write_private_key(key, key_file)
    folder = write_broker_folder(
        site.workdir / "broker-folder", loopback_settings(site.ca_dir, province.server_ca_dir)
    )
    data = site.workdir / "enroll-server"
    database_url = f"sqlite:///{data / 'repository.db'}"
    data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with session_scope(engine) as session:
            units.import_units(session, read_units(KHANH_HOA_UNITS))
            procedures.import_procedures(session, read_procedures(PROCEDURES))
        api_port = free_port()
        with Mosquitto(folder.files, ports=folder.ports) as broker:
            config = write_config(
                data / "server.toml",
                province.server_config(
                    database_url=database_url,
                    data_dir=data,
                    broker_host=broker.host,
                    broker_port=broker.server_port,
                    api_port=api_port,
                    api_tls_cert_file=cert_file,
                    api_tls_key_file=key_file,
                    ca_dir=site.ca_dir,
                    broker_dir=folder.files.directory,
                    device_broker_host=broker.host,
                    device_broker_port=broker.port,
                    ltv=False,
                ),
            )
            with ServerProcess(
                config, data / "server.log", api_port=api_port, https=True
            ) as server:
                yield EnrollServer(
                    url=server.api_url,
                    config=config,
                    engine=engine,
                    server_key=server_key_der(cert_file.read_bytes()),
                    broker=broker,
                    broker_dir=folder.files.directory,
                    server=server,
                )
    finally:
        engine.dispose()


def issue_codes(srv: EnrollServer, device_ids: Sequence[str]) -> list[EnrollmentCode]:
    """One-time codes for `device_ids`, issued straight into the server's repository."""
    settings = load_server_settings(srv.config)
    with session_scope(srv.engine) as session:
        return [
            issue_code(
                session,
                settings,
                device_id,
                UNIT_CODE,
                server_key=srv.server_key,
                created_by="bench",
                server_url=srv.url,
            ).code
            for device_id in device_ids
        ]


def enroll_appliance(
    site: Site, srv: EnrollServer, device_id: str, code: EnrollmentCode, token_label: str
) -> EdgeSettings:
    """Enroll one appliance as `sohoa edge enroll` does (on token `token_label`); its settings.

    Raises:
        EdgeError: the enrollment failed (the message says where).
    """
    return load_edge_settings(
        _enroll(site.workdir, site.module, site.pin, srv.url, device_id, code, token_label)
    )


def _enroll(
    workdir: Path,
    module: Path,
    pin: str,
    url: str,
    device_id: str,
    code: EnrollmentCode,
    token_label: str,
) -> Path:
    """`edge.enroll.enroll` for `device_id` into its own folder; its configuration file."""
    home = workdir / "appliances" / device_id
    config = home / "edge.toml"
    token = TokenChoice(pkcs11_module=module, token_label=token_label)
    enroll(url, code, config, pin, token=token, unit=UNIT_CODE, home=home)
    return config


# --- 1. enrollment --------------------------------------------------------------------------

_client_token: str | None = None
"""The token of this enrollment client process (`_client_start`)."""
_client_barrier: Any = None
"""Where the client processes wait for each other before the clock starts."""


def _client_start(tokens: Any, barrier: Any) -> None:
    """A client process's initializer: take a token of its own from `tokens` (a queue of
    (label, softhsm2.conf)), before SoftHSM is loaded; keep `barrier` for `_client_ready`.

    One process per token, one store per token, as on appliances: python-pkcs11 initialises the
    module without locking arguments (`C_Initialize(NULL)`), so two tokens used from two threads
    of one process race in SoftHSM (measured here: segmentation faults in `Token.close` beside
    another token's key generation); and processes writing keys into one SoftHSM file store
    make each other's slot listing fail now and then (`C_GetSlotList`: CKR_GENERAL_ERROR)."""
    global _client_token, _client_barrier
    _client_token, conf = tokens.get()
    _client_barrier = barrier
    os.environ["SOFTHSM2_CONF"] = str(conf)


def _client_ready() -> str | None:
    """A warm-up task, one per process: each waits until every process of the pool runs one
    (its imports done, its token taken)."""
    _client_barrier.wait(timeout=120)
    return _client_token


def _client_enroll(
    workdir: Path, module: Path, pin: str, url: str, device_id: str, code: EnrollmentCode
) -> tuple[float, float, str | None]:
    """Enroll one appliance in a client process: (seconds, CPU seconds, failure or None)."""
    assert _client_token is not None
    started, cpu = time.perf_counter(), time.process_time()
    failure = None
    try:
        _enroll(workdir, module, pin, url, device_id, code, _client_token)
    except EdgeError as e:
        failure = f"{device_id}: {e}"
    return time.perf_counter() - started, time.process_time() - cpu, failure


def measure_enrollment(site: Site, srv: EnrollServer, count: int) -> dict[str, Any]:
    """`count` enrollments by one process per client token; then the anchors."""
    ids = [f"en-{n:05d}" for n in range(count)]
    codes = issue_codes(srv, ids)
    clients = len(site.client_tokens)
    context = multiprocessing.get_context("spawn")
    tokens = context.Queue()
    for token in site.client_tokens:
        tokens.put(token)
    barrier = context.Barrier(clients)
    with ProcessPoolExecutor(
        clients, mp_context=context, initializer=_client_start, initargs=(tokens, barrier)
    ) as pool:
        for job in [pool.submit(_client_ready) for _ in range(clients)]:
            job.result()
        server_cpu = tree_cpu(srv.server.pid)
        started = time.perf_counter()
        jobs = [
            pool.submit(_client_enroll, site.workdir, site.module, site.pin, srv.url, d, c)
            for d, c in zip(ids, codes, strict=True)
        ]
        answers = [job.result() for job in jobs]
        wall = time.perf_counter() - started
        server_cpu = tree_cpu(srv.server.pid) - server_cpu
    latencies = [seconds for seconds, _cpu, failure in answers if failure is None]
    failures = [failure for _s, _cpu, failure in answers if failure is not None]
    clients_cpu = sum(cpu for _s, cpu, _f in answers)
    done = len(latencies)
    rate = done / wall if wall else 0.0
    ca_rate = ca_anchor(site, min(count, 200))
    token_rate = token_anchor(site, math.ceil(count / clients))
    return {
        "enrollments": count,
        "clients": clients,
        "enrolled": done,
        "failed": len(failures),
        "failures": failures[:3],
        "seconds": round(wall, 2),
        "enrollments_per_s": round(rate, 2),
        "p50_s": quantile(latencies, 0.5),
        "p95_s": quantile(latencies, 0.95),
        "server_cpu_ms_per_enrollment": round(1000 * server_cpu / done, 1) if done else None,
        "server_cpu_cores": round(server_cpu / wall, 2) if wall else None,
        "clients_cpu_ms_per_enrollment": round(1000 * clients_cpu / done, 1) if done else None,
        "anchor_ca_issue_per_s": round(ca_rate, 1),
        "ratio_ca": ratio(rate, ca_rate),
        "anchor_token_keygen_per_s": round(token_rate, 1),
        "ratio_token": ratio(rate, token_rate),
        "met": not failures and rate >= TARGET_ENROLL_PER_S,
    }


def ca_anchor(site: Site, count: int) -> float:
    """Enrollments' worth of certificates the CA issues per second in this process: two from
    CSRs each (document signing, TLS client), no HTTP, no database, no token."""
    ca = CertificateAuthority.load(site.ca_dir)
    pairs = [(_software_csr(), _software_csr()) for _ in range(count)]
    started = time.perf_counter()
    for number, (signing, transport) in enumerate(pairs):
        device_id = f"anchor-{number:05d}"
        ca.issue_from_csr(signing, device_id, Profile.DOCUMENT_SIGNING, unit=COMMITTEE)
        ca.issue_from_csr(transport, device_id, Profile.TLS_CLIENT, unit=COMMITTEE)
    return count / (time.perf_counter() - started)


def token_anchor(site: Site, count: int) -> float:
    """Key pairs made, with their CSRs, per second on a SoftHSM token of its own."""
    with Token.open(site.module, label=ANCHOR_TOKEN, pin=site.pin) as token:
        started = time.perf_counter()
        for number in range(count):
            key_id = number.to_bytes(4, "big")
            token.generate_signing_key(key_id, label="document-signing")
            token.make_csr(key_id, "appliance")
        return count / (time.perf_counter() - started)


def _software_csr() -> x509.CertificateSigningRequest:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "appliance")])
    return (
        x509.CertificateSigningRequestBuilder().subject_name(name).sign(new_key(), hashes.SHA256())
    )


# --- 2. heartbeats --------------------------------------------------------------------------


def publisher_identities(site: Site, count: int) -> list[tuple[str, TlsIdentity]]:
    """TLS client identities of the provincial CA for the heartbeat publishers, and the
    benchmark's ACL lines letting each write every appliance's status topic, appended to the
    private broker's ACL (read when it starts)."""
    ca = CertificateAuthority.load(site.ca_dir)
    found = []
    for number in range(1, count + 1):
        name = PUBLISHER.format(number)
        folder = site.workdir / "publishers" / name
        key = new_key()
        write_private_key(key, folder / "key.pem")
        write_certificate(ca.issue(key.public_key(), name, Profile.TLS_CLIENT), folder / "cert.pem")
        found.append(
            (name, TlsIdentity(site.province.ca_file, folder / "cert.pem", folder / "key.pem"))
        )
    status = topics.all_devices_filter(topics.Kind.STATUS)
    lines = ["", "# bench.fleet only: heartbeat publishers writing for every appliance."]
    for name, _identity in found:
        lines += [f"user {name}", f"topic write {status}"]
    with site.province.broker_files.acl_file.open("a") as acl:
        acl.write("\n".join(lines) + "\n")
    return found


class Publishers:
    """A few MQTT clients publishing heartbeats on behalf of many appliances (QoS 1, retained,
    as the sync agent publishes its own)."""

    def __init__(self, identities: Sequence[tuple[str, TlsIdentity]], host: str, port: int) -> None:
        self._lock = threading.Lock()
        self.answered = 0
        self.refused = 0
        self._clients = [
            MqttClient(
                host=host,
                port=port,
                identity=identity,
                client_id=name,
                on_message=lambda _m: None,
                on_puback=self._on_puback,
            )
            for name, identity in identities
        ]
        for client in self._clients:
            client.connect()
        self._next = 0

    def send(self, device_id: str) -> tuple[str, dt.datetime]:
        """Publish one heartbeat of `device_id` measured now; (device_id, its `at`)."""
        at = utc_now()
        beat = Heartbeat(
            device_id=device_id,
            state=LinkState.ONLINE,
            at=at.isoformat(),
            queue_depth=0,
            disk_free_bytes=32 * 1024**3,
            token_present=True,
            versions=VERSIONS,
        )
        client = self._clients[self._next]
        self._next = (self._next + 1) % len(self._clients)
        client.publish(topics.status_topic(device_id), encode(beat), qos=1, retain=True)
        return device_id, at

    def close(self) -> None:
        """Disconnect every client."""
        for client in self._clients:
            client.disconnect()

    def _on_puback(self, puback: Puback) -> None:
        with self._lock:
            self.answered += 1
            self.refused += puback.refused


class Rows:
    """What the repository recorded: each (device, status_at) read from the device table with
    its status_received_at."""

    def __init__(self, engine: Engine, since: dt.datetime) -> None:
        self.engine = engine
        self.since = since
        self.seen: dict[tuple[str, dt.datetime], dt.datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> None:
        """Read the rows that changed since `since`."""
        with session_scope(self.engine) as session:
            rows = session.exec(
                select(Device.device_id, Device.status_at, Device.status_received_at).where(
                    col(Device.status_received_at) >= self.since
                )
            ).all()
        for device_id, status_at, received in rows:
            if status_at is not None and received is not None:
                self.seen[(device_id, status_at)] = received

    def every(self, seconds: float) -> None:
        """Read every `seconds` on a thread of its own until `stop`."""

        def run() -> None:
            while not self._stop.wait(seconds):
                self.read()

        self._thread = threading.Thread(target=run, name="rows", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reading."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def wait_for(self, sent: Sequence[tuple[str, dt.datetime]], timeout: float) -> None:
        """Read until every heartbeat in `sent` is recorded, or `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            self.read()
            if all(key in self.seen for key in sent) or time.monotonic() > deadline:
                return
            time.sleep(0.5)


def heartbeat_repository(site: Site, device_ids: Sequence[str]) -> tuple[str, Engine]:
    """A migrated repository with `device_ids` registered (one transaction); its URL and an
    engine on it."""
    data = site.workdir / "heartbeat-server"
    data.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data / 'repository.db'}"
    engine = make_engine(url)
    migrate(engine)
    with session_scope(engine) as session:
        session.add_all(
            Device(
                device_id=device_id,
                unit=COMMITTEE,
                unit_code=UNIT_CODE,
                signing_cert_sha256=hashlib.sha256(device_id.encode()).hexdigest(),
            )
            for device_id in device_ids
        )
        session.commit()
    return url, engine


def measure_heartbeats(
    site: Site, devices: int, interval: float, seconds: float, publishers: int, flood: int
) -> dict[str, Any]:
    """The paced window, the flood, then the raw anchor (the server stopped)."""
    ids = [f"hb-{n:05d}" for n in range(devices)]
    identities = publisher_identities(site, publishers)
    url, engine = heartbeat_repository(site, ids)
    data = site.workdir / "heartbeat-server"
    workers = default_ingest_workers()
    figures: dict[str, Any] = {"devices": devices, "interval_s": interval, "seconds": seconds}
    try:
        with ExitStack() as stack:
            broker = stack.enter_context(Mosquitto(site.province.broker_files))
            config = write_config(
                data / "server.toml",
                site.province.server_config(
                    database_url=url,
                    data_dir=data,
                    broker_host=broker.host,
                    broker_port=broker.server_port,
                    api_port=free_port(),
                    ingest_workers=workers,
                    ltv=False,
                ),
            )
            senders = Publishers(identities, broker.host, broker.port)
            stack.callback(senders.close)
            with ServerProcess(
                config, data / "server.log", role="ingest", workers=workers
            ) as server:
                idle = min(IDLE_S, seconds)  # the watcher's subscription settles meanwhile
                cpu = tree_cpu(server.pid)
                time.sleep(idle)
                figures["server_idle_cpu_cores"] = round((tree_cpu(server.pid) - cpu) / idle, 3)
                figures.update(_paced(engine, senders, ids, interval, seconds, server, broker))
                log.info("heartbeats: flood of %d ...", min(flood, devices))
                figures.update(_flood(engine, senders, ids[:flood]))
            log.info("heartbeats: raw anchor ...")
            raw = _raw_flood(site, senders, broker, ids[:flood], devices)
            figures.update(raw)
            figures["refused_publishes"] = senders.refused
    finally:
        engine.dispose()
    figures["ratio_flood"] = ratio(figures["flood_per_s"], figures["anchor_raw_per_s"])
    figures["ratio_cpu"] = ratio(figures["server_cpu_cores"], figures["broker_cpu_cores"])
    p95 = figures["lag_p95_s"]
    figures["met"] = (
        figures["missing"] == 0
        and p95 is not None
        and p95 < TARGET_LAG_P95_S
        and figures["server_cpu_cores"] < TARGET_CPU_CORES
    )
    return figures


def _paced(
    engine: Engine,
    senders: Publishers,
    ids: Sequence[str],
    interval: float,
    seconds: float,
    server: ServerProcess,
    broker: Mosquitto,
) -> dict[str, Any]:
    """Each appliance's heartbeat every `interval` s, spread evenly, for `seconds`."""
    rows = Rows(engine, utc_now())
    rows.every(min(SNAPSHOT_S, interval / 4))  # before a device's next heartbeat replaces it
    sent: list[tuple[str, dt.datetime]] = []
    server_cpu, broker_cpu = tree_cpu(server.pid), tree_cpu(broker.pid)
    started = time.monotonic()
    tick = 0
    while (due := tick * interval / len(ids)) < seconds:
        wait = started + due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        sent.append(senders.send(ids[tick % len(ids)]))
        tick += 1
    wall = time.monotonic() - started
    server_cpu = tree_cpu(server.pid) - server_cpu
    broker_cpu = tree_cpu(broker.pid) - broker_cpu
    rows.stop()
    rows.wait_for(sent, DRAIN_S)
    lags = [(rows.seen[key] - key[1]).total_seconds() for key in sent if key in rows.seen]
    return {
        "published": len(sent),
        "rate_per_s": round(len(sent) / wall, 1),
        "recorded": len(lags),
        "missing": len(sent) - len(lags),
        "lag_p50_s": quantile(lags, 0.5),
        "lag_p95_s": quantile(lags, 0.95),
        "lag_max_s": quantile(lags, 1.0),
        "server_cpu_cores": round(server_cpu / wall, 3),
        "broker_cpu_cores": round(broker_cpu / wall, 3),
        "server_cpu_ms_per_heartbeat": round(1000 * server_cpu / len(sent), 2) if sent else None,
    }


def _flood(engine: Engine, senders: Publishers, ids: Sequence[str]) -> dict[str, Any]:
    """One heartbeat from each of `ids` at once; heartbeats recorded per second."""
    rows = Rows(engine, utc_now())
    sent = [senders.send(device_id) for device_id in ids]
    rows.wait_for(sent, DRAIN_S + len(ids) / 50)
    received = [rows.seen[key] for key in sent if key in rows.seen]
    span = (max(received) - sent[0][1]).total_seconds() if received else 0.0
    return {
        "flood": len(sent),
        "flood_recorded": len(received),
        "flood_per_s": round(len(received) / span, 1) if span > 0 else None,
    }


class RawCounter:
    """The anchor's end: a plain paho subscriber with the server's identity on every status
    topic, counting what arrives (retained copies apart) and when the last came."""

    def __init__(self, site: Site, host: str, port: int) -> None:
        self.live = 0
        self.retained = 0
        self.last = 0.0
        self._subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="sohoa-bench-fleet-raw", protocol=paho.MQTTv5
        )
        self._client.tls_set(
            ca_certs=str(site.province.ca_file),
            certfile=str(site.province.server_cert_file),
            keyfile=str(site.province.server_key_file),
        )
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self._client.connect(host, port, keepalive=60)
        self._client.loop_start()
        self._client.subscribe(topics.all_devices_filter(topics.Kind.STATUS), qos=1)
        if not self._subscribed.wait(15):
            raise RuntimeError("the raw subscriber (server identity) could not subscribe")

    def wait(self, count: int, *, retained: bool, timeout: float, quiet: float = 3.0) -> None:
        """Until `count` (live or retained) messages came, none came for `quiet` s, or
        `timeout`."""
        started = time.monotonic()
        while time.monotonic() < started + timeout:
            if (self.retained if retained else self.live) >= count:
                return
            if time.monotonic() - max(started, self.last) > quiet:
                return
            time.sleep(0.05)

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        if message.retain:
            self.retained += 1
        else:
            self.live += 1
        self.last = time.monotonic()


def _raw_flood(
    site: Site, senders: Publishers, broker: Mosquitto, ids: Sequence[str], devices: int
) -> dict[str, Any]:
    """The same flood to `RawCounter`: heartbeats delivered per second, no server."""
    counter = RawCounter(site, broker.host, broker.server_port)
    try:
        counter.wait(devices, retained=True, timeout=60.0)  # the retained copies, first
        started = time.monotonic()
        for device_id in ids:
            senders.send(device_id)
        counter.wait(len(ids), retained=False, timeout=DRAIN_S)
        span = counter.last - started
        return {
            "anchor_raw_received": counter.live,
            "anchor_raw_per_s": round(counter.live / span, 1) if span > 0 else None,
        }
    finally:
        counter.close()


# --- 3. revocation --------------------------------------------------------------------------


class Appliance:
    """An enrolled appliance's MQTT connection as itself: its acks and commands as they come,
    the broker's answers to its publishes."""

    def __init__(self, settings: EdgeSettings, host: str, port: int) -> None:
        assert settings.device_id is not None
        self.device_id = settings.device_id
        self.identity = settings.tls_identity()
        self.host, self.port = host, port
        self.acks: dict[str, tuple[float, Ack]] = {}
        self.told: float | None = None
        self.pubacks: queue.Queue[Puback] = queue.Queue()
        self._client = MqttClient(
            host=host,
            port=port,
            identity=self.identity,
            client_id=self.device_id,
            on_message=self._on_message,
            on_puback=self.pubacks.put,
        )
        self._client.connect(timeout=10.0)
        self._client.subscribe(topics.device_subscriptions(self.device_id), timeout=5.0)

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish (QoS 1); its packet id."""
        return self._client.publish(topic, payload).mid

    def can_connect_again(self) -> bool:
        """Whether a second connection with this appliance's certificate is accepted (it would
        take this one over: only asked once the broker refuses its results)."""
        again = MqttClient(
            host=self.host,
            port=self.port,
            identity=self.identity,
            client_id=self.device_id,
            on_message=lambda _m: None,
        )
        try:
            again.connect(timeout=5.0)
        except MqttError:
            return False
        again.disconnect()
        return True

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()

    def _on_message(self, message: Incoming) -> None:
        where = topics.parse(message.topic)
        if where.kind is topics.Kind.CMD and self.told is None:
            self.told = time.monotonic()
        elif where.kind is topics.Kind.ACK:
            ack = decode(message.payload)
            if isinstance(ack, Ack) and ack.final:
                self.acks.setdefault(ack.result_id, (time.monotonic(), ack))


def relayed_results(site: Site, signer: EdgeSettings, relay: str, count: int) -> list[bytes]:
    """`count` results signed on the token with `signer`'s key, as `relay` would send them."""
    key_id = bytes.fromhex(signer.signing_key_id or "")
    payloads = []
    with Token.open(site.module, label=REVOKE_TOKEN, pin=site.pin) as token:
        documents = DocumentSigner(token, key_id, organisation=COMMITTEE)
        for number in range(count):
            page = Image.new("L", (420, 300), color=255)
            page.putpixel((number % 420, number // 420), 0)
            pdf = io.BytesIO()
            page.save(pdf, "PDF", resolution=50.0)
            signed = documents.sign(pdf.getvalue())
            message = ResultMessage.for_pdf(relay, signed, {}, utc_now().isoformat())
            payloads.append(encode(message))
    return payloads


def measure_revocation(site: Site, srv: EnrollServer, trials: int, reloads: int) -> dict[str, Any]:
    """`trials` revocations, each of a freshly enrolled appliance; then the anchors."""
    host, port = srv.broker.host, srv.broker.port
    (code,) = issue_codes(srv, ["rv-relay"])
    relay = Appliance(enroll_appliance(site, srv, "rv-relay", code, REVOKE_TOKEN), host, port)
    results = []
    try:
        for trial in range(trials):
            results.append(_revoke_once(site, srv, relay, f"rv-{trial:03d}"))
            log.info("revocation %d: %s", trial + 1, results[-1])
    finally:
        relay.close()
    reload_s = []
    for _ in range(reloads):
        started = time.perf_counter()
        reload_broker(srv.broker_dir)
        reload_s.append(time.perf_counter() - started)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cli", "provision", "device", "revoke", "--help"],
        capture_output=True,
        check=True,
    )
    cli_start = time.perf_counter() - started
    cut = [r["cut_off_s"] for r in results]
    done = [c for c in cut if c is not None]
    median = round(statistics.median(done), 2) if done else None
    anchor = round(statistics.median(reload_s), 3)
    return {
        "trials": results,
        "cut_off_median_s": median,
        "cut_off_max_s": max(done) if len(done) == len(cut) and done else None,
        "not_cut_off": len(cut) - len(done),
        "command_median_s": _median(r["command_s"] for r in results),
        "broker_median_s": _median(r["broker_s"] for r in results),
        "server_median_s": _median(r["server_s"] for r in results),
        "told_median_s": _median(r["told_s"] for r in results),
        "anchor_reload_s": anchor,
        "cli_start_s": round(cli_start, 2),
        "ratio": ratio(median, anchor),
        "met": len(done) == len(cut) and bool(done) and max(done) <= TARGET_REVOKE_S,
    }


def _median(values: Iterator[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


def _revoke_once(site: Site, srv: EnrollServer, relay: Appliance, device_id: str) -> dict[str, Any]:
    """Enroll `device_id`, connect it, revoke it; when each door closed, from the command's
    start (None: not within `TRIAL_S`)."""
    (code,) = issue_codes(srv, [device_id])
    settings = enroll_appliance(site, srv, device_id, code, REVOKE_TOKEN)
    probes = relayed_results(site, settings, relay.device_id, int(TARGET_REVOKE_S / PROBE_S) + 2)
    # Before: the relay's result of another signer is refused for that, not for revocation.
    baseline = _relay(relay, probes.pop())
    device = Appliance(settings, srv.broker.host, srv.broker.port)
    try:
        return {"baseline": baseline, **_watch_revocation(srv, relay, device, probes)}
    finally:
        device.close()


def _relay(relay: Appliance, payload: bytes, timeout: float = 20.0) -> str | None:
    """Publish one relayed result and wait for its answer; the reason (or status)."""
    message = decode(payload)
    assert isinstance(message, ResultMessage)
    relay.publish(topics.result_topic(relay.device_id), payload)
    deadline = time.monotonic() + timeout
    while message.result_id not in relay.acks and time.monotonic() < deadline:
        time.sleep(0.05)
    answer = relay.acks.get(message.result_id)
    if answer is None:
        return None
    ack = answer[1]
    return ack.reason.value if ack.reason is not None else ack.status.value


def _watch_revocation(
    srv: EnrollServer, relay: Appliance, device: Appliance, probes: list[bytes]
) -> dict[str, Any]:
    device_id = device.device_id
    result_topic = topics.result_topic(device_id)
    relay_topic = topics.result_topic(relay.device_id)
    started = time.monotonic()
    command = subprocess.Popen(
        [sys.executable, "-m", "cli", "provision", "device", "revoke", device_id,
         "--reason", "key-compromise", "--config", str(srv.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    at: dict[str, float | None] = dict.fromkeys(("command", "broker", "verifier", "repository"))
    poke: int | None = None
    next_poke = next_probe = next_row = started
    relayed: set[str] = set()
    new_connection_refused: bool | None = None
    while time.monotonic() - started < TRIAL_S:
        now = time.monotonic()
        if at["command"] is None and command.poll() is not None:
            at["command"] = now
        if at["broker"] is None and new_connection_refused is None:
            if poke is None and now >= next_poke:
                poke, next_poke = device.publish(result_topic, b"{}"), now + POKE_S
            while not device.pubacks.empty():
                answer = device.pubacks.get()
                if answer.mid == poke:
                    poke = None
                    if answer.code == NOT_AUTHORIZED:
                        new_connection_refused = not device.can_connect_again()
                        if new_connection_refused:
                            at["broker"] = time.monotonic()
        if at["verifier"] is None:
            refused = [
                t
                for rid, (t, ack) in relay.acks.items()
                if rid in relayed and ack.reason is RejectReason.REVOKED_DEVICE
            ]
            if refused:
                at["verifier"] = min(refused)
            elif probes and now >= next_probe:
                payload = probes.pop()
                message = decode(payload)
                assert isinstance(message, ResultMessage)
                relayed.add(message.result_id)
                relay.publish(relay_topic, payload)
                next_probe = now + PROBE_S
        if at["repository"] is None and now >= next_row:
            next_row = now + 0.1
            with session_scope(srv.engine) as session:
                row = session.get(Device, device_id)
                if row is not None and row.status is DeviceStatus.REVOKED:
                    at["repository"] = now
        if all(v is not None for v in at.values()) and device.told is not None:
            break
        time.sleep(0.01)
    stdout, stderr = command.communicate(timeout=60)

    def since(moment: float | None) -> float | None:
        return round(moment - started, 2) if moment is not None else None

    server = None
    if at["verifier"] is not None and at["repository"] is not None:
        server = max(at["verifier"], at["repository"])
    cut_off = None
    if at["broker"] is not None and server is not None:
        cut_off = max(at["broker"], server)
    return {
        "command_ok": command.returncode == 0 and "broker reloaded" in stdout,
        "command_problems": [
            line[:300] for line in stderr.splitlines() if line.startswith("still to do")
        ]
        or (stderr.strip().splitlines()[-1:] if command.returncode else []),
        "command_s": since(at["command"]),
        "broker_s": since(at["broker"]),
        "new_connection_refused": new_connection_refused,
        "verifier_s": since(at["verifier"]),
        "repository_s": since(at["repository"]),
        "server_s": since(server),
        "told_s": since(device.told),
        "cut_off_s": since(cut_off),
    }


# --- the report -----------------------------------------------------------------------------


def report(figures: dict[str, Any]) -> None:
    """Print the table: each figure, its anchor, their ratio, the target."""
    rows: list[tuple[str, str, str, str, str]] = []
    if (e := figures.get("enrollment")) is not None:
        target = f">= {TARGET_ENROLL_PER_S:.0f}/s {'met' if e['met'] else 'NOT met'}"
        ours = f"{e['enrollments_per_s']}/s"
        rows.append(("enrollments/s", ours, f"CA issue x2 {e['anchor_ca_issue_per_s']}/s",
                     str(e["ratio_ca"]), target))  # fmt: skip
        rows.append(("", "", f"SoftHSM key+CSR {e['anchor_token_keygen_per_s']}/s",
                     str(e["ratio_token"]), ""))  # fmt: skip
        rows.append((f"  {e['enrolled']}/{e['enrollments']} by {e['clients']} clients",
                     f"p50 {e['p50_s']} s p95 {e['p95_s']} s", "", "", ""))  # fmt: skip
        rows.append(("  server CPU per enrollment", f"{e['server_cpu_ms_per_enrollment']} ms",
                     f"clients {e['clients_cpu_ms_per_enrollment']} ms", "", ""))  # fmt: skip
    if (h := figures.get("heartbeats")) is not None:
        lag = f"< {TARGET_LAG_P95_S:.0f} s {'met' if h['met'] else 'NOT met'}"
        rows.append((f"heartbeat lag ({h['devices']} x 1/{h['interval_s']:g} s)",
                     f"p50 {h['lag_p50_s']} p95 {h['lag_p95_s']} max {h['lag_max_s']} s", "",
                     "", lag))  # fmt: skip
        rows.append((f"  {h['recorded']}/{h['published']} at {h['rate_per_s']}/s",
                     f"{h['missing']} missing", "", "", ""))  # fmt: skip
        rows.append(("server CPU at that rate",
                     f"{h['server_cpu_cores']} cores (idle {h['server_idle_cpu_cores']})",
                     f"broker {h['broker_cpu_cores']} cores", str(h["ratio_cpu"]),
                     f"< {TARGET_CPU_CORES:.0f} core"))  # fmt: skip
        rows.append((f"heartbeats/s recorded (flood {h['flood']})", f"{h['flood_per_s']}/s",
                     f"raw Mosquitto {h['anchor_raw_per_s']}/s", str(h["ratio_flood"]),
                     ""))  # fmt: skip
    if (r := figures.get("revocation")) is not None:
        target = f"<= {TARGET_REVOKE_S:.0f} s {'met' if r['met'] else 'NOT met'}"
        rows.append((f"revoke -> cut off ({len(r['trials'])} trials)",
                     f"median {r['cut_off_median_s']} max {r['cut_off_max_s']} s",
                     f"broker reload {r['anchor_reload_s']} s", str(r["ratio"]),
                     target))  # fmt: skip
        troubled = sum(1 for t in r["trials"] if not t["command_ok"])
        if troubled:
            rows.append((f"  revoke command reported problems in {troubled} trial(s)",
                         "see command_problems", "", "", ""))  # fmt: skip
        rows.append(("  command / broker / server / told",
                     f"{r['command_median_s']} / {r['broker_median_s']} / "
                     f"{r['server_median_s']} / {r['told_median_s']} s",
                     f"CLI start {r['cli_start_s']} s", "", ""))  # fmt: skip
    header = ("figure", "ours", "anchor", "ratio", "target")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        out("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements; print the table and, last, one JSON line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.fleet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--enrollments", type=int, default=200, help="(default: %(default)s)")
    parser.add_argument("--clients", type=int, default=4, help="enrolling threads, one token each")
    parser.add_argument("--devices", type=int, default=10_000, help="(default: %(default)s)")
    parser.add_argument("--interval", type=float, default=60.0, help="s between one's heartbeats")
    parser.add_argument("--seconds", type=float, default=120.0, help="the heartbeat window")
    parser.add_argument("--publishers", type=int, default=4, help="heartbeat publishing clients")
    parser.add_argument("--flood", type=int, default=5000, help="heartbeats published at once")
    parser.add_argument("--revocations", type=int, default=5, help="(default: %(default)s)")
    parser.add_argument("--reloads", type=int, default=5, help="broker reloads of the anchor")
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: a temp dir)")
    args = parser.parse_args(argv)
    if min(args.enrollments, args.clients, args.devices, args.publishers, args.flood) < 1:
        parser.error("every count must be at least 1")
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)  # our progress lines, not a line per key and certificate

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sohoa-bench-fleet-"))
    started = time.perf_counter()
    figures: dict[str, Any] = {}
    phases: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = round(now - since, 1)
        return now

    try:
        site = make_site(workdir, args.clients)
        clock = lap("provision", started)
        with enroll_server(site) as srv:
            clock = lap("enroll_server_start", clock)
            log.info("enrollment: %d by %d clients ...", args.enrollments, args.clients)
            figures["enrollment"] = measure_enrollment(site, srv, args.enrollments)
            clock = lap("enrollment", clock)
            log.info("revocation: %d trials ...", args.revocations)
            figures["revocation"] = measure_revocation(site, srv, args.revocations, args.reloads)
            clock = lap("revocation", clock)
        log.info("heartbeats: %d appliances for %.0f s ...", args.devices, args.seconds)
        figures["heartbeats"] = measure_heartbeats(
            site,
            args.devices,
            args.interval,
            args.seconds,
            args.publishers,
            min(args.flood, args.devices),
        )
        lap("heartbeats", clock)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    figures["phase_seconds"] = phases
    figures["seconds"] = round(time.perf_counter() - started, 1)
    report(figures)
    out(json.dumps(figures, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

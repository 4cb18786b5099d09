"""The MQTT broker: Mosquitto's configuration, its ACL, its TLS files, and a runner for a private
Mosquitto child process (the demo and the test suite start their own; production runs the
system's Mosquitto with the same files, or any MQTT v5 broker with the same rules).

Rules of the generated configuration (Mosquitto 2.0):
- Two listeners, on 127.0.0.1 unless told otherwise (`host`, `server_host`: a production broker's
  folder, `provisioning.broker_folder`, binds the addresses its devices reach), both TLS 1.2 or
  newer only, both requiring a client certificate
  (`require_certificate`) whose commonName becomes the MQTT username
  (`use_identity_as_username`), so no client can claim another's name. `allow_anonymous false`
  is kept: in 2.0 a client whose identity became its username is not anonymous, and any other
  way in stays shut.
  - The devices' listener (`port`) trusts the provincial CA (and checks its CRL), and replaces
    every client id by the username (`use_username_as_clientid`): a device's client id IS its
    certificate's commonName, its device id, which is the id honest appliances already use.
    Client ids are global in Mosquitto, across listeners, and a CONNECT with an id in use takes
    that id's connection and session over: the old client is disconnected (reason 0x8E), and
    the newcomer's clean start drops the session, with what was queued in it, or its resumption
    inherits it. Measured without the rewrite (`tests/server/test_client_ids.py`): one device's
    valid certificate with the client id of a running ingest worker or of the device watcher
    disconnected each (they reconnect, and are knocked off again at the next try); with another
    device's id and no clean start it was handed that device's session, and the ack queued in
    it never reached the device.
  - The server's listener (`server_port`) trusts only the server-clients CA, a CA of its own
    that issues the server's MQTT identity and nothing else, so a device's certificate fails
    its TLS handshake there. Its clients choose their own ids (a server process holds several:
    its ingest workers' stable `sohoa-ingest-<host>-<n>`, the device watcher's, `sohoa server
    command`'s), all beginning with `sohoa`, which no device id may (`protocol.topics`), so a
    device, bound to its device id, can never name one of them. Alternatives weighed: one
    listener with the rewrite cannot hold the server's several ids (all would be `sohoa-server`
    and take each other over); a second listener trusting the provincial CA lets every device
    in, and the ACL does not help, as the takeover happens at CONNECT, before any publish or
    delivery is checked; a password on it would be a second kind of secret beside the
    certificates, to keep and rotate; a Unix socket does not tell the processes of one user
    apart and is no way in for a server on another host.
    Revoking the server's identity means issuing a new one from a new server-clients CA (the
    listener has no CRL: one CRL per listener, and its certificates are the operator's own).
- The ACL lets a device write only its own result/status/reply topics and read only its own
  ack/cmd topics; the server identity reads every device's result/status/reply and writes every
  ack/cmd. Both are generated from `protocol.topics.DEVICE_WRITES` / `DEVICE_READS`, so the
  ACL follows the protocol. Under MQTT v5 a refused publish is answered with reason 0x87 (Not
  authorized); under 3.1.1 it would be dropped silently, so clients must speak v5.
- Subscriptions: Mosquitto 2.0.11's `acl_file` grants every SUBSCRIBE (plain or
  `$share/<group>/...`, MQTT v5 section 4.8.2) and checks read rights only when it delivers a
  message, against the message's own topic. So the server's `topic read sohoa/v1/dev/+/result`
  line covers its shared subscription, and a device that subscribes to another device's topics
  receives nothing. But a device that joined the server's share group would take its turn in
  the round robin and the results dealt to it would be dropped (measured: 5 of 10). Hence the
  group's name is a per-deployment secret (`new_ingest_group`, the server's `ingest_group`
  setting), which devices are never given and cannot guess; tests check that a device joining
  the well-known group `ingest`, or subscribing to every result, takes nothing from the server.
- `max_packet_size` lets through a whole result of the devices' whole-message maximum and a
  chunk of the server's largest chunk size, each with its header, with room to spare, and
  bounds what the broker carries to the server whatever a device sends. Mosquitto announces it
  in its CONNACK (Maximum Packet Size, MQTT v5 section 3.2.2.3.6), where a device can read it
  and size its chunks. A larger publish is not refused politely: Mosquitto 2.0.11 drops the
  connection (and with `message_size_limit` instead it answers with a PUBACK reason, 0x95, that
  is not valid for a PUBACK, which paho 2.2 reads as a malformed packet and disconnects); either
  way paho reconnects and publishes it again, in a loop. A device must therefore keep its
  whole-message maximum and chunk size under the announced maximum.
- Persistence is on (sessions and queued QoS 1 messages survive a broker restart).
- Memory and disk are bounded (`BrokerLimits`); without the limits below, 300 messages of 5 MB
  published in 7 s while ingest was busy took Mosquitto from 55 MB to 1.5 GB of memory and
  1.5 GB on disk. Sized for a province: 500 appliances; a result is 200-500 KB, sent whole up
  to the appliances' `whole_max_bytes` (512 KiB) and above it in chunks of `chunk_size`
  (256 KiB by default); the broker passes each to one of a few ingest workers (up to 8
  counted here) and their acks back.
  - `max_queued_bytes` 128 MiB per client (and `max_queued_messages` 10,000, which binds only
    for messages under 13 KB: acks, commands): what waits at the broker for one busy or absent
    ingest worker. 128 MiB is 260-650 results, 5-20 s of a worker's work, most of the
    appliances' first wait for an ack (`ack_timeout_s`, 30 s), after which they send a result
    again anyway; with the default 4 workers of `sohoa server bench-sync` 100 appliances'
    windows (8 results each, 400 KB) fit. It is deliberately less than a whole province's
    windows (500 x 8 results, 1.4 GB after an outage): that backlog belongs in the appliances'
    outboxes, not in the broker's memory. Beyond it Mosquitto drops the message (it has
    already acknowledged it to the sender), and nothing is lost: the appliance's wait for the
    application ack runs out and it sends the result again, its wait growing at each resend
    (`protocol.sender`). The cost of the bound, measured with `sohoa server bench-sync
    --devices 60 --results 8 --ingest-processes 1 --ingest-workers 1` (196 MB in flight at
    once into one worker): unbounded, 0 resent, 36 results/s, p95 13 s, broker peak 354 MB;
    128 MiB, 136 of 480 resent, 11 results/s, p95 44 s, broker peak 266 MB (64 MiB: 295
    resent, 8 results/s, p95 60 s, 143 MB). Devices' own queues hold only acks and commands.
  - `max_inflight_messages` 20 and `max_inflight_bytes` 8 MiB per client: what is sent to a
    client and not yet acknowledged. An ingest worker announces a smaller Receive Maximum and
    holds a few MiB itself (`ingest_queue_bytes`), so 8 MiB never slows it; it stops a client
    that reads without acknowledging from holding 20 of the largest packets (100 MB).
  - `memory_limit` 1.5 GiB, the hard cap on Mosquitto's heap (Debian's 2.0.11 is built with
    memory tracking; `$SYS/broker/heap/current` reports it), set above what the queue limits
    let it hold so that they, not it, bind in normal running: 8 workers x (128 MiB queued +
    8 MiB in flight + one 5 MiB packet) = 1.1 GiB, 500 TLS connections with their sessions at
    about 100 KiB each = 50 MiB, and room for packets being read. At the cap Mosquitto refuses
    the allocation: the message being read is dropped and its sender disconnected (it
    reconnects and sends again), so a flood costs its sender, not the broker's host.
  - Persistence size: Mosquitto 2.0 has no option for it. `mosquitto.db` is a snapshot of what
    the broker holds in memory (sessions, subscriptions, retained and queued messages), so the
    limits above bound it too: at most `memory_limit`, and twice that for a moment while a
    save writes its new copy beside the old (`autosave_interval` 60 s).
  - `max_packet_size` (above) bounds any one message; `message_size_limit` is left unset on
    purpose (see above: its refusal makes paho disconnect and resend in a loop).
- Started as root, Mosquitto 2.0 drops to its `user` (default `mosquitto`) right after reading
  its configuration, before it opens its log, pid file, database, certificates, CRL and ACL, and
  it reads the last three again as that user at every SIGHUP. A private broker (the demo, the
  tests), whose 0600 key belongs to whoever made it, is therefore told `user root` when it runs
  as root (a non-root run ignores the option anyway); a production folder names its user and
  belongs to it (`provisioning.broker_folder`).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from protocol.errors import TopicError
from protocol.receiver import DEFAULT_MAX_CHUNK_BYTES
from protocol.sender import DEFAULT_WHOLE_MAX
from protocol.topics import (
    DEVICE_READS,
    DEVICE_WRITES,
    PREFIX,
    SERVER_IDENTITY,
    Kind,
    validate_device_id,
)
from provisioning.ca import (
    CertificateAuthority,
    Profile,
    new_key,
    write_certificate,
    write_private_key,
)
from provisioning.errors import BrokerError
from support.files import write_atomic
from support.lifecycle import Service
from support.process import log_tail, stop_child
from support.sockets import free_port

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_QUEUED_MESSAGES = 10_000
"""Per-client queue of QoS 1 messages beyond those in flight (Mosquitto's default is 1,000);
for anything but small messages `MAX_QUEUED_BYTES` binds first."""
MAX_QUEUED_BYTES = 128 * 1024 * 1024
"""Per-client queue of QoS 1 messages beyond those in flight, in payload bytes."""
MAX_INFLIGHT_MESSAGES = 20
"""Messages sent to one client and not yet acknowledged (a v5 client's Receive Maximum may
lower it)."""
MAX_INFLIGHT_BYTES = 8 * 1024 * 1024
"""Payload bytes sent to one client and not yet acknowledged (one larger message may still go
alone)."""
MEMORY_LIMIT = 1536 * 1024 * 1024
"""The most heap Mosquitto may allocate (its `memory_limit`): see the module's sizing."""
HEADER_ALLOWANCE = 1024 * 1024
"""Room for a message's JSON header (fields, metadata) beside its bytes."""
MESSAGE_SIZE_LIMIT = max(DEFAULT_WHOLE_MAX, DEFAULT_MAX_CHUNK_BYTES) + HEADER_ALLOWANCE
"""The largest payload the broker accepts (5 MiB): a whole result of up to the devices'
whole-message maximum (512 KiB) or a chunk of up to the server's largest chunk size (4 MiB),
plus a header."""
MAX_PACKET_BYTES = MESSAGE_SIZE_LIMIT + 64 * 1024
"""Mosquitto's `max_packet_size`: the payload limit plus room for the topic and properties."""


@dataclass(frozen=True)
class BrokerLimits:
    """The memory-bounding settings of a generated configuration (the module's docstring says
    how the defaults are sized). A 0 means "no limit" to Mosquitto: only tests use it, to show
    what a limit is for.

    Attributes:
        max_queued_messages: per-client queue beyond what is in flight, in messages.
        max_queued_bytes: the same in payload bytes.
        max_inflight_messages: per-client messages sent and not yet acknowledged.
        max_inflight_bytes: the same in payload bytes.
        max_packet_size: the largest MQTT packet accepted (and announced), in bytes.
        memory_limit: the most heap the broker may allocate, in bytes.
    """

    max_queued_messages: int = MAX_QUEUED_MESSAGES
    max_queued_bytes: int = MAX_QUEUED_BYTES
    max_inflight_messages: int = MAX_INFLIGHT_MESSAGES
    max_inflight_bytes: int = MAX_INFLIGHT_BYTES
    max_packet_size: int = MAX_PACKET_BYTES
    memory_limit: int = MEMORY_LIMIT


START_TIMEOUT_S = 10.0
_RUNNING = " running\n"


def broker_config(
    *,
    port: int,
    server_port: int,
    ca_file: Path,
    server_ca_file: Path,
    cert_file: Path,
    key_file: Path,
    acl_file: Path,
    persistence_dir: Path,
    log_file: Path,
    crl_file: Path | None = None,
    limits: BrokerLimits = BrokerLimits(),
    host: str = HOST,
    server_host: str | None = None,
    pid_file: Path | None = None,
    user: str | None = None,
) -> str:
    """The text of a `mosquitto.conf` with the devices' TLS listener on `host`:`port` and the
    server's on `server_host`:`server_port` (the module's docstring says why two).

    Args:
        port: the devices' TCP port.
        server_port: the TCP port of the server's clients.
        ca_file: the provincial CA certificate; devices' certificates must chain to it.
        server_ca_file: the server-clients CA certificate; the server's must chain to it.
        cert_file: the broker's TLS server certificate (both listeners present it).
        key_file: its private key.
        acl_file: the ACL (see `acl_rules`).
        persistence_dir: where Mosquitto keeps `mosquitto.db`.
        log_file: where Mosquitto writes its log.
        crl_file: a PEM CRL of revoked device certificates, if any.
        limits: the queue, in-flight, packet and memory limits.
        host: the address the devices' listener binds (default 127.0.0.1; 0.0.0.0: every
            IPv4 interface).
        server_host: the address the server's listener binds (default: `host`).
        pid_file: where Mosquitto writes its process id (what a reload signals), or None.
        user: the user a root-started Mosquitto drops to; None: `root` when this process runs
            as root (a private broker reading its own 0600 key), else left to Mosquitto.
    """

    def tls(trusted: Path) -> list[str]:
        return [
            f"cafile {trusted}",
            f"certfile {cert_file}",
            f"keyfile {key_file}",
            # Mosquitto 2.0: the minimum version accepted on this listener.
            "tls_version tlsv1.2",
            "require_certificate true",
            "use_identity_as_username true",
        ]

    lines = [
        "# Generated by sohoa (provisioning.broker); edits are overwritten.",
        "# One ACL for both listeners; a client's username is its certificate's commonName.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"acl_file {acl_file}",
        "",
        "# The devices' listener: certificates of the provincial CA. Client ids are global",
        "# across listeners and a CONNECT with an id in use takes its connection and session",
        "# over, so a device's client id is forced to its username (its device id): it can",
        "# take over nobody's session but its own.",
        f"listener {port} {host}",
        "protocol mqtt",
        *tls(ca_file),
        "use_username_as_clientid true",
    ]
    if crl_file is not None:
        lines.append(f"crlfile {crl_file}")
    lines += [
        "",
        "# The server's listener: only certificates of the server-clients CA, never a device's.",
        "# Its clients pick their own ids (several per server process), all beginning with",
        "# 'sohoa', a prefix no device id may have.",
        f"listener {server_port} {server_host or host}",
        "protocol mqtt",
        *tls(server_ca_file),
        "use_username_as_clientid false",
        "",
        "persistence true",
        # Mosquitto appends "mosquitto.db" to this string: it must end with a slash.
        f"persistence_location {persistence_dir}/",
        "autosave_interval 60",
        f"max_queued_messages {limits.max_queued_messages}",
        f"max_queued_bytes {limits.max_queued_bytes}",
        f"max_inflight_messages {limits.max_inflight_messages}",
        f"max_inflight_bytes {limits.max_inflight_bytes}",
        f"max_packet_size {limits.max_packet_size}",
        f"memory_limit {limits.memory_limit}",
        "set_tcp_nodelay true",
        f"log_dest file {log_file}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    ]
    if pid_file is not None:
        lines.append(f"pid_file {pid_file}")
    if user is not None:
        lines.append(f"user {user}")
    elif os.geteuid() == 0:
        lines.append("user root")
    return "\n".join(lines) + "\n"


def acl_rules(server_identity: str, revoked: Iterable[str] = ()) -> str:
    """The text of Mosquitto's ACL file, generated from the protocol's topic grammar.

    Args:
        server_identity: the commonName of the server's TLS client certificate.
        revoked: device ids whose certificates were revoked: each is denied its result topic
            (Mosquitto checks a user's own lines before the patterns, and a `deny` there wins).
            A reload puts the ACL in force for connections already open, which a new CRL does
            not reach: a revoked device still connected can then send no result, while its
            heartbeat and its reply to the revoke command still get through.

    `%u` is the username, which `use_identity_as_username` sets to the certificate's commonName,
    i.e. the device_id.
    """
    dev = f"{PREFIX}/%u"
    every = f"{PREFIX}/+"
    writes = ", ".join(k.value for k in DEVICE_WRITES)
    reads = ", ".join(k.value for k in DEVICE_READS)
    return "\n".join(
        [
            "# Generated by sohoa (provisioning.broker).",
            f"# Devices: write their own {writes}; read their own {reads}.",
            *(f"pattern write {dev}/{kind.value}" for kind in DEVICE_WRITES),
            *(f"pattern read {dev}/{kind.value}" for kind in DEVICE_READS),
            "",
            f"# The server: reads every device's {writes} (also through its secret",
            f"# $share/<group>/...), writes every device's {reads}.",
            f"user {server_identity}",
            *(f"topic read {every}/{kind.value}" for kind in DEVICE_WRITES),
            *(f"topic write {every}/{kind.value}" for kind in DEVICE_READS),
            "",
            *_revoked_rules(revoked),
        ]
    )


def _revoked_rules(revoked: Iterable[str]) -> list[str]:
    lines = []
    for device_id in sorted(set(revoked)):
        try:
            validate_device_id(device_id)
        except TopicError:
            continue  # not a device's name (the broker's own, a host): nothing to deny
        lines += [f"user {device_id}", f"topic deny {PREFIX}/{device_id}/{Kind.RESULT.value}"]
    if lines:
        lines = ["# Revoked devices (sohoa provision device revoke): no results.", *lines, ""]
    return lines


def new_ingest_group() -> str:
    """A fresh, unguessable share name for the ingest workers' shared subscription (the
    server's `ingest_group` setting): 128 random bits, never given to a device."""
    return f"ingest-{secrets.token_hex(16)}"


@dataclass(frozen=True)
class BrokerFiles:
    """The files a private broker runs from, all inside `directory`.

    Attributes:
        directory: the broker's folder.
        config_file: `mosquitto.conf` (rewritten with the chosen ports at every start).
        ca_file: the provincial CA certificate: devices' certificates chain to it (and every
            client verifies the broker with it).
        server_ca_file: the server-clients CA certificate: the server's certificate chains to
            it, and only such a certificate gets into the server's listener.
        cert_file: the broker's TLS server certificate (SAN localhost, 127.0.0.1).
        key_file: its private key (0600).
        acl_file: the ACL.
        persistence_dir: where Mosquitto keeps its database.
        log_file: Mosquitto's log.
        crl_file: a CRL of revoked client certificates, or None.
        limits: the memory-bounding settings written into the config.
        host: the address the devices' listener binds.
        server_host: the address the server's listener binds (None: `host`).
        pid_file: where Mosquitto writes its process id, or None.
        user: the user a root-started Mosquitto drops to (None: see `broker_config`).
    """

    directory: Path
    config_file: Path
    ca_file: Path
    server_ca_file: Path
    cert_file: Path
    key_file: Path
    acl_file: Path
    persistence_dir: Path
    log_file: Path
    crl_file: Path | None = None
    limits: BrokerLimits = BrokerLimits()
    host: str = HOST
    server_host: str | None = None
    pid_file: Path | None = None
    user: str | None = None

    @classmethod
    def at(
        cls,
        directory: Path,
        *,
        crl_file: Path | None = None,
        limits: BrokerLimits = BrokerLimits(),
        host: str = HOST,
        server_host: str | None = None,
        pid_file: Path | None = None,
        user: str | None = None,
    ) -> BrokerFiles:
        """The files of a broker in `directory`, named as every broker folder names them; the
        other arguments are the attributes of the same names."""
        return cls(
            directory=directory,
            config_file=directory / "mosquitto.conf",
            ca_file=directory / "ca.pem",
            server_ca_file=directory / "server-clients-ca.pem",
            cert_file=directory / "broker.pem",
            key_file=directory / "broker-key.pem",
            acl_file=directory / "acl",
            persistence_dir=directory / "data",
            log_file=directory / "mosquitto.log",
            crl_file=crl_file,
            limits=limits,
            host=host,
            server_host=server_host,
            pid_file=pid_file,
            user=user,
        )

    def write_config(self, port: int, server_port: int) -> None:
        """Write `config_file` for the devices' listener on `port` and the server's on
        `server_port`."""
        write_atomic(
            self.config_file,
            broker_config(
                port=port,
                server_port=server_port,
                ca_file=self.ca_file,
                server_ca_file=self.server_ca_file,
                cert_file=self.cert_file,
                key_file=self.key_file,
                acl_file=self.acl_file,
                persistence_dir=self.persistence_dir,
                log_file=self.log_file,
                crl_file=self.crl_file,
                limits=self.limits,
                host=self.host,
                server_host=self.server_host,
                pid_file=self.pid_file,
                user=self.user,
            ).encode(),
            mode=0o600,
        )


def prepare_broker(
    directory: Path,
    ca: CertificateAuthority,
    *,
    server_ca: CertificateAuthority,
    server_identity: str = SERVER_IDENTITY,
    port: int | None = None,
    server_port: int | None = None,
    limits: BrokerLimits = BrokerLimits(),
) -> BrokerFiles:
    """Write a broker's key, TLS server certificate (issued by `ca`), ACL and config into
    `directory`.

    Args:
        directory: the broker's folder (made if missing).
        ca: the provincial CA: it issues the broker's certificate, and devices' certificates
            must chain to it.
        server_ca: the server-clients CA: it issues the server's MQTT identity (and nothing
            else), the only certificates the server's listener takes.
        server_identity: the commonName of the server's MQTT client certificate.
        port: the devices' port written into the config (default: a free one now; `Mosquitto`
            picks fresh ones and rewrites the config at every start).
        server_port: the server's port, the same way.
        limits: the queue, in-flight, packet and memory limits (default: sized for a province,
            see the module's docstring).

    Returns:
        The paths, for `Mosquitto`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = BrokerFiles.at(directory, limits=limits)
    files.persistence_dir.mkdir(exist_ok=True)
    write_certificate(ca.cert, files.ca_file)
    write_certificate(server_ca.cert, files.server_ca_file)
    key = new_key()
    write_private_key(key, files.key_file)
    cert = ca.issue(
        key.public_key(),
        "localhost",
        Profile.TLS_SERVER,
        dns_names=["localhost"],
        ip_addresses=[HOST],
    )
    write_certificate(cert, files.cert_file)
    write_atomic(files.acl_file, acl_rules(server_identity).encode(), mode=0o600)
    files.write_config(
        port if port is not None else free_port(HOST),
        server_port if server_port is not None else free_port(HOST),
    )
    return files


class Mosquitto(Service):
    """A private Mosquitto child process serving `files` on two free ports of `files.host`
    (loopback unless told otherwise): `port` for the devices, `server_port` for the server's
    clients.

    Use as a context manager, or call `start()` and `stop()`.

    Args:
        files: what `prepare_broker` (or `provisioning.broker_folder`) wrote.
        executable: the mosquitto program (default: `mosquitto` found on PATH).
        ports: the devices' and the server's ports `files.config_file` already names: the
            configuration is then run as it is, never rewritten (a production folder's). By
            default fresh free ports are chosen and the configuration rewritten at each start.
    """

    def __init__(
        self,
        files: BrokerFiles,
        *,
        executable: str | None = None,
        ports: tuple[int, int] | None = None,
    ) -> None:
        self.files = files
        self.host = files.host
        self.port, self.server_port = ports or (0, 0)
        self._fixed_ports = ports is not None
        self._executable = executable
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients verify the broker's certificate with."""
        return self.files.ca_file

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start Mosquitto (on free ports, unless `ports` were given) and wait until it
        accepts connections.

        Raises:
            BrokerError: mosquitto is not installed, exited, or did not listen in time; the
                message carries the end of its log.
        """
        program = self._executable or shutil.which("mosquitto")
        if program is None:
            raise BrokerError(
                "the MQTT broker program 'mosquitto' is not on PATH: install it with "
                "'apt-get install mosquitto' (Debian puts it in /usr/sbin; add that to PATH)"
            )
        if self._fixed_ports:
            if not self._start_once(program, timeout):
                raise BrokerError(
                    f"the MQTT broker (mosquitto) cannot listen on {self.host}:{self.port} and "
                    f":{self.server_port}: another program holds one of them; stop it or choose "
                    f"other ports in {self.files.config_file}"
                )
            self._log_started()
            return
        # A port chosen by binding port 0 may be taken again before Mosquitto binds it: retry.
        for _attempt in range(3):
            self.port = free_port(self.host)
            self.server_port = free_port(self.host)
            while self.server_port == self.port:
                self.server_port = free_port(self.host)
            self.files.write_config(self.port, self.server_port)
            if self._start_once(program, timeout):
                self._log_started()
                return
        raise BrokerError(
            f"the MQTT broker (mosquitto) found no free port on {self.host} in 3 tries; "
            f"see {self.files.log_file}"
        )

    def _log_started(self) -> None:
        log.info(
            "mosquitto (pid %s) listening on %s:%s (devices) and :%s (server)",
            self.pid,
            self.host,
            self.port,
            self.server_port,
        )

    def _start_once(self, program: str, timeout: float) -> bool:
        """Start once; True when listening, False when the port was taken (retry)."""
        offset = self._log_size()
        # stderr goes to a file, not a pipe: a pipe nobody reads would block the broker once full.
        with self.stderr_file.open("ab") as stderr:
            try:
                self._proc = subprocess.Popen(
                    [program, "-c", str(self.files.config_file)],
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                    start_new_session=True,  # a Ctrl-C meant for us is not also delivered to it
                )
            except OSError as e:
                raise BrokerError(
                    f"cannot run the MQTT broker {program}: {e.strerror}; "
                    "reinstall it with 'apt-get install mosquitto'"
                ) from e
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                tail = self._log_since(offset)
                if "Address already in use" in tail:
                    return False
                raise BrokerError(
                    f"the MQTT broker (mosquitto) exited at start with status {code}: "
                    f"{_last_lines(tail or self._stderr_text())}; "
                    f"see {self.files.log_file} and {self.files.config_file}"
                )
            # Mosquitto logs "running" once every listener is open. Watching the log rather than
            # probing the port keeps a failed TLS handshake out of the broker's log.
            if _RUNNING in self._log_since(offset):
                return True
            time.sleep(0.02)
        self.stop()
        raise BrokerError(
            f"the MQTT broker (mosquitto) did not listen on {self.host}:{self.port} and "
            f":{self.server_port} within "
            f"{timeout:.0f} s: {_last_lines(self._log_since(offset))}; see {self.files.log_file}"
        )

    @property
    def stderr_file(self) -> Path:
        """Where the broker's own stdout/stderr go (startup warnings before its log opens)."""
        return self.files.directory / "mosquitto.stderr"

    def _stderr_text(self) -> str:
        try:
            return self.stderr_file.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker by its PID: SIGTERM (it saves its database), then SIGKILL."""
        proc, self._proc = self._proc, None
        stop_child(proc, "mosquitto", timeout)

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the broker's log."""
        return log_tail(self.files.log_file, lines)

    def _log_size(self) -> int:
        try:
            return self.files.log_file.stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with self.files.log_file.open("rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""


def _last_lines(text: str, lines: int = 3) -> str:
    """The last lines of a log, on one line (an error message stays one line)."""
    kept = [line.strip() for line in text.strip().splitlines()[-lines:] if line.strip()]
    return " | ".join(kept) if kept else "(nothing logged)"

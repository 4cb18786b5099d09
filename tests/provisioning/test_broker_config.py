"""`sohoa provision broker-config` and `broker-reload` with a real Mosquitto started from the
generated folder as it is (on loopback and free ports, which the tests pass as options): an
enrolled device connects, devices keep out of each other's topics, a new device needs no
reload, a revoked one is refused once the broker reloads, and the refusals a person meets."""

from __future__ import annotations

import datetime as dt
import getpass
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from typer.testing import CliRunner

from protocol import topics
from provisioning.broker import Mosquitto, acl_rules
from provisioning.broker_folder import ALL_INTERFACES, BrokerFolder, load_broker_folder
from provisioning.ca import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    CRL_FILE,
    CertificateAuthority,
    Profile,
    new_key,
    publish_crl,
    revoke_certificate,
    write_certificate,
    write_private_key,
)
from provisioning.cli import app
from provisioning.errors import BrokerError
from support.mqtt import MqttClient
from support.mqtt_types import Incoming, MqttError, MqttFailure, Puback, TlsIdentity
from support.sockets import LOOPBACK, free_port

NOT_AUTHORIZED = 0x87
"""PUBACK reason "Not authorized" (MQTT v5 section 3.4.2.1)."""


@dataclass(frozen=True)
class Cas:
    """The provincial CA's folder (with its CRL) and the server-clients CA's."""

    ca_dir: Path
    server_ca_dir: Path


@pytest.fixture
def cas(tmp_path: Path) -> Cas:
    ca_dir, server_ca_dir = tmp_path / "ca", tmp_path / "server-ca"
    CertificateAuthority.create("Sohoa Test CA").save(ca_dir)
    publish_crl(ca_dir)
    CertificateAuthority.create("Sohoa Test CA - server clients").save(server_ca_dir)
    return Cas(ca_dir, server_ca_dir)


def _ports() -> list[str]:
    port = free_port()
    server_port = free_port()
    while server_port == port:
        server_port = free_port()
    return ["--port", str(port), "--server-port", str(server_port)]


def broker_config(cas: Cas, out: Path, *extra: str) -> Path:
    """Run `sohoa provision broker-config` for loopback and free ports; return `out`.

    Raises:
        The command's error, if it failed.
    """
    args = ["broker-config", "--out", str(out), "--ca", str(cas.ca_dir)]
    args += ["--server-ca", str(cas.server_ca_dir), "--host", LOOPBACK, *_ports()]
    args += ["--dns-name", "localhost", "--ip-address", LOOPBACK, "--user", getpass.getuser()]
    done = CliRunner().invoke(app, [*args, *extra])
    if done.exception is not None:
        raise done.exception
    assert done.exit_code == 0, done.output
    return out


def broker_reload(directory: Path, *extra: str) -> str:
    """Run `sohoa provision broker-reload --dir DIRECTORY`; return its output.

    Raises:
        The command's error, if it failed.
    """
    done = CliRunner().invoke(app, ["broker-reload", "--dir", str(directory), *extra])
    if done.exception is not None:
        raise done.exception
    assert done.exit_code == 0, done.output
    return done.output


@dataclass(frozen=True)
class Running:
    """A broker folder and the Mosquitto running it."""

    folder: BrokerFolder
    broker: Mosquitto
    cas: Cas


@pytest.fixture
def running(cas: Cas, tmp_path: Path) -> Iterator[Running]:
    folder = load_broker_folder(broker_config(cas, tmp_path / "broker"))
    with Mosquitto(folder.files, ports=folder.ports) as broker:
        yield Running(folder, broker, cas)


def enroll(site: Running, device_id: str) -> tuple[TlsIdentity, x509.Certificate]:
    """Issue `device_id` a transport certificate (TLS client) from the CA folder, as enrollment
    does, and write its files; the identity trusts the broker folder's copy of the CA."""
    home = site.folder.files.directory.parent / "devices"
    home.mkdir(exist_ok=True)
    key = new_key()
    cert = CertificateAuthority.load(site.cas.ca_dir).issue(
        key.public_key(), device_id, Profile.TLS_CLIENT, unit="UBND xã"
    )
    cert_file, key_file = home / f"{device_id}.pem", home / f"{device_id}-key.pem"
    write_private_key(key, key_file)
    write_certificate(cert, cert_file)
    return TlsIdentity(site.folder.files.ca_file, cert_file, key_file), cert


def server_identity(site: Running) -> TlsIdentity:
    """The server's MQTT identity, from the server-clients CA."""
    home = site.folder.files.directory.parent / "server"
    home.mkdir(exist_ok=True)
    key = new_key()
    cert = CertificateAuthority.load(site.cas.server_ca_dir).issue(
        key.public_key(), topics.SERVER_IDENTITY, Profile.TLS_CLIENT
    )
    write_private_key(key, home / "mqtt-key.pem")
    write_certificate(cert, home / "mqtt.pem")
    return TlsIdentity(site.folder.files.ca_file, home / "mqtt.pem", home / "mqtt-key.pem")


def client(
    site: Running,
    identity: TlsIdentity,
    client_id: str,
    *,
    server: bool = False,
    messages: queue.Queue[Incoming] | None = None,
    pubacks: queue.Queue[Puback] | None = None,
) -> MqttClient:
    """The product's MQTT adapter, on the devices' listener (or the server's)."""
    return MqttClient(
        host=site.broker.host,
        port=site.broker.server_port if server else site.broker.port,
        identity=identity,
        client_id=client_id,
        on_message=messages.put if messages is not None else lambda _m: None,
        on_puback=pubacks.put if pubacks is not None else None,
    )


def refusal(site: Running, identity: TlsIdentity, device_id: str) -> MqttFailure | None:
    """How the broker refuses `identity` a connection, or None when it takes it."""
    probe = client(site, identity, device_id)
    try:
        probe.connect(timeout=5.0)
    except MqttError as e:
        return e.failure
    probe.disconnect()
    return None


def test_the_generated_folder_runs_and_an_enrolled_device_connects(running: Running) -> None:
    files, directory = running.folder.files, running.folder.files.directory
    port, server_port = running.folder.ports
    lines = files.config_file.read_text().splitlines()
    for line in (
        f"listener {port} {LOOPBACK}",
        f"listener {server_port} {LOOPBACK}",
        f"crlfile {directory / 'crl.pem'}",
        f"acl_file {files.acl_file}",
        "persistence true",
        f"persistence_location {files.persistence_dir}/",
        f"log_dest file {files.log_file}",
        f"pid_file {directory / 'mosquitto.pid'}",
        f"user {getpass.getuser()}",
        "allow_anonymous false",
    ):
        assert line in lines
    assert lines.count("require_certificate true") == 2
    assert lines.count("use_identity_as_username true") == 2
    assert files.acl_file.read_text() == acl_rules(topics.SERVER_IDENTITY)
    crl_copy = (directory / "crl.pem").read_bytes()
    assert crl_copy == (running.cas.ca_dir / CRL_FILE).read_bytes()
    assert files.key_file.stat().st_mode & 0o777 == 0o600
    assert not (directory / CA_KEY_FILE).exists()  # the CA's key stays in its folder
    cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == [LOOPBACK]
    assert CertificateAuthority.load(running.cas.ca_dir).issued(cert)
    assert int((directory / "mosquitto.pid").read_text()) == running.broker.pid

    identity, _cert = enroll(running, "commune-01.kiosk")
    assert refusal(running, identity, "commune-01.kiosk") is None


def test_a_device_can_neither_publish_as_another_nor_receive_its_acks(running: Running) -> None:
    a, b = "commune-02.kiosk", "commune-03.kiosk"
    to_server: queue.Queue[Incoming] = queue.Queue()
    to_a: queue.Queue[Incoming] = queue.Queue()
    to_b: queue.Queue[Incoming] = queue.Queue()
    pubacks_a: queue.Queue[Puback] = queue.Queue()
    server = client(
        running, server_identity(running), "sohoa-test-server", server=True, messages=to_server
    )
    device_a = client(running, enroll(running, a)[0], a, messages=to_a, pubacks=pubacks_a)
    device_b = client(running, enroll(running, b)[0], b, messages=to_b)
    for c in (server, device_a, device_b):
        c.connect(timeout=5.0)
    try:
        server.subscribe([topics.all_devices_filter(topics.Kind.RESULT)], timeout=5.0)
        device_b.subscribe(topics.device_subscriptions(b), timeout=5.0)
        # Mosquitto grants every SUBSCRIBE and checks read rights at delivery (see
        # provisioning.broker): A's subscription to B's acks is taken, and delivers nothing.
        device_a.subscribe([topics.ack_topic(b), *topics.device_subscriptions(a)], timeout=5.0)

        refused = device_a.publish(topics.result_topic(b), b"{}")
        puback = pubacks_a.get(timeout=5.0)
        assert (puback.mid, puback.code) == (refused.mid, NOT_AUTHORIZED)
        device_a.publish_and_wait(topics.result_topic(a), b"{}", timeout=5.0)
        assert to_server.get(timeout=5.0).topic == topics.result_topic(a)

        server.publish_and_wait(topics.ack_topic(b), b"an ack for b", timeout=5.0)
        assert to_b.get(timeout=5.0).payload == b"an ack for b"
        server.publish_and_wait(topics.ack_topic(a), b"an ack for a", timeout=5.0)
        # Messages to one client arrive in order: A's own ack shows B's was not on its way.
        assert to_a.get(timeout=5.0).payload == b"an ack for a"
        assert to_a.empty() and to_server.empty()  # and B's result never reached the server
    finally:
        for c in (server, device_a, device_b):
            c.disconnect()


def test_a_certificate_issued_after_the_broker_started_connects_at_once(
    running: Running,
) -> None:
    time.sleep(0.05)  # the broker has been up a while, its TLS context long made
    started = time.monotonic()
    identity, _cert = enroll(running, "commune-04.kiosk")
    assert refusal(running, identity, "commune-04.kiosk") is None
    print(f"\nissued -> connected: {time.monotonic() - started:.3f} s, no reload")
    assert "Reloading config." not in running.broker.log_tail(200)


def test_a_revoked_device_is_refused_once_the_broker_reloads(running: Running) -> None:
    revoked, held, kept = "commune-05.kiosk", "commune-06.kiosk", "commune-07.kiosk"
    revoked_identity, revoked_cert = enroll(running, revoked)
    held_identity, held_cert = enroll(running, held)
    kept_identity, _cert = enroll(running, kept)
    assert refusal(running, revoked_identity, revoked) is None
    held_pubacks: queue.Queue[Puback] = queue.Queue()
    held_client = client(running, held_identity, held, pubacks=held_pubacks)
    held_client.connect(timeout=5.0)
    try:
        started = time.monotonic()
        revoke_certificate(running.cas.ca_dir, revoked_cert)
        revoke_certificate(running.cas.ca_dir, held_cert)
        publish_crl(running.cas.ca_dir)
        # A new CRL in the CA's folder is nothing to the broker until it is reloaded.
        assert refusal(running, revoked_identity, revoked) is None
        reloading = time.monotonic()
        output = broker_reload(running.folder.files.directory)
        reloaded = time.monotonic()
        assert refusal(running, revoked_identity, revoked) in (MqttFailure.CLOSED, MqttFailure.TLS)
        refused = time.monotonic()
        print(
            f"\nrevoke -> refused: {refused - started:.3f} s (the reload command "
            f"{reloaded - reloading:.3f} s); {output.strip()}"
        )
        assert (running.folder.files.directory / "crl.pem").read_bytes() == (
            running.cas.ca_dir / CRL_FILE
        ).read_bytes()
        assert refusal(running, kept_identity, kept) is None
        server = client(running, server_identity(running), "sohoa-test-server", server=True)
        server.connect(timeout=5.0)
        server.disconnect()
        # Measured with Mosquitto 2.0.11: a connection opened before the reload is not checked
        # again against the CRL, but the reloaded ACL denies a revoked device its results
        # (while its heartbeat, which says it stopped, still goes).
        assert held_client.connected
        denied = held_client.publish(topics.result_topic(held), b"{}")
        puback = held_pubacks.get(timeout=5.0)
        assert (puback.mid, puback.code) == (denied.mid, NOT_AUTHORIZED)
        held_client.publish_and_wait(topics.status_topic(held), b"{}", timeout=5.0)
    finally:
        held_client.disconnect()


def test_an_existing_configuration_is_replaced_only_with_force(cas: Cas, tmp_path: Path) -> None:
    out = broker_config(cas, tmp_path / "broker")
    config, key = (out / "mosquitto.conf").read_bytes(), (out / "broker-key.pem").read_bytes()
    (out / "data" / "mosquitto.db").write_bytes(b"sessions")
    with pytest.raises(BrokerError, match="exists already: pass --force"):
        broker_config(cas, out)
    assert (out / "mosquitto.conf").read_bytes() == config
    assert (out / "broker-key.pem").read_bytes() == key
    broker_config(cas, out, "--force")
    assert (out / "broker-key.pem").read_bytes() != key
    assert (out / "data" / "mosquitto.db").read_bytes() == b"sessions"


@pytest.mark.parametrize(
    ("folder", "missing", "advice"),
    [
        ("ca", CA_CERT_FILE, "'sohoa provision ca'"),
        ("ca", CA_KEY_FILE, "'sohoa provision ca'"),
        ("ca", CRL_FILE, "publish one with 'sohoa provision crl --ca"),
        ("server-ca", CA_CERT_FILE, "'sohoa provision ca'"),
        ("server-ca", None, "there is no CA folder"),
    ],
)
def test_a_ca_folder_without_its_files_is_refused_with_what_to_do(
    cas: Cas, tmp_path: Path, folder: str, missing: str | None, advice: str
) -> None:
    directory = tmp_path / folder
    if missing is None:
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()
    else:
        (directory / missing).unlink()
    with pytest.raises(BrokerError) as refused:
        broker_config(cas, tmp_path / "broker")
    assert advice in str(refused.value)
    assert missing is None or missing in str(refused.value)
    assert not (tmp_path / "broker").exists()  # nothing written


def bad_crls(ca_dir: Path) -> dict[str, bytes]:
    """CRLs the broker must never be given, by what the refusal says of each: Mosquitto drops a
    CRL it cannot load at a reload (fail open), and refuses every device with an expired one."""
    ca = CertificateAuthority.load(ca_dir)
    now = dt.datetime.now(dt.UTC)
    expired = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - dt.timedelta(days=8))
        .next_update(now - dt.timedelta(days=1))
        .sign(ca.key, hashes.SHA256())
    )
    other = CertificateAuthority.create("Another CA").crl([])
    return {
        "not a PEM CRL": b"not a CRL\n",
        "not signed by the CA the broker trusts": other.public_bytes(serialization.Encoding.PEM),
        "expired": expired.public_bytes(serialization.Encoding.PEM),
    }


def test_a_ca_folder_with_a_crl_the_broker_would_mishandle_is_refused(
    cas: Cas, tmp_path: Path
) -> None:
    for reason, data in bad_crls(cas.ca_dir).items():
        (cas.ca_dir / CRL_FILE).write_bytes(data)
        with pytest.raises(BrokerError, match=reason):
            broker_config(cas, tmp_path / "broker")
        assert not (tmp_path / "broker").exists()


def test_the_listeners_bind_the_addresses_given(cas: Cas, tmp_path: Path) -> None:
    out = broker_config(
        cas, tmp_path / "broker", "--host", ALL_INTERFACES, "--server-host", "10.9.8.7"
    )
    folder = load_broker_folder(out)
    lines = folder.files.config_file.read_text().splitlines()
    port, server_port = folder.ports
    assert [line for line in lines if line.startswith("listener ")] == [
        f"listener {port} {ALL_INTERFACES}",
        f"listener {server_port} 10.9.8.7",
    ]


def test_the_reload_refuses_a_crl_the_broker_would_mishandle(cas: Cas, tmp_path: Path) -> None:
    out = broker_config(cas, tmp_path / "broker")
    installed = (out / "crl.pem").read_bytes()
    for reason, data in bad_crls(cas.ca_dir).items():
        (tmp_path / "bad.pem").write_bytes(data)
        with pytest.raises(BrokerError, match=reason):
            broker_reload(out, "--crl", str(tmp_path / "bad.pem"))
        assert (out / "crl.pem").read_bytes() == installed  # never handed to the broker

    second = publish_crl(cas.ca_dir).read_bytes()
    publish_crl(cas.ca_dir)
    with pytest.raises(BrokerError, match="is not running"):  # files in place for its start
        broker_reload(out)
    assert (out / "crl.pem").read_bytes() == (cas.ca_dir / CRL_FILE).read_bytes()
    (tmp_path / "older.pem").write_bytes(second)
    with pytest.raises(BrokerError, match="older than the broker's"):
        broker_reload(out, "--crl", str(tmp_path / "older.pem"))


def test_a_reload_that_fails_says_so_and_a_refused_handshake_meanwhile_is_no_failure(
    running: Running,
) -> None:
    revoked, revoked_cert = enroll(running, "commune-08.kiosk")
    revoke_certificate(running.cas.ca_dir, revoked_cert)
    publish_crl(running.cas.ca_dir)
    broker_reload(running.folder.files.directory)
    # The revoked device keeps trying while the broker reloads: the broker logs an OpenSSL
    # error for each refused handshake, and the reload is still a success.
    stop = threading.Event()

    def knock() -> None:
        while not stop.is_set():
            refusal(running, revoked, "commune-08.kiosk")

    knocker = threading.Thread(target=knock)
    knocker.start()
    try:
        time.sleep(0.2)
        publish_crl(running.cas.ca_dir)
        broker_reload(running.folder.files.directory)
    finally:
        stop.set()
        knocker.join(10)
    assert "OpenSSL Error" in running.broker.log_tail(400)
    # A reload the broker cannot do (its certificate damaged) is an error that says what.
    running.folder.files.cert_file.write_text("not a certificate\n")
    publish_crl(running.cas.ca_dir)
    damaged = r"reloaded with errors.*Unable to load server certificate"
    with pytest.raises(BrokerError, match=damaged):
        broker_reload(running.folder.files.directory)

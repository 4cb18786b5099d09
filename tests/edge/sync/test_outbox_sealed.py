"""The outbox sealed at rest (`edge.sync.sealing`, `edge.sync.at_rest`) on real SoftHSM2 tokens:
the round trip, raw files that hold no name, CCCD or PDF, a copied data_dir on another token
(another appliance) that cannot be opened, tampering refused with an OutboxError, the plaintext
outbox sealed on opening with nothing lost, the wipe (`sohoa edge wipe` and the server's `wipe`
command over MQTT), and the sync path end to end with a sealed outbox."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import ExitCode
from cli.main import app as sohoa
from edge.config import EdgeSettings, load_edge_settings
from edge.errors import ConfigError, OutboxError
from edge.signing.token import Token
from edge.sync.agent import SyncAgent, SyncReport
from edge.sync.at_rest import open_outbox, wipe
from edge.sync.outbox import Outbox, State
from edge.sync.sealing import (
    Purpose,
    SealedDataKey,
    Sealer,
    data_key_path,
    sealer_for,
    sealing_key_id,
)
from harness.broker import Broker
from protocol.commands import CommandName, ReplyStatus
from protocol.messages import Ack, AckStatus, sha256_hex
from protocol.reasons import RejectReason
from protocol.status import LinkState
from provisioning.ca import CertificateAuthority
from provisioning.softhsm import SoftHsmSetup
from tests.edge.sync.peer import IngestPeer, private_broker, wait_until
from tests.fixtures.broker import SERVER_IDENTITY, MqttIdentity
from tests.fixtures.token import BlankToken, new_blank_token

NAME = "Nguyễn Thị Hương"
CCCD = "056185000123"
CREATED = "2025-04-01T03:00:00+00:00"
FIELDS = {"so_ky_hieu": "12/QĐ-UBND", "ho_ten": NAME, "cccd": CCCD, "ngay_sinh": "1985-06-01"}
PDF_MARKER = b"%PDF"


def pdf(n: int, size: int = 2048) -> bytes:
    """A PDF-looking result that names the citizen in its own bytes too."""
    person = f"Ho ten: {NAME} / Nguyen Thi Huong, CCCD {CCCD}\n".encode()
    return b"%PDF-1.7\n" + person + f"result {n}\n".encode() + os.urandom(size) + b"\n%%EOF\n"


def secrets_found(data_dir: Path) -> dict[str, list[str]]:
    """Which planted secrets each file under `data_dir` holds, read as raw bytes."""
    needles = {
        "name (NFC)": unicodedata.normalize("NFC", NAME).encode(),
        "name (NFD)": unicodedata.normalize("NFD", NAME).encode(),
        "name (ASCII)": b"Nguyen Thi Huong",
        "CCCD": CCCD.encode(),
        "PDF": PDF_MARKER,
    }
    found: dict[str, list[str]] = {}
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            hits = [what for what, needle in needles.items() if needle in data]
            if hits:
                found[str(path.relative_to(data_dir))] = hits
    return found


def sealed_settings(token: BlankToken, data_dir: Path, **extra: Any) -> EdgeSettings:
    values: dict[str, Any] = {
        "device_id": "seal-01",
        "data_dir": data_dir,
        "pkcs11_module": token.module_path,
        "token_label": token.label,
        "outbox_sealing": True,
        **extra,
    }
    return EdgeSettings(**values)


def write_toml(values: dict[str, Any], path: Path) -> Path:
    path.write_text(
        "".join(
            f"{k} = {json.dumps(v if isinstance(v, int | float) else str(v), ensure_ascii=False)}\n"
            for k, v in values.items()
        )
    )
    return path


@pytest.fixture
def settings(blank_token: BlankToken, tmp_path: Path) -> EdgeSettings:
    return sealed_settings(blank_token, tmp_path / "data")


# --- the round trip ----------------------------------------------------------------------------


def test_a_sealed_outbox_gives_back_what_was_added_across_reopening(
    settings: EdgeSettings,
) -> None:
    data = [pdf(i) for i in range(3)]
    with open_outbox(settings) as outbox:
        assert outbox.sealed
        ids = [outbox.add(d, FIELDS, CREATED, {"procedure": "1.001193"}) for d in data]
        assert ids == [sha256_hex(d) for d in data]
        assert outbox.add(data[0], FIELDS, CREATED) == ids[0]  # idempotent, sealed too
        assert [outbox.load_pdf(i) for i in ids] == data
    with open_outbox(settings) as outbox:  # the data key unsealed afresh on the token
        items = outbox.pending()
        assert [i.result_id for i in items] == ids
        assert all(dict(i.fields) == FIELDS for i in items)
        assert dict(items[0].metadata) == {"procedure": "1.001193"}
        assert [outbox.load_pdf(i) for i in ids] == data
        assert [i.result_id for i in outbox.listing()] == ids[::-1]


def test_the_sealing_key_is_made_on_the_token_sensitive_and_never_extractable(
    settings: EdgeSettings,
) -> None:
    with open_outbox(settings):
        pass
    protection = Token.sealing_key_protection(
        settings.pkcs11_module,
        label=settings.token_label,
        serial=None,
        key_id=sealing_key_id(settings.device_id),
    )
    assert protection is not None
    assert protection.on_token and protection.local  # generated on the token
    assert protection.sensitive and protection.always_sensitive
    assert not protection.extractable and protection.never_extractable
    assert not protection.private  # usable without the PIN: the sync agent has none


def test_a_token_that_wants_its_pin_to_make_keys_can_be_given_the_sealing_key_at_unlock(
    blank_token: BlankToken, tmp_path: Path
) -> None:
    settings = sealed_settings(blank_token, tmp_path / "data")
    key_id = sealing_key_id(settings.device_id)
    with blank_token.open() as token:  # logged in, as at enrollment or the kiosk's unlock
        assert token.generate_sealing_key(key_id) is True
        assert token.generate_sealing_key(key_id) is False  # made once
    with open_outbox(settings) as outbox:  # later, without the PIN: the same key seals
        outbox.add(pdf(1), FIELDS, CREATED)
    protection = Token.sealing_key_protection(
        settings.pkcs11_module, label=settings.token_label, serial=None, key_id=key_id
    )
    assert protection is not None and not protection.private and not protection.extractable


def test_two_processes_opening_at_once_agree_on_one_data_key(settings: EdgeSettings) -> None:
    checks: list[str] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            checks.append(sealer_for(settings, may_create=True).key_check)
        except BaseException as e:  # reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(set(checks)) == 1
    record = SealedDataKey.from_json(data_key_path(settings).read_bytes(), Path("k"))
    assert record.key_check == checks[0]


# --- what the card holds ---------------------------------------------------------------------


def test_the_raw_files_hold_no_name_no_cccd_no_pdf_and_no_data_key(settings: EdgeSettings) -> None:
    with open_outbox(settings) as outbox:
        ids = [outbox.add(pdf(i, 300_000), FIELDS, CREATED) for i in range(3)]
        outbox.mark_sent(ids[0])
        outbox.apply_ack(Ack(result_id=ids[0], status=AckStatus.ACCEPTED, record_id="r-1"))
        assert secrets_found(settings.data_dir) == {}  # open: the WAL holds ciphertext only
    assert secrets_found(settings.data_dir) == {}
    blob = next((settings.outbox_dir / "blobs").rglob("*.pdf")).read_bytes()
    assert not blob.startswith(PDF_MARKER)
    # The data key itself is nowhere in clear: only sealed, in data-key.sealed.
    record = SealedDataKey.from_json(data_key_path(settings).read_bytes(), Path("k"))
    data_key = Token.unseal_secret(
        settings.pkcs11_module,
        label=settings.token_label,
        serial=None,
        key_id=record.key_id,
        sealed=record.sealed,
        aad=record.aad,
    )
    assert data_key is not None and len(data_key) == 32
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            assert data_key not in path.read_bytes(), path


def test_a_copied_data_dir_does_not_open_on_another_appliances_token(
    settings: EdgeSettings, softhsm: SoftHsmSetup, tmp_path: Path
) -> None:
    with open_outbox(settings) as outbox:
        result_id = outbox.add(pdf(1), FIELDS, CREATED)
    copy = tmp_path / "copied"
    shutil.copytree(settings.data_dir, copy)
    other = new_blank_token(softhsm)  # another machine: its own token
    thief = sealed_settings(other, copy)
    with pytest.raises(OutboxError, match="holds no sealing key"):
        open_outbox(thief)
    # A key of the same id made on the other token does not open the sealed data key either.
    Token.seal_secret(
        other.module_path,
        label=other.label,
        serial=None,
        key_id=sealing_key_id(thief.device_id),
        secret=b"x" * 32,
        aad=b"",
        create_key=True,
    )
    with pytest.raises(OutboxError, match="does not open"):
        open_outbox(thief)
    # Nor does opening the outbox without its key, or with a made-up one.
    with pytest.raises(OutboxError, match="is sealed"):
        Outbox(copy / "outbox")
    with pytest.raises(OutboxError, match="another data key"):
        Outbox(copy / "outbox", sealer=Sealer(os.urandom(32)))
    # On its own appliance the copy opens.
    with open_outbox(sealed_settings_at(settings, copy)) as outbox:
        assert dict(outbox.get(result_id).fields) == FIELDS


def sealed_settings_at(settings: EdgeSettings, data_dir: Path) -> EdgeSettings:
    return settings.model_copy(update={"data_dir": data_dir})


# --- tampering ---------------------------------------------------------------------------------


def test_an_altered_or_moved_ciphertext_is_refused_with_an_outbox_error(
    settings: EdgeSettings,
) -> None:
    data_a = pdf(1)
    with open_outbox(settings) as outbox:
        a = outbox.add(data_a, FIELDS, CREATED)
        b = outbox.add(pdf(2), {**FIELDS, "ho_ten": "Trần Văn Bình"}, CREATED)
        path_a, path_b = outbox.blob_path(a), outbox.blob_path(b)
        sealed_a = path_a.read_bytes()

        flipped = bytearray(sealed_a)
        flipped[len(flipped) // 2] ^= 0x01
        path_a.write_bytes(bytes(flipped))
        with pytest.raises(OutboxError, match="does not open with the outbox's data key"):
            outbox.load_pdf(a)

        path_a.write_bytes(path_b.read_bytes())  # b's PDF moved onto a: its seal names b
        with pytest.raises(OutboxError, match="does not open with the outbox's data key"):
            outbox.load_pdf(a)
        path_a.write_bytes(sealed_a)
        assert outbox.load_pdf(a) == data_a

    with sqlite3.connect(settings.outbox_dir / "outbox.db") as db:  # swap the two rows' fields
        rows = dict(db.execute("SELECT result_id, fields FROM result").fetchall())
        db.execute("UPDATE result SET fields = ? WHERE result_id = ?", (rows[b], a))
    with open_outbox(settings) as outbox, pytest.raises(OutboxError, match="does not open"):
        outbox.get(a)

    with sqlite3.connect(settings.outbox_dir / "outbox.db") as db:  # fields planted in clear
        db.execute("UPDATE result SET fields = ? WHERE result_id = ?", (json.dumps(FIELDS), a))
    with open_outbox(settings) as outbox, pytest.raises(OutboxError, match="in clear"):
        outbox.get(a)


def test_a_ciphertext_opens_only_for_its_result_and_purpose() -> None:
    sealer = Sealer(os.urandom(32))
    rid, other = "a" * 64, "b" * 64
    sealed = sealer.seal(b"%PDF-1.7 ...", result_id=rid, purpose=Purpose.PDF)
    assert sealer.open(sealed, result_id=rid, purpose=Purpose.PDF) == b"%PDF-1.7 ..."
    with pytest.raises(OutboxError, match="does not open"):
        sealer.open(sealed, result_id=other, purpose=Purpose.PDF)
    with pytest.raises(OutboxError, match="does not open"):
        sealer.open(sealed, result_id=rid, purpose=Purpose.FIELDS)
    with pytest.raises(OutboxError, match="another data key"):
        Sealer(os.urandom(32)).open(sealed, result_id=rid, purpose=Purpose.PDF)
    # Two seals of the same bytes differ (a fresh nonce each).
    assert sealer.seal(b"x", result_id=rid, purpose=Purpose.PDF) != sealer.seal(
        b"x", result_id=rid, purpose=Purpose.PDF
    )


def test_an_altered_or_foreign_data_key_file_is_refused(settings: EdgeSettings) -> None:
    with open_outbox(settings):
        pass
    path = data_key_path(settings)
    original = json.loads(path.read_bytes())

    altered = dict(original)
    raw = bytearray(SealedDataKey.from_json(path.read_bytes(), path).sealed)
    raw[-1] ^= 0x01
    altered["sealed"] = base64.b64encode(bytes(raw)).decode()
    path.write_text(json.dumps(altered))
    with pytest.raises(OutboxError, match="does not open"):
        open_outbox(settings)

    path.write_text(json.dumps({**original, "device_id": "another-01"}))
    with pytest.raises(OutboxError, match="another appliance"):
        open_outbox(settings)

    path.write_text("not json")
    with pytest.raises(OutboxError, match="unreadable"):
        open_outbox(settings)

    path.unlink()  # lost: a new key would not open the sealed outbox, so none is made
    with pytest.raises(OutboxError, match="missing"):
        open_outbox(settings)
    assert not path.exists()


def test_sealing_without_a_token_is_a_configuration_error_naming_the_key(tmp_path: Path) -> None:
    toml = write_toml(
        {"device_id": "seal-02", "data_dir": tmp_path / "d", "outbox_sealing": True},
        tmp_path / "edge.toml",
    )
    with pytest.raises(ConfigError, match="outbox_sealing"):
        load_edge_settings(toml)


# --- a plaintext outbox is sealed on opening, nothing lost ------------------------------------


def test_a_plaintext_outbox_is_sealed_when_opened_with_sealing_on(settings: EdgeSettings) -> None:
    data = [pdf(i, 20_000) for i in range(4)]
    with Outbox(settings.outbox_dir) as plain:
        ids = [plain.add(d, FIELDS, f"2025-04-01T03:00:0{i}+00:00") for i, d in enumerate(data)]
        plain.mark_sent(ids[0])
        plain.apply_ack(Ack(result_id=ids[0], status=AckStatus.ACCEPTED, record_id="rec-0"))
        plain.mark_sent(ids[1])
        plain.apply_ack(
            Ack(
                result_id=ids[1],
                status=AckStatus.REJECTED,
                reason=RejectReason.SCHEMA,
                detail="bad",
            )
        )
        plain.mark_sent(ids[2])
        before = {i: plain.get(i) for i in ids}
    assert secrets_found(settings.data_dir)  # the search finds them while they are in clear

    with open_outbox(settings) as outbox:
        assert {i: outbox.get(i) for i in ids} == before
        assert [outbox.load_pdf(i) for i in ids] == data
        assert [i.result_id for i in outbox.pending()] == ids[2:]
    assert secrets_found(settings.data_dir) == {}

    with Outbox(settings.outbox_dir, keyless=True) as keyless:  # counts need no key
        assert keyless.counts()[State.ACKED] == 1


def test_sealing_a_plaintext_outbox_resumes_after_a_crash(settings: EdgeSettings) -> None:
    with Outbox(settings.outbox_dir) as plain:
        ids = [plain.add(pdf(i), FIELDS, CREATED) for i in range(3)]
    with open_outbox(settings) as outbox:
        clear = outbox.load_pdf(ids[1])
    # As a crash between two files leaves it: one file still in clear, the work not noted done.
    Path(settings.outbox_dir / "blobs" / ids[1][:2] / f"{ids[1]}.pdf").write_bytes(clear)
    with sqlite3.connect(settings.outbox_dir / "outbox.db") as db:
        db.execute("UPDATE standing SET value = 'pending' WHERE key = 'sealed_files'")
    with open_outbox(settings) as outbox:
        assert outbox.load_pdf(ids[1]) == clear
    assert secrets_found(settings.data_dir) == {}


def test_a_writer_without_the_key_is_refused_once_another_process_sealed_the_outbox(
    settings: EdgeSettings,
) -> None:
    with Outbox(settings.outbox_dir) as plain:  # opened before the agent sealed it
        plain.add(pdf(1), FIELDS, CREATED)
        with open_outbox(settings):
            pass
        with pytest.raises(OutboxError, match="sealed by another process"):
            plain.add(pdf(2), FIELDS, CREATED)
    assert secrets_found(settings.data_dir) == {}


# --- the wipe ----------------------------------------------------------------------------------


def test_sohoa_edge_wipe_leaves_nothing_that_can_be_decrypted(
    settings: EdgeSettings, tmp_path: Path
) -> None:
    with open_outbox(settings) as outbox:
        ids = [outbox.add(pdf(i, 50_000), FIELDS, CREATED) for i in range(3)]
    draft = settings.data_dir / "kiosk" / "draft"
    draft.mkdir(parents=True)
    (draft / "page-001.png").write_bytes(b"\x89PNG page of " + NAME.encode())
    (draft / "draft.json").write_text(json.dumps({"corrections": {"cccd": CCCD}}))
    card_image = tmp_path / "card-image"  # a copy of the card taken before the wipe
    shutil.copytree(settings.data_dir, card_image)
    config = write_toml(
        {
            "device_id": settings.device_id,
            "data_dir": settings.data_dir,
            "pkcs11_module": settings.pkcs11_module,
            "token_label": settings.token_label,
            "outbox_sealing": True,
        },
        tmp_path / "edge.toml",
    )

    done = CliRunner().invoke(sohoa, ["edge", "wipe", "--config", str(config), "--yes"])

    assert done.exit_code == 0, done.output
    assert "1 sealing key(s) destroyed on the token" in done.output
    assert "3 result(s) erased" in done.output
    key_id = sealing_key_id(settings.device_id)
    assert (
        Token.sealing_key_protection(
            settings.pkcs11_module, label=settings.token_label, serial=None, key_id=key_id
        )
        is None
    )
    assert not data_key_path(settings).exists()
    assert not list((settings.outbox_dir / "blobs").rglob("*.pdf"))
    assert not (settings.data_dir / "kiosk").exists()
    assert secrets_found(settings.data_dir) == {}
    with Outbox(settings.outbox_dir) as outbox:  # emptied, and stopped as a revocation
        assert sum(outbox.counts().values()) == 0
        assert (outbox.status().revoked or "").startswith("wiped")
        with pytest.raises(OutboxError, match="wiped"):
            outbox.add(pdf(9), FIELDS, CREATED)

    # The image taken before: its sealed data key no longer opens with the token, so neither
    # does anything sealed under it.
    with pytest.raises(OutboxError, match="holds no sealing key"):
        open_outbox(sealed_settings_at(settings, card_image))
    record = SealedDataKey.from_json(
        (card_image / "keys" / "data-key.sealed").read_bytes(), card_image
    )
    assert (
        Token.unseal_secret(
            settings.pkcs11_module,
            label=settings.token_label,
            serial=None,
            key_id=record.key_id,
            sealed=record.sealed,
            aad=record.aad,
        )
        is None
    )
    assert secrets_found(card_image / "outbox") == {}
    assert {p.name for p in (card_image / "outbox" / "blobs").rglob("*.pdf")} == {
        f"{i}.pdf" for i in ids
    }


def test_wipe_asks_first_and_says_what_it_could_not_do(
    settings: EdgeSettings, tmp_path: Path
) -> None:
    with open_outbox(settings) as outbox:
        outbox.add(pdf(1), FIELDS, CREATED)
    values = {
        "device_id": settings.device_id,
        "data_dir": settings.data_dir,
        "pkcs11_module": settings.pkcs11_module,
        "token_label": settings.token_label,
        "outbox_sealing": True,
    }
    config = write_toml(values, tmp_path / "edge.toml")
    asked = CliRunner().invoke(sohoa, ["edge", "wipe", "--config", str(config)], input="n\n")
    assert asked.exit_code != 0 and "Erase every result" in asked.output
    with open_outbox(settings) as outbox:
        assert sum(outbox.counts().values()) == 1

    unplugged = write_toml({**values, "token_label": "not-plugged-in"}, tmp_path / "gone.toml")
    done = CliRunner().invoke(sohoa, ["edge", "wipe", "--config", str(unplugged), "--yes"])
    assert done.exit_code == ExitCode.INCOMPLETE, done.output
    assert "sealing key was not destroyed" in done.stderr and "wipe again" in done.stderr
    assert secrets_found(settings.data_dir) == {}
    assert not data_key_path(settings).exists()  # the rest is done all the same


def test_wiping_an_unsealed_outbox_erases_it(blank_token: BlankToken, tmp_path: Path) -> None:
    plain = sealed_settings(blank_token, tmp_path / "plain", outbox_sealing=False)
    with open_outbox(plain) as outbox:
        assert not outbox.sealed
        outbox.add(pdf(1), FIELDS, CREATED)
    assert secrets_found(plain.data_dir)
    report = wipe(plain, reason="decommissioned")
    assert report.complete and report.results_erased == 1 and report.token_keys_destroyed == 0
    assert secrets_found(plain.data_dir) == {}


# --- the sync path, and the server's wipe command ----------------------------------------------


@pytest.fixture(scope="module")
def reply_broker(
    mqtt_ca: CertificateAuthority,
    mqtt_server_ca: CertificateAuthority,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Broker]:
    broker = private_broker(
        tmp_path_factory.mktemp("seal-broker"), mqtt_ca, mqtt_server_ca, SERVER_IDENTITY
    )
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def peer(reply_broker: Broker, mqtt_identity: MqttIdentity) -> Iterator[IngestPeer]:
    server = IngestPeer.on(reply_broker, mqtt_identity(SERVER_IDENTITY))
    yield server
    server.close()


def test_a_sealed_outbox_syncs_and_the_servers_wipe_command_erases_it(
    reply_broker: Broker,
    mqtt_identity: MqttIdentity,
    peer: IngestPeer,
    blank_token: BlankToken,
    tmp_path: Path,
) -> None:
    device = "seal-sync-01"
    peer.watch(device)
    cert, key = mqtt_identity(device)
    settings = sealed_settings(
        blank_token,
        tmp_path / device,
        device_id=device,
        broker_host=reply_broker.host,
        broker_port=reply_broker.port,
        ca_file=reply_broker.ca_file,
        cert_file=cert,
        key_file=key,
    )
    data = [pdf(i, 100_000) for i in range(2)] + [pdf(9, 700_000)]  # the last one in chunks
    with open_outbox(settings) as outbox:
        ids = [outbox.add(d, FIELDS, CREATED) for d in data]
        report = SyncAgent(settings, outbox).run_until_drained(timeout=30)
        assert (report.sent, report.accepted, report.failed) == (3, 3, 0)
        with peer.lock:  # the server got the signed PDFs themselves, not their seal
            assert [peer.store.pdfs.get(i) for i in ids] == data

        waiting = outbox.add(pdf(10), FIELDS, CREATED)
        peer.hold = True
        stop = threading.Event()
        reports: list[SyncReport] = []
        agent = SyncAgent(settings, outbox)
        thread = threading.Thread(target=lambda: reports.append(agent.run_forever(stop)))
        thread.start()
        try:
            wait_until(
                lambda: any(a.result_id == waiting for a in peer.received_for(device)),
                15,
                "the waiting result",
            )
            command = peer.command(device, CommandName.WIPE, reason="máy bị mất ngày 2/5")
            reply = peer.reply(command, timeout=15)
            assert reply.status is ReplyStatus.OK, reply.detail
            assert reply.data["token_keys_destroyed"] == 1
            assert reply.data["results_erased"] == 4 and reply.data["data_key_removed"]

            def last_beat() -> Any:
                return peer.last_heartbeat(device)

            wait_until(
                lambda: last_beat() is not None and last_beat().state is LinkState.STOPPED,
                10,
                "a STOPPED heartbeat",
            )
            assert "wiped" in (last_beat().last_error or "")
            assert secrets_found(settings.data_dir) == {}
        finally:
            stop.set()
            thread.join(20)
            peer.release()
        assert reports and (reports[0].revoked or "").startswith("wiped")
    with pytest.raises(OutboxError, match=r"holds no sealing key|missing"):
        sealer_for(settings, may_create=False)

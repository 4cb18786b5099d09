"""The diagnostics screen's checks: scanner, camera, broker, token, versions, the kiosk's log.

Every function here blocks (SANE, OpenCV, TLS and MQTT, PKCS#11, the file system) and is called
only from a worker thread, never from the UI thread. Each returns a `Finding`: whether the part
works, and what was found and what to do, in Vietnamese (the words are in `texts`). Failures of
the parts are findings, not exceptions; the log gets the English detail for the administrator.
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import time
from collections import deque
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from edge.capture.scanner import Scanner, ScannerError, ScanSettings, list_devices
from edge.config import EdgeSettings
from edge.errors import CaptureError, ConfigError, OcrError, TokenError
from edge.signing.token import Token
from edge.tui import texts
from support.mqtt import MqttClient
from support.mqtt_types import MqttError

log = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 5.0
"""How long the broker test waits for the TLS handshake and the CONNACK each."""
LOG_LINES = 8
"""How many of the kiosk log's last lines the screen shows."""


@dataclass(frozen=True)
class Finding:
    """What one check found.

    Attributes:
        ok: whether the part works (None: nothing to check, e.g. no camera configured).
        text: what was found and what to do, in Vietnamese.
    """

    ok: bool | None
    text: str


def check_scanner(settings: EdgeSettings, scan: ScanSettings) -> Finding:
    """List the scanners SANE sees and scan one page from the configured one (`scan`)."""
    try:
        devices = list_devices()
        if not devices:
            return Finding(False, texts.SCANNER_NONE)
        found = ", ".join(d.label for d in devices)
        wanted = settings.scanner_device
        if wanted is not None and wanted not in {d.name for d in devices}:
            return Finding(False, texts.SCANNER_NOT_LISTED.format(name=wanted, found=found))
        start = time.monotonic()
        with Scanner.open(wanted) as scanner:
            page = scanner.scan_page(scan)
            name = scanner.device.name
        seconds = time.monotonic() - start
    except ScannerError as e:
        log.warning("diagnostics: scanner test failed: %s", e)
        return Finding(False, e.message_vi)
    width, height = page.image.size
    log.info("diagnostics: scanner %s scanned %dx%d in %.1f s", name, width, height, seconds)
    return Finding(True, texts.scanner_ok(found, name, width, height, page.dpi, seconds))


def camera_source(text: str) -> int | str:
    """`camera_source` as OpenCV takes it: a bare number is a V4L2 index."""
    return int(text) if text.isdigit() else text


def check_camera(settings: EdgeSettings) -> Finding:
    """Open the configured camera (or recording), read one frame, and say what it shows."""
    if settings.camera_source is None:
        return Finding(None, texts.CAMERA_NOT_CONFIGURED)
    # Imported here: OpenCV and the detector cost a second at start-up, and most kiosks scan.
    from edge.capture.camera import Camera, CameraError
    from edge.capture.detect import detect_page

    try:
        camera = Camera(camera_source(settings.camera_source))
        try:
            frame = camera.read()
        finally:
            camera.close()
    except CameraError as e:
        log.warning("diagnostics: camera test failed: %s", e)
        return Finding(False, e.message_vi)
    if frame is None:
        log.warning("diagnostics: camera %r gave no frame", settings.camera_source)
        return Finding(False, texts.CAMERA_NO_FRAME)
    height, width = frame.image.shape[:2]
    try:
        page = detect_page(frame.image) is not None
    except CaptureError as e:
        log.warning("diagnostics: page detection failed on the camera's frame: %s", e)
        page = False
    brightness = int(frame.image.mean())
    log.info("diagnostics: camera %dx%d, page %s, mean %d", width, height, page, brightness)
    return Finding(True, texts.camera_ok(width, height, page, brightness))


def check_broker(settings: EdgeSettings) -> Finding:
    """Connect to the configured broker over TLS with the appliance's certificate, and leave.

    The broker gives a device's connection the device's id whatever it asks (the sync agent's
    id), so this connection takes the agent's place for a moment: it resumes the agent's
    session rather than starting a clean one (which would drop the acks queued in it), acks
    nothing it is handed (the broker hands it again to the agent), and has no last will.
    """
    try:
        identity = settings.tls_identity()
    except ConfigError as e:
        log.warning("diagnostics: broker test impossible: %s", e)
        return Finding(False, texts.BROKER_NOT_CONFIGURED)
    client = MqttClient(
        host=settings.broker_host,
        port=settings.broker_port,
        identity=identity,
        client_id=settings.device_id,
        on_message=lambda _message: None,
        manual_ack=True,
        clean_start=False,
        session_expiry_s=settings.session_expiry_s,
    )
    where = f"{settings.broker_host}:{settings.broker_port}"
    start = time.monotonic()
    try:
        client.connect(BROKER_TIMEOUT_S)
    except MqttError as e:
        log.warning("diagnostics: broker test: %s: %s", client.where, e)
        return Finding(False, texts.broker_failed(where, e.failure.value))
    seconds = time.monotonic() - start
    client.disconnect()
    log.info("diagnostics: broker test connected to %s in %.2f s", client.where, seconds)
    return Finding(True, texts.broker_ok(where, seconds))


def check_token(settings: EdgeSettings, token: Token | None) -> Finding:
    """The logged-in token's label and serial, the signing key, its certificate's subject and
    days to expiry (None token: the kiosk is locked)."""
    if token is None:
        return Finding(None, texts.SIGNER_LOCKED_AWAY)
    try:
        label, serial = token.label, token.serial
        key_id = settings.signing_key_id_bytes
        if key_id is None:
            return Finding(False, texts.token_facts(label, serial, texts.SIGNER_NO_KEY_ID, "—"))
        try:
            kind: str | None = token.key_kind(key_id).value
        except TokenError as e:
            log.warning("diagnostics: signing key: %s", e)
            kind = None
        try:
            cert = token.certificate(key_id)
            subject: str | None = cert.subject.rfc4514_string()
            days: int | None = (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days
        except TokenError as e:
            log.warning("diagnostics: signing certificate: %s", e)
            subject = days = None
    except TokenError as e:
        log.warning("diagnostics: token: %s", e)
        return Finding(False, texts.SIGNER_BROKEN)
    ok = kind is not None and days is not None and days > 30
    key = texts.key_words(kind, key_id.hex())
    return Finding(
        ok, texts.token_facts(label, serial, key, texts.certificate_words(subject, days))
    )


def versions() -> dict[str, str]:
    """Sohoa's, Tesseract's (and the size of its Vietnamese data), Python's and Textual's
    versions."""
    from edge.ocr.engine import find_tessdata, tesseract_version

    found: dict[str, str] = {}
    for name, dist in (("Sohoa", "sohoa"), ("Textual", "textual")):
        try:
            found[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[name] = "không rõ"
    try:
        data = find_tessdata("vie") / "vie.traineddata"
        vie = f"dữ liệu tiếng Việt {data.stat().st_size // 1024} KB"
    except (OcrError, OSError) as e:
        log.warning("diagnostics: %s", e)
        vie = "THIẾU dữ liệu tiếng Việt: cài gói tesseract-ocr-vie"
    found["Tesseract"] = f"{tesseract_version()}, {vie}"
    found["Python"] = platform.python_version()
    return found


def log_tail(path: Path, lines: int = LOG_LINES) -> Finding:
    """The last `lines` lines of the kiosk's log (English, no citizen data)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            tail = list(deque(f, maxlen=lines))
    except FileNotFoundError:
        return Finding(None, texts.LOG_MISSING.format(path=path))
    except OSError as e:
        log.warning("diagnostics: cannot read %s: %s", path, e)
        return Finding(False, texts.LOG_MISSING.format(path=path))
    text = "".join(tail).rstrip("\n")
    return Finding(True, text or texts.LOG_EMPTY)


def kiosk_log(settings: EdgeSettings) -> Path:
    """Where the kiosk writes its log (`edge.tui.run`)."""
    from edge.tui.run import LOG_FILE  # run imports the app, which imports this module

    return settings.data_dir / "logs" / LOG_FILE

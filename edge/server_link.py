"""The appliance's HTTPS link to the provincial server for enrollment and renewal: one
connection whose server key must hash to a pin the appliance was given (the enrollment code's,
then the one enrollment stored in its settings), so that no CA needs to be trusted for it and
nothing is sent to a server that is not the province's. Also compares the clocks.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import json
import ssl
import urllib.parse
from typing import Any

from cryptography import x509

from edge.errors import EnrollError
from protocol.enrollment import check_server_url, pin_of, spki_der
from protocol.errors import EnrollmentFormatError

MAX_CLOCK_SKEW = dt.timedelta(minutes=10)
"""The most this appliance's clock may differ from the server's."""
TIMEOUT_S = 30.0
MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""The largest answer read (certificates and a procedure catalogue: a few hundred KB)."""
HEALTH_PATH = "/healthz"


def now() -> dt.datetime:
    """This appliance's clock (a function, so that a test can put it years off)."""
    return dt.datetime.now(dt.UTC)


class PinnedServer:
    """One HTTPS connection to the server whose key hashes to `pin`
    (`protocol.enrollment.pin_of`). Use as a context manager: entering connects and checks the
    key before anything is sent.

    Raises (on entering):
        EnrollError: the server cannot be reached, or its key is not the pinned one.
    """

    def __init__(self, url: str, pin: str, timeout_s: float = TIMEOUT_S) -> None:
        try:
            self.url = check_server_url(url)
        except EnrollmentFormatError as e:
            raise EnrollError(str(e)) from e
        parts = urllib.parse.urlsplit(self.url)
        self.base = parts.path.rstrip("/")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # No CA vouches for the server here: the pin does, checked before anything is sent.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.conn = http.client.HTTPSConnection(
            parts.hostname or "", parts.port or 443, context=context, timeout=timeout_s
        )
        self.pin = pin

    def __enter__(self) -> PinnedServer:
        try:
            self.conn.connect()
        except (OSError, ssl.SSLError) as e:
            raise EnrollError(f"cannot reach the server {self.url}: {e}") from e
        sock = self.conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        der = sock.getpeercert(binary_form=True)
        if (
            der is None
            or pin_of(spki_der(x509.load_der_x509_certificate(der).public_key())) != self.pin
        ):
            self.conn.close()
            raise EnrollError(
                f"the server at {self.url} is not the province's (its key does not match the "
                "one this appliance was given): check the address; nothing was sent"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    def check_clock(self) -> None:
        """Compare this appliance's clock with the server's `Date`.

        Raises:
            EnrollError: they differ by more than `MAX_CLOCK_SKEW`.
        """
        _status, headers, _body = self._call("GET", HEALTH_PATH, None)
        date = headers.get("date")
        if date is None:
            return  # a proxy that drops Date: the certificates' own dates are checked later
        server_now = email.utils.parsedate_to_datetime(date)
        skew = now() - server_now
        if abs(skew) > MAX_CLOCK_SKEW:
            raise EnrollError(
                f"this appliance's clock is {_duration(skew)} "
                f"{'ahead of' if skew > dt.timedelta(0) else 'behind'} the server's "
                f"(server: {server_now:%Y-%m-%d %H:%M} UTC): set the clock (timedatectl "
                "set-time, or NTP) and try again"
            )

    def post(self, path: str, body: dict[str, Any], what: str) -> object:
        """POST `body` as JSON to `path`; the parsed answer of a 200.

        Raises:
            EnrollError: the server refused `what` (its reason is in the message) or
                answered something unreadable.
        """
        status, _headers, data = self._call("POST", path, json.dumps(body).encode())
        try:
            parsed = json.loads(data)
        except ValueError as e:
            raise EnrollError(f"the server answered {status} with something unreadable") from e
        if status != 200:
            detail = parsed.get("detail") if isinstance(parsed, dict) else None
            raise EnrollError(f"the server refused the {what} ({status}): {detail}")
        return parsed

    def _call(
        self, method: str, path: str, body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, self.base + path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read(MAX_ANSWER_BYTES + 1)
        except (OSError, http.client.HTTPException) as e:
            raise EnrollError(f"the server {self.url} stopped answering: {e}") from e
        if len(data) > MAX_ANSWER_BYTES:
            raise EnrollError(f"the server's answer is larger than {MAX_ANSWER_BYTES} bytes")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def _duration(delta: dt.timedelta) -> str:
    seconds = abs(delta.total_seconds())
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:.0f} days"
    if seconds >= 7200:
        return f"{seconds / 3600:.0f} hours"
    return f"{seconds / 60:.0f} minutes"

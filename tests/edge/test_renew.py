"""The appliance's own view of its certificate's end (`edge.renew.expiry_warning`), which its
heartbeat carries to the fleet page once the daily renewal should have happened and has not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edge.config import EdgeSettings
from edge.renew import expiry_warning
from edge.sync.heartbeat import HeartbeatPolicy
from edge.sync.outbox import Outbox
from provisioning.ca import CertificateAuthority, Profile, new_key, write_certificate

NOW = dt.datetime.now(dt.UTC)


def _settings(tmp_path: Path, days: int) -> EdgeSettings:
    ca = CertificateAuthority.create("Renew Test CA")
    start = NOW - dt.timedelta(days=400)
    cert = ca.issue(
        new_key().public_key(),
        "vt-01.kiosk",
        Profile.TLS_CLIENT,
        valid_days=400 + days,
        not_before=start,
    )
    write_certificate(cert, tmp_path / "transport.pem")
    return EdgeSettings(
        device_id="vt-01.kiosk", data_dir=tmp_path / "data", cert_file=tmp_path / "transport.pem"
    )


@pytest.mark.parametrize(
    ("days", "said"),
    [(100, None), (12, "has not been renewed"), (-2, "expired on")],
)
def test_the_heartbeat_says_when_the_certificate_nears_its_end_unrenewed(
    tmp_path: Path, days: int, said: str | None
) -> None:
    settings = _settings(tmp_path, days)
    warning = expiry_warning(settings, NOW)
    assert (warning is None) if said is None else (warning is not None and said in warning)
    with Outbox(settings.outbox_dir) as outbox:
        beat = HeartbeatPolicy(settings, outbox, {}, lambda: None).beat(0.0, None)
    assert beat.last_error == warning

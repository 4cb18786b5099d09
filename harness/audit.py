"""What arrived: the repository of a fleet checked against the results that were sent (every
result once, nothing else, every signature valid and verified again here, every stored PDF
intact); and the results the server rejected, verified again here from the appliances' outboxes
(a valid result rejected is a result lost)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from harness.fleet import Fleet
from protocol.messages import sha256_hex
from provisioning.ca import read_certificate
from server.db import make_engine
from server.models import Record


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


def valid_among_rejected(fleet: Fleet, rejected: Iterable[tuple[str, str]]) -> list[str]:
    """The results the server rejected that verify here: valid results refused.

    Args:
        fleet: the fleet (its CA, CRL, appliances and their outboxes).
        rejected: (device_id, result_id) of each rejected result; its PDF is read from that
            appliance's outbox.

    Returns:
        The ids of those whose signature is valid, by the appliance's registered signer.
    """
    pairs = list(rejected)
    if not pairs:
        return []
    from edge.sync.outbox import Outbox  # loaded only when asked
    from server.verify import Verifier

    verifier = Verifier([read_certificate(fleet.ca_file)], crl_path=fleet.crl_path)
    appliances = {a.device_id: a for a in fleet.appliances}
    valid = []
    for device_id, result_id in pairs:
        appliance = appliances[device_id]
        with Outbox(appliance.outbox_dir) as outbox:
            pdf = outbox.load_pdf(result_id)
        verdict = verifier.verify(pdf, device_id=device_id)
        signer = (verdict.signer_cert_sha256 or "").lower()
        if verdict.valid and signer == appliance.signing_cert_sha256:
            valid.append(result_id)
    return valid


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

"""The review queue: the cases the merge cannot settle alone, and reviewers' decisions on them.

Two kinds of case (`ReviewKind`):
- **a conflict**: a version stored `needs_review` beside the current version of its document
  (same issuer, số ký hiệu and date, another citizen: `versions`' rule 3). The reviewer lets it
  **replace** the current version (it becomes the next version, as the merge would have made
  it: `version` = the current's + 1, `supersedes` the current, which is marked superseded) or
  **rejects** it (it is kept, superseded by the current version, and never reused). A document
  misread at capture is rather corrected (`versions.correct`) than decided here.
- **a duplicate warning** (Nghị định 30: one issuer, one số ký hiệu, one year): the reviewer
  finds the documents **distinct** (the warning is lifted from each) or **duplicates** indeed
  (the warning stays). A record merged later under the same key opens the case again.

A decision is a `ReviewDecision` row, never changed; the records' bookkeeping
(`merge_state`, `superseded_by`, `version`, `supersedes`, `duplicate_warning`) is all a
decision updates, under the document's lock (`versions.lock`), so a merge and a decision take
turns. Nothing here commits: `disclosures` writes the audit entry and commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from server.errors import ReviewError, ReviewInputError
from server.models import MergeState, Record, ReviewDecision, ReviewKind, ReviewVerdict, utc_now
from server.repository import records, tallies, versions
from server.repository.records import RecordState

VERDICTS = {
    ReviewKind.CONFLICT: (ReviewVerdict.REPLACE, ReviewVerdict.REJECT),
    ReviewKind.DUPLICATE: (ReviewVerdict.DISTINCT, ReviewVerdict.DUPLICATE),
}
MIN_REASON = 5
MAX_REASON = 500


@dataclass(frozen=True)
class Case:
    """A case of the queue: its kind, its key (the conflicting record's id, or the duplicate
    key) and its records (a conflict: the conflicting version, then the current one)."""

    kind: ReviewKind
    key: str
    records: list[Record]

    @property
    def newest(self) -> dt.datetime:
        """When its latest record was received."""
        return max(r.received_at for r in self.records)


def _visible(records: list[Record], visible: frozenset[str] | None) -> bool:
    return visible is None or all(r.unit_code in visible for r in records)


def conflict(session: Session, record_id: str, visible: frozenset[str] | None) -> Case | None:
    """The conflict of record `record_id` (waiting, or decided: its state says which), or None
    if it is no conflict or not all of it is visible."""
    record = session.get(Record, record_id)
    if record is None or record.natural_key is None:
        return None
    decided = _decision_on(session, record.id)
    if record.merge_state is not MergeState.NEEDS_REVIEW and decided is None:
        return None
    other_id = decided.other_id if decided is not None else None
    other = (
        session.get(Record, other_id)
        if other_id
        else session.exec(
            select(Record).where(Record.natural_key == record.natural_key, versions.IS_CURRENT)
        ).first()
    )
    records = [record] + ([other] if other is not None else [])
    return Case(ReviewKind.CONFLICT, record.id, records) if _visible(records, visible) else None


def duplicates(session: Session, key: str, visible: frozenset[str] | None) -> Case | None:
    """The records under duplicate key `key`, oldest first, or None if there are fewer than
    two or not all are visible."""
    records = list(
        session.exec(
            select(Record)
            .where(Record.duplicate_key == key)
            .order_by(col(Record.received_at), col(Record.id))
        ).all()
    )
    if len(records) < 2 or not _visible(records, visible):
        return None
    return Case(ReviewKind.DUPLICATE, key, records)


def queue(session: Session, visible: frozenset[str] | None, *, limit: int = 100) -> list[Case]:
    """The open cases, newest first: every conflict waiting, and every duplicate key flagged
    with no decision since its latest record (at most `limit` of each)."""
    # Each through its partial index (`records.state_conditions`): a few rows of a million.
    waiting = select(Record).where(*records.state_conditions(RecordState.NEEDS_REVIEW))
    if visible is not None:
        waiting = waiting.where(col(Record.unit_code).in_(visible))
    cases: list[Case] = []
    for record in session.exec(waiting.order_by(col(Record.received_at).desc()).limit(limit)):
        case = conflict(session, record.id, visible)
        if case is not None:
            cases.append(case)
    flagged = (
        select(Record.duplicate_key, func.max(Record.received_at))
        .where(*records.state_conditions(RecordState.DUPLICATE_WARNING))
        .group_by(col(Record.duplicate_key))
        .order_by(func.max(Record.received_at).desc())
        .limit(limit)
    )
    if visible is not None:
        flagged = flagged.where(col(Record.unit_code).in_(visible))
    for key, _newest in session.exec(flagged):
        case = duplicates(session, key, visible) if key is not None else None
        if case is None or key is None:
            continue
        last = _latest_decision(session, key)
        if last is None or last.decided_at < case.newest:
            cases.append(case)
    cases.sort(key=lambda c: c.newest, reverse=True)
    return cases


def decide(
    session: Session,
    kind: ReviewKind,
    key: str,
    verdict: ReviewVerdict,
    reason: str,
    username: str,
    visible: frozenset[str] | None,
) -> ReviewDecision | None:
    """Apply a reviewer's decision (not committed); None if the case is not one `visible` sees.

    Raises:
        ReviewInputError: the verdict does not fit the case, or the reason is missing or too
            long.
        ReviewError: the case was decided meanwhile (the message says what to do).
    """
    if verdict not in VERDICTS[kind]:
        allowed = " or ".join(v.value for v in VERDICTS[kind])
        raise ReviewInputError(f"a {kind.value} is decided {allowed}, not {verdict.value}")
    reason = reason.strip()
    if not MIN_REASON <= len(reason) <= MAX_REASON:
        raise ReviewInputError(
            f"say why in {MIN_REASON} to {MAX_REASON} characters: the decision is audited"
        )
    if kind is ReviewKind.CONFLICT:
        return _decide_conflict(session, key, verdict, reason, username, visible)
    return _decide_duplicates(session, key, verdict, reason, username, visible)


def _decide_conflict(
    session: Session,
    record_id: str,
    verdict: ReviewVerdict,
    reason: str,
    username: str,
    visible: frozenset[str] | None,
) -> ReviewDecision | None:
    found = session.get(Record, record_id)
    if found is None or found.natural_key is None:
        return None
    versions.lock(session, [found.natural_key])
    session.refresh(found)
    case = conflict(session, record_id, visible)
    if case is None:
        return None
    if found.merge_state is not MergeState.NEEDS_REVIEW or len(case.records) < 2:
        raise ReviewError(
            f"result {record_id} no longer waits for review (it is {found.merge_state.value}): "
            "reload the queue"
        )
    current = case.records[1]
    if verdict is ReviewVerdict.REPLACE:
        # The old current row first: the partial unique index allows one current per document.
        session.execute(
            update(Record)
            .where(col(Record.id) == current.id)
            .values(merge_state=MergeState.SUPERSEDED, superseded_by=found.id)
        )
        session.execute(
            update(Record)
            .where(col(Record.id) == found.id)
            .values(
                merge_state=MergeState.CURRENT,
                version=current.version + 1,
                supersedes=current.id,
            )
        )
        # It was counted as a new document when merged; it is now a version of one.
        tallies.count(session, found.unit_code, found.received_at, digitized=-1)
    else:
        session.execute(
            update(Record)
            .where(col(Record.id) == found.id)
            .values(merge_state=MergeState.SUPERSEDED, superseded_by=current.id)
        )
    return _record(session, ReviewKind.CONFLICT, verdict, reason, username, found.id, current.id)


def _decide_duplicates(
    session: Session,
    key: str,
    verdict: ReviewVerdict,
    reason: str,
    username: str,
    visible: frozenset[str] | None,
) -> ReviewDecision | None:
    versions.lock(session, [f"duplicate:{key}"])
    case = duplicates(session, key, visible)
    if case is None:
        return None
    if verdict is ReviewVerdict.DISTINCT:
        # Only the records the reviewer saw: one merged meanwhile keeps its warning (and opens
        # the case again).
        session.execute(
            update(Record)
            .where(col(Record.id).in_([r.id for r in case.records]))
            .values(duplicate_warning=False)
        )
    return _record(session, ReviewKind.DUPLICATE, verdict, reason, username, None, None, key)


def _record(
    session: Session,
    kind: ReviewKind,
    verdict: ReviewVerdict,
    reason: str,
    username: str,
    record_id: str | None,
    other_id: str | None,
    key: str | None = None,
) -> ReviewDecision:
    decision = ReviewDecision(
        kind=kind,
        record_id=record_id,
        other_id=other_id,
        duplicate_key=key,
        verdict=verdict,
        reason=reason,
        username=username,
        decided_at=utc_now(),
    )
    session.add(decision)
    session.flush()
    return decision


def _decision_on(session: Session, record_id: str) -> ReviewDecision | None:
    return session.exec(
        select(ReviewDecision)
        .where(ReviewDecision.record_id == record_id)
        .order_by(col(ReviewDecision.id).desc())
    ).first()


def _latest_decision(session: Session, key: str) -> ReviewDecision | None:
    return session.exec(
        select(ReviewDecision)
        .where(ReviewDecision.duplicate_key == key)
        .order_by(col(ReviewDecision.id).desc())
    ).first()


def decisions_on(session: Session, case: Case) -> list[ReviewDecision]:
    """Every decision taken on `case`, newest first."""
    statement = select(ReviewDecision).order_by(col(ReviewDecision.id).desc())
    if case.kind is ReviewKind.CONFLICT:
        statement = statement.where(ReviewDecision.record_id == case.key)
    else:
        statement = statement.where(ReviewDecision.duplicate_key == case.key)
    return list(session.exec(statement).all())

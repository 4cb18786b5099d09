"""The procedure catalogue: importing a procedures file, and a result's procedure, as its
appliance said at capture or inferred from its result type (`loai_van_ban`).

Inference is a default, not a certainty: several procedures may produce the same document (a
birth registered late gives a Giấy khai sinh too), so the data file names, for each result
type, the one procedure it is inferred as, and the appliance's explicit choice always wins.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from server.catalogue_files import ProcedureRow, result_type_key
from server.models import Procedure, utc_now
from server.repository.common import commit

log = logging.getLogger(__name__)

_CODE = re.compile(r"^[0-9]\.[0-9]{6}(\.[0-9A-Za-z]+)*$")


@dataclass(frozen=True)
class ImportSummary:
    """What `import_procedures` did: procedures added, changed, already so."""

    added: int
    changed: int
    unchanged: int


def import_procedures(session: Session, rows: Sequence[ProcedureRow]) -> ImportSummary:
    """Store a procedures file's rows (added, or updated to what the file says); commit.

    Raises:
        RepositoryError: the database refused the write.
    """
    added = changed = unchanged = 0
    now = utc_now()
    for row in rows:
        values: dict[str, Any] = {
            "name": row.name,
            "level": row.level,
            "field": row.field,
            "result_types": list(row.result_types),
            "confirmed": row.confirmed,
            "note": row.note,
        }
        stored = session.get(Procedure, row.code)
        if stored is None:
            session.add(Procedure(code=row.code, updated_at=now, **values))
            added += 1
        elif all(getattr(stored, k) == v for k, v in values.items()):
            unchanged += 1
        else:
            for key, value in values.items():
                setattr(stored, key, value)
            stored.updated_at = now
            session.add(stored)
            changed += 1
    commit(session, "import the procedures")
    log.info("procedures imported: %d added, %d changed, %d unchanged", added, changed, unchanged)
    return ImportSummary(added=added, changed=changed, unchanged=unchanged)


def get_procedure(session: Session, code: str) -> Procedure | None:
    """The catalogue's procedure `code`, or None."""
    return session.get(Procedure, code)


def infer_procedure(session: Session, result_type: str | None) -> str | None:
    """The procedure a result of type `result_type` (its printed title, e.g. "GIẤY KHAI SINH")
    is inferred as, or None when the catalogue names none."""
    if not result_type:
        return None
    key = result_type_key(result_type)
    for procedure in session.exec(select(Procedure)).all():
        if any(result_type_key(t) == key for t in procedure.result_types):
            return procedure.code
    return None


def procedure_for_result(
    session: Session, *, explicit: str | None, result_type: str | None
) -> str | None:
    """A result's procedure: `explicit` (what the appliance sent at capture) when it is a
    procedure code, catalogued or not (a provincial variant may be newer than the catalogue);
    else inferred from `result_type`."""
    if explicit is not None:
        code = explicit.strip()
        if _CODE.match(code):
            return code
        log.warning("a result names procedure %r, not a procedure code: inferred", code[:64])
    return infer_procedure(session, result_type)

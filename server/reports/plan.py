"""The digitization plan's deadlines: the deadline a unit's volume of results falls under.

Read from a TOML file of tiers (`PLAN_FILE` by default), so that a new plan is a data change:
each tier has a `deadline` and, but for the last, the largest volume it admits (`up_to`).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path

from server.errors import DataFileError

PLAN_FILE = Path(__file__).parents[1] / "data" / "digitization_plan.toml"


@dataclass(frozen=True)
class Tier:
    """Units holding at most `up_to` results (None: any number) are due by `deadline`."""

    up_to: int | None
    deadline: dt.date


@dataclass(frozen=True)
class Plan:
    """The plan's tiers, in order."""

    tiers: tuple[Tier, ...]

    def deadline_for(self, volume: int) -> dt.date:
        """The deadline of a unit holding `volume` results."""
        for tier in self.tiers:
            if tier.up_to is None or volume <= tier.up_to:
                return tier.deadline
        return self.tiers[-1].deadline


def load_plan(path: Path = PLAN_FILE) -> Plan:
    """The plan in `path`.

    Raises:
        DataFileError: the file cannot be read, or a tier is malformed or out of order.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DataFileError(f"cannot read the digitization plan {path}: {e}") from e
    tiers: list[Tier] = []
    for number, raw in enumerate(data.get("tier", []), start=1):
        deadline, up_to = raw.get("deadline"), raw.get("up_to")
        if not isinstance(deadline, dt.date) or isinstance(deadline, dt.datetime):
            raise DataFileError(f"{path}: tier {number} needs a deadline date (YYYY-MM-DD)")
        if up_to is not None and (not isinstance(up_to, int) or up_to < 0):
            raise DataFileError(f"{path}: tier {number}'s up_to must be a whole number")
        if tiers and (tiers[-1].up_to is None or (up_to is not None and up_to <= tiers[-1].up_to)):
            raise DataFileError(f"{path}: tier {number} must admit more than the tier before it")
        tiers.append(Tier(up_to, deadline))
    if not tiers or tiers[-1].up_to is not None:
        raise DataFileError(f"{path}: the last tier must have no up_to (it takes the rest)")
    return Plan(tuple(tiers))

"""What field extraction hands to the officer's review screen: values with confidence, where they
were read, and what validation found.

Rules of this module:
- A value that failed validation beyond repair is `None`, with a problem saying why and the text
  that was read (`FieldValue.raw`); a doubtful but plausible value is kept with a lower
  confidence and a problem (never silently "fixed").
- Confidence is 0..1: the rule's trust in the value (label match, validation) times the OCR's
  trust in its words when word confidences are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from protocol.messages import EXTRA_FIELD_KEYS, FIELD_KEYS

EXTRA_KEYS: tuple[str, ...] = EXTRA_FIELD_KEYS
"""Keys beyond DESIGN.md's: the legacy 9-digit ID (CMND), the subject's sex as printed, and the
template that matched (`mau`). The protocol owns the list: a result may carry no other key."""

REVIEW_THRESHOLD = 0.8
"""Below this confidence a field is flagged for the officer's review."""


class ProblemCode(StrEnum):
    """What validation found about a field."""

    INVALID_DATE = "invalid_date"
    """The date read does not exist on the calendar (31/02) or is out of range."""
    CCCD_LENGTH = "cccd_length"
    """The ID read is not 12 digits (9 digits go to `cmnd`)."""
    CCCD_PROVINCE = "cccd_province"
    """The ID's first three digits are no province code."""
    CCCD_BIRTH_YEAR = "cccd_birth_year"
    """The ID's century digit and year digits disagree with the date of birth."""
    CCCD_SEX = "cccd_sex"
    """The ID's sex digit disagrees with the sex printed."""
    NUMBER_GRAMMAR = "number_grammar"
    """The number/symbol does not follow Nghị định 30 ("05/QĐ-UBND")."""
    NUMBER_SECTOR_FORM = "number_sector_form"
    """The number/symbol follows a sector form rather than Nghị định 30 (accepted)."""
    OCR_REPAIRED = "ocr_repaired"
    """Characters were repaired (O→0, l→1, a known spelling); the value is likely right."""
    LOW_OCR_CONFIDENCE = "low_ocr_confidence"
    """The OCR was unsure of the words the value came from."""
    TEMPLATE_UNKNOWN = "template_unknown"
    """The title matches no known result type; generic rules were used."""
    LABEL_APPROXIMATE = "label_approximate"
    """The label before the value was read with slips and matched approximately."""
    RANK_REMOVED = "rank_removed"
    """A military/police rank or title before the signer's name was left out."""
    NOT_FOUND = "not_found"
    """The template expects this field but the page does not show it."""
    UNSIGNABLE_CHARACTER = "unsignable_character"
    """The value holds a character the signed document's metadata cannot carry (a control
    character such as one a paste brings along): it must be retyped before signing."""


@dataclass(frozen=True)
class Problem:
    """One finding about a field: a code for programs and a sentence for the officer (Vietnamese
    UI text is chosen by the UI from the code; the message here is for developers' logs and
    tests and carries no personal data)."""

    key: str
    code: ProblemCode
    message: str


@dataclass(frozen=True)
class FieldValue:
    """One field as read.

    Attributes:
        key: the field key.
        value: the normalised value (ISO dates, digits only for IDs), or None.
        confidence: 0..1 (0 when there is no value).
        source: the page line(s) the value was read from, as printed (empty when not found).
        line: index of the first source line among the page's non-empty lines, or -1.
        raw: the text the value was cut from before normalisation (differs when repaired).
        rule: which rule gave the value and why (label, prose, layout position, role words), or
            why there is none; for `sohoa edge process --explain`, never signed.
    """

    key: str
    value: str | None = None
    confidence: float = 0.0
    source: str = ""
    line: int = -1
    raw: str = ""
    rule: str = ""


@dataclass
class FieldSet:
    """Every field of one page: values, confidences, sources and validation problems.

    Attributes:
        fields: one `FieldValue` per key of `FIELD_KEYS` and `EXTRA_KEYS`.
        problems: what validation found, in the order found.
        template: the key of the template that matched the title ("generic" if none).
        people: every person the page names, with the role the words around them gave
            ("label 'họ, chữ đệm, tên người cha' (words 'cha') -> parent"), for `explain`.
    """

    fields: dict[str, FieldValue] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    template: str = ""
    people: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> FieldValue:
        return self.fields.get(key, FieldValue(key))

    def value(self, key: str) -> str | None:
        """The value of `key`, or None."""
        return self[key].value

    def problems_of(self, key: str) -> list[Problem]:
        """The problems found about `key`."""
        return [p for p in self.problems if p.key == key]

    def as_dict(self, *, extras: bool = False) -> dict[str, str | None]:
        """The flat object `<stem>.fields.json` holds: every key of `FIELD_KEYS` (and of
        `EXTRA_KEYS` when `extras`), each a string or None."""
        keys = FIELD_KEYS + EXTRA_KEYS if extras else FIELD_KEYS
        return {key: self.value(key) for key in keys}

    def needs_review(self, threshold: float = REVIEW_THRESHOLD) -> list[str]:
        """Keys with a value whose confidence is below `threshold`, or with a problem other than
        an accepted sector form, in `FIELD_KEYS` order: what the officer should check first."""
        flagged = {p.key for p in self.problems if p.code is not ProblemCode.NUMBER_SECTOR_FORM}
        return [
            key
            for key in FIELD_KEYS
            if key in flagged or (self.value(key) is not None and self[key].confidence < threshold)
        ]

    def explain(self) -> str:
        """Per field: the value, the rule that gave it and why, and the line(s) it was read
        from; or why it is empty. Then the people the page names and their roles. Holds the
        page's personal data: for the operator's screen, never a log."""
        out = [f"template: {self.template or '-'}"]
        for key in FIELD_KEYS + EXTRA_KEYS:
            field_ = self[key]
            if field_.value is None:
                out.append(f"{key}: (empty) {field_.rule or 'not found'}")
                continue
            out.append(f"{key}: {field_.value!r} [{field_.confidence:.2f}] {field_.rule}")
            out += [f"    read from: {text}" for text in field_.source.splitlines()]
        for problem in self.problems:
            out.append(f"problem {problem.key}: {problem.code.value} ({problem.message})")
        out += [f"person: {person}" for person in self.people]
        return "\n".join(out) + "\n"

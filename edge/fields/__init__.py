"""Field extraction from a result's page text (ground truth or OCR), with confidences.

The fields are the keys of DESIGN.md, following the corpus conventions: the number after "Số:",
the ISO issue date (place–date line or registration date), the issuing body (its bold header
line(s) without the parent line above), the bold title, the "Về việc" line(s), the *subject's*
name, citizen ID and date of birth (never a requester's, a parent's or the signer's), and the
signer's name without a rank.

- `extract_fields(text)` gives the flat dict the pipeline writes to `<stem>.fields.json`.
- `extract(text, words)` gives a `FieldSet`: per field the value, a confidence 0..1, the source
  line(s) and the validation problems, for the officer's review screen.

What pages print — labels, templates of the common result types, province codes, document-type
symbols, ranks, family names — is data in this package's TOML files (`edge.fields.tables`).
"""

from edge.fields.extract import extract, extract_fields
from edge.fields.model import (
    EXTRA_KEYS,
    REVIEW_THRESHOLD,
    FieldSet,
    FieldValue,
    Problem,
    ProblemCode,
)
from edge.fields.tables import FieldDataError, Template, load_tables, load_templates
from edge.fields.text import fold
from protocol.messages import FIELD_KEYS

__all__ = [
    "EXTRA_KEYS",
    "FIELD_KEYS",
    "REVIEW_THRESHOLD",
    "FieldDataError",
    "FieldSet",
    "FieldValue",
    "Problem",
    "ProblemCode",
    "Template",
    "extract",
    "extract_fields",
    "fold",
    "load_tables",
    "load_templates",
]

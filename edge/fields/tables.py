"""The data field extraction reads: label catalogue, province codes, document-type symbols, ranks,
family names and the templates of the common result types (TOML files shipped with the package).

Rules of this module:
- Laws and forms change: what a page prints lives in the TOML files next to this module
  (`labels.toml`, `provinces.toml`, `doc_types.toml`, `ranks.toml`, `names.toml`) and in
  `templates/*.toml`, one file per result type; code never names a form.
- Files are read once per process (cached) into frozen objects; a broken file raises
  `FieldDataError` naming the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any

from edge.errors import EdgeError
from edge.fields.text import fold


class FieldDataError(EdgeError):
    """A data file of field extraction is missing or malformed (reinstall or fix the file)."""


class LabelKind(StrEnum):
    """What a label introduces: the keys of `labels.toml`'s `[labels]` table."""

    NAME = "name"
    """A person's name; whose it is, the label's words and the words around it say (`Role`)."""
    BIRTH_DATE = "birth_date"
    """A date of birth."""
    ID = "id"
    """A citizen ID: the 12-digit CCCD or the 9-digit CMND."""
    REGISTRATION_DATE = "registration_date"
    """The date the result was registered (an issue date some templates take)."""
    SEX = "sex"
    """The sex, as printed."""
    OTHER_PERSON = "other_person"
    """Another person's name (a requester, a parent): it ends the subject's block."""
    OTHER = "other"
    """Anything else (nationality, address, …): it ends the value before it on its line."""


class Role(StrEnum):
    """Whose name a label or a mention in prose gives: the keys of `labels.toml`'s `[roles]`."""

    SUBJECT = "subject"
    """The one the result is about (the deceased, the child, the beneficiary, the holder)."""
    REQUESTER = "requester"
    """Who asked for it or declared it, a representative or a witness."""
    PARENT = "parent"
    """A parent of the subject."""
    SPOUSE = "spouse"
    """A spouse of a marriage record (the first printed is its subject)."""
    HOUSEHOLD = "household"
    """The head or a member of a household."""
    SIGNER = "signer"
    """The person who signs."""


class IssueDateSource(StrEnum):
    """Where a template's issue date comes from (the values of its `issue_date` list)."""

    PLACE_DATE = "place_date"
    """The place–date line under the national motto ("Vạn Ninh, ngày 05 tháng 01 năm 2022")."""
    REGISTRATION_DATE = "registration_date"
    """A labelled registration date ("Ngày, tháng, năm đăng ký: 05/07/2022")."""


@dataclass(frozen=True)
class Template:
    """One result type, as its TOML file describes it.

    Attributes:
        key: the file's stem, e.g. "trich_luc_khai_tu".
        name: the type's name in Vietnamese.
        titles: the bold titles as printed (an OCR'd title close to one of them takes its spelling).
        number_symbols: the symbols its "Số:" line carries ("TLKT", "QĐ"); empty when unknown.
        about: whether the type has a "Về việc" line.
        issue_date: sources of the issue date, most trusted first ("place_date",
            "registration_date").
        fallback: used when no other template's title matches.
    """

    key: str
    name: str
    titles: tuple[str, ...]
    number_symbols: tuple[str, ...]
    about: bool
    issue_date: tuple[IssueDateSource, ...]
    fallback: bool = False


@dataclass(frozen=True)
class Tables:
    """Everything `labels.toml`, `provinces.toml`, `doc_types.toml`, `ranks.toml` and
    `names.toml` hold (see those files for what each list means)."""

    national_header: tuple[str, ...]
    national_header_starts: tuple[str, ...]
    about_prefixes: tuple[str, ...]
    body_starts: tuple[str, ...]
    bare_body_names: tuple[str, ...]
    issuer_words: dict[str, str]  # folded word -> spelling
    matter_terms: tuple[str, ...]
    place_unit_words: tuple[str, ...]
    signer_roles: tuple[str, ...]
    honorifics: tuple[str, ...]
    subject_triggers: tuple[str, ...]
    operative_starts: tuple[str, ...]
    recipients_starts: tuple[str, ...]
    preamble_starts: tuple[str, ...]
    roles: dict[Role, tuple[str, ...]]
    labels: dict[LabelKind, tuple[str, ...]]
    provinces: dict[str, str]  # "056" -> "Khánh Hòa"
    century_digits: dict[str, tuple[int, str]]  # "0" -> (1900, "Nam")
    nd30_types: dict[str, str]
    sector_symbols: dict[str, str]
    issuer_symbols: dict[str, str]
    ranks: tuple[str, ...]
    name_titles: tuple[str, ...]
    surnames: dict[str, str]  # folded -> the most common spelling that folds to it
    surname_spellings: tuple[str, ...]  # every family name as spelled, most common first
    given_names: tuple[str, ...]  # middle and given names, most common first


def _read(name: str) -> dict[str, Any]:
    try:
        data = resources.files("edge.fields").joinpath(name).read_text(encoding="utf-8")
        return tomllib.loads(data)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise FieldDataError(
            f"field data file edge/fields/{name} is unreadable ({e}): reinstall sohoa or fix it"
        ) from e


def _strings(data: dict[str, Any], key: str, source: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldDataError(f"{source}: {key!r} must be a list of strings")
    return tuple(value)


@lru_cache(maxsize=1)
def load_tables() -> Tables:
    """Read the tables (once per process).

    Raises:
        FieldDataError: a file is missing or malformed.
    """
    labels = _read("labels.toml")
    provinces = _read("provinces.toml")
    types = _read("doc_types.toml")
    ranks = _read("ranks.toml")
    names = _read("names.toml")
    label_kinds = labels.get("labels", {})
    try:
        kinds = {
            LabelKind(kind): _strings(label_kinds, kind, "labels.toml") for kind in label_kinds
        }
    except ValueError as e:
        raise FieldDataError(f"labels.toml: [labels] holds an unknown kind ({e})") from e
    role_words = labels.get("roles", {})
    try:
        roles = {Role(role): _strings(role_words, role, "labels.toml") for role in role_words}
    except ValueError as e:
        raise FieldDataError(f"labels.toml: [roles] holds an unknown role ({e})") from e
    surnames: dict[str, str] = {}
    spellings = _strings(names, "surnames", "names.toml")
    for spelling in spellings:  # most common first: the first of a shared fold is kept
        surnames.setdefault(fold(spelling), spelling)
    try:
        century = {
            digit: (int(row["century"]), str(row["sex"]))
            for digit, row in provinces["century_digits"].items()
        }
    except (KeyError, TypeError, ValueError) as e:
        raise FieldDataError(f"provinces.toml: century_digits malformed ({e})") from e
    return Tables(
        national_header=_strings(labels, "national_header", "labels.toml"),
        national_header_starts=_strings(labels, "national_header_starts", "labels.toml"),
        about_prefixes=_strings(labels, "about_prefixes", "labels.toml"),
        body_starts=_strings(labels, "body_starts", "labels.toml"),
        bare_body_names=_strings(labels, "bare_body_names", "labels.toml"),
        issuer_words={fold(w): w for w in _strings(labels, "issuer_words", "labels.toml")},
        matter_terms=_strings(labels, "matter_terms", "labels.toml"),
        place_unit_words=_strings(labels, "place_unit_words", "labels.toml"),
        signer_roles=_strings(labels, "signer_roles", "labels.toml"),
        honorifics=_strings(labels, "honorifics", "labels.toml"),
        subject_triggers=_strings(labels, "subject_triggers", "labels.toml"),
        operative_starts=_strings(labels, "operative_starts", "labels.toml"),
        recipients_starts=_strings(labels, "recipients_starts", "labels.toml"),
        preamble_starts=_strings(labels, "preamble_starts", "labels.toml"),
        roles=roles,
        labels=kinds,
        provinces=dict(provinces.get("provinces", {})),
        century_digits=century,
        nd30_types=dict(types.get("nd30", {})),
        sector_symbols=dict(types.get("sector", {})),
        issuer_symbols=dict(types.get("issuers", {})),
        ranks=_strings(ranks, "ranks", "ranks.toml"),
        name_titles=_strings(ranks, "titles", "ranks.toml"),
        surnames=surnames,
        surname_spellings=spellings,
        given_names=_strings(names, "given_names", "names.toml"),
    )


def _template(key: str, data: dict[str, Any]) -> Template:
    source = f"templates/{key}.toml"
    if "subject" in data or "subject_after" in data:
        # A type says which fields it has, never where they are or which label carries them:
        # the subject is found by the words around it (`labels.toml`'s [roles]).
        raise FieldDataError(f"{source}: a template may not locate the subject; remove it")
    name = data.get("name")
    if not isinstance(name, str):
        raise FieldDataError(f"{source}: 'name' must be a string")
    try:
        issue_date = tuple(IssueDateSource(v) for v in _strings(data, "issue_date", source))
    except ValueError as e:
        raise FieldDataError(f"{source}: 'issue_date' holds an unknown source ({e})") from e
    return Template(
        key=key,
        name=name,
        titles=_strings(data, "titles", source),
        number_symbols=_strings(data, "number_symbols", source),
        about=bool(data.get("about", False)),
        issue_date=issue_date or tuple(IssueDateSource),
        fallback=bool(data.get("fallback", False)),
    )


@lru_cache(maxsize=1)
def load_templates() -> tuple[Template, ...]:
    """Read every `templates/*.toml` (once per process), the fallback template last.

    Raises:
        FieldDataError: a template is malformed, or there is no fallback template.
    """
    folder = resources.files("edge.fields.templates")
    templates = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        try:
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise FieldDataError(f"templates/{entry.name} is unreadable ({e}): fix it") from e
        templates.append(_template(entry.name.removesuffix(".toml"), data))
    templates.sort(key=lambda t: t.fallback)
    if not templates or not templates[-1].fallback:
        raise FieldDataError("templates/: no template has `fallback = true`; add generic.toml")
    return tuple(templates)

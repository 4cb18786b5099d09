"""A structural PDF/A-2b checker, for the tests and the benchmarks: not on the appliance's path.

`check_pdfa` is no validator: there is no veraPDF on these machines (no Java package, nothing on
PyPI). It checks the rules of ISO 19005-2 that can be checked on the file's structure; its
docstring lists them, and what it cannot see (font program internals, content-stream operators,
ICC profile contents beyond the header).

It lives in `edge.pdf` beside what it checks (`edge.pdf.assemble` writes the file,
`edge.pdf.xmp` its metadata), but nothing the appliance runs imports it: the tests
(`tests/edge/pdf/`, the pipeline's and the signing's), `bench.ocr` and `bench.signing` call it
on what the product made. Keep it so: parsing a whole PDF back costs time a scan does not have.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError as PyHankoPdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from edge.pdf.xmp import PDFA_PREFIXES, icc_header_problems
from edge.pdf.xmp import XMP_NAMESPACES as _NS

# --- the structural check -----------------------------------------------------------------------

PREDEFINED_XMP_NAMESPACES = frozenset(
    {
        _NS["dc"],
        _NS["xmp"],
        "http://ns.adobe.com/xap/1.0/mm/",
        _NS["pdf"],
        _NS["pdfaid"],
        _NS["pdfaExtension"],
        "http://ns.adobe.com/xap/1.0/rights/",
        "http://ns.adobe.com/xap/1.0/bj/",
        "http://ns.adobe.com/xap/1.0/t/pg/",
        "http://ns.adobe.com/xmp/1.0/DynamicMedia/",
        "http://ns.adobe.com/photoshop/1.0/",
        "http://ns.adobe.com/camera-raw-settings/1.0/",
        "http://ns.adobe.com/tiff/1.0/",
        "http://ns.adobe.com/exif/1.0/",
        "http://ns.adobe.com/exif/1.0/aux/",
        "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    }
)
"""Schemas PDF/A-2 takes without an extension description (XMP 2005 and 19005-1/-2 schemas)."""

FORBIDDEN_ACTIONS = frozenset(
    {
        "/Launch",
        "/Sound",
        "/Movie",
        "/ResetForm",
        "/ImportData",
        "/Hide",
        "/SetOCGState",
        "/Rendition",
        "/Trans",
        "/GoTo3DView",
        "/JavaScript",
    }
)
"""Action types 19005-2 6.6.1 forbids."""

STANDARD_BLEND_MODES = frozenset(
    {
        "/Normal",
        "/Compatible",
        "/Multiply",
        "/Screen",
        "/Overlay",
        "/Darken",
        "/Lighten",
        "/ColorDodge",
        "/ColorBurn",
        "/HardLight",
        "/SoftLight",
        "/Difference",
        "/Exclusion",
        "/Hue",
        "/Saturation",
        "/Color",
        "/Luminosity",
    }
)

_INFO_TO_XMP = {
    "/Title": ("dc", "title"),
    "/Author": ("dc", "creator"),
    "/Subject": ("dc", "description"),
    "/Keywords": ("pdf", "Keywords"),
    "/Creator": ("xmp", "CreatorTool"),
    "/Producer": ("pdf", "Producer"),
    "/CreationDate": ("xmp", "CreateDate"),
    "/ModDate": ("xmp", "ModifyDate"),
}
"""Info entries and the XMP property each must equal (19005-1 Table 1, kept by 19005-2 6.6.3)."""


def _items(array: Any) -> list[Any]:
    """The items of a PDF array with indirect references resolved ([] if not an array)."""
    if not isinstance(array, generic.ArrayObject):
        return []
    return [array[index] for index in range(len(array))]


def _true(value: Any) -> bool:
    """A PDF boolean (pyHanko's BooleanObject) that is true."""
    return getattr(value, "value", value) is True


def _get(container: Any, key: str) -> Any:
    """`container[key]` with indirect references resolved, or None when the key is absent."""
    if not isinstance(container, Mapping) or key not in container:
        return None
    return container[key]


def check_pdfa(pdf: bytes) -> list[str]:
    """Check the PDF/A-2b rules that can be checked on a file's structure.

    This stands in for a validator where none is installed; an empty list means none of these
    rules is broken, not that the file is valid PDF/A. Checked (clause of ISO 19005-2):
    - 6.1.2 header `%PDF-1.n` at offset 0, then a comment line of at least four bytes > 127; no
      catalog `/Version` nor developer extension (`/Extensions` `/BaseVersion`) beyond PDF 1.7;
    - 6.1.3 a trailer /ID of two strings; no /Encrypt; nothing but an EOL after the last %%EOF;
    - 6.1.7 no stream with /F, /FFilter or /FDecodeParms; 6.1.7.2 no LZWDecode (nor Crypt);
    - 6.2.3 one /GTS_PDFA1 output intent with an embedded /DestOutputProfile whose /N matches
      the ICC header (class, version 2-4, colour space);
    - 6.2.8 images without /Interpolate true, /Alternates or /OPI; 6.2.9 no PostScript or
      reference XObjects;
    - 6.2.10 transparency groups with a blending colour space (/CS); standard blend modes;
    - 6.2.11.4 every font (except Type 3) has an embedded font program; 6.2.11.3.2 a
      CIDFontType2 has a /CIDToGIDMap;
    - 6.3.2 annotations printable and not hidden; 6.3.3 non-empty annotations with only /N
      appearances; 6.4.1 no /NeedAppearances true, no XFA;
    - 6.6.1 no forbidden actions (Launch, JavaScript…), no /AA on the catalog or pages, no
      /JavaScript name tree; 6.8 no embedded files;
    - 6.6.2.1 a catalog /Metadata stream, /Type /Metadata /Subtype /XML, unfiltered, a well-formed
      XMP packet without `bytes`/`encoding` attributes; 6.6.4 pdfaid:part 2 and conformance B,
      A or U; 6.6.2.3 every property outside the predefined schemas described by a
      pdfaExtension schema whose declarations are complete, and the fixed prefixes
      (pdfaExtension, pdfaSchema, pdfaProperty, pdfaType, pdfaField); Info entries (Title,
      Author, Subject, Keywords, Creator, Producer, CreationDate, ModDate) equal to their XMP
      properties.
    Walks every object reachable from the (latest) trailer, so a signed file's incremental
    updates are checked as a reader sees them.

    Not checked (a full validator would): the font program's glyphs and widths, content-stream
    operators and the colour spaces they use, ICC profile contents past the header, XMP value
    types, implementation limits, and earlier revisions' objects no longer reachable.

    Args:
        pdf: the file's bytes.

    Returns:
        One message per broken rule (deduplicated, in the order found); empty if none.
    """
    problems: list[str] = []
    header = re.match(rb"%PDF-1\.[0-7]\r?\n", pdf)
    if header is None:
        problems.append("6.1.2: the file does not start with a %PDF-1.n header line")
    else:
        comment = re.match(rb"%([^\r\n]*)\r?\n", pdf[header.end() :])
        if comment is None or sum(b > 127 for b in comment.group(1)[:4]) < 4:
            problems.append("6.1.2: no comment of four binary bytes after the header")
    if re.search(rb"%%EOF(\r\n|\r|\n)?\Z", pdf) is None:
        problems.append("6.1.3: data after the last %%EOF marker")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        trailer = reader.trailer_view
    except (PyHankoPdfError, ValueError, KeyError, TypeError, IndexError) as e:
        return [*problems, f"not a readable PDF ({type(e).__name__}: {e})"]
    if "/Encrypt" in dict.keys(trailer) or reader.encrypted:
        return [*problems, "6.1.3: the file is encrypted"]
    file_id = _get(trailer, "/ID")
    if not isinstance(file_id, generic.ArrayObject) or len(file_id) != 2:
        problems.append("6.1.3: the trailer has no /ID of two strings")
    try:
        root = reader.root
        problems += _check_catalog(root)
        problems += _check_objects(trailer)
        problems += _check_metadata(root, trailer)
    except (PyHankoPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        problems.append(f"the file's structure could not be read ({type(e).__name__}: {e})")
    return list(dict.fromkeys(problems))


def _check_version(root: generic.DictionaryObject) -> list[str]:
    """A catalog `/Version` or a developer extension that makes the file newer than PDF 1.7.

    ISO 32000-1 7.2.2: a catalog `/Version` later than the header's is the file's version. A PDF/A-2
    file is a PDF 1.7 file (ISO 19005-2 6.1.2: "the version number of a file may be any value from
    1.0 to 1.7"), so neither it nor an extension's `/BaseVersion` may say 2.0.
    """
    problems = []
    version = _get(root, "/Version")
    if version is not None and _version(version) > (1, 7):
        problems.append(f"6.1.2: the catalog's /Version says PDF {str(version).lstrip('/')}")
    extensions = _get(root, "/Extensions")
    if isinstance(extensions, Mapping):
        for prefix in extensions:
            for extension in [extensions[prefix], *_items(extensions[prefix])]:
                base = _get(extension, "/BaseVersion")
                if base is not None and _version(base) > (1, 7):
                    problems.append(
                        f"6.1.2: the developer extension {prefix} extends PDF "
                        f"{str(base).lstrip('/')}"
                    )
    return problems


def _version(name: object) -> tuple[int, int]:
    """`/1.7` as (1, 7); anything unreadable as a version no PDF/A-2 file may have."""
    match = re.fullmatch(r"/?(\d+)\.(\d+)", str(name))
    return (int(match.group(1)), int(match.group(2))) if match else (99, 0)


def _check_catalog(root: generic.DictionaryObject) -> list[str]:
    problems = _check_version(root)
    if "/AA" in root:
        problems.append("6.6.2: the catalog has additional actions (/AA)")
    names = _get(root, "/Names")
    if isinstance(names, Mapping):
        if "/JavaScript" in names:
            problems.append("6.6.1: the document has a /JavaScript name tree")
        if "/EmbeddedFiles" in names:
            problems.append("6.8: the document has embedded files")
    form = _get(root, "/AcroForm")
    if isinstance(form, Mapping):
        if _true(_get(form, "/NeedAppearances")):
            problems.append("6.4.1: the form asks viewers to make appearances (/NeedAppearances)")
        if "/XFA" in form:
            problems.append("6.4.2: the form has an XFA part")
    intents = _get(root, "/OutputIntents")
    pdfa_intents = [
        intent
        for intent in _items(intents)
        if isinstance(intent, Mapping) and _get(intent, "/S") == "/GTS_PDFA1"
    ]
    if not pdfa_intents:
        problems.append("6.2.3: no PDF/A output intent (/OutputIntents with /S /GTS_PDFA1)")
    profiles = set()
    for intent in pdfa_intents:
        if "/DestOutputProfile" not in intent:
            problems.append("6.2.3: the PDF/A output intent has no /DestOutputProfile")
            continue
        if "/OutputConditionIdentifier" not in intent:
            problems.append("6.2.3: the output intent has no /OutputConditionIdentifier")
        profile = intent["/DestOutputProfile"]
        data = bytes(profile.data)
        profiles.add(data)
        components = int(_get(profile, "/N") or 0)
        problems += ["6.2.3: " + p for p in icc_header_problems(data, components=components)]
    if len(profiles) > 1:
        problems.append("6.2.3: output intents with different destination profiles")
    return problems


def _walk(start: generic.PdfObject) -> Iterator[tuple[generic.DictionaryObject, str]]:
    """Every dictionary (and stream) reachable from `start`, with the key that led to it."""
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[generic.PdfObject, str]] = [(start, "")]
    while stack:
        obj, via = stack.pop()
        if isinstance(obj, generic.IndirectObject):
            ref = (obj.reference.idnum, obj.reference.generation)
            if ref in seen:
                continue
            seen.add(ref)
            target: Any = obj
            obj = target.get_object()  # pyHanko leaves get_object unannotated
        if isinstance(obj, generic.DictionaryObject):
            yield obj, via
            for key, value in dict.items(obj):
                if key not in ("/Parent", "/P"):  # back-pointers lead nowhere new
                    stack.append((value, str(key)))
        elif isinstance(obj, generic.ArrayObject):
            stack.extend((item, via) for item in list.__iter__(obj))


def _names(value: object) -> list[str]:
    """A filter or a list of filters as a list of names."""
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if value is not None else []


def _check_objects(trailer: generic.DictionaryObject) -> list[str]:
    problems = []
    for obj, via in _walk(trailer):
        kind = _get(obj, "/Type")
        subtype = _get(obj, "/Subtype")
        if isinstance(obj, generic.StreamObject):
            if any(key in obj for key in ("/F", "/FFilter", "/FDecodeParms")):
                problems.append("6.1.7.1: a stream refers to an external file (/F)")
            filters = _names(_get(obj, "/Filter"))
            if "/LZWDecode" in filters:
                problems.append("6.1.7.2: a stream uses LZWDecode")
            if "/Crypt" in filters:
                problems.append("6.1.7.2: a stream uses the Crypt filter")
        if "/S" in obj and kind in (None, "/Action") and obj["/S"] in FORBIDDEN_ACTIONS:
            problems.append(f"6.6.1: a forbidden action {obj['/S']}")
        if via == "/JS" or "/JS" in obj:
            problems.append("6.6.1: the document contains JavaScript")
        if kind == "/Page" and "/AA" in obj:
            problems.append("6.6.2: a page has additional actions (/AA)")
        if subtype == "/Image":
            if _true(_get(obj, "/Interpolate")):
                problems.append("6.2.8: an image asks for interpolation")
            for key in ("/Alternates", "/OPI"):
                if key in obj:
                    problems.append(f"6.2.8: an image has {key}")
        if subtype == "/PS" or (subtype == "/Form" and "/Ref" in obj):
            problems.append("6.2.9: a PostScript or reference XObject")
        if "/S" in obj and obj["/S"] == "/Transparency" and "/CS" not in obj:
            problems.append("6.2.10: a transparency group without a blending colour space (/CS)")
        if "/BM" in obj:
            modes = _names(obj["/BM"])
            if not set(modes) <= STANDARD_BLEND_MODES:
                problems.append(f"6.2.10: a non-standard blend mode {modes}")
        if kind == "/Font" or via == "/DescendantFonts":
            problems += _check_font(obj)
        if kind == "/Annot" or (subtype is not None and via == "/Annots"):
            problems += _check_annotation(obj)
    return problems


def _check_font(font: generic.DictionaryObject) -> list[str]:
    subtype = _get(font, "/Subtype")
    if subtype in ("/Type0", "/Type3"):
        return []  # Type 0 fonts are checked through their descendant; Type 3 are content
    name = _get(font, "/BaseFont") or "?"
    descriptor = _get(font, "/FontDescriptor")
    problems = []
    if not isinstance(descriptor, Mapping) or not any(
        key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")
    ):
        problems.append(f"6.2.11.4: font {name} is not embedded")
    if subtype == "/CIDFontType2" and "/CIDToGIDMap" not in font:
        problems.append(f"6.2.11.3.2: CIDFontType2 font {name} has no /CIDToGIDMap")
    return problems


def _check_annotation(annotation: generic.DictionaryObject) -> list[str]:
    problems = []
    subtype = _get(annotation, "/Subtype")
    flags = int(_get(annotation, "/F") or 0)
    if subtype != "/Popup" and (not flags & 4 or flags & (1 | 2 | 32 | 256)):
        problems.append(f"6.3.2: annotation {subtype} is not printable or is hidden (/F {flags})")
    rect = _get(annotation, "/Rect")
    empty = not rect or (float(rect[0]) == float(rect[2]) or float(rect[1]) == float(rect[3]))
    if subtype not in ("/Popup", "/Link") and not empty:
        appearance = _get(annotation, "/AP")
        if not isinstance(appearance, Mapping) or set(appearance) != {"/N"}:
            problems.append(f"6.3.3: annotation {subtype} needs a normal appearance (/AP /N) only")
    return problems


def _q(namespace: str, local: str) -> str:
    """An ElementTree tag for `local` in `namespace`."""
    return "{" + namespace + "}" + local


def _split(tag: str) -> tuple[str, str]:
    namespace, _, local = tag[1:].partition("}")
    return namespace, local


_RDF_SYNTAX = {_q(_NS["rdf"], name) for name in ("about", "parseType", "resource", "ID", "nodeID")}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _fields(node: ET.Element) -> dict[tuple[str, str], ET.Element]:
    """The properties of an RDF node, however serialised: child elements, attributes (as
    elements with that text), or the inside of one nested rdf:Description."""
    found: dict[tuple[str, str], ET.Element] = {}
    for name, value in node.attrib.items():
        if name.startswith("{") and name not in _RDF_SYNTAX and name != _XML_LANG:
            element = ET.Element(name)
            element.text = value
            found[_split(name)] = element
    for child in node:
        if child.tag == _q(_NS["rdf"], "Description"):
            found.update(_fields(child))
        elif child.tag.startswith("{"):
            found[_split(child.tag)] = child
    return found


def _text(element: ET.Element | None) -> str | None:
    """A simple value (element text or rdf:resource), or the first item of an array."""
    if element is None:
        return None
    resource = element.get(_q(_NS["rdf"], "resource"))
    if resource is not None:
        return resource.strip()
    items = _items_of(element)
    target = items[0] if items else element
    return (target.text or "").strip()


def _items_of(element: ET.Element) -> list[ET.Element]:
    """The rdf:li items of an array-valued property (Bag, Seq or Alt)."""
    for kind in ("Bag", "Seq", "Alt"):
        array = element.find(_q(_NS["rdf"], kind))
        if array is not None:
            return list(array.iter(_q(_NS["rdf"], "li")))[: len(array)]
    return []


def _instant(value: str) -> datetime | None:
    """A PDF date or an XMP date as an aware datetime (naive means UTC), or None."""
    pdf = re.fullmatch(
        r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:([Zz+-])(\d{2})?'?(\d{2})?'?)?",
        value,
    )
    if pdf:
        y, mo, d, h, mi, s, sign, oh, om = pdf.groups()
        offset = timedelta(hours=int(oh or 0), minutes=int(om or 0))
        zone = timezone(-offset if sign == "-" else offset)
        return datetime(
            int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0), tzinfo=zone
        )
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _check_metadata(root: generic.DictionaryObject, trailer: generic.DictionaryObject) -> list[str]:
    if "/Metadata" not in root:
        return ["6.6.2.1: the catalog has no /Metadata (XMP) stream"]
    stream = root["/Metadata"]
    problems = []
    if _get(stream, "/Type") != "/Metadata" or _get(stream, "/Subtype") != "/XML":
        problems.append("6.6.2.1: the metadata stream lacks /Type /Metadata /Subtype /XML")
    if "/Filter" in stream:
        problems.append("6.6.2.1: the metadata stream is compressed (/Filter)")
    data = bytes(stream.data)
    for instruction in re.findall(rb"<\?xpacket[^>]*\?>", data):
        if b"bytes=" in instruction or b"encoding=" in instruction:
            problems.append("6.6.2.1: the xpacket header has a bytes or encoding attribute")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return [*problems, "6.6.2.1: the XMP packet declares a DTD or entities"]
    try:
        tree = ET.fromstring(data)  # noqa: S314 (no DTD, checked above; expat caps expansion)
    except ET.ParseError as e:
        return [*problems, f"6.6.2.1: the XMP packet is not well-formed XML ({e})"]
    for prefix, uri in re.findall(rb'xmlns:([\w.-]+)="([^"]*)"', data):
        for fixed in PDFA_PREFIXES:
            if uri.decode() == _NS[fixed] and prefix.decode() != fixed:
                problems.append(
                    f"6.6.2.3.3: namespace {_NS[fixed]} has prefix "
                    f"{prefix.decode()!r}, not {fixed!r}"
                )
    rdf = tree.find(_q(_NS["rdf"], "RDF")) if tree.tag != _q(_NS["rdf"], "RDF") else tree
    properties: dict[tuple[str, str], ET.Element] = {}
    for description in rdf if rdf is not None else []:
        properties.update(_fields(description))
    part = _text(properties.get((_NS["pdfaid"], "part")))
    conformance = _text(properties.get((_NS["pdfaid"], "conformance")))
    if part != "2" or conformance not in ("A", "B", "U"):
        problems.append(
            f"6.6.4: the XMP says PDF/A part {part!r} conformance {conformance!r}, not 2B"
        )
    problems += _check_extensions(properties)
    info = _get(trailer, "/Info")
    if isinstance(info, Mapping):
        for key, (prefix, local) in _INFO_TO_XMP.items():
            if key not in info:
                continue
            value = str(info[key])
            xmp_value = _text(properties.get((_NS[prefix], local)))
            if key.endswith("Date"):
                same = xmp_value is not None and _instant(value) == _instant(xmp_value)
            else:
                same = xmp_value == value
            if not same:
                problems.append(
                    f"6.6.3: Info {key} {value!r} differs from XMP {prefix}:{local} {xmp_value!r}"
                )
    return problems


def _check_extensions(properties: Mapping[tuple[str, str], ET.Element]) -> list[str]:
    """Every property outside the predefined schemas must be declared by a pdfaExtension
    schema (namespace URI and property name), with a valid declaration (6.6.2.3)."""
    described: set[tuple[str, str]] = set()
    schemas = properties.get((_NS["pdfaExtension"], "schemas"))
    problems = []
    for schema in _items_of(schemas) if schemas is not None else []:
        declared = _fields(schema)
        uri = _text(declared.get((_NS["pdfaSchema"], "namespaceURI")))
        prefix = _text(declared.get((_NS["pdfaSchema"], "prefix")))
        if not uri or not prefix or (_NS["pdfaSchema"], "schema") not in declared:
            problems.append(
                "6.6.2.3.3: an extension schema lacks its schema, namespaceURI or prefix"
            )
            continue
        listed = declared.get((_NS["pdfaSchema"], "property"))
        for item in _items_of(listed) if listed is not None else []:
            prop = _fields(item)
            name = _text(prop.get((_NS["pdfaProperty"], "name")))
            if not name or not all(
                (_NS["pdfaProperty"], key) in prop
                for key in ("valueType", "category", "description")
            ):
                problems.append(f"6.6.2.3.3: extension property {name!r} of {uri} is incomplete")
            described.add((uri, name or ""))
    for namespace, local in properties:
        if namespace in PREDEFINED_XMP_NAMESPACES or namespace == _NS["rdf"]:
            continue
        if (namespace, local) not in described:
            problems.append(f"6.6.2.3: XMP property {{{namespace}}}{local} has no extension schema")
    return problems

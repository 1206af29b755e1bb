"""Reading a CAP 1.1 or 1.2 document that arrived from outside, which is hostile until proven otherwise.

Policy, in the order applied:
- at most `MAX_DOCUMENT_BYTES`; larger is refused before anything is parsed;
- the encoding comes from a byte order mark or the XML declaration (any text encoding Python knows,
  e.g. ISO-8859-1, windows-1252, Shift_JIS); undeclared means UTF-8; an unknown name or bytes
  that are not valid in it are refused, saying which;
- parsed with defusedxml: a DOCTYPE (hence any entity, internal or external) is refused, never
  resolved; XInclude is never processed, and an XInclude element is refused by name;
- the root must be a CAP 1.2 or 1.1 `<alert>`, nested at most `MAX_DEPTH` deep; 1.1 is read as
  1.2 (its deprecated certainty "Very Likely" becomes "Likely", with a warning);
- validated against the OASIS CAP 1.2 schema (cap12.xsd, shipped beside this module); each error
  names its element path, e.g. "/alert/info[1]/urgency[1]";
- every polygon must be closed with at least 4 lat,lon pairs, every circle "lat,lon radius_km"
  (geo/cap.py); the error names the element path and the reason.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

import geo
from alerting.cap.document import NAMESPACES, NS_11, NS_12, CapArea, CapInfo, CapMessage, CapResource
from alerting.cap.errors import CapError, CapSchemaError, CapTooLarge, CapUnsafe

#: Real CAP messages are a few kilobytes; the largest public ones (many polygons) stay well under this.
MAX_DOCUMENT_BYTES = 1024 * 1024
#: Schema errors reported at most (the first ones are the useful ones).
MAX_REPORTED_ERRORS = 20
#: Deepest element nesting accepted (CAP itself needs 5; an XML signature inside it about 10).
MAX_DEPTH = 16
SCHEMA_PATH = Path(__file__).with_name("cap12.xsd")
XINCLUDE_NS = "{http://www.w3.org/2001/XInclude}"

_DECLARATION = re.compile(r"""^\s*<\?xml\b[^>]*?\?>""")
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml\b[^>]*?\bencoding\s*=\s*["']([^"']{0,60})["']""")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass
class ParsedCap:
    message: CapMessage
    #: What was accepted leniently, for the operator to see.
    warnings: list[str] = field(default_factory=list)


def parse(data: bytes | str) -> ParsedCap:
    """A CAP document as a `CapMessage`; raises `CapError` (a ValidationError) naming what is wrong."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise CapTooLarge(f"the CAP document is {len(data):,} bytes; at most {MAX_DOCUMENT_BYTES:,} are accepted",
                          field="document")
    if not data.strip():
        raise CapError("the CAP document is empty", field="document")
    root = _parse_xml(_to_utf8(data))
    warnings: list[str] = []
    version = _check_root(root)
    _check_depth(root)
    if version == "1.1":
        _as_12(root, warnings)
    _validate(root)
    message = _read(root)
    message.version = version
    _check_areas(message)
    if message.msgType in ("Update", "Cancel") and not message.reference_keys():
        warnings.append(f"a {message.msgType} without references (sender,identifier,sent) cannot be linked "
                        "to the alert it changes")
    return ParsedCap(message, warnings)


# --- bytes to a tree -------------------------------------------------------------------------------

def _to_utf8(data: bytes) -> bytes:
    """The document re-encoded as UTF-8 with its declaration's encoding removed."""
    encoding = "utf-8"
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding = name
            break
    else:
        if data.startswith(b"\x00<") or data.startswith(b"<\x00"):
            encoding = "utf-16-be" if data[0] == 0 else "utf-16-le"
        else:
            declared = _DECLARED_ENCODING.match(data)
            if declared:
                encoding = declared.group(1).decode("ascii", "replace").strip()
    try:
        if not codecs.lookup(encoding)._is_text_encoding:  # rot13, base64... are not text encodings
            raise LookupError(encoding)
    except LookupError:
        raise CapError(f"the XML declaration names an unknown encoding {encoding[:40]!r}", field="document") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise CapError(f"the document is not valid {encoding} (byte {exc.start}: {exc.reason}); "
                       "check the encoding named in the XML declaration", field="document") from None
    if not text.lstrip("\ufeff \t\r\n").startswith("<"):
        raise CapError(f"the document does not read as XML in {encoding}, the encoding it declares; "
                       "check the XML declaration", field="document")
    text = _DECLARATION.sub('<?xml version="1.0"?>', text.lstrip("\ufeff"), count=1)
    return text.encode("utf-8")


def _parse_xml(data: bytes) -> Element:
    try:
        return DefusedET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden:
        raise CapUnsafe("the document has a DOCTYPE (DTD); CAP needs none and we never read one, "
                        "so entities are not resolved", field="document") from None
    except (EntitiesForbidden, ExternalReferenceForbidden):
        raise CapUnsafe("the document declares entities or external references; they are refused, "
                        "never resolved", field="document") from None
    except DefusedXmlException as exc:
        raise CapUnsafe(f"the document uses a forbidden XML feature ({type(exc).__name__})", field="document") from None
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        reason = str(exc).split(":")[0]
        raise CapError(f"the document is not well-formed XML: {reason} (line {line}, column {column + 1})",
                       field="document") from None
    except (ValueError, RecursionError) as exc:  # e.g. a NUL or lone surrogate in the text
        raise CapError(f"the document cannot be read as XML ({type(exc).__name__})", field="document") from None


def _check_root(root: Element) -> str:
    namespace, _, name = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if name != "alert" or namespace not in NAMESPACES:
        raise CapError(f"not a CAP 1.1 or 1.2 alert: the root element is {_short(root.tag)!r} in namespace "
                       f"{namespace or 'none'!r}; expected <alert xmlns=\"{NS_12}\">", field="/")
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith(XINCLUDE_NS):
            raise CapUnsafe("the document uses XInclude, which is never processed", field="document")
    return NAMESPACES[namespace]


def _check_depth(root: Element) -> None:
    """CAP nests five levels (alert/info/area/geocode/value; a signature a few more): anything much
    deeper is refused before validation, whose cost grows with the depth."""
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise CapError(f"the document nests elements more than {MAX_DEPTH} deep; CAP needs about 5",
                           field="document")
        stack.extend((child, depth + 1) for child in element)


def _as_12(root: Element, warnings: list[str]) -> None:
    """Read a CAP 1.1 document as 1.2: the same elements in the 1.2 namespace."""
    old = f"{{{NS_11}}}"
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith(old):
            element.tag = f"{{{NS_12}}}" + element.tag[len(old):]
        if element.tag == f"{{{NS_12}}}certainty" and (element.text or "").strip() == "Very Likely":
            element.text = "Likely"
            warnings.append("CAP 1.1 certainty 'Very Likely' read as 'Likely' (CAP 1.2)")


@lru_cache(maxsize=1)
def schema() -> Any:
    """The OASIS CAP 1.2 schema, loaded once (about 0.15 s)."""
    import xmlschema

    return xmlschema.XMLSchema(str(SCHEMA_PATH))


def _validate(root: Element) -> None:
    errors = []
    paths = _paths(root)
    for error in schema().iter_errors(root):
        element = getattr(error, "elem", None)
        where = paths.get(id(element)) if element is not None else None
        reason = error.reason or error.message
        errors.append({"field": where or _short_path(error.path), "message": str(reason)})
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise CapSchemaError(f"not valid CAP 1.2 at {first['field']}: {first['message']}{more}",
                             field=first["field"], errors=errors)


def _paths(root: Element) -> dict[int, str]:
    """Each element's path with 1-based positions among same-named siblings: /alert/info[2]/area[1]."""
    paths = {id(root): "/alert"}
    stack = [root]
    while stack:
        parent = stack.pop()
        counts: dict[str, int] = {}
        for child in parent:
            if not isinstance(child.tag, str):
                continue
            name = _short(child.tag)
            counts[name] = counts.get(name, 0) + 1
            paths[id(child)] = f"{paths[id(parent)]}/{name}[{counts[name]}]"
            stack.append(child)
    return paths


def _short(tag: str) -> str:
    return tag.rpartition("}")[2]


def _short_path(path: str | None) -> str:
    return "/".join(_short(p) for p in (path or "/alert").split("/"))


# --- the tree to typed values ----------------------------------------------------------------------

def _text(parent: Element, name: str) -> str | None:
    found = parent.find(f"{{{NS_12}}}{name}")
    return None if found is None else (found.text or "").strip()


def _texts(parent: Element, name: str) -> list[str]:
    return [(e.text or "").strip() for e in parent.findall(f"{{{NS_12}}}{name}")]


def _pairs(parent: Element, name: str) -> list[list[str]]:
    return [[_text(e, "valueName") or "", _text(e, "value") or ""] for e in parent.findall(f"{{{NS_12}}}{name}")]


def _read(root: Element) -> CapMessage:
    return CapMessage(
        identifier=_text(root, "identifier") or "", sender=_text(root, "sender") or "",
        sent=_text(root, "sent") or "", status=_text(root, "status") or "", msgType=_text(root, "msgType") or "",
        scope=_text(root, "scope") or "", source=_text(root, "source"), restriction=_text(root, "restriction"),
        addresses=_text(root, "addresses"), code=_texts(root, "code"), note=_text(root, "note"),
        references=_text(root, "references"), incidents=_text(root, "incidents"),
        info=[_read_info(e) for e in root.findall(f"{{{NS_12}}}info")])


def _read_info(element: Element) -> CapInfo:
    return CapInfo(
        language=_text(element, "language") or "en-US", category=_texts(element, "category"),
        event=_text(element, "event") or "", responseType=_texts(element, "responseType"),
        urgency=_text(element, "urgency") or "", severity=_text(element, "severity") or "",
        certainty=_text(element, "certainty") or "", audience=_text(element, "audience"),
        eventCode=_pairs(element, "eventCode"), effective=_text(element, "effective"),
        onset=_text(element, "onset"), expires=_text(element, "expires"), senderName=_text(element, "senderName"),
        headline=_text(element, "headline"), description=_text(element, "description"),
        instruction=_text(element, "instruction"), web=_text(element, "web"), contact=_text(element, "contact"),
        parameter=_pairs(element, "parameter"),
        resource=[CapResource(resourceDesc=_text(r, "resourceDesc") or "", mimeType=_text(r, "mimeType") or "",
                              size=_text(r, "size"), uri=_text(r, "uri"), derefUri=_text(r, "derefUri"),
                              digest=_text(r, "digest")) for r in element.findall(f"{{{NS_12}}}resource")],
        area=[CapArea(areaDesc=_text(a, "areaDesc") or "", polygon=_texts(a, "polygon"), circle=_texts(a, "circle"),
                      geocode=_pairs(a, "geocode"), altitude=_text(a, "altitude"), ceiling=_text(a, "ceiling"))
              for a in element.findall(f"{{{NS_12}}}area")])


def _check_areas(message: CapMessage) -> None:
    """Every polygon and circle must be usable; the error names its element path and the reason."""
    for i, info in enumerate(message.info, 1):
        for j, area in enumerate(info.area, 1):
            for kind, values, parser in (("polygon", area.polygon, geo.from_cap_polygon),
                                         ("circle", area.circle, geo.from_cap_circle)):
                for k, value in enumerate(values, 1):
                    path = f"/alert/info[{i}]/area[{j}]/{kind}[{k}]"
                    try:
                        parser(value, field=path)
                    except geo.GeofenceError as exc:
                        where = f"{exc.path}: " if exc.path else ""
                        raise CapError(f"{path}: {where}{exc.message}", field=path) from None

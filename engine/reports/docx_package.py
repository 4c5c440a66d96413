"""Every document of the app starts from the same page set-up (docx_layout). Built from python-docx's
default template each time, that cost about 15 ms a document, mostly for its 350 KB styles.xml: parsed,
serialized again and deflated again, unchanged — 15 s of a 1,000-record evidence pack (issue 13). Here the
set-up is built once per process; each document is opened from it with styles.xml left as bytes until a
style is read or changed, its style names resolved by the template, and it is saved with the template's
deflated bytes for every file still equal to the template's. The documents are the same, part for part
(tests/engine/test_docx_package.py)."""

import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from io import BytesIO
from typing import Any, NamedTuple, cast

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.style import WD_STYLE_TYPE
from docx.opc.constants import CONTENT_TYPE as CT
from docx.opc.oxml import CT_Relationships, serialize_part_xml
from docx.opc.package import Unmarshaller
from docx.opc.packuri import CONTENT_TYPES_URI, PACKAGE_URI, PackURI
from docx.opc.part import Part, PartFactory
from docx.opc.pkgreader import PackageReader
from docx.opc.pkgwriter import _ContentTypesItem
from docx.opc.rel import Relationships
from docx.oxml.parser import parse_xml
from docx.package import Package
from docx.parts.document import DocumentPart
from docx.parts.styles import StylesPart

SetUp = Callable[[DocumentObject], None]


class _TemplateStyles(StylesPart):
    """styles.xml as the template wrote it, parsed the first time anything reads or changes a style."""

    def __init__(self, partname: Any, content_type: str, blob: bytes, package: Any) -> None:
        Part.__init__(self, partname, content_type, blob, package)
        self._source = blob
        self._parsed: Any = None

    @property
    def _element(self) -> Any:
        if self._parsed is None:
            self._parsed = parse_xml(self._source)
        return self._parsed

    @_element.setter
    def _element(self, element: Any) -> None:
        self._parsed = element

    @property
    def parsed(self) -> bool:
        return self._parsed is not None

    @property
    def blob(self) -> bytes:
        return self._source if self._parsed is None else serialize_part_xml(self._parsed)


class _TemplateDocumentPart(DocumentPart):
    """document.xml, whose style names (a heading's, "Table Grid") the template resolves while the
    document's styles are still the template's: python-docx would parse styles.xml to find the first."""

    template: "_Template"

    def get_style_id(self, style_or_name: Any, style_type: WD_STYLE_TYPE) -> str | None:
        if style_or_name is None:
            return None
        styles = self._styles_part
        if isinstance(style_or_name, str) and isinstance(styles, _TemplateStyles) and not styles.parsed:
            return self.template.style_id(style_or_name, style_type)
        return cast(str | None, super().get_style_id(style_or_name, style_type))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class _Deflated:
    crc: int
    data: bytes


def _deflate(blob: bytes) -> _Deflated:
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)  # as zipfile's
    return _Deflated(zlib.crc32(blob), compressor.compress(blob) + compressor.flush())


@dataclass
class _Template:
    reader: PackageReader  # only read once built: every document is unmarshalled from it
    document: DocumentObject  # the template itself, for style names → ids
    deflated: dict[bytes, _Deflated]  # every file of the template's zip, by its bytes
    style_ids: dict[tuple[str, WD_STYLE_TYPE], str | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def part(self, partname: Any, content_type: str, reltype: str, blob: bytes, package: Any) -> Part:
        if content_type == CT.WML_STYLES:
            return _TemplateStyles(partname, content_type, blob, package)
        if content_type == CT.WML_DOCUMENT_MAIN:
            main = _TemplateDocumentPart.load(partname, content_type, blob, package)
            cast(_TemplateDocumentPart, main).template = self
            return cast(Part, main)
        return cast(Part, PartFactory(partname, content_type, reltype, blob, package))

    def style_id(self, name: str, kind: WD_STYLE_TYPE) -> str | None:
        with self.lock:  # the template's XML is read by one thread at a time
            if (name, kind) not in self.style_ids:
                found = self.document.part.get_style_id(name, kind)  # type: ignore[no-untyped-call]
                self.style_ids[name, kind] = cast(str | None, found)
            return self.style_ids[name, kind]


@cache
def _template(set_up: SetUp) -> _Template:
    document = Document()
    set_up(document)
    writer = _ZipWriter({})
    _write(document, writer)
    reader = PackageReader.from_file(BytesIO(writer.close()))  # type: ignore[no-untyped-call]
    return _Template(reader, document, writer.written)


def open_document(set_up: SetUp) -> DocumentObject:
    """A new document: python-docx's default one after ``set_up``, which runs once per process."""
    template = _template(set_up)
    package = Package()
    Unmarshaller.unmarshal(template.reader, package, template.part)  # type: ignore[no-untyped-call]
    return cast(DocumentObject, package.main_document_part.document)


def save_document(document: DocumentObject, set_up: SetUp) -> bytes:
    """The .docx python-docx would save, the files still equal to the template's deflated once."""
    writer = _ZipWriter(_template(set_up).deflated)
    _write(document, writer)
    return writer.close()


def _write(document: DocumentObject, writer: "_ZipWriter") -> None:
    """OpcPackage.save (PackageWriter.write), with this writer in place of python-docx's zipfile one and the
    listings of parts and relationships made once for each list."""
    package = document.part.package
    assert package is not None
    parts = list(package.iter_parts())
    for part in parts:
        part.before_marshal()
    writer.write(CONTENT_TYPES_URI, _content_types(tuple(_Listed(p.partname, p.content_type) for p in parts)))
    writer.write(PACKAGE_URI.rels_uri, _relationships(package.rels))
    for part in parts:
        writer.write(part.partname, part.blob)
        if len(part.rels):
            writer.write(part.partname.rels_uri, _relationships(part.rels))


class _Listed(NamedTuple):
    partname: PackURI
    content_type: str


@lru_cache(maxsize=256)
def _content_types(parts: tuple[_Listed, ...]) -> bytes:
    """[Content_Types].xml, as python-docx makes it from the parts' names and types."""
    return cast(bytes, _ContentTypesItem.from_parts(parts).blob)  # type: ignore[no-untyped-call]


def _relationships(relationships: Relationships) -> bytes:
    listed = tuple((r.rId, r.reltype, r.target_ref, r.is_external) for r in relationships.values())
    return _relationships_xml(listed)


@lru_cache(maxsize=256)
def _relationships_xml(listed: tuple[tuple[str, str, str, bool], ...]) -> bytes:
    """A .rels file, as python-docx's Relationships.xml makes it."""
    element = CT_Relationships.new()
    for relationship in listed:
        element.add_rel(*relationship)
    return cast(bytes, element.xml)


_LOCAL = struct.Struct("<4s2B4HL2L2H")  # APPNOTE 4.3.7, as zipfile writes it
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # 4.3.12
_END = struct.Struct("<4s4H2LH")  # 4.3.16
_VERSION, _UNIX, _DEFLATED, _MODE = 20, 3, 8, 0o600 << 16


class _ZipWriter:
    """The zip python-docx writes through zipfile (deflated, no data descriptors, stamped with the time of
    saving, mode 600), written here so that a file already deflated for the template is not deflated again."""

    def __init__(self, known: dict[bytes, _Deflated]) -> None:
        self._known = known
        self.written: dict[bytes, _Deflated] = {}
        self._out = BytesIO()
        self._central: list[bytes] = []
        now = time.localtime()
        self._time = now.tm_hour << 11 | now.tm_min << 5 | now.tm_sec // 2
        self._date = (now.tm_year - 1980) << 9 | now.tm_mon << 5 | now.tm_mday

    def write(self, pack_uri: Any, blob: bytes) -> None:
        name = cast(str, pack_uri.membername).encode()
        entry = self._known.get(blob) or _deflate(blob)
        self.written[blob] = entry
        common = (_DEFLATED, self._time, self._date, entry.crc, len(entry.data), len(blob), len(name))
        offset = self._out.tell()
        self._out.write(_LOCAL.pack(b"PK\x03\x04", _VERSION, 0, 0, *common, 0) + name)
        self._out.write(entry.data)
        self._central.append(
            _CENTRAL.pack(b"PK\x01\x02", _VERSION, _UNIX, _VERSION, 0, 0, *common, 0, 0, 0, 0, _MODE, offset)
            + name
        )

    def close(self) -> bytes:
        start = self._out.tell()
        self._out.write(b"".join(self._central))
        count, size = len(self._central), self._out.tell() - start
        self._out.write(_END.pack(b"PK\x05\x06", 0, 0, count, count, size, start, 0))
        return self._out.getvalue()

"""Small files that ask for a lot: zip bombs, entity expansion, huge ranges, cell multipliers.

Each builder returns the file's bytes; ``BOMBS`` lists them with a suffix. They are written
to disk only by the campaign or a test and are read through the fenced probe, which reports
the verdict, the time and the peak memory. ``scale`` shrinks the expensive ones for the fast
tests (the verdict must not depend on it).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

__all__ = [
    "BOMBS",
    "billion_laughs_xlsx",
    "cell_range_xlsx",
    "inverted_dims_xls",
    "ods_manifest_bomb",
    "xlsx",
    "zip_bomb_xlsx",
]

HEAD = "任务编码".encode()
STATUS = "完成状态".encode()
_NS = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
_SML = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_OFF = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CT = (
    f'{_DECL}<Types xmlns="{_PKG}/content-types">'
    f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    f'<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_MIME}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_MIME}.worksheet+xml"/></Types>'
).encode()
_RELS = (
    f'{_DECL}<Relationships xmlns="{_PKG}/relationships"><Relationship Id="rId1" '
    f'Type="{_OFF}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
).encode()
_WB = (
    f'{_DECL}<workbook xmlns="{_SML}" xmlns:r="{_OFF}"><sheets>'
    '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
).encode()
_WB_RELS = (
    f'{_DECL}<Relationships xmlns="{_PKG}/relationships"><Relationship Id="rId1" '
    f'Type="{_OFF}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
).encode()


def _header_row() -> bytes:
    return (
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>'
        + HEAD
        + b'</t></is></c><c r="B1" t="inlineStr"><is><t>'
        + STATUS
        + b"</t></is></c></row>"
    )


def xlsx(sheet_xml: bytes | Callable[[zipfile.ZipFile], None], *, dtd_in_workbook: bytes = b"") -> bytes:
    """A minimal .xlsx around ``sheet_xml`` (or a callable writing the sheet part itself)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CT)
        z.writestr("_rels/.rels", _RELS)
        wb = _WB if not dtd_in_workbook else _WB.replace(b"?>\n", b"?>\n" + dtd_in_workbook, 1)
        z.writestr("xl/workbook.xml", wb)
        z.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        if callable(sheet_xml):
            sheet_xml(z)
        else:
            z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return buf.getvalue()


def zip_bomb_xlsx(scale: float = 1.0) -> bytes:
    """sheet1.xml inflating to ~1 GB (×scale) of whitespace; the zip directory tells the truth."""
    size = int((1 << 30) * scale)

    def write(z: zipfile.ZipFile) -> None:
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(b'<?xml version="1.0" encoding="UTF-8"?>' + _NS + b"<sheetData>" + _header_row())
            chunk = b" " * (1 << 20)
            for _ in range(size >> 20):
                f.write(chunk)
            f.write(b"</sheetData></worksheet>")

    return xlsx(write)


def _laughs(levels: int = 9) -> bytes:
    ents = b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1)) * 10) for i in range(1, levels + 1))
    return b'<!DOCTYPE lolz [<!ENTITY lol0 "lol">' + ents + b"]>"


def billion_laughs_xlsx(scale: float = 1.0) -> bytes:
    """Entity expansion ("billion laughs") in the sheet and in the workbook part."""
    sheet = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        + _laughs()
        + _NS
        + b"<sheetData>"
        + _header_row()
        + b'<row r="2"><c r="A2" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
    )
    return xlsx(sheet, dtd_in_workbook=_laughs())


def cell_range_xlsx(scale: float = 1.0) -> bytes:
    """Two cells, A1 and XFD1048576: a 2 KB file whose used range is 17 billion cells."""
    sheet = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        + _NS
        + b"<sheetData>"
        + _header_row()
        + b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
        + b"</sheetData></worksheet>"
    )
    return xlsx(sheet)


def far_cell_xls(scale: float = 1.0) -> bytes:
    """A BIFF8 .xls with a header and one cell at the last row and column (65536 × 256 cells)."""
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("S")
    ws.write(0, 0, "任务编码")
    ws.write(0, 1, "完成状态")
    ws.write(max(2, int(65535 * scale)), 255, "x")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


_MANIFEST = (
    b'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
    b'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry '
    b'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    b"</manifest:manifest>"
)


def _ods(content: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "mimetype", b"application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED
        )
        z.writestr("content.xml", content)
        z.writestr("META-INF/manifest.xml", _MANIFEST)
    return buf.getvalue()


def inverted_dims_xls(scale: float = 1.0) -> bytes:
    """A 5 KB .xls whose DIMENSIONS record says rows 10..5 (first after last): calamine computes the
    range size with an unsigned underflow and asks for petabytes (found by mutating a corpus file)."""
    import struct

    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("S")
    ws.write(0, 0, "任务编码")
    ws.write(0, 1, "完成状态")
    buf = io.BytesIO()
    wb.save(buf)
    data = bytearray(buf.getvalue())
    at = data.find(b"\x00\x02\x0e\x00")  # DIMENSIONS (0x0200), 14 bytes: rows first/last+1, cols, reserved
    struct.pack_into("<IIHH", data, at + 4, 10, 5, 0, 3)
    return bytes(data)


def ods_manifest_bomb(scale: float = 1.0) -> bytes:
    """An .ods whose META-INF/manifest.xml inflates to ~1 GB (×scale)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "mimetype", b"application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED
        )
        with z.open("META-INF/manifest.xml", "w", force_zip64=True) as f:
            chunk = b" " * (1 << 20)
            for _ in range(int(1024 * scale)):
                f.write(chunk)
        z.writestr("content.xml", b"<x/>")
    return buf.getvalue()


def ods_repeat_bomb(scale: float = 1.0) -> bytes:
    """content.xml asking for a cell repeated 16384 columns × 1048575 rows."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body>'
        '<office:spreadsheet><table:table table:name="S"><table:table-row>'
        '<table:table-cell office:value-type="string"><text:p>任务编码</text:p></table:table-cell>'
        '<table:table-cell office:value-type="string"><text:p>完成状态</text:p></table:table-cell>'
        "</table:table-row>"
        '<table:table-row table:number-rows-repeated="1048575"><table:table-cell '
        'table:number-columns-repeated="16384" office:value-type="string"><text:p>x</text:p>'
        "</table:table-cell>"
        "</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"
    ).encode()
    return _ods(content)


def html_colspan_bomb(scale: float = 1.0) -> bytes:
    """An HTML table "xls" of ~2 MB (×scale) made of ``<td colspan="999">`` cells."""
    cell = b'<td colspan="999">x</td>'
    n = int(2_000_000 * scale) // len(cell)
    return (
        b"<html><table><tr><td>"
        + HEAD
        + b"</td><td>"
        + STATUS
        + b"</td></tr><tr>"
        + cell * n
        + b"</tr></table></html>"
    )


def csv_lines_bomb(scale: float = 1.0) -> bytes:
    """A CSV of ~19 MB (×scale), under the 20 MB size limit, that is nothing but line breaks."""
    return "任务编码,完成状态\n".encode() + b"\n" * int(19_000_000 * scale)


def laughs_ods(scale: float = 1.0) -> bytes:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>' + _laughs() + b"<office:document-content "
        b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>'
        b'<table:table table:name="S"><table:table-row><table:table-cell office:value-type="string"><text:p>'
        b"&lol9;</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body>"
        b"</office:document-content>"
    )
    return _ods(body)


def laughs_html(scale: float = 1.0) -> bytes:
    return _laughs() + b"<html><table><tr><td>" + HEAD + b"</td><td>&lol9;</td></tr></table></html>"


#: name → (builder, suffix). Every one must end read or rejected, within the memory bound.
BOMBS: dict[str, tuple[Callable[[float], bytes], str]] = {
    "xlsx zip bomb (1 GB sheet)": (zip_bomb_xlsx, ".xlsx"),
    "xlsx billion laughs": (billion_laughs_xlsx, ".xlsx"),
    "ods billion laughs": (laughs_ods, ".ods"),
    "html billion laughs": (laughs_html, ".xls"),
    "ods repeated-cell bomb": (ods_repeat_bomb, ".ods"),
    "xlsx cell-range bomb (A1 + XFD1048576)": (cell_range_xlsx, ".xlsx"),
    "xls far cell (row 65536, col 256)": (far_cell_xls, ".xls"),
    "xls inverted DIMENSIONS record (rows 10..5)": (inverted_dims_xls, ".xls"),
    "ods zip bomb in manifest.xml (1 GB)": (ods_manifest_bomb, ".ods"),
    "html colspan multiplier (2 MB)": (html_colspan_bomb, ".xls"),
    "csv of 19 MB line breaks": (csv_lines_bomb, ".csv"),
}

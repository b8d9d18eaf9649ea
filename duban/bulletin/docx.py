"""The bulletin as a Word document in the official layout (GB/T 9704-2012).

Everything is carried by named paragraph styles (公文标题, 公文正文, 一级标题, 二级标题, 附件标题 …)
rather than direct formatting, so the office can restyle or edit the document in Word or WPS.
Layout figures: A4, top 37 mm, left 28 mm, text block 156 × 225 mm, 22 lines of 28 characters
(fixed 28.9 pt spacing), page numbers "— N —" in 4号 宋体, right on odd pages, left on even.
The conventional font names are set as East Asian fonts; machines without them substitute.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.styles.style import ParagraphStyle
from docx.text.paragraph import Paragraph as DocxParagraph
from PIL import Image as PILImage

from duban.bulletin import wordml
from duban.bulletin.model import Attachment, Block, Bulletin, Figure, Paragraph, Style, Table
from duban.bulletin.wordml import xml_text

__all__ = [
    "FONT_BODY",
    "FONT_H1",
    "FONT_H2",
    "FONT_PAGE",
    "FONT_TITLE",
    "LINE_PITCH",
    "STYLE_NAMES",
    "render_docx",
]

FONT_TITLE = "方正小标宋简体"
FONT_BODY = "仿宋_GB2312"
FONT_H1 = "黑体"
FONT_H2 = "楷体_GB2312"
FONT_PAGE = "宋体"
#: 225 mm text block ÷ 22 lines ≈ 28.9 pt, the fixed spacing used in practice.
LINE_PITCH = Pt(28.9)
_TWO_CHARS = Pt(32)  # first-line indent: two 3号 characters
_MAX_FIGURE_MM = 165  # leaves room for the 附件 label, title and caption on the same page

#: The model's paragraph roles → the Word style that lays them out.
STYLE_NAMES: dict[Style, str] = {
    Style.TITLE: "公文标题",
    Style.ADDRESSEE: "主送机关",
    Style.HEADING1: "一级标题",
    Style.HEADING2: "二级标题",
    Style.BODY: "公文正文",
    Style.ATTACHMENT_LIST: "附件说明",
    Style.ATTACHMENT_LIST_CONT: "附件说明续行",
    Style.SIGNATURE: "发文机关署名",
    Style.DATE: "成文日期",
    Style.NOTE: "附注",
    Style.ATTACHMENT_LABEL: "附件标题",
    Style.ATTACHMENT_TITLE: "附件名称",
}


def _set_fonts(style: ParagraphStyle, name: str, size: Pt) -> None:
    style.font.name = name  # ascii / hAnsi
    style.font.size = size
    rpr = style.element.get_or_add_rPr()
    rpr.get_or_add_rFonts().set(qn("w:eastAsia"), name)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:eastAsia"), "zh-CN")


def _outline(style: ParagraphStyle, level: int) -> None:
    """Outline level, so 一、/（一） headings show in Word's and WPS's navigation pane."""
    ppr = style.element.get_or_add_pPr()
    el = OxmlElement("w:outlineLvl")
    el.set(qn("w:val"), str(level))
    ppr.append(el)


def _style(
    doc: DocxDocument,
    name: str,
    font: str,
    size: Pt,
    *,
    align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.JUSTIFY,
    indent: Pt | None = _TWO_CHARS,
    exact: bool = True,
) -> ParagraphStyle:
    st = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    st.base_style = doc.styles["Normal"]
    st.quick_style = True
    _set_fonts(st, font, size)
    pf = st.paragraph_format
    pf.alignment = align
    pf.first_line_indent = indent if indent is not None else Pt(0)
    pf.space_before = Pt(0)
    pf.space_after = Pt(0)
    if exact:
        pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        pf.line_spacing = LINE_PITCH
    else:
        pf.line_spacing_rule = WD_LINE_SPACING.SINGLE
    pf.widow_control = True
    return st


def _define_styles(doc: DocxDocument) -> None:
    normal = doc.styles["Normal"]
    _set_fonts(normal, FONT_BODY, Pt(16))  # type: ignore[arg-type]
    center, left, right = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.LEFT, WD_ALIGN_PARAGRAPH.RIGHT
    title = _style(doc, "公文标题", FONT_TITLE, Pt(22), align=center, indent=None)
    title.paragraph_format.space_after = LINE_PITCH  # 主送机关 one line below the title
    _style(doc, "公文正文", FONT_BODY, Pt(16))
    _style(doc, "主送机关", FONT_BODY, Pt(16), align=left, indent=None)
    for name, font, level in (("一级标题", FONT_H1, 0), ("二级标题", FONT_H2, 1)):
        st = _style(doc, name, font, Pt(16))
        st.paragraph_format.keep_with_next = True
        _outline(st, level)
    _style(doc, "附件说明", FONT_BODY, Pt(16)).paragraph_format.space_before = LINE_PITCH
    cont = _style(doc, "附件说明续行", FONT_BODY, Pt(16), indent=None)
    cont.paragraph_format.left_indent = Pt(16 * 5)  # under the name after "附件："
    sig = _style(doc, "发文机关署名", FONT_BODY, Pt(16), align=right, indent=None)
    sig.paragraph_format.space_before = Pt(28.9 * 2)
    sig.paragraph_format.right_indent = Pt(16 * 4)
    dated = _style(doc, "成文日期", FONT_BODY, Pt(16), align=right, indent=None)
    dated.paragraph_format.right_indent = Pt(16 * 4)  # four characters in from the right
    _style(doc, "附注", FONT_BODY, Pt(16))
    label = _style(doc, "附件标题", FONT_H1, Pt(16), align=left, indent=None)
    label.paragraph_format.page_break_before = True  # each 附件 starts a new page
    label.paragraph_format.keep_with_next = True
    name = _style(doc, "附件名称", FONT_TITLE, Pt(22), align=center, indent=None)
    name.paragraph_format.space_before = LINE_PITCH
    name.paragraph_format.space_after = LINE_PITCH
    name.paragraph_format.keep_with_next = True
    _style(doc, "表格文字", FONT_BODY, Pt(10.5), align=center, indent=None, exact=False)  # 五号
    _style(doc, "表头", FONT_H1, Pt(10.5), align=center, indent=None, exact=False)
    _style(doc, "图片", FONT_BODY, Pt(16), align=center, indent=None, exact=False)
    _style(doc, "图题", FONT_H2, Pt(14), align=center, indent=None, exact=False)
    _style(doc, "页码", FONT_PAGE, Pt(14), align=right, indent=None, exact=False)


def _page_setup(doc: DocxDocument) -> None:
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    sec.top_margin, sec.bottom_margin = Mm(37), Mm(35)
    sec.left_margin, sec.right_margin = Mm(28), Mm(26)
    sec.header_distance = Mm(15)
    sec.footer_distance = Mm(28)  # puts "— N —" about 7 mm below the text block
    # The 22-line rhythm comes from the styles' exact spacing; a snapping document grid would
    # also stretch the 22 pt title and the 12 pt table rows to whole grid lines in LibreOffice.
    grid = sec._sectPr.find(qn("w:docGrid"))
    if grid is not None:
        grid.attrib.pop(qn("w:type"), None)
        grid.set(qn("w:linePitch"), str(round(LINE_PITCH.pt * 20)))
    doc.settings.odd_and_even_pages_header_footer = True
    for footer, align, side in (
        (sec.footer, WD_ALIGN_PARAGRAPH.RIGHT, "right"),
        (sec.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT, "left"),
    ):
        footer.is_linked_to_previous = False
        par = footer.paragraphs[0]
        par.style = doc.styles["页码"]
        par.alignment = align
        if side == "right":
            par.paragraph_format.right_indent = Pt(14)
        else:
            par.paragraph_format.left_indent = Pt(14)
        _page_field(par)


_xml_text = xml_text


def _page_field(par: DocxParagraph) -> None:
    """``— PAGE —`` as a real field, so Word, WPS and LibreOffice number the pages."""
    par.add_run("— ")
    parts = (("begin", None), ("instr", " PAGE "), ("separate", None), ("text", "1"), ("end", None))
    for kind, text in parts:
        run = par.add_run()
        if kind == "instr":
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = text
            run._r.append(el)
        elif kind == "text":
            run.text = text or ""
        else:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
            run._r.append(el)
    par.add_run(" —")


def _repeat_header(row_el: object) -> None:
    tr = row_el._tr  # type: ignore[attr-defined]
    trpr = tr.get_or_add_trPr()
    el = OxmlElement("w:tblHeader")
    el.set(qn("w:val"), "true")
    trpr.append(el)


class _Body:
    """Appends blocks to the document: paragraphs and table rows as WordprocessingML text
    (see ``wordml``), parsed a batch at a time; tables and figures through python-docx."""

    def __init__(self, doc: DocxDocument, charts: dict[str, Path]) -> None:
        self.doc, self.charts = doc, charts
        self.style_ids = {
            name: doc.styles[name].style_id for name in (*STYLE_NAMES.values(), "表头", "表格文字")
        }
        self.pending: list[str] = []

    def flush(self) -> None:
        wordml.append_blocks(self.doc.element.body, "".join(self.pending))
        self.pending.clear()

    def paragraph(self, p: Paragraph) -> None:
        style = self.style_ids[STYLE_NAMES[p.style]]
        self.pending.append(wordml.paragraph(style, ((r.text, r.bold) for r in p.runs)))

    def blocks(self, blocks: tuple[Block, ...]) -> None:
        for b in blocks:
            if isinstance(b, Paragraph):
                self.paragraph(b)
            elif isinstance(b, Table):
                self.flush()
                self.table(b)
            else:
                self.flush()
                self.figure(b)

    def table(self, t: Table) -> None:
        doc = self.doc
        table = doc.add_table(rows=1, cols=len(t.columns))
        table.style = doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False  # fixed layout: the column widths below are kept
        for column, col in zip(table.columns, t.columns, strict=True):
            column.width = Mm(col.width_mm)
        tblw = table._tbl.tblPr.find(qn("w:tblW"))
        if tblw is None:
            tblw = OxmlElement("w:tblW")
            table._tbl.tblPr.append(tblw)
        tblw.set(qn("w:type"), "dxa")
        tblw.set(qn("w:w"), str(round(sum(c.width_mm for c in t.columns) / 25.4 * 1440)))
        _repeat_header(table.rows[0])
        for cell, col in zip(table.rows[0].cells, t.columns, strict=True):
            cell.width = Mm(col.width_mm)
            cell.paragraphs[0]._p.style = self.style_ids["表头"]
            cell.paragraphs[0].add_run(col.name)
        fragment = wordml.rows(
            t.text_rows(),
            [Mm(col.width_mm).twips for col in t.columns],
            self.style_ids["表格文字"],
            left=[col.kind == "text" and col.width_mm >= 24 for col in t.columns],
            bold_rows=frozenset(t.bold_rows),
        )
        table._tbl.extend(wordml.parse(fragment))

    def figure(self, f: Figure) -> None:
        path = self.charts.get(f.key)
        if path is None or not Path(path).is_file():
            return
        with PILImage.open(path) as im:
            ratio = im.height / im.width
        # Full text-block width, unless that is taller than most of a page (many units).
        size = {"width": Mm(150)} if 150 * ratio <= _MAX_FIGURE_MM else {"height": Mm(_MAX_FIGURE_MM)}
        doc = self.doc
        doc.add_paragraph(style=doc.styles["图片"]).add_run().add_picture(str(path), **size)
        doc.add_paragraph(_xml_text(f.caption), style=doc.styles["图题"])

    def attachment(self, a: Attachment) -> None:
        self.paragraph(Paragraph.of(a.label, Style.ATTACHMENT_LABEL))
        self.paragraph(Paragraph.of(a.title, Style.ATTACHMENT_TITLE))
        self.blocks(a.blocks)


def render_docx(b: Bulletin, path: Path, charts: dict[str, Path] | None = None) -> Path:
    """Write the bulletin to ``path`` (.docx) and return it; charts are embedded when given."""
    doc = Document()
    _define_styles(doc)
    _page_setup(doc)
    # python-docx's template starts with no paragraph; body blocks are appended in order.
    body = _Body(doc, charts or {})
    body.blocks(b.body)
    for a in b.attachments:
        body.attachment(a)
    body.flush()
    props = doc.core_properties
    props.title = _xml_text(b.title)
    props.author = b.office_name
    props.subject = f"{b.period_label}通报"
    props.language = "zh-CN"
    stamp = datetime.combine(b.issued_on, time(9, 0))
    props.created = props.modified = stamp
    props.last_modified_by = b.office_name
    props.revision = 1
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path

"""The bulletin as a PDF (A4, portrait) with reportlab's platypus: the same content as the
HTML page. Text is set in DejaVu Sans, the font matplotlib ships (embedded as a subset), so
every language's letters print (French, Wolof ŋ, Twi ɛ ɔ, the narrow no-break space of French
percentages) and the charts and the text share one face."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from sowcast.bulletin.document import Bulletin

FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
ACCENT = "#2b8cbe"


def _register_fonts() -> None:
    import matplotlib
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(folder / "DejaVuSans-Bold.ttf")))
    for bold, italic, name in ((0, 0, FONT), (1, 0, BOLD), (0, 1, FONT), (1, 1, BOLD)):
        addMapping(FONT, bold, italic, name)


def _styles():
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12, spaceAfter=4)
    return {
        "body": base,
        "title": ParagraphStyle("title", base, fontName=BOLD, fontSize=18, leading=22, spaceAfter=4),
        "issued": ParagraphStyle("issued", base, fontSize=11, leading=14, spaceAfter=1),
        "valid": ParagraphStyle("valid", base, textColor=colors.HexColor("#444444"), spaceAfter=8),
        "h2": ParagraphStyle("h2", base, fontName=BOLD, fontSize=12.5, leading=16, spaceBefore=10, spaceAfter=5,
                             textColor=colors.HexColor("#0b4f7a"), keepWithNext=1),
        "headline": ParagraphStyle("headline", base, fontSize=10, leading=13.5, leftIndent=8, bulletIndent=0,
                                   bulletFontName=FONT),
        "caption": ParagraphStyle("caption", base, fontSize=7.8, leading=10, textColor=colors.HexColor("#333333")),
        "cell": ParagraphStyle("cell", base, fontSize=7, leading=8.6, spaceAfter=0),
        "cell_head": ParagraphStyle("cell_head", base, fontName=BOLD, fontSize=7, leading=8.6, spaceAfter=0),
        "cell_num": ParagraphStyle("cell_num", base, fontSize=7, leading=8.6, spaceAfter=0, alignment=2),
    }


def _esc(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(str(text))


def _image(png: bytes, width: float):
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image

    w, h = ImageReader(io.BytesIO(png)).getSize()
    return Image(io.BytesIO(png), width=width, height=width * h / w)


def _figure_rows(figures, width: float, columns: int = 2) -> list:
    """Figures side by side, ``columns`` to a row; one flowable per row, so a page can end
    between rows."""
    from reportlab.platypus import Table, TableStyle

    gap = 6
    cell = (width - gap * (columns - 1)) / columns
    style = TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                        ("TOPPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                        ("VALIGN", (0, 0), (-1, -1), "TOP")])
    rows = []
    for i in range(0, len(figures), columns):
        cells = [_image(f.png, cell) for f in figures[i:i + columns]]
        cells += [""] * (columns - len(cells))
        table = Table([cells], colWidths=[cell + (gap if j < columns - 1 else 0) for j in range(columns)])
        table.setStyle(style)
        rows.append(table)
    return rows


def _location_table(b: Bulletin, st, width: float):
    from reportlab.lib import colors
    from reportlab.lib.units import cm
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import Paragraph, Table, TableStyle

    weeks = len(b.week_columns)
    head, group = st["cell_head"], b.table_group
    P = Paragraph
    row0 = [P(_esc(b.table_header[0]), head), P(_esc(group), head), *[""] * (weeks - 1),
            *[P(_esc(h), head) for h in b.table_header[1 + weeks:]]]
    row1 = ["", *[P(_esc(h), head) for h in b.table_header[1:1 + weeks]], *[""] * (len(b.table_header) - 1 - weeks)]
    body = [[P(_esc(r[0]), head), *[P(_esc(v), st["cell_num"]) for v in r[1:-2]], P(_esc(r[-2]), st["cell"]),
             P(_esc(r[-1]), st["cell"])] for r in b.table_rows]
    # number columns as wide as their widest number (a break at the no-break space of
    # "100 %" would put the % sign on its own line)
    number = max([stringWidth(v, FONT, st["cell_num"].fontSize) for r in b.table_rows for v in r[1:-2]] or [0])
    fixed = [2.4 * cm, *[max(0.9 * cm, number + 7)] * weeks, *[max(1.75 * cm, number + 7)] * 2, 2.1 * cm]
    widths = [*fixed, max(width - sum(fixed), 3 * cm)]
    table = Table([row0, row1, *body], colWidths=widths, repeatRows=2)
    n = len(b.table_header)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), FONT), ("SPAN", (0, 0), (0, 1)), ("SPAN", (1, 0), (weeks, 0)),
        *[("SPAN", (c, 0), (c, 1)) for c in range(weeks + 1, n)],
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
        ("BACKGROUND", (0, 0), (-1, 1), colors.HexColor("#e8eef3")),
        ("ROWBACKGROUNDS", (0, 2), (-1, -1), [colors.white, colors.HexColor("#f6f9fb")]),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]))
    return table


def render_pdf(b: Bulletin, path: str | os.PathLike, agency: str = "") -> int:
    """Write the PDF to ``path``; returns its number of pages."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    _register_fonts()
    st = _styles()
    margin = 1.5 * cm
    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=margin, rightMargin=margin, topMargin=margin,
                            bottomMargin=1.8 * cm, title=f"{b.title}: {b.issued}", author=agency,
                            subject=b.valid, creator="sowcast", lang=b.locale, invariant=1,
                            initialFontName=FONT, initialFontSize=9)
    width = doc.width
    s = b.sections
    story = [Paragraph(_esc(b.title), st["title"]), Paragraph(_esc(b.issued), st["issued"]),
             Paragraph(_esc(b.valid), st["valid"])]

    lines = [Paragraph(_esc(line), st["headline"], bulletText="•") for line in b.headline]
    box = Table([[lines]], colWidths=[width])
    box.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT), ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#eef6fb")),
                             ("LINEBEFORE", (0, 0), (0, -1), 4, colors.HexColor(ACCENT)),
                             ("LEFTPADDING", (0, 0), (-1, -1), 8), ("TOPPADDING", (0, 0), (-1, -1), 5)]))
    story += [Paragraph(_esc(s["headline"]), st["h2"]), box]

    for key, figures, text in (("onset", b.onset_maps, b.onset_text), ("rain", b.rain_maps, b.rain_text)):
        story.append(Paragraph(_esc(s[key]), st["h2"]))  # kept with the first row of maps
        if figures:
            story.extend(_figure_rows(figures, width))
        story.append(Paragraph(_esc(text), st["caption"]))

    story += [Paragraph(_esc(s["table"]), st["h2"]), _location_table(b, st, width), Spacer(1, 3),
              Paragraph(_esc(b.table_caption), st["caption"])]
    if b.chart is not None:
        story.append(KeepTogether([Paragraph(_esc(s["chart"]), st["h2"]), _image(b.chart.png, width),
                                   Paragraph(_esc(b.chart_caption), st["caption"])]))
    story += [Paragraph(_esc(s["method"]), st["h2"]), *[Paragraph(_esc(p), st["body"]) for p in b.method]]
    prov = Table([[Paragraph(_esc(k), st["cell_head"]), Paragraph(_esc(v), st["cell"])] for k, v in b.provenance],
                 colWidths=[4.2 * cm, width - 4.2 * cm])
    prov.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [KeepTogether([Paragraph(_esc(s["provenance"]), st["h2"]), prov])]

    def footer(canvas, document):
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(margin, 1.0 * cm, b.footer)
        canvas.drawRightString(A4[0] - margin, 1.0 * cm, b.page_label.format(page=document.page))
        canvas.setStrokeColor(colors.HexColor(ACCENT))
        canvas.setLineWidth(2)
        canvas.line(margin, A4[1] - 1.0 * cm, A4[0] - margin, A4[1] - 1.0 * cm)
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return count_pages(Path(path).read_bytes())


def count_pages(data: bytes) -> int:
    """Pages of a PDF: its ``/Type /Page`` objects (not ``/Pages``)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))

"""The bulletin as one self-contained HTML page: the style sheet inline, the figures as
``data:image/png;base64`` URIs, links only to anchors of the page. Nothing is fetched when it
is opened, so it can be mailed, put on a USB stick or served offline. URLs inside texts (a
rules citation) are written with character references (``&#58;&#47;&#47;``): they read the
same but are not references a browser or a checker would follow."""

from __future__ import annotations

import base64
import html

from sowcast.bulletin.document import SECTIONS, Bulletin

STYLE = """
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #1a1a1a;
       max-width: 62rem; margin: 0 auto; padding: 1rem 1.2rem 3rem; line-height: 1.45; }
header { border-bottom: 4px solid #2b8cbe; margin-bottom: 1rem; }
h1 { font-size: 1.7rem; margin: 0.2rem 0; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
.issued { font-size: 1.05rem; margin: 0.2rem 0; }
.valid { color: #444; margin: 0 0 0.6rem; }
nav ol { columns: 2; font-size: 0.95rem; }
.headline { background: #eef6fb; border-left: 6px solid #2b8cbe; padding: 0.6rem 1rem; font-size: 1.05rem; }
.headline li { margin: 0.3rem 0; }
.maps { display: grid; grid-template-columns: repeat(auto-fit, minmax(26rem, 1fr)); gap: 0.8rem; }
figure { margin: 0; }
figure img { width: 100%; height: auto; border: 1px solid #ddd; }
figcaption, .caption { font-size: 0.88rem; color: #333; margin-top: 0.3rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.86rem; }
th, td { border: 1px solid #bbb; padding: 0.25rem 0.35rem; vertical-align: top; }
th { background: #e8eef3; }
td.num { text-align: right; white-space: nowrap; }
td.advice { min-width: 14rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; font-size: 0.9rem; }
dt { font-weight: bold; }
dd { margin: 0; overflow-wrap: anywhere; }
footer { margin-top: 2rem; font-size: 0.8rem; color: #555; border-top: 1px solid #ccc; }
@media print { nav { display: none; } h2 { break-after: avoid; } figure, tr { break-inside: avoid; } }
"""


def _text(value: str) -> str:
    """Escaped text with any ``://`` written as character references."""
    return html.escape(str(value)).replace("://", "&#58;&#47;&#47;")


def _img(png: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{_text(alt)}">'


def _figures(figures, caption: str) -> str:
    if not figures:
        return f'<p class="caption">{_text(caption)}</p>'
    items = "".join(f"<figure>{_img(f.png, f.title)}</figure>" for f in figures)
    return f'<div class="maps">{items}</div><p class="caption">{_text(caption)}</p>'


def render_html(b: Bulletin) -> str:
    """The page, as text (UTF-8 when written)."""
    s = b.sections
    nav = "".join(f'<li><a href="#{k}">{_text(s[k])}</a></li>' for k in SECTIONS)
    weeks = len(b.week_columns)
    head_cells = [f"<th rowspan=\"2\">{_text(b.table_header[0])}</th>",
                  f'<th colspan="{weeks}">{_text(b.table_group)}</th>',
                  *[f'<th rowspan="2">{_text(h)}</th>' for h in b.table_header[1 + weeks:]]]
    week_cells = "".join(f"<th>{_text(h)}</th>" for h in b.table_header[1:1 + weeks])
    body_rows = []
    for row in b.table_rows:
        cells = [f"<th scope=\"row\">{_text(row[0])}</th>"]
        cells += [f'<td class="num">{_text(v)}</td>' for v in row[1:-2]]
        cells += [f"<td>{_text(row[-2])}</td>", f'<td class="advice">{_text(row[-1])}</td>']
        body_rows.append(f"<tr>{''.join(cells)}</tr>")
    chart = (f"<figure>{_img(b.chart.png, b.chart.title)}<figcaption>{_text(b.chart_caption)}</figcaption></figure>"
             if b.chart else "")
    provenance = "".join(f"<dt>{_text(k)}</dt><dd>{_text(v)}</dd>" for k, v in b.provenance)
    return f"""<!DOCTYPE html>
<html lang="{_text(b.locale)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_text(b.title)}: {_text(b.issued)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>{_text(b.title)}</h1>
<p class="issued">{_text(b.issued)}</p>
<p class="valid">{_text(b.valid)}</p>
</header>
<nav aria-label="{_text(s['contents'])}"><strong>{_text(s['contents'])}</strong><ol>{nav}</ol></nav>
<section id="headline"><h2>{_text(s['headline'])}</h2>
<ul class="headline">{''.join(f'<li>{_text(line)}</li>' for line in b.headline)}</ul></section>
<section id="onset"><h2>{_text(s['onset'])}</h2>{_figures(b.onset_maps, b.onset_text)}</section>
<section id="rain"><h2>{_text(s['rain'])}</h2>{_figures(b.rain_maps, b.rain_text)}</section>
<section id="table"><h2>{_text(s['table'])}</h2>
<table><thead><tr>{''.join(head_cells)}</tr><tr>{week_cells}</tr></thead>
<tbody>{''.join(body_rows)}</tbody></table>
<p class="caption">{_text(b.table_caption)}</p></section>
<section id="chart"><h2>{_text(s['chart'])}</h2>{chart}</section>
<section id="method"><h2>{_text(s['method'])}</h2>{''.join(f'<p>{_text(p)}</p>' for p in b.method)}</section>
<section id="provenance"><h2>{_text(s['provenance'])}</h2><dl>{provenance}</dl></section>
<footer><p>{_text(b.footer)}</p></footer>
</body>
</html>
"""

"""HTML building blocks of the report: escaping, number formatting, tables, images, the CSS.

Every function that puts text into the page escapes it here, so user-supplied strings (class
names, titles, JSON contents) never reach the page as markup. Cells and tables are plain
strings, which keeps the page a single self-contained document without a template engine.
"""

from __future__ import annotations

import base64
import html
import math
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;
padding:1em 2em;color:#222;line-height:1.4}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
nav a{margin-right:1em}
table{border-collapse:collapse;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#777}.ok{color:#1a7f37;font-weight:bold}.bad{color:#c62828;font-weight:bold}
.warn{color:#a15c00;font-weight:bold}
img{max-width:100%;height:auto;border:1px solid #eee}
pre{background:#f7f7f7;padding:.4em;white-space:pre-wrap;margin:0}
.verdict{background:#f6f8fa;border:1px solid #d0d7de;border-left:6px solid #0969da;border-radius:6px;
padding:.4em 1.2em;margin:1em 0 1.2em;font-size:1.08em}
.verdict p{margin:.6em 0}
table.facts th{width:22em;font-weight:normal;color:#444}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px;font-size:.92em}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Optional[float]) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if float(value).is_integer() and abs(value) > 1:  # counts; 1.0 stays a rate ("1.0000")
        return str(int(value))
    return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.6g}"


def is_finite_number(value: Any) -> bool:
    """A real int or float (not a bool) that is neither NaN nor infinite: a figure worth printing."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def num_cell(value: Optional[float]) -> str:
    return f'<td class="num">{esc(fmt(value))}</td>'


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table; `header` is plain text (escaped here), `rows` are ready-made `<td>` cells."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def key_value_table(items: Iterable[Tuple[Any, Any]], header: Sequence[str] = ("", "")) -> str:
    """Keys (escaped) as row headers, values through `value_html`."""
    return table(header, ([f"<th>{esc(k)}</th>", f"<td>{value_html(v)}</td>"] for k, v in items))


def value_html(value: Any) -> str:
    """Any JSON-like value as escaped HTML: lists as bullet lists, dicts as small tables."""
    if isinstance(value, float):
        return esc(fmt(value))
    if isinstance(value, (list, tuple)):
        if not value:
            return '<span class="muted">(none)</span>'
        return "<ul>" + "".join(f"<li>{value_html(v)}</li>" for v in value) + "</ul>"
    if isinstance(value, Mapping):
        return table(["key", "value"], ([f"<td>{esc(k)}</td>", f"<td>{value_html(v)}</td>"]
                                         for k, v in value.items()))
    if value is None:
        return '<span class="muted">none</span>'
    text = str(value)
    return f"<pre>{esc(text)}</pre>" if "\n" in text else esc(text)


def img(png: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{esc(alt)}">'

"""The bulletin as one self-contained HTML page: for the Prefect artifact, e-mail and print.

Same blocks as the docx, laid out by ``templates/bulletin/bulletin.html.j2`` (autoescaped:
unit narratives are untrusted text). Charts are embedded as ``data:`` URIs so the page has no
external references and survives being mailed or attached.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from duban.bulletin.model import Block, Bulletin, Figure, Paragraph, Table
from duban.settings import REPO_ROOT

__all__ = ["TEMPLATE_DIR", "render_html"]

TEMPLATE_DIR = REPO_ROOT / "templates" / "bulletin"


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _view(blocks: tuple[Block, ...], charts: dict[str, Path]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for b in blocks:
        if isinstance(b, Paragraph):
            out.append({"kind": "p", "style": str(b.style), "runs": [(r.text, r.bold) for r in b.runs]})
        elif isinstance(b, Table):
            out.append(
                {
                    "kind": "table",
                    "header": b.header,
                    "rows": b.text_rows(),
                    "bold": set(b.bold_rows),
                    "text_cols": [c.kind == "text" and c.width_mm >= 24 for c in b.columns],
                }
            )
        elif isinstance(b, Figure) and b.key in charts and Path(charts[b.key]).is_file():
            out.append({"kind": "figure", "src": _data_uri(charts[b.key]), "caption": b.caption})
    return out


def render_html(b: Bulletin, charts: dict[str, Path] | None = None) -> str:
    """The bulletin as an HTML string (UTF-8, mobile-friendly, printable on A4)."""
    charts = charts or {}
    attachments = [
        {"key": a.key, "label": a.label, "title": a.title, "blocks": _view(a.blocks, charts)}
        for a in b.attachments
    ]
    return (
        _env()
        .get_template("bulletin.html.j2")
        .render(title=b.title, body=_view(b.body, charts), attachments=attachments)
    )

"""The bulletin's charts: status per part, and each unit's on-time rate.

Chinese labels need a CJK font; system fonts differ from machine to machine, so the charts
use Noto Sans CJK SC shipped inside the ``mplfonts`` wheel (works offline, no missing-glyph
boxes). Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no display, no
global backend switch), and the font is applied through ``rc_context`` so other matplotlib
users in the process are untouched.
"""

from __future__ import annotations

import logging
import textwrap
from functools import lru_cache
from pathlib import Path

from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from duban.bulletin.metrics import STATUS_ORDER, Metrics

__all__ = ["CHART_FILES", "STATUS_COLOURS", "cjk_font", "render_charts"]

log = logging.getLogger(__name__)

#: Chart key → file name suffix (the period key is prepended).
CHART_FILES = {"status_by_part": "各部分任务状态.png", "unit_timeliness": "单位按时报送率.png"}
STATUS_COLOURS = {
    "已完成": "#2e7d32",
    "推进中": "#1565c0",
    "滞后": "#c62828",
    "暂停": "#ef6c00",
    "未启动": "#9e9e9e",
    "未报送": "#5d4037",
}
_PREFERRED = ("NotoSansCJKsc-Regular.otf", "NotoSansCJK-Regular.ttc", "SourceHanSansSC-Regular.otf")


def _candidates() -> list[Path]:
    found: list[Path] = []
    try:
        import mplfonts

        found += sorted(Path(mplfonts.__file__).parent.glob("fonts/*"))
    except ImportError:  # pragma: no cover - mplfonts is a dependency
        log.warning("mplfonts is not installed; looking for a system CJK font instead")
    found += [Path(p) for p in font_manager.findSystemFonts() if "CJK" in Path(p).name]
    return found


def _register_first(path: Path) -> None:
    """Add the font and put it ahead of system fonts of the same family name.

    A system may also have "Noto Sans CJK SC" (another version, a .ttc); matplotlib picks the
    first of equally good matches, so moving the bundled file first makes charts look the
    same on every machine.
    """
    fm = font_manager.fontManager
    before = len(fm.ttflist)
    fm.addfont(str(path))  # also clears matplotlib's findfont cache
    added = fm.ttflist[before:]
    del fm.ttflist[before:]
    fm.ttflist[:0] = added


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Register the bundled Noto Sans CJK SC with matplotlib and return its family name."""
    files = _candidates()
    for wanted in _PREFERRED:
        for f in files:
            if f.name == wanted:
                _register_first(f)
                name = font_manager.FontProperties(fname=str(f)).get_name()
                log.debug("charts use CJK font %s from %s", name, f)
                return name
    log.warning("No CJK font found (install mplfonts); chart labels may show missing-glyph boxes")
    return None


def _rc() -> dict[str, object]:
    name = cjk_font()
    rc: dict[str, object] = {"axes.unicode_minus": False, "svg.fonttype": "none"}
    if name:
        rc["font.family"] = "sans-serif"
        rc["font.sans-serif"] = [name, "DejaVu Sans"]
    return rc


def _wrap(text: str, width: int = 14) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


MAX_CHART_UNITS = 40


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=150, bbox_inches="tight", metadata={"Software": None})
    return path


def _status_by_part(m: Metrics, path: Path) -> Path:
    groups = m.by_part
    labels = [_wrap(f"{g.key}、{g.title}") for g in groups]
    fig = Figure(figsize=(7.5, 0.9 + 0.75 * max(len(groups), 1)))
    ax = fig.add_subplot()
    left = [0] * len(groups)
    for status in STATUS_ORDER:
        values = [g.counts.counts[status] for g in groups]
        if not any(values):
            continue
        bars = ax.barh(labels, values, left=left, color=STATUS_COLOURS[status], label=status)
        ax.bar_label(
            bars, labels=[str(v) if v else "" for v in values], label_type="center", color="white", fontsize=9
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("任务数（项）")
    ax.set_title(f"{m.period_label}各部分任务状态（以牵头单位报送为准）", fontsize=11, pad=26)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=6, frameon=False, fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path)


def _unit_timeliness(m: Metrics, path: Path) -> Path:
    units = sorted(m.units, key=lambda u: (u.timeliness, u.unit))
    shown = f"（全部单位 {m.timeliness * 100:.1f}%）"
    if len(units) > MAX_CHART_UNITS:
        units = units[:MAX_CHART_UNITS]
        shown = f"（全部单位 {m.timeliness * 100:.1f}%，图示最低的{MAX_CHART_UNITS}个单位）"
    fig = Figure(figsize=(7.5, 1.0 + 0.28 * max(len(units), 1)))
    ax = fig.add_subplot()
    rates = [u.timeliness * 100 for u in units]
    colours = ["#2e7d32" if r >= 100 else "#f9a825" if r >= 50 else "#c62828" for r in rates]
    bars = ax.barh([u.unit for u in units], rates, color=colours)
    labels = [f"{r:.1f}%（{u.on_time}/{u.expected}）" for r, u in zip(rates, units, strict=True)]
    ax.bar_label(bars, labels=labels, padding=3, fontsize=8)
    ax.set_xlim(0, 125)  # room for the labels right of a full bar
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel("按时报送率（%）")
    ax.set_title(f"{m.period_label}各单位按时报送率{shown}", fontsize=11)
    ax.tick_params(axis="y", labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path)


def render_charts(metrics: Metrics, out_dir: Path) -> dict[str, Path]:
    """Draw the two PNG charts into ``out_dir``; keys ``status_by_part`` and ``unit_timeliness``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    with rc_context(_rc()):
        for key, draw in (("status_by_part", _status_by_part), ("unit_timeliness", _unit_timeliness)):
            out[key] = draw(metrics, out_dir / f"{metrics.period_key}_{CHART_FILES[key]}")
    return out

"""Charts render Chinese with the CJK font shipped by mplfonts and no missing-glyph warning."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
from matplotlib import font_manager
from PIL import Image

from duban.bulletin import charts as charts_mod
from duban.bulletin import compute_metrics, render_charts
from duban.settings import RatingConfig
from tests.fixtures.bulletin.quarter import quarter


def test_cjk_font_comes_from_mplfonts() -> None:
    name = charts_mod.cjk_font()
    assert name is not None and "CJK" in name
    path = font_manager.findfont(font_manager.FontProperties(family=name), fallback_to_default=False)
    assert "mplfonts" in path


def test_charts_render_without_missing_glyphs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = compute_metrics(quarter(), RatingConfig())
    used: list[set[str]] = []
    real_save = charts_mod._save

    def spy(fig, path):  # record the font file of every text on the figure
        fig.canvas.draw()
        used.append(
            {
                font_manager.findfont(t.get_fontproperties())
                for t in fig.findobj(
                    lambda a: hasattr(a, "get_fontproperties") and hasattr(a, "get_text") and a.get_text()
                )
            }
        )
        return real_save(fig, path)

    monkeypatch.setattr(charts_mod, "_save", spy)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        out = render_charts(m, tmp_path)
    messages = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not [msg for msg in messages if "missing from font" in msg or "Glyph" in msg], messages
    assert set(out) == {"status_by_part", "unit_timeliness"}
    assert len(used) == 2 and all(
        fonts and all("mplfonts" in f and "NotoSansCJK" in f for f in fonts) for fonts in used
    ), used
    for path in out.values():
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size[0] > 600


def test_default_font_would_have_missed_glyphs(tmp_path: Path) -> None:
    """The check above can fail: without the CJK font matplotlib does warn about these labels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    fig.add_subplot().set_title("各单位按时报送率", family="DejaVu Sans")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(tmp_path / "x.png")
    assert any("missing from font" in str(w.message) for w in caught)

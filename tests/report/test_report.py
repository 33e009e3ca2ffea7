import math
import xml.etree.ElementTree as ET

from distillwatch.report import Report, bar_chart, line_chart


def test_line_chart_is_valid_svg_with_one_polyline_per_series():
    svg = line_chart({"a": ([1, 2, 3], [1e-1, 1e-3, 1e-6]), "b": ([1, 2, 3], [0.5, 0.4, 0.6])},
                     title="p vs tokens", xlabel="tokens", ylabel="p-value", log_y=True, hlines={"α": 0.01})
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 2
    assert "α" in svg and "p vs tokens" in svg


def test_bar_chart_with_intervals_and_escaping():
    svg = bar_chart(["x<y", "z"], {"s": [0.2, 0.5]}, title="t", ylabel="rate",
                    errors={"s": [(0.1, 0.3), (0.4, 0.6)]})
    root = ET.fromstring(svg)
    assert "x&lt;y" in svg and len(root.findall("{http://www.w3.org/2000/svg}rect")) >= 3


def test_report_renders_sections_cards_and_escapes(tmp_path):
    r = Report("Run <1>", "subtitle").card("p-value", f"{1e-7:.1e}")
    r.section("Evidence", "evidence").text("a < b").table(["k", "v"], [["n", 3]]).figure(
        line_chart({"s": ([0, 1], [0, math.pi])}, title="t", xlabel="x", ylabel="y"), "caption")
    path = r.write(tmp_path / "r.html")
    html = path.read_text()
    assert "Run &lt;1&gt;" in html and 'id="evidence"' in html and "a &lt; b" in html
    assert html.count("<svg") == 1 and "<td>3</td>" in html


def test_scatter_chart_labels_every_point():
    from distillwatch.report import scatter_chart

    svg = scatter_chart({"families": ([0.2, 0.8], [-0.5, 0.1], ["capitals", "addition"])}, title="t", xlabel="x",
                        ylabel="y", x_range=(0, 1), y_range=(-1, 1))
    assert svg.count("<circle") == 2 and "capitals" in svg and "addition" in svg


def test_browser_missing_is_a_clear_error(monkeypatch, tmp_path):
    import pytest

    from distillwatch.errors import DistillwatchError
    from distillwatch.report import browser

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DistillwatchError, match="apt-get install chromium-headless-shell"):
        browser.find_browser()

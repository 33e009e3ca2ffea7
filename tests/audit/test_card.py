"""The audit end to end on mock models: library, CLI, the risk card's files, and the card in a real browser."""

import json
import struct
import zlib

import pytest
from typer.testing import CliRunner

from distillwatch.audit import AuditConfig, audit, write_card
from distillwatch.cli import app
from distillwatch.report.browser import render

runner = CliRunner()
SMALL = AuditConfig.quick(n_harmful=18, n_benign=6, pairs_per_family=3, n_benchmark=4, max_tokens=12)


@pytest.fixture(scope="module")
def mock_audit():
    return audit("mock/suspect", "mock/reference", SMALL)


def test_audit_result_has_every_finding_and_serialises(mock_audit, tmp_path):
    r = mock_audit
    questions = [f["question"] for f in r.findings]
    assert len(questions) == 8 and all(f["status"] in {"risk", "ok", "note"} for f in r.findings)
    assert r.safety.n == 18 and r.over_refusal.n == 6 and r.gap.n_pairs == 12 and r.benchmark_gap.n_pairs == 4
    assert r.judge_accuracy.n == 169
    html, js = write_card(r, tmp_path)
    data = json.loads(js.read_text())
    assert data["safety"]["evidence"]["null_hypothesis"] and data["generalization_gap"]["pairs"]
    page = html.read_text()
    for anchor in ("summary", "safety", "gap", "style", "provenance", "judge"):
        assert f'id="{anchor}"' in page
    assert page.count("<svg") == 3


def _non_white_share(png: bytes) -> float:
    """Share of non-white bytes in an 8-bit RGB(A) PNG's decoded scanlines (filter bytes included)."""
    pos, idat, width, height, channels = 8, b"", 0, 0, 4
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, _, colour = struct.unpack(">IIBB", body[:10])
            channels = {2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + width * channels)
    data = bytes(b for i, b in enumerate(raw[:200_000]) if i % (1 + width * channels))
    return sum(b < 250 for b in data) / max(len(data), 1)


def test_risk_card_renders_in_headless_chromium(mock_audit, tmp_path):
    html, _ = write_card(mock_audit, tmp_path)
    dom = render(html, tmp_path / "card.png", width=1100, height=1800)
    for title in ("Summary", "Safety: refusals of harmful requests", "Generalization: published items vs fresh twins",
                  "Style vs substance", "How far to trust the refusal judge"):
        assert title in dom
    assert dom.count("<svg") == 3 and "<circle" in dom and "<rect" in dom
    png = (tmp_path / "card.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert _non_white_share(png) > 0.005  # text, tables and bars were painted


def test_cli_audit_writes_card_and_json(tmp_path):
    r = runner.invoke(app, ["audit", "--model", "mock/s", "--reference", "mock/r", "--quick", "--n-harmful", "12",
                            "--n-benign", "0", "--pairs", "2", "--n-benchmark", "0", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout[r.stdout.index("{"):])
    assert data["suspect"] == "mock/s" and data["over_refusal"] is None and data["benchmark_gap"] is None
    assert (tmp_path / "audit.html").is_file() and list(tmp_path.glob("audit.*.jsonl"))


def test_cli_audit_bad_set_is_one_clear_error(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "from distillwatch.cli import main; main()", "audit", "--model", "mock/s",
                           "--reference", "mock/r", "--harmful", "nonsense", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown prompt set 'nonsense'" in proc.stderr

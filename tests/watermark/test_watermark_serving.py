"""`serve --watermark`: everything the server answers carries the watermark; the key stays secret."""

import json

import numpy as np
import openai
from typer.testing import CliRunner

from distillwatch.cli import app
from distillwatch.gateway import BackgroundServer, build_app
from distillwatch.watermark import WatermarkConfig, WatermarkDetector, make_logits_processor

CONFIG = WatermarkConfig("kgw", key=31337, gamma=0.25, delta=4.0, seeding="lefthash")


def test_served_answers_are_watermarked(_tiny_loaded):
    processor = make_logits_processor(CONFIG, _tiny_loaded.vocab_size)
    app_ = build_app(_tiny_loaded, served_name="tiny", logits_processor=processor)
    with BackgroundServer(app_) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="unused", max_retries=0)
        ids = []
        for i in range(6):
            r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": f"Tell me {i}"}],
                                               max_tokens=40, temperature=1.0, seed=i,
                                               extra_body={"return_token_ids": True})
            ids.append(r.choices[0].model_extra["token_ids"])
    detector = WatermarkDetector(CONFIG, _tiny_loaded.vocab_size)
    p_marked = [detector.detect(t).p_value for t in ids]
    assert np.median(p_marked) < 1e-4
    assert "31337" not in repr(processor)  # the key never shows


def test_watermark_detect_cli(tmp_path):
    rows = [json.loads(x) for x in open("tests/fixtures/kgw_reference_vectors.jsonl")]
    marked = next(r for r in rows if r["scheme"] == "lefthash" and r["watermarked"])
    clean = next(r for r in rows if r["scheme"] == "lefthash" and not r["watermarked"])
    runner = CliRunner()
    for row, expect in ((marked, True), (clean, False)):
        f = tmp_path / "ids.json"
        f.write_text(json.dumps(row["token_ids"]))
        r = runner.invoke(app, ["watermark", "detect", "--key", "15485863", "--seeding", "lefthash",
                                "--vocab-size", "49152", "--tokens-json", str(f), "--json"])
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout.strip())
        assert out["is_watermarked"] is expect and out["num_scored_tokens"] == row["ref_num_scored"]
    f.write_text("[1, 2, \"x\"]")
    bad = runner.invoke(app, ["watermark", "detect", "--key", "1", "--vocab-size", "10", "--tokens-json", str(f)])
    assert bad.exit_code != 0

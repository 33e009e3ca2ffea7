"""Radioactivity through a real model backend: teacher forcing via `Model.score`, top-1 predictions,
the exact tests and the p-value curve.

The suspects are bigram language models written straight into transformers weights (a Llama with no
layers: the next-token logits depend only on the previous token). The radioactive one prefers, after
each token, tokens of that token's green list — what a model that learned from lefthash-watermarked
text absorbs; the clean one has the same noise without that preference. (Students actually trained
on a real teacher's watermarked answers are measured in bench/radioactivity.py.)
"""

import numpy as np
import pytest

from distillwatch.models import get_model
from distillwatch.watermark import WatermarkConfig, check_radioactivity, kgw_green_mask

CONFIG = WatermarkConfig("kgw", key=424242, gamma=0.25, delta=2.0, seeding="lefthash")


def _bigram_model(out, tiny_model_dir, radioactive: bool, seed: int = 0):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    v = len(tok)
    cfg = LlamaConfig(vocab_size=v, hidden_size=v, intermediate_size=8, num_hidden_layers=0,
                      num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=512,
                      tie_word_embeddings=False, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id)
    model = LlamaForCausalLM(cfg)
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (v, v))  # [prev, next]
    if radioactive:
        logits += 3.0 * kgw_green_mask(np.arange(v), CONFIG, v)  # green(prev) rows boosted
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(torch.eye(v))
        model.lm_head.weight.copy_(torch.tensor(logits.T / np.sqrt(v), dtype=torch.float32))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def watermarked_records():
    rng = np.random.default_rng(1)
    return [{"prompt": f"item {i}", "token_ids": rng.integers(3, 290, 60).tolist()} for i in range(40)]


@pytest.fixture(scope="module")
def suspects(tmp_path_factory, tiny_model_dir):
    work = tmp_path_factory.mktemp("bigram")
    return {name: get_model(f"hf/{_bigram_model(work / name, tiny_model_dir, name == 'hot')}", cache=False)
            for name in ("hot", "cold")}


def test_reading_mode_through_the_backend(suspects, watermarked_records):
    hot = check_radioactivity(suspects["hot"], CONFIG, watermarked_records, mode="reading")
    cold = check_radioactivity(suspects["cold"], CONFIG, watermarked_records, mode="reading")
    assert hot.evidence.p_value < 1e-6 and cold.evidence.p_value > 1e-3
    assert hot.tokens_read == 40 * 60 and hot.evidence.n > 100
    ps = [p for _, p in hot.curve]
    assert len(ps) >= 4 and ps[-1] < ps[0]  # more tokens read, more evidence
    wrong = check_radioactivity(suspects["hot"], CONFIG.with_key(7), watermarked_records)
    assert wrong.evidence.p_value > 1e-3


def test_count_weighted_reading_through_the_backend(suspects, watermarked_records):
    from distillwatch.errors import InputError

    hot = check_radioactivity(suspects["hot"], CONFIG, watermarked_records, weight_cap=8)
    cold = check_radioactivity(suspects["cold"], CONFIG, watermarked_records, weight_cap=8)
    assert hot.evidence.p_value < 1e-6 and cold.evidence.p_value > 1e-3
    assert hot.evidence.details["weight_cap"] == 8 and hot.evidence.method.startswith("radioactivity-reading-weighted")
    with pytest.raises(InputError, match="reading mode only"):
        check_radioactivity(suspects["hot"], CONFIG, watermarked_records, mode="generation", weight_cap=8)


def test_generation_mode_through_the_backend(suspects, watermarked_records):
    hot = check_radioactivity(suspects["hot"], CONFIG, watermarked_records, mode="generation", max_tokens=30)
    cold = check_radioactivity(suspects["cold"], CONFIG, watermarked_records, mode="generation", max_tokens=30)
    assert hot.mode == "generation" and hot.evidence.p_value < 1e-6 and cold.evidence.p_value > 1e-3
    assert hot.evidence.n > 100  # sampled (seeded per prompt), so the answers do not all repeat one loop
    again = check_radioactivity(suspects["hot"], CONFIG, watermarked_records, mode="generation", max_tokens=30)
    assert again.evidence.p_value == hot.evidence.p_value  # reproducible


def test_generation_mode_reads_the_suspects_text_with_the_watermark_tokenizer(suspects, watermarked_records):
    """A suspect known only by its text: a reader with the watermark's tokenizer re-tokenizes it."""
    hot = check_radioactivity(suspects["hot"], CONFIG, watermarked_records, mode="generation", max_tokens=30,
                              reader=suspects["cold"])
    cold = check_radioactivity(suspects["cold"], CONFIG, watermarked_records, mode="generation", max_tokens=30,
                               reader=suspects["hot"])
    assert hot.evidence.p_value < 1e-6 and cold.evidence.p_value > 1e-3
    from distillwatch.errors import InputError

    with pytest.raises(InputError, match="generation mode only"):
        check_radioactivity(suspects["hot"], CONFIG, watermarked_records, mode="reading", reader=suspects["cold"])


def test_bad_mode_and_empty_data_are_input_errors(suspects, watermarked_records):
    from distillwatch.errors import InputError

    with pytest.raises(InputError, match="mode"):
        check_radioactivity(suspects["hot"], CONFIG, watermarked_records, mode="dreaming")
    with pytest.raises(InputError, match="no watermarked records"):
        check_radioactivity(suspects["hot"], CONFIG, [{"prompt": "x", "token_ids": []}])


def test_radioactivity_cli(tmp_path, suspects, watermarked_records):
    import json

    from typer.testing import CliRunner

    from distillwatch.cli import app

    data = tmp_path / "wm.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "response": "", **r}) + "\n"
                            for i, r in enumerate(watermarked_records)))
    report = tmp_path / "radio.html"
    args = ["radioactivity", "--suspect", f"hf/{suspects['hot'].path}", "--key", "424242",
            "--watermarked-data", str(data), "--mode", "reading", "--json", "--report", str(report)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout.strip().splitlines()[-1])
    assert record["mode"] == "reading" and record["p_value"] < 1e-6 and record["tokens_read"] == 2400
    html = report.read_text()
    assert "p-value vs tokens read" in html and "<svg" in html and "424242" not in html
    contexts = tmp_path / "clean.jsonl"
    rng = np.random.default_rng(11)
    contexts.write_text("".join(json.dumps({"id": f"c{i}", "prompt": "p", "response": "",
                                            "token_ids": rng.integers(3, 290, 50).tolist()}) + "\n" for i in range(30)))
    r = CliRunner().invoke(app, args[:-2] + ["--contexts", str(contexts)])
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout.strip().splitlines()[-1])
    assert record["p_value"] < 1e-6 and record["tokens_read"] == 1500


def test_reading_mode_cuts_the_prompt_when_the_context_overflows(tiny_model):
    from distillwatch.watermark.suspect import reading_predictions

    rng = np.random.default_rng(3)
    records = [{"prompt": "word " * 60, "token_ids": rng.integers(3, 290, 240).tolist()},
               {"prompt": "short", "token_ids": rng.integers(3, 290, 40).tolist()}]
    texts, preds = reading_predictions(tiny_model, records)
    assert [p.size for p in preds] == [240, 40]
    assert (preds[0] >= 0).all() and (preds[1] >= 0).all()
    full = tiny_model.score([([{"role": "user", "content": "short"}], records[1]["token_ids"])])[0]
    assert preds[1].tolist() == full.top_ids  # no overflow: the prompt is kept whole
    res = check_radioactivity(tiny_model, CONFIG, records)
    assert res.tokens_read == 280 and 0 <= res.evidence.p_value <= 1


def test_generation_mode_stays_within_the_context(tiny_model):
    records = [{"prompt": "word " * 200, "token_ids": [5, 6, 7, 8, 9, 10]},
               {"prompt": "short", "token_ids": [5, 6, 7, 8, 9, 10]}]
    res = check_radioactivity(tiny_model, CONFIG, records, mode="generation", max_tokens=300)
    assert res.mode == "generation" and 0 < res.tokens_read <= 256


def test_reading_mode_on_unwatermarked_contexts_keeps_every_position(suspects, watermarked_records):
    rng = np.random.default_rng(9)
    contexts = [{"prompt": f"other {i}", "token_ids": rng.integers(3, 290, 60).tolist()} for i in range(40)]
    hot = check_radioactivity(suspects["hot"], CONFIG, watermarked_records, mode="reading", contexts=contexts)
    cold = check_radioactivity(suspects["cold"], CONFIG, watermarked_records, mode="reading", contexts=contexts)
    assert hot.evidence.p_value < 1e-6 and cold.evidence.p_value > 1e-3
    assert hot.tokens_read == 40 * 60
    from distillwatch.errors import InputError

    with pytest.raises(InputError, match="no context records"):
        check_radioactivity(suspects["hot"], CONFIG, watermarked_records, contexts=[{"prompt": "x", "token_ids": []}])

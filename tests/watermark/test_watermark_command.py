"""`detect_tokens_command`: what `distillwatch watermark detect` prints."""

from __future__ import annotations

import json

from distillwatch.watermark import detect_tokens_command


def test_detect_tokens_command_matches_the_reference_answer(reference_vectors):
    r = next(r for r in reference_vectors if r["scheme"] == "selfhash" and r["watermarked"])
    out = detect_tokens_command(r["token_ids"], key=r["key"], gamma=0.25, seeding="selfhash", vocab_size=49152)
    assert {"score", "p_value", "num_scored_tokens", "is_watermarked"} <= set(out)
    assert out["num_scored_tokens"] == r["ref_num_scored"] and out["num_green"] == r["ref_num_green"]
    assert out["is_watermarked"] and out["p_value"] < 1e-6
    assert out["score"] == r["ref_num_green"] / r["ref_num_scored"]
    text = json.dumps(out)
    assert str(r["key"]) not in text


def test_detect_tokens_command_on_plain_text(reference_vectors):
    r = next(r for r in reference_vectors if r["scheme"] == "lefthash" and not r["watermarked"])
    out = detect_tokens_command(r["token_ids"], key=r["key"], gamma=0.25, seeding="lefthash", vocab_size=49152)
    assert not out["is_watermarked"] and out["p_value"] > 1e-3

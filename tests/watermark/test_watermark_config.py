"""WatermarkConfig: parsing from what a CLI flag takes, derived widths, and a key that never shows."""

from __future__ import annotations

import json

import pytest

from distillwatch.watermark import REFERENCE_KEY, WatermarkConfig, generate_key, key_fingerprint

SECRET = 7_364_219_550_123_456_789


def test_spec_string_with_seeding_word():
    cfg = WatermarkConfig.from_string("kgw:lefthash:key=15485863:gamma=0.25:delta=2")
    assert (cfg.scheme, cfg.seeding, cfg.key, cfg.gamma, cfg.delta) == ("kgw", "lefthash", REFERENCE_KEY, 0.25, 2.0)
    assert (cfg.context_width, cfg.window_width, cfg.ngram_size, cfg.self_salt) == (1, 1, 2, False)


def test_selfhash_is_the_default_seeding_and_has_width_four():
    cfg = WatermarkConfig.parse("kgw:key=0x10")
    assert (cfg.seeding, cfg.key, cfg.context_width, cfg.window_width, cfg.ngram_size) == ("selfhash", 16, 4, 3, 4)


def test_gumbel_context_width_is_explicit_or_four():
    assert WatermarkConfig.parse("gumbel:key=3").context_width == 4
    cfg = WatermarkConfig.parse("gumbel:key=3:context_width=2")
    assert (cfg.context_width, cfg.window_width, cfg.seeding) == (2, 2, None)
    with pytest.raises(ValueError):
        WatermarkConfig.parse("gumbel:selfhash:key=3")


def test_json_yaml_mapping_and_files(tmp_path):
    want = WatermarkConfig("kgw", key=SECRET, seeding="lefthash", gamma=0.5, delta=1.5)
    as_dict = {"scheme": "kgw", "seeding": "lefthash", "key": SECRET, "gamma": 0.5, "delta": 1.5}
    assert WatermarkConfig.parse(as_dict) == want
    assert WatermarkConfig.parse(json.dumps(as_dict)) == want
    (tmp_path / "wm.json").write_text(json.dumps(as_dict))
    (tmp_path / "wm.yaml").write_text(
        f"watermark:\n  scheme: kgw\n  seeding: lefthash\n  key: {SECRET}\n  gamma: 0.5\n  delta: 1.5\n"
    )
    assert WatermarkConfig.parse(str(tmp_path / "wm.json")) == want
    assert WatermarkConfig.parse(tmp_path / "wm.yaml") == want
    assert WatermarkConfig.parse(want) is want


def test_key_from_environment(monkeypatch):
    monkeypatch.setenv("DW_TEST_WM_KEY", str(SECRET))
    assert WatermarkConfig.parse("kgw:selfhash:key=env:DW_TEST_WM_KEY").key == SECRET
    monkeypatch.delenv("DW_TEST_WM_KEY")
    with pytest.raises(ValueError, match="not set"):
        WatermarkConfig.parse("kgw:key=env:DW_TEST_WM_KEY")


def test_the_key_never_appears_in_repr_cache_key_or_dict():
    cfg = WatermarkConfig("kgw", key=SECRET, seeding="selfhash")
    shown = [repr(cfg), str(cfg), cfg.cache_key, json.dumps(cfg.to_dict()), cfg.to_string()]
    assert all(str(SECRET) not in s for s in shown)
    assert cfg.key_fingerprint in cfg.cache_key and cfg.key_fingerprint == key_fingerprint(SECRET)
    assert WatermarkConfig.parse(cfg.to_string(include_key=True)) == cfg
    assert cfg.to_dict(include_key=True)["key"] == SECRET


def test_cache_key_names_everything_that_changes_the_effect():
    base = WatermarkConfig("kgw", key=1, seeding="selfhash")
    variants = [
        base.with_key(2),
        WatermarkConfig("kgw", key=1, seeding="lefthash"),
        WatermarkConfig("kgw", key=1, seeding="selfhash", gamma=0.5),
        WatermarkConfig("kgw", key=1, seeding="selfhash", delta=4.0),
        WatermarkConfig("gumbel", key=1),
        WatermarkConfig("gumbel", key=1, context_width=2),
    ]
    keys = {base.cache_key} | {v.cache_key for v in variants}
    assert len(keys) == len(variants) + 1
    assert WatermarkConfig("kgw", key=1).cache_key == base.cache_key


@pytest.mark.parametrize("bad", [
    "", "rsa:key=1", "kgw:gamma=0.25", "kgw:key=1:gamma=1.5", "kgw:key=1:colour=red", "kgw:key=1:nonsense",
    "kgw:key=99999999999999999999", "kgw:minhash:key=1", "kgw:selfhash:key=1:context_width=2",
])
def test_bad_specs_are_rejected(bad):
    with pytest.raises((ValueError, TypeError)):
        WatermarkConfig.parse(bad)


def test_generate_key_is_a_fresh_63_bit_int():
    a, b = generate_key(), generate_key()
    assert a != b and 0 <= a < 2**63

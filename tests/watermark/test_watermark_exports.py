"""The public surface is exactly the intended names, and every module declares `__all__`."""

from __future__ import annotations

import importlib
import pkgutil

import distillwatch.watermark as wm

PUBLIC = {
    "REFERENCE_KEY", "Evidence", "GumbelLogitsProcessor", "KGWLogitsProcessor", "KeySearchResult",
    "WatermarkConfig", "WatermarkDetection", "WatermarkDetector", "binomial_p_value", "binomial_z",
    "bonferroni", "detect_candidate_keys", "detect_tokens_command", "gamma_p_value", "gamma_z",
    "generate_key", "generation_mode_test", "green_list_size", "gumbel_argmax", "gumbel_scores",
    "gumbel_uniforms", "gumbel_vocab_uniforms", "hashint", "key_fingerprint", "kgw_green_lists",
    "kgw_green_mask", "kgw_is_green", "kgw_seeds", "lefthash_seeds", "make_logits_processor",
    "null_hypothesis", "reading_mode_test", "score_ngrams", "score_tuples", "selfhash_seeds",
    "RadioactivityResult", "check_radioactivity", "load_kernels",
}


def test_package_exports_exactly_the_public_names():
    assert set(wm.__all__) == PUBLIC and len(wm.__all__) == len(PUBLIC)
    for name in wm.__all__:
        assert getattr(wm, name) is not None


def test_every_module_declares_all_and_its_names_exist():
    modules = [m.name for m in pkgutil.iter_modules(wm.__path__)]
    assert {"_mt19937", "_randperm", "kgw", "detector", "processors", "radioactivity"} <= set(modules)
    for name in modules:
        mod = importlib.import_module(f"distillwatch.watermark.{name}")
        assert mod.__all__, name
        assert all(hasattr(mod, n) for n in mod.__all__), name


def test_detection_needs_no_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('torch is blocked')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from distillwatch.watermark import WatermarkDetector\n"
        "d = WatermarkDetector('kgw:lefthash:key=1', 1000).detect(list(range(40)))\n"
        "assert d.num_scored_tokens == 39 and 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

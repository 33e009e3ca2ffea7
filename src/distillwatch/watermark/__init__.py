"""Watermarks: KGW (lefthash, selfhash) and Gumbel-max; detection with exact p-values; radioactivity.

    >>> from distillwatch.watermark import WatermarkConfig, WatermarkDetector
    >>> cfg = WatermarkConfig.parse("kgw:selfhash:key=15485863:gamma=0.25:delta=2")
    >>> WatermarkDetector(cfg, vocab_size=49152).detect([1, 2, 3, 4, 5, 6]).num_scored_tokens
    3

KGW green lists are bit-identical to the reference implementation (jwkirchenbauer/lm-watermarking)
on a CPU generator, computed by compiled (numba) MT19937 / randperm kernels in parallel over
contexts; torch is needed only by the logits processors.
"""

from .command import detect_tokens_command
from .config import REFERENCE_KEY, WatermarkConfig, generate_key, key_fingerprint
from .detector import (
    KeySearchResult,
    WatermarkDetection,
    WatermarkDetector,
    detect_candidate_keys,
    null_hypothesis,
    score_ngrams,
)
from ..evidence import Evidence
from .gumbel import gumbel_argmax, gumbel_scores, gumbel_uniforms, gumbel_vocab_uniforms
from .kgw import (
    green_list_size,
    hashint,
    kgw_green_lists,
    kgw_green_mask,
    kgw_is_green,
    kgw_seeds,
    lefthash_seeds,
    load_kernels,
    selfhash_seeds,
)
from .processors import GumbelLogitsProcessor, KGWLogitsProcessor, make_logits_processor
from .radioactivity import generation_mode_test, reading_mode_test, score_tuples
from .stats import binomial_p_value, binomial_z, bonferroni, gamma_p_value, gamma_z
from .suspect import RadioactivityResult, check_radioactivity

__all__ = [
    "REFERENCE_KEY",
    "RadioactivityResult",
    "check_radioactivity",
    "Evidence",
    "GumbelLogitsProcessor",
    "load_kernels",
    "KGWLogitsProcessor",
    "KeySearchResult",
    "WatermarkConfig",
    "WatermarkDetection",
    "WatermarkDetector",
    "binomial_p_value",
    "binomial_z",
    "bonferroni",
    "detect_candidate_keys",
    "detect_tokens_command",
    "gamma_p_value",
    "gamma_z",
    "generate_key",
    "generation_mode_test",
    "green_list_size",
    "gumbel_argmax",
    "gumbel_scores",
    "gumbel_uniforms",
    "gumbel_vocab_uniforms",
    "hashint",
    "key_fingerprint",
    "kgw_green_lists",
    "kgw_green_mask",
    "kgw_is_green",
    "kgw_seeds",
    "lefthash_seeds",
    "make_logits_processor",
    "null_hypothesis",
    "reading_mode_test",
    "score_ngrams",
    "score_tuples",
    "selfhash_seeds",
]

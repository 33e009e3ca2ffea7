"""Library functions behind the `distillwatch watermark ...` CLI verbs (the CLI is a thin shell)."""

from __future__ import annotations

from typing import Any

from .config import WatermarkConfig
from .detector import DEFAULT_ALPHA, WatermarkDetector

__all__ = ["detect_tokens_command"]


def detect_tokens_command(
    token_ids,
    key: int,
    gamma: float = 0.25,
    seeding: str = "selfhash",
    vocab_size: int = 49152,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, Any]:
    """KGW detection of one token sequence, as a JSON-ready dict.

    Returns {score, p_value, num_scored_tokens, is_watermarked, z_score, num_green}; the key never
    appears in the output. The p-value is exact: P[Bin(T, gamma) >= G] over distinct n-grams.
    """
    config = WatermarkConfig("kgw", key=int(key), gamma=gamma, seeding=seeding)
    d = WatermarkDetector(config, vocab_size, alpha=alpha).detect(token_ids)
    return {
        "score": d.score,
        "p_value": d.p_value,
        "num_scored_tokens": d.num_scored_tokens,
        "is_watermarked": d.is_watermarked,
        "z_score": d.z_score,
        "num_green": d.num_green,
    }

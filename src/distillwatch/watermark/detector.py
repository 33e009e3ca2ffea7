"""`WatermarkDetector`: is this text watermarked under this key? Exact p-values, batched.

    >>> det = WatermarkDetector(WatermarkConfig("kgw", key=15485863, seeding="lefthash"), vocab_size=49152)
    >>> d = det.detect([33580, 14870, 314, 253, 4334, 980, 338])
    >>> d.num_scored_tokens, 0.0 <= d.p_value <= 1.0
    (6, True)

Each distinct scored n-gram (the PRF window and the token) counts once by default, as in the
reference detector with `ignore_repeated_ngrams=True`; that is what makes the p-values exact.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ._ngrams import as_sequences, first_occurrences, ngrams
from .config import WatermarkConfig
from ..evidence import Evidence
from .gumbel import gumbel_scores, gumbel_uniforms
from .kgw import green_list_size, kgw_is_green
from .stats import binomial_p_value, binomial_z, bonferroni, gamma_p_value, gamma_z

__all__ = [
    "WatermarkDetection",
    "WatermarkDetector",
    "KeySearchResult",
    "detect_candidate_keys",
    "score_ngrams",
    "null_hypothesis",
]

DEFAULT_ALPHA = 1e-5


def null_hypothesis(config: WatermarkConfig) -> str:
    """The null hypothesis of a detection test under `config`, in words."""
    if config.scheme == "kgw":
        return (
            "the text was produced without knowledge of the key, so each distinct scored n-gram's token "
            f"is green independently with probability int(V*{config.gamma:g})/V"
        )
    return (
        "the text was produced without knowledge of the key, so each distinct scored n-gram's "
        "score -log(1-u) is an independent Exp(1) variable"
    )


@dataclass(frozen=True)
class WatermarkDetection:
    """One detection result.

    score: the per-token statistic, the green fraction G/T (KGW) or the mean of -log(1 - u) (Gumbel);
    p_value: exact tail probability under the null (binomial for KGW, Gamma for Gumbel);
    num_scored_tokens: T, the number of scored n-grams; is_watermarked: p_value < alpha;
    z_score: the standardised statistic (KGW: the reference detector's z); num_green: G (KGW only).
    """

    score: float
    p_value: float
    num_scored_tokens: int
    is_watermarked: bool
    z_score: float
    num_green: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_evidence(self, config: WatermarkConfig, vocab_size: int) -> Evidence:
        if config.scheme == "kgw":
            gamma = green_list_size(vocab_size, config.gamma) / vocab_size
            statistic, effect = float(self.num_green or 0), self.score - gamma
        else:
            statistic, effect = self.score * self.num_scored_tokens, self.score - 1.0
        return Evidence(
            statistic=statistic,
            p_value=self.p_value,
            effect_size=effect if self.num_scored_tokens else 0.0,
            n=self.num_scored_tokens,
            method=f"watermark-detect/{config.name}",
            null_hypothesis=null_hypothesis(config),
            details={"z_score": self.z_score, "key_fingerprint": config.key_fingerprint},
        )


def score_ngrams(grams: np.ndarray, config: WatermarkConfig, vocab_size: int) -> np.ndarray:
    """Per n-gram score: 1.0 if green else 0.0 (KGW), or -log(1 - u) (Gumbel); grams (M, ngram_size)."""
    grams = np.asarray(grams, dtype=np.int64).reshape(-1, config.ngram_size)
    if config.scheme == "kgw":
        return kgw_is_green(grams[:, :-1], grams[:, -1], config, vocab_size).astype(np.float64)
    return gumbel_scores(gumbel_uniforms(grams[:, :-1], grams[:, -1], config.key))


class WatermarkDetector:
    """Detects one watermark (scheme and key) in token sequences.

    Null hypothesis (`null_hypothesis(config)`): the text was produced without knowledge of the key,
    so each distinct scored n-gram is green independently with probability int(V*gamma)/V (KGW:
    the p-value is the binomial tail P[Bin(T, gamma) >= G]) or has an independent Exp(1) score
    (Gumbel: the p-value is the Gamma(T, 1) tail of the summed scores).

    alpha: `is_watermarked` is `p_value < alpha`. ignore_repeated_ngrams: score each distinct
    n-gram of a text once; with False every position counts and the p-value is no longer exact
    (repeated n-grams are not independent). bos_token_id: stripped when it leads a text.
    """

    def __init__(
        self,
        config: WatermarkConfig | str,
        vocab_size: int,
        *,
        alpha: float = DEFAULT_ALPHA,
        ignore_repeated_ngrams: bool = True,
        bos_token_id: int | None = None,
    ) -> None:
        self.config = WatermarkConfig.parse(config)
        self.vocab_size = int(vocab_size)
        self.alpha = alpha
        self.ignore_repeated_ngrams = ignore_repeated_ngrams
        self.bos_token_id = bos_token_id
        if self.vocab_size < 2:
            raise ValueError("vocab_size must be >= 2")

    @property
    def gamma(self) -> float:
        """The exact null probability that a token is green, int(V * gamma) / V."""
        return green_list_size(self.vocab_size, self.config.gamma) / self.vocab_size

    def _sequences(self, token_ids) -> list[np.ndarray]:
        seqs = as_sequences(token_ids)
        if self.bos_token_id is not None:
            seqs = [s[1:] if s.size and s[0] == self.bos_token_id else s for s in seqs]
        return seqs

    def score_batch(self, sequences) -> tuple[np.ndarray, np.ndarray]:
        """(T, statistic) per sequence: scored n-grams and green count (KGW) or score sum (Gumbel)."""
        seqs = self._sequences(sequences)
        grams, seq_idx, _ = ngrams(seqs, self.config.ngram_size)
        if self.ignore_repeated_ngrams and grams.shape[0]:
            keep = first_occurrences(np.column_stack([seq_idx, grams]))
            grams, seq_idx = grams[keep], seq_idx[keep]
        scores = score_ngrams(grams, self.config, self.vocab_size)
        num = np.bincount(seq_idx, minlength=len(seqs))
        stat = np.bincount(seq_idx, weights=scores, minlength=len(seqs))
        return num, stat

    def detect_batch(self, sequences) -> list[WatermarkDetection]:
        """Detection for many sequences in one vectorized pass (shared seeds are computed once)."""
        num, stat = self.score_batch(sequences)
        if self.config.scheme == "kgw":
            green = np.rint(stat).astype(np.int64)
            p = np.atleast_1d(binomial_p_value(green, num, self.gamma))
            z = np.atleast_1d(binomial_z(green, num, self.config.gamma))
            score = np.divide(green, num, out=np.zeros(num.size), where=num > 0)
        else:
            green = None
            p = np.atleast_1d(gamma_p_value(stat, num))
            z = np.atleast_1d(gamma_z(stat, num))
            score = np.divide(stat, num, out=np.zeros(num.size), where=num > 0)
        return [
            WatermarkDetection(
                score=float(score[i]),
                p_value=float(p[i]),
                num_scored_tokens=int(num[i]),
                is_watermarked=bool(p[i] < self.alpha),
                z_score=float(z[i]),
                num_green=None if green is None else int(green[i]),
            )
            for i in range(num.size)
        ]

    def detect(self, token_ids) -> WatermarkDetection:
        """Detection for one token sequence (a list, array or 1-d tensor of ids)."""
        seqs = as_sequences(token_ids)
        if len(seqs) != 1:
            raise ValueError("detect() takes one sequence; use detect_batch() for several")
        return self.detect_batch(seqs)[0]

    def detect_text(self, text: str, tokenizer: Any) -> WatermarkDetection:
        """Tokenize `text` without special tokens (a leading BOS is stripped) and detect."""
        if hasattr(tokenizer, "encode"):
            ids = list(tokenizer.encode(text, add_special_tokens=False))
        else:
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        bos = getattr(tokenizer, "bos_token_id", None)
        if ids and bos is not None and ids[0] == bos:
            ids = ids[1:]
        return self.detect(np.asarray(ids, dtype=np.int64))


@dataclass(frozen=True)
class KeySearchResult:
    """Detection under several candidate keys, with the family-wise (Bonferroni) p-value.

    best: index of the key with the smallest p-value; p_value: that p-value times the number of
    keys (capped at 1), valid for the global null "no candidate key watermarked this text".
    """

    best: int
    p_value: float
    is_watermarked: bool
    detections: tuple[WatermarkDetection, ...]


def detect_candidate_keys(
    token_ids,
    configs: Sequence[WatermarkConfig],
    vocab_size: int,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> KeySearchResult:
    """Detect under each candidate config (e.g. each key a provider has used) with Bonferroni control."""
    if not configs:
        raise ValueError("need at least one candidate config")
    dets = tuple(WatermarkDetector(c, vocab_size, alpha=alpha).detect(token_ids) for c in configs)
    adjusted = bonferroni([d.p_value for d in dets])
    best = int(np.argmin(adjusted))
    return KeySearchResult(best=best, p_value=float(adjusted[best]), is_watermarked=bool(adjusted[best] < alpha),
                           detections=dets)

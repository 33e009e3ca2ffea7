"""Radioactivity tests: was a suspect model trained on our watermarked text? (Sander et al., NeurIPS 2024)

A model fine-tuned on watermarked text learns the watermark's bias: its own predictions favour the
green tokens (KGW) or high-u tokens (Gumbel) of the contexts it was trained on. Both tests score
(watermark window, token) tuples with the provider's key; each distinct tuple is scored once, so
the scores are independent under the null and the p-values are exact (binomial or Gamma tails).

* Reading mode (suspect's weights or logits available): feed the provider's watermarked texts to
  the suspect, take its top-1 prediction at each position (teacher forcing) and score the tuple
  (window taken from the text, predicted token). A window repeated inside a text is scored at its
  first occurrence only. By default positions where the prediction equals the text's own next
  token are dropped: that token was chosen by the watermarked generator, so any good model would
  "predict green" there and the null would not hold.
* Count weighting (KGW, optional): a suspect's radioactivity sits mostly in the tuples it predicts
  again and again (the frequent windows it saw most in training), which the one-count-per-tuple
  statistic treats like any rare tuple. With `weight_cap`, each distinct tuple still gets one green
  indicator, weighted by how many positions predicted it (capped); the weights do not depend on the
  key, so the exact null distribution of the weighted sum is known (`weighted_binomial_p_value`).
* Generation mode (suspect reachable only by sampling): score the suspect's own generations,
  excluding windows that occur in the prompts (the suspect can copy them), optionally keeping only
  windows that are frequent in the provider's watermarked data (the filter phi of the paper).

These are pure functions over token-id arrays; producing predictions or generations is the
caller's business.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._ngrams import as_sequences, first_occurrences, ngrams, row_ids
from .config import WatermarkConfig
from .detector import score_ngrams
from ..evidence import Evidence
from .kgw import green_list_size
from .stats import binomial_p_value, gamma_p_value, weighted_binomial_p_value

__all__ = ["reading_mode_test", "generation_mode_test", "score_tuples", "RADIOACTIVITY_NULL"]

RADIOACTIVITY_NULL = (
    "the suspect model was not trained on text watermarked with this key, so its scored tokens are "
    "independent of the key: each distinct (window, token) tuple is green with probability "
    "int(V*gamma)/V (KGW) or has an Exp(1) score (Gumbel), independently"
)


def score_tuples(windows: np.ndarray, tokens: np.ndarray, config: WatermarkConfig, vocab_size: int,
                 *, method: str, details: dict | None = None, weight_cap: int | None = None) -> Evidence:
    """Exact test on distinct (window, token) tuples (duplicates are removed here).

    Null hypothesis: see `RADIOACTIVITY_NULL`. Statistic: the number of green tokens (KGW) or the sum
    of -log(1 - u) (Gumbel); effect size: green fraction minus its null value, or mean score minus 1.
    With `weight_cap` (KGW only), each distinct tuple counts min(occurrences, weight_cap) times: the
    statistic is the weighted green count and the effect size the weighted green fraction minus gamma.
    """
    windows = np.asarray(windows, dtype=np.int64).reshape(-1, config.window_width)
    tokens = np.asarray(tokens, dtype=np.int64).ravel()
    grams = np.column_stack([windows, tokens])
    occurrences = np.ones(grams.shape[0], dtype=np.int64)
    if grams.shape[0]:
        grams, occurrences = np.unique(grams, axis=0, return_counts=True)
    scores = score_ngrams(grams, config, vocab_size)
    n = int(scores.size)
    total = float(scores.sum())
    info = dict(details or {})
    info["key_fingerprint"] = config.key_fingerprint
    if weight_cap is not None:
        if config.scheme != "kgw":
            raise ValueError("count weighting is implemented for KGW watermarks only")
        if weight_cap < 1:
            raise ValueError(f"weight_cap must be >= 1, got {weight_cap}")
        weights = np.minimum(occurrences, weight_cap)
        gamma = green_list_size(vocab_size, config.gamma) / vocab_size
        weighted = float(weights @ scores)
        info.update(num_green=int(round(total)), weight_cap=int(weight_cap), weight_sum=int(weights.sum()))
        p = weighted_binomial_p_value(weights, weighted, gamma)
        effect = weighted / weights.sum() - gamma if n else 0.0
        return Evidence(statistic=weighted, p_value=float(p), effect_size=float(effect), n=n,
                        method=f"{method}-weighted/{config.name}", null_hypothesis=RADIOACTIVITY_NULL, details=info)
    if config.scheme == "kgw":
        gamma = green_list_size(vocab_size, config.gamma) / vocab_size
        p = binomial_p_value(int(round(total)), n, gamma)
        effect = total / n - gamma if n else 0.0
        info["num_green"] = int(round(total))
    else:
        p = gamma_p_value(total, n)
        effect = total / n - 1.0 if n else 0.0
    return Evidence(statistic=total, p_value=float(p), effect_size=float(effect), n=n,
                    method=f"{method}/{config.name}", null_hypothesis=RADIOACTIVITY_NULL, details=info)


def reading_mode_test(
    texts,
    predictions,
    config: WatermarkConfig,
    vocab_size: int,
    *,
    drop_text_matches: bool = True,
    weight_cap: int | None = None,
) -> Evidence:
    """Radioactivity in reading mode (open model): the suspect's top-1 predictions on our texts.

    texts: the provider's watermarked token sequences; predictions: for each text, an array of the
    same length whose entry j is the suspect's most likely token at position j given text[:j]
    (negative where unknown). The tuple (text[j-w:j], prediction[j]) is scored for each j >= w,
    where w = config.window_width.

    Null hypothesis: the suspect was not trained on text watermarked with this key, so its
    predictions are independent of the key and each distinct scored tuple is green with probability
    int(V*gamma)/V (KGW; exact binomial tail) or has an Exp(1) score (Gumbel; exact Gamma tail).
    With `drop_text_matches=False` this null fails for any model that predicts the text well.
    `weight_cap`: count weighting (see the module docstring); None scores each tuple once.
    """
    seqs = as_sequences(texts)
    preds = as_sequences(predictions)
    if len(seqs) != len(preds) or any(a.size != b.size for a, b in zip(seqs, preds)):
        raise ValueError("each text needs one prediction per token")
    w = config.window_width
    grams, seq_idx, pos = ngrams(seqs, w + 1)
    windows = grams[:, :w]
    starts = np.concatenate([[0], np.cumsum([s.size for s in seqs])[:-1]]).astype(np.int64)
    flat_preds = np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)
    predicted = flat_preds[starts[seq_idx] + pos] if grams.shape[0] else np.zeros(0, dtype=np.int64)
    considered = int(windows.shape[0])
    keep = first_occurrences(np.column_stack([seq_idx, windows])) if considered else np.zeros(0, dtype=bool)
    keep &= predicted >= 0
    if drop_text_matches:
        keep &= predicted != grams[:, w]
    details = {"positions": considered, "after_window_dedup": int(keep.sum()),
               "drop_text_matches": drop_text_matches}
    return score_tuples(windows[keep], predicted[keep], config, vocab_size,
                        method="radioactivity-reading", details=details, weight_cap=weight_cap)


def generation_mode_test(
    generations,
    config: WatermarkConfig,
    vocab_size: int,
    *,
    prompts: Sequence | None = None,
    reference_texts: Sequence | None = None,
    min_window_count: int = 2,
) -> Evidence:
    """Radioactivity in generation mode (closed model): score the suspect's own generations.

    generations: the suspect's generated token sequences (without the prompts); prompts: the token
    ids of the prompt each generation answered. Tuples whose window occurs in the generation's own
    prompt are excluded. With `reference_texts` (the provider's watermarked
    data), only windows seen there at least `min_window_count` times are kept (filter phi).

    Null hypothesis: the suspect was not trained on text watermarked with this key, so its
    generated tokens are independent of the key and each distinct (window, token) tuple whose window
    it did not read in its own prompt is green with probability int(V*gamma)/V (KGW; exact binomial
    tail) or has an Exp(1) score (Gumbel; exact Gamma tail).
    """
    seqs = as_sequences(generations)
    w = config.window_width
    grams, rows, _ = ngrams(seqs, w + 1)
    windows, tokens = grams[:, :w], grams[:, w]
    keep = np.ones(windows.shape[0], dtype=bool)
    details: dict = {"tuples": int(windows.shape[0])}
    if prompts is not None and len(prompts):
        # a window the suspect read in its own prompt could be copied from it; other prompts it never saw
        prompt_seqs = as_sequences(prompts)
        if len(prompt_seqs) != len(seqs):
            raise ValueError(f"{len(prompt_seqs)} prompts for {len(seqs)} generations: give one prompt per generation")
        prompt_windows, prompt_rows, _ = ngrams(prompt_seqs, w)
        ids, prompt_ids = row_ids(np.column_stack([rows, windows]), np.column_stack([prompt_rows, prompt_windows]))
        keep &= ~np.isin(ids, prompt_ids)
        details["after_prompt_filter"] = int(keep.sum())
    if reference_texts is not None:
        ref_windows, _, _ = ngrams(as_sequences(reference_texts), w)
        ids, ref_ids = row_ids(windows, ref_windows)
        counts = np.bincount(ref_ids, minlength=int(ids.max(initial=-1)) + 1)
        keep &= counts[ids] >= min_window_count
        details["min_window_count"] = min_window_count
        details["after_frequency_filter"] = int(keep.sum())
    return score_tuples(windows[keep], tokens[keep], config, vocab_size,
                        method="radioactivity-generation", details=details)

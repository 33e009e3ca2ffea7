"""`trace`: was the suspect distilled from the teacher? Queries the models, runs the registered tests in
rounds under a query budget, and combines them into a verdict with family-wise error control.

The statistics are the pure functions of the sibling modules; this module only asks the models, counts
the queries and spends alpha over the looks (a union bound, so stopping early keeps the error ≤ alpha).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, UnsupportedOperation
from ..evidence import Evidence
from ..models import GenerateRequest, Model, get_model
from ..models._types import Prompt
from .agreement import agreement_test, prefix_keys, select_probes
from .controls import match_controls
from .distribution import mmd_test
from .features import Embedder
from .identity import identity_hits, identity_test
from .likelihood import likelihood_test, per_character
from .served import (
    TEACHER_REFERENCED,
    ServedAnswer,
    draw_fresh,
    prefix_overlap,
    served_test,
    teacher_referenced,
)
from .stats import spending_weights
from .style import lexical_features, style_test
from .verdict import DECISIVE, DECISIVE_SERVED, combine

__all__ = ["TraceResult", "TraceRound", "budget_split", "identity_probes", "trace"]

ModelLike = Model | str


@dataclass
class TraceRound:
    """One look at the data: cumulative queries, the combined p-value and the level it was tested at."""

    round: int
    queries: int  # suspect queries so far
    total_queries: int  # all models, so far
    n_prompts: int
    p_value: float
    level: float
    verdict: str
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"round": self.round, "queries": self.queries, "total_queries": self.total_queries,
                "n_prompts": self.n_prompts, "p_value": self.p_value, "level": self.level,
                "verdict": self.verdict, "evidence": [e.to_dict() for e in self.evidence]}


@dataclass
class TraceResult:
    """verdict: "derived", "no evidence" or "inconclusive"; p_value: valid overall p-value for "the suspect
    is derived from the teacher" (Bonferroni over the decisive tests, weighted Bonferroni over looks); queries: requests
    sent to the suspect (what `budget` bounds); evidence: the last look's records, one per test."""

    verdict: str
    p_value: float
    queries: int
    evidence: list[Evidence]
    rounds: list[TraceRound] = field(default_factory=list)
    queries_by_model: dict[str, int] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    alpha: float = 0.01
    budget: int = 0
    agreement_matrix: dict[str, dict[str, float]] = field(default_factory=dict)
    decisive: list[str] = field(default_factory=list)
    control_match: dict[str, Any] | None = None  # how the controls were chosen from a pool, when they were

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "p_value": self.p_value,
            "queries": self.queries,
            "evidence": [e.to_dict() for e in self.evidence],
            "queries_by_model": self.queries_by_model,
            "models": self.models,
            "alpha": self.alpha,
            "budget": self.budget,
            "agreement_matrix": self.agreement_matrix,
            "decisive": self.decisive,
            "control_match": self.control_match,
            "rounds": [r.to_dict() for r in self.rounds],
        }


class _Counted:
    """Counts the requests sent to one model (cache hits included: the cache is the models' business)."""

    def __init__(self, model: Model, show: bool):
        self.model, self.show, self.n, self.failed = model, show, 0, 0
        self.can_score = bool(getattr(model, "supports_score", True))

    @property
    def model_id(self) -> str:
        return self.model.model_id

    def answer(self, prompts: Sequence[Prompt], max_tokens: int) -> list[str]:
        if not prompts:
            return []
        self.n += len(prompts)
        reqs = [GenerateRequest(_messages(p), max_tokens=max_tokens) for p in prompts]
        try:
            return [c.text for c in self.model.generate(reqs, progress=self.show)]
        except InputError:  # a prompt too long for this model's context: answer the others
            return [self._one(r) for r in reqs]

    def _one(self, request: GenerateRequest) -> str:
        try:
            return self.model.generate([request])[0].text
        except InputError:
            self.failed += 1
            return ""

    def sample(self, served: Sequence[ServedAnswer], logits_processor, seed: int) -> list[str]:
        """Fresh answers drawn like the served ones (see `served.draw_fresh`)."""
        self.n += len(served)
        return draw_fresh(self.model, served, logits_processor=logits_processor, seed=seed, progress=self.show)

    def scores(self, prompts: Sequence[Prompt], answers: Sequence[str]) -> list:
        """The model's `score` of each answer (None for one too long for its context)."""
        if not prompts:
            return []
        self.n += len(prompts)
        items = [(_messages(p), a) for p, a in zip(prompts, answers)]
        try:
            return self.model.score(items, progress=self.show)
        except InputError:  # too long for this model's context: score the others, None for these
            return [self._score_one(it) for it in items]

    def mean_logprob(self, prompts: Sequence[Prompt], answers: Sequence[str]) -> np.ndarray:
        """Log-likelihood of each answer per character (`likelihood.per_character`)."""
        return per_character(self.scores(prompts, answers), answers) if prompts else np.zeros(0)

    def _score_one(self, item):
        try:
            return self.model.score([item])[0]
        except InputError:
            self.failed += 1
            return None


def trace(
    suspect: ModelLike,
    teacher: ModelLike,
    controls: Sequence[ModelLike],
    *,
    budget: int = 300,
    probes: Sequence[str] | str | None = None,
    alpha: float = 0.01,
    seed: int = 0,
    progress: bool | Callable[[TraceRound], None] = False,
    rounds: int = 3,
    max_tokens: int = 32,
    prefix_lengths: Sequence[int] = (1, 8),
    teacher_names: Sequence[str] | None = None,
    identity: bool = True,
    embedder: Embedder | str = "auto",
    n_permutations: int = 1000,
    decisive: Sequence[str] | None = None,
    served: Sequence[ServedAnswer] | None = None,
    served_watermark: Any = None,
    matched_controls: int | None = None,
    match_prompts: int = 40,
) -> TraceResult:
    """Test whether `suspect` was distilled from `teacher`, against `controls` (at least two advised).

    Models are `Model`s or model strings. `probes` is the pool of probe prompts (a list, or a source for
    `distillwatch.data.load_prompts`; default ShareGPT). The candidates (teacher and controls) answer
    the whole pool greedily; each round then puts new prompts to the suspect — half chosen where the
    candidates disagree most, half at random (the distribution and style tests use only the random half,
    whose control answers are not selected on) — and scores the candidates' answers under the suspect
    when it can score. `budget` bounds the suspect's requests (generations plus scored answers plus
    identity probes). Alpha is spent over the `rounds` looks as α·t²; the run stops at the first look
    that rejects. `progress`: True shows the models' progress bars; a callable gets each `TraceRound`.
    `decisive` names the tests that can make the verdict "derived" (Holm over them); the others are
    reported as supporting evidence. The default is `verdict.DECISIVE` (agreement and served), or
    `verdict.DECISIVE_SERVED` (served alone) when served answers are given (see `verdict` for why).

    `served`: answers the teacher served, e.g. to the accounts `scan` flagged (`served.load_served` reads
    them from the gateway's log). With them, three quarters of the budget go to the served-answer test:
    the teacher redraws a fresh answer to each prompt with the served settings, and the suspect scores
    both, compared with the teacher's own scoring of each (`served.teacher_referenced`; the teacher's
    scoring is not the suspect's and does not count against `budget`). A suspect that cannot score answers
    instead, and its answer is compared to both; a teacher that cannot score leaves the suspect's plain
    log-likelihood per character. `served_watermark` (a `WatermarkConfig`, spec string or config file) is
    the watermark they were served with, applied to the redraw when the teacher is the bare local model; a
    teacher behind the gateway watermarks on its own.

    `matched_controls` = k: treat `controls` as a pool of models known not to be derived from the teacher
    and keep the k that resemble the teacher most (`controls.match_controls`), judged on `match_prompts`
    further prompts of the pool that the tests never use. Only the teacher and the pool answer them (these
    queries do not count against `budget`).
    """
    if not controls:
        raise ValueError("trace needs at least one control model (two or more advised)")
    if decisive is None:
        decisive = DECISIVE_SERVED if served else DECISIVE
    show = progress is True
    s = _Counted(_resolve(suspect), show)
    t = _Counted(_resolve(teacher), show)
    cs = [_Counted(_resolve(c), show) for c in controls]
    rng = np.random.default_rng(seed)
    emb = embedder if isinstance(embedder, Embedder) else Embedder(embedder)
    match, match_keys = None, set()
    if matched_controls is not None and matched_controls < len(cs):
        cs, match, match_keys = _matched(t, cs, matched_controls, probes, match_prompts, max_tokens, emb, seed)
    candidates = [t, *cs]
    m = len(cs)
    names = _unique([c.model_id for c in candidates])

    id_prompts = identity_probes(budget) if identity else []
    _, n_served, n_total = budget_split(budget, n_identity=len(id_prompts), n_served=len(served or ()),
                                        n_controls=m, suspect_scores=s.can_score)
    chosen: list[ServedAnswer] = []
    if served:
        chosen = [served[i] for i in np.sort(rng.choice(len(served), size=n_served, replace=False))]
    pool = _pool(probes, n_total, seed)
    pool = [p for p in pool if _key(p) not in match_keys]  # the prompts the controls were chosen on stay out
    n_total = min(n_total, len(pool))
    rounds = max(1, min(rounds, max(n_total, len(chosen)) // 8 or 1))
    fresh = t.sample(chosen, _processor(served_watermark, t.model), seed) if chosen else []

    answers = np.array([c.answer(pool, max_tokens) for c in candidates], dtype=object)  # (m+1, pool)
    keys = np.stack([prefix_keys(list(a), prefix_lengths) for a in answers])  # (m+1, pool, levels)

    id_evidence = None
    if id_prompts:
        wanted = list(teacher_names) if teacher_names else _default_names(t.model_id)
        s_hits = identity_hits(s.answer(id_prompts, max_tokens), wanted)
        c_hits = np.stack([identity_hits(c.answer(id_prompts, max_tokens), wanted) for c in cs])
        e = identity_test(s_hits, c_hits)
        id_evidence = Evidence(**{**e.__dict__, "details": {**e.details, "names": wanted}})

    weights = spending_weights(rounds)
    used_sel: list[int] = []
    used_rand: list[int] = []
    s_text: dict[int, str] = {}
    s_lp: dict[int, np.ndarray] = {}  # prompt -> suspect's mean logprob of each candidate's answer
    base: dict[int, np.ndarray] = {}  # prompt -> baseline difference per control
    close_served: list[np.ndarray] = []  # per look, (answers, measures): the suspect's closeness to each served
    close_fresh: list[np.ndarray] = []  # answer used, and to its fresh redraw
    close_kind = "log-likelihood per character"
    history: list[TraceRound] = []
    overall_p, verdict, evidence = 1.0, "inconclusive", []
    for r in range(rounds):
        target = round(n_total * (r + 1) / rounds) - len(used_sel) - len(used_rand)
        free = np.setdiff1d(np.arange(len(pool)), used_sel + used_rand)
        n_rand = min(len(free), target // 2)
        rand = rng.choice(free, size=n_rand, replace=False).tolist() if n_rand else []
        sel = select_probes(keys[:, :, -1], target - n_rand, rng, exclude=used_sel + used_rand + rand).tolist()
        new = sel + rand
        for i, text in zip(new, s.answer([pool[i] for i in new], max_tokens)):
            s_text[i] = text
        if s.can_score and new:
            try:
                lps = np.stack([s.mean_logprob([pool[i] for i in new], [answers[k, i] for i in new])
                                for k in range(m + 1)], axis=1)
            except UnsupportedOperation:  # e.g. a server without echo: no likelihood test
                s.can_score = False
                new_scored = False
            else:
                new_scored = True
        else:
            new_scored = False
        if new_scored:
            base_new = _baseline(cs, t, answers, pool, new)
            for row, i in enumerate(new):
                s_lp[i] = lps[row]
                if base_new is not None:
                    base[i] = base_new[row]
        used_sel += sel
        used_rand += rand
        part = range(sum(map(len, close_served)), round(len(chosen) * (r + 1) / rounds))
        if part:
            a, b, close_kind = _served_closeness(s, t, [chosen[i] for i in part], [fresh[i] for i in part], max_tokens)
            close_served.append(a)
            close_fresh.append(b)

        evidence = _run_tests(
            s_text, s_lp, base, used_sel + used_rand, used_rand, answers, keys, prefix_lengths, names,
            emb, m, n_permutations, seed + r,
        )
        if close_served:
            evidence.append(served_test(np.concatenate(close_served), np.concatenate(close_fresh), closeness=close_kind))
        if id_evidence is not None:
            evidence.append(id_evidence)
        level = float(weights[r] * alpha)
        decision = combine(evidence, level, final=r == rounds - 1, decisive=decisive)
        overall_p = min(overall_p, min(1.0, decision.p_value / weights[r]))
        verdict = decision.verdict
        look = TraceRound(r + 1, s.n, s.n + sum(c.n for c in candidates), len(s_text), decision.p_value,
                          level, verdict, list(evidence))
        history.append(look)
        if callable(progress):
            progress(look)
        if verdict == "derived":
            break

    agreement = next((e for e in evidence if e.test == "agreement"), None)
    matrix = {}
    if agreement is not None:
        matrix = {"suspect": {n: v[-1] for n, v in agreement.details["agreement_rates"].items()}}
    matrix.update(_candidate_agreement(keys[:, :, -1], names))
    return TraceResult(
        verdict=verdict,
        p_value=float(overall_p),
        queries=s.n,
        evidence=evidence,
        rounds=history,
        queries_by_model={"suspect": s.n, **{n: c.n for n, c in zip(names, candidates)}},
        models={"suspect": s.model_id, "teacher": t.model_id, "controls": [c.model_id for c in cs]},
        alpha=alpha,
        budget=budget,
        agreement_matrix=matrix,
        decisive=list(decisive),
        control_match=match,
    )


def identity_probes(budget: int) -> list[str]:
    """The identity probes `trace` puts to the suspect under `budget`: a tenth of it at most."""
    from ..data import load_prompts

    return [r.prompt for r in load_prompts("probes:identity").records][: max(0, budget // 10)]


def budget_split(budget: int, *, n_identity: int, n_served: int, n_controls: int, suspect_scores: bool = True
                 ) -> tuple[int, int, int]:
    """How `trace` spends `budget` suspect queries: (identity probes, served answers tested, probe prompts).

    The identity probes come first (`n_identity` of them); three quarters of the rest go to the served
    answers (`n_served` available; two queries each when the suspect scores, one otherwise), and what is
    left to probe prompts, each answered and, when the suspect scores, scoring the teacher's and every
    control's answer."""
    left = budget - n_identity
    per_served = 2 if suspect_scores else 1
    served = min(n_served, (left * 3 // 4) // per_served) if n_served else 0
    left -= served * per_served
    per_prompt = 1 + ((n_controls + 1) if suspect_scores else 0)
    return n_identity, served, max(0, left // per_prompt)


def _matched(t: _Counted, pool: list[_Counted], k: int, probes, n_prompts: int, max_tokens: int,
             emb: Embedder, seed: int) -> tuple[list[_Counted], dict[str, Any], set[str]]:
    """The k pool models most like the teacher, judged on `n_prompts` prompts drawn apart from the tests';
    the choice's record; the keys of those prompts."""
    prompts = _pool(probes, n_prompts, seed + 7919)[-n_prompts:]
    t_ans = t.answer(prompts, max_tokens)
    choice = match_controls(t_ans, [c.answer(prompts, max_tokens) for c in pool], k, embed=emb.embed,
                            names=[c.model_id for c in pool])
    return [pool[i] for i in choice.chosen], choice.to_dict(), {_key(p) for p in prompts}


def _key(prompt: Prompt) -> str:
    return prompt if isinstance(prompt, str) else repr(prompt)


def _run_tests(s_text, s_lp, base, used, explore, answers, keys, prefix_lengths, names, emb, m,
               n_permutations, seed) -> list[Evidence]:
    evidence = []
    if used:
        s_keys = prefix_keys([s_text[i] for i in used], prefix_lengths)
        evidence.append(agreement_test(s_keys, keys[0, used], [keys[1 + j, used] for j in range(m)],
                                       names=names))
    scored = [i for i in used if i in s_lp]
    if len(scored) >= 2:
        lp = np.stack([s_lp[i] for i in scored])
        b = np.stack([base[i] for i in scored]) if all(i in base for i in scored) else None
        evidence.append(likelihood_test(lp[:, :1] - lp[:, 1:], b))
    if len(explore) >= 4:
        texts = [[s_text[i] for i in explore]] + [list(answers[k, explore]) for k in range(m + 1)]
        flat = [x for group in texts for x in group]
        e = emb.embed(flat)
        x = np.hstack([e, lexical_features(flat)])
        n = len(explore)
        blocks = [slice(k * n, (k + 1) * n) for k in range(m + 2)]
        evidence.append(mmd_test(e[blocks[0]], e[blocks[1]], [e[blk] for blk in blocks[2:]],
                                 n_permutations=n_permutations, seed=seed))
        evidence.append(style_test(x[blocks[0]], x[blocks[1]], np.stack([x[blk] for blk in blocks[2:]]),
                                   seed=seed))
    return evidence


def _served_closeness(s: _Counted, t: _Counted, items: list[ServedAnswer], fresh: list[str], max_tokens: int
                      ) -> tuple[np.ndarray, np.ndarray, str | tuple[str, ...]]:
    """The suspect's closeness to each served answer and to its fresh redraw, (n, measures) each, and the
    measures' names: two referenced to the teacher's scoring when both score (`served.teacher_referenced`),
    its log-likelihood per character when only the suspect scores, else how many leading words its own
    answer shares with each."""
    prompts = [it.prompt for it in items]
    served = [it.answer for it in items]
    if s.can_score:
        try:
            s_served, s_fresh = s.scores(prompts, served), s.scores(prompts, fresh)
        except UnsupportedOperation:  # e.g. a server without echo
            s.can_score = False
        else:
            if t.can_score:
                try:
                    t_served, t_fresh = t.scores(prompts, served), t.scores(prompts, fresh)
                except UnsupportedOperation:
                    t.can_score = False
                else:
                    return (teacher_referenced(s_served, t_served, served), teacher_referenced(s_fresh, t_fresh, fresh),
                            TEACHER_REFERENCED)
            return (per_character(s_served, served)[:, None], per_character(s_fresh, fresh)[:, None],
                    "log-likelihood per character")
    own = s.answer(prompts, max_tokens)
    pairs = np.array([prefix_overlap(a, [it.answer, f]) for a, it, f in zip(own, items, fresh)]).reshape(-1, 2)
    return pairs[:, :1], pairs[:, 1:], "leading words shared with the suspect's greedy answer"


def _processor(watermark: Any, model: Model):
    """The logits processor of `watermark` (a config or spec string) for `model`'s vocabulary, or None."""
    if watermark is None:
        return None
    from ..watermark import WatermarkConfig, make_logits_processor

    config = watermark if isinstance(watermark, WatermarkConfig) else WatermarkConfig.parse(str(watermark))
    vocab = getattr(model, "vocab_size", None)
    if not vocab:
        raise UnsupportedOperation(f"{model.model_id} has no local vocabulary to apply the served watermark with; "
                                   "redraw through the server that watermarked the answers")
    return make_logits_processor(config, int(vocab))


def _baseline(cs, t, answers, pool, new) -> np.ndarray | None:
    """Per control j, the teacher-minus-control log-likelihood difference under another control."""
    if len(cs) < 2 or not all(c.can_score for c in cs):
        return None
    prompts = [pool[i] for i in new]
    cols = []
    try:
        for j in range(len(cs)):
            ref = cs[(j + 1) % len(cs)]
            on_t = ref.mean_logprob(prompts, [answers[0, i] for i in new])
            on_c = ref.mean_logprob(prompts, [answers[1 + j, i] for i in new])
            cols.append(on_t - on_c)
    except UnsupportedOperation:
        for c in cs:
            c.can_score = False
        return None
    return np.stack(cols, axis=1)


def _candidate_agreement(keys: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    return {a: {b: float(np.mean(keys[i] == keys[j])) for j, b in enumerate(names)} for i, a in enumerate(names)}


def _messages(prompt: Prompt) -> list[dict]:
    """A bare probe string is one user message; chat messages pass as they are."""
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]


def _resolve(model: ModelLike) -> Model:
    return get_model(model) if isinstance(model, str) else model


def _pool(probes, n_total: int, seed: int) -> list[str]:
    if probes is None:
        from ..data import load_prompts

        return [r.prompt for r in load_prompts("sharegpt", max(3 * n_total, 30), seed=seed).records]
    if isinstance(probes, str):
        from ..data import load_prompts

        return [r.prompt for r in load_prompts(probes, seed=seed).records]
    return list(probes)


def _default_names(model_id: str) -> list[str]:
    """The teacher's own name, guessed from its model string: the last path part, without the provider
    (nothing when that is under three characters: too likely to occur by chance)."""
    tail = re.split(r"[/@]", model_id.split("/", 1)[-1].split("@", 1)[0].rstrip("/"))[-1]
    return [tail] if len(tail) >= 3 else []


def _unique(ids: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
        out.append(i if seen[i] == 1 else f"{i}#{seen[i]}")
    return out

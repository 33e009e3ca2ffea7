"""How much work each step of the demo does: the default run (about a quarter of an hour on a 2-core
laptop) and `--quick` (a few minutes, the same chain with smaller numbers)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["DemoBudget"]


@dataclass(frozen=True)
class DemoBudget:
    """Sizes of every step. Answers are capped (`benign_tokens`, `harvest_tokens`) and prompts cut to
    `max_chars` so that real generation on a CPU fits the run; everything else is as in production."""

    name: str = "default"
    # the provider's traffic: benign accounts over one simulated day, plus a hydra campaign
    accounts: int = 300
    volume: float = 0.05
    campaign_accounts: int = 24
    campaign_requests: int = 200
    benign_tokens: int = 6
    harvest_tokens: int = 48
    max_chars: int = 200
    concurrency: int = 16  # requests in flight (more only queue: each is admitted, or refused, on arrival)
    max_batch: int = 16
    fpr: float = 0.01
    scan_refresh_every: int = 40
    # the lab: the students
    sibling_prompts: int = 40  # also the size of the independent model's data
    epochs: int = 40
    preset: str = "tiny"
    tokenizer_vocab: int = 2048
    # the evidence
    radioactivity_tokens: int = 64
    wrong_keys: int = 20
    trace_budget: int = 100
    trace_tokens: int = 32  # answer length of trace's probes (the agreement test reads the first words)
    audit_harmful: int = 150
    audit_benign: int = 20
    audit_pairs: int = 10
    audit_tokens: int = 32  # refusals show in the first words; longer answers only cost time
    audit_validate_judge: bool = True  # re-measure the refusal judge on 169 human labels

    @classmethod
    def quick(cls) -> "DemoBudget":
        return cls(name="quick", accounts=120, volume=0.02, campaign_accounts=12, campaign_requests=150, scan_refresh_every=20,
                   benign_tokens=4, harvest_tokens=32, max_chars=160, sibling_prompts=12,
                   radioactivity_tokens=32, wrong_keys=10, trace_budget=96, trace_tokens=16, audit_harmful=12, audit_benign=4,
                   audit_pairs=3, audit_tokens=32, audit_validate_judge=False)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self, *fields: str) -> str:
        """A short hash of the named fields (all when none): a cached step is reused only if it matches."""
        d = self.to_dict()
        picked = {k: d[k] for k in (fields or sorted(d))}
        return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:12]

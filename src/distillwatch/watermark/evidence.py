"""`Evidence`: what every statistical test in distillwatch returns (see DESIGN.md, "Core contracts").

Defined here because the watermark tests needed it first; `provenance` is its natural home and may
take it over (then this module should re-export it from there).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Evidence"]


@dataclass(frozen=True)
class Evidence:
    """The outcome of one statistical test.

    statistic: the test statistic (e.g. the number of green tokens); p_value: exact, or from the
    procedure named in `method`; effect_size: how far the data sit from the null, on a scale the
    method states; n: the number of scored units; method: what was computed; null_hypothesis: the
    hypothesis the p-value is computed under; details: method-specific numbers (JSON-serialisable).
    """

    statistic: float
    p_value: float
    effect_size: float
    n: int
    method: str
    null_hypothesis: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (0.0 <= self.p_value <= 1.0) and not math.isnan(self.p_value):
            raise ValueError(f"p_value must be in [0, 1], got {self.p_value}")
        if self.n < 0:
            raise ValueError(f"n must be >= 0, got {self.n}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

"""`Evidence`: the one record every statistical test in distillwatch returns — watermark detection,
radioactivity, the provenance tests of `trace` — so that verdicts, reports and run logs read them alike.

Fields are keyword-only so that `test` (the registered name of the test that produced the record) can
come first and still default to "" — constructors written before it existed keep working.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Evidence"]


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """The outcome of one statistical test.

    test: the registered name of the test ("agreement", "likelihood", ...); statistic: the test
    statistic; p_value: exact, or from the procedure named in `method` (never a heuristic score);
    effect_size: how far the data sit from the null, on a scale `details["effect_scale"]` or the method
    states; n: the number of scored units (prompts, answers); method: what was computed;
    null_hypothesis: the hypothesis the p-value is computed under; details: method-specific numbers,
    JSON-serialisable.
    """

    test: str = ""
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
        return _jsonable(dataclasses.asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    return value

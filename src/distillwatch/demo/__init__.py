"""`distillwatch demo`: the whole story end to end, offline, on one laptop (see `chain`)."""

from .budget import DemoBudget
from .chain import SIBLING_TEACHER, TEACHER, run_demo

__all__ = ["DemoBudget", "SIBLING_TEACHER", "TEACHER", "run_demo"]

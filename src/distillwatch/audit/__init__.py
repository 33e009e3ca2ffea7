"""`distillwatch.audit`: the risk card for anyone about to deploy a possibly-distilled model — safety
regression, over-refusal, generalization gap, style vs substance, identity and provenance."""

from .card import risk_card, write_card
from .datasets import HARMFUL_SETS, benign_sensitive_prompts, harmful_prompts, human_refusal_labels, mmlu_rows
from .gap import GapResult, generalization_gap, score_items
from .items import FAMILIES, Item, ItemPair, benchmark_pairs, task_family_pairs
from .refusal import ModelJudge, PatternJudge, RelevanceJudge, get_judge, judge_accuracy
from .run import AuditConfig, AuditResult, audit, findings
from .safety import answer_prompts, compare_refusals

__all__ = [
    "FAMILIES", "HARMFUL_SETS", "AuditConfig", "AuditResult", "GapResult", "Item", "ItemPair", "ModelJudge",
    "PatternJudge", "RelevanceJudge", "answer_prompts", "audit", "benchmark_pairs", "benign_sensitive_prompts",
    "compare_refusals", "findings", "generalization_gap", "get_judge", "harmful_prompts", "human_refusal_labels",
    "judge_accuracy", "mmlu_rows", "risk_card", "score_items", "task_family_pairs", "write_card",
]

"""Models: one protocol, several backends, named by strings.

    >>> from distillwatch.models import get_model, GenerateRequest
    >>> model = get_model("mock/demo")
    >>> [c.text for c in model.generate([GenerateRequest("Name three colours.", max_tokens=8)])]  # doctest: +SKIP
"""

from ._base import BaseModel
from ._cache import ResponseCache
from ._registry import PROVIDERS, default_cache, get_model, parse_model_args
from ._types import (
    Completion,
    GenerateRequest,
    LogitsProcessor,
    Model,
    Prompt,
    ScoreItem,
    TokenScores,
    context_room,
    is_chat,
)

__all__ = [
    "BaseModel",
    "Completion",
    "GenerateRequest",
    "LogitsProcessor",
    "Model",
    "PROVIDERS",
    "Prompt",
    "ResponseCache",
    "ScoreItem",
    "TokenScores",
    "context_room",
    "default_cache",
    "get_model",
    "is_chat",
    "parse_model_args",
]

"""Prompt sets: real user prompts (ShareGPT, from a registry package), prompt files, and the sets
distillwatch ships."""

from .prompt_files import PromptFile, PromptRecord, read_prompt_file
from .sharegpt import iter_conversations, iter_user_prompts, user_prompts
from .sources import load_prompts, packaged_prompt_sets, prompt_id

__all__ = [
    "PromptFile",
    "PromptRecord",
    "iter_conversations",
    "iter_user_prompts",
    "load_prompts",
    "packaged_prompt_sets",
    "prompt_id",
    "read_prompt_file",
    "user_prompts",
]

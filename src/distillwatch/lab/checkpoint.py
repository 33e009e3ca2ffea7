"""Lab checkpoints: ordinary transformers directories with the training metadata beside them.

A checkpoint holds the model (safetensors + config), the tokenizer with its chat template, a generation
config that stops at the end of an answer, and ``distillwatch_train.json`` — what it was trained on
(`data_sha256`, sources), how (hyper-parameters, seed, loss curve) and from what (teacher, init).
`AutoModelForCausalLM.from_pretrained(dir)` and `AutoTokenizer.from_pretrained(dir)` load it as is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["METADATA_FILE", "load_checkpoint", "read_metadata", "save_checkpoint"]

METADATA_FILE = "distillwatch_train.json"


def save_checkpoint(model: Any, tokenizer: Any, out_dir: str | Path, metadata: dict[str, Any]) -> Path:
    """Save model, tokenizer and `metadata` to `out_dir`; generation stops at the chat's end token."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = model.generation_config
    stops = [tokenizer.eos_token_id]
    vocab = tokenizer.get_vocab()
    for name in ("<|im_end|>", "<|endoftext|>"):
        tid = vocab.get(name)
        if tid is not None and tid not in stops:
            stops.append(tid)
    gen.eos_token_id = stops
    gen.pad_token_id = tokenizer.pad_token_id
    if tokenizer.bos_token_id is not None:
        gen.bos_token_id = tokenizer.bos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=1) + "\n")
    return out


def load_checkpoint(path: str | Path) -> tuple[Any, Any]:
    """(model, tokenizer) of a checkpoint directory, the model in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(path))
    model.eval()
    return model, AutoTokenizer.from_pretrained(str(path))


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The training metadata of a checkpoint directory ({} for a model the lab did not train)."""
    file = Path(path) / METADATA_FILE
    return json.loads(file.read_text()) if file.exists() else {}

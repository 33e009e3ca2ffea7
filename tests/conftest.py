"""Shared fixtures: an isolated response cache, and a tiny real transformers model built in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Isolate the response cache and home, but keep the (expensive) dequantized bundled models shared.
_real_models = None


def pytest_configure(config):
    global _real_models
    from distillwatch.paths import models_cache_dir

    _real_models = str(models_cache_dir())
    os.environ.setdefault("DISTILLWATCH_MODELS_DIR", _real_models)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILLWATCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DISTILLWATCH_HOME", str(tmp_path / "home"))
    from distillwatch.models import _registry

    _registry._caches.clear()
    yield


TINY_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Red, blue and yellow are the primary colours.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "A model answers questions; a student learns from a teacher.",
    "Paris is the capital of France. Berlin is the capital of Germany.",
    "One, two, three, four, five, six, seven, eight, nine, ten.",
]

CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_tiny_model(out: Path, seed: int = 0, chat_template: bool = True) -> Path:
    """A randomly initialised 2-layer Llama with a 300-token byte-level BPE, saved as an HF dir."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(TINY_CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token="<|im_start|>"
    )
    if chat_template:
        fast.chat_template = CHATML
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def build_tiny():
    """The builder itself, for tests that need a variant (another seed, no chat template)."""
    return build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_model_dir_b(tmp_path_factory) -> Path:
    """A second tiny model with other weights (a different 'model')."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny_b") / "model", seed=1)


@pytest.fixture(scope="session")
def _tiny_loaded(tiny_model_dir):
    from distillwatch.models.hf import HFModel

    return HFModel(tiny_model_dir, cache=None)


@pytest.fixture
def tiny_model(_tiny_loaded):
    """The tiny model without a cache (the session-wide instance; tests must not change its settings)."""
    _tiny_loaded.cache = None
    _tiny_loaded.batch_size = 8
    return _tiny_loaded

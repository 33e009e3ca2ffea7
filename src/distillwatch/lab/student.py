"""The shape of a from-scratch student model and its presets.

A `StudentConfig` describes a small decoder — Llama (RMSNorm, rotary positions, SwiGLU) or GPT-2
(LayerNorm, learned positions, GELU) — and builds a transformers `LlamaForCausalLM` /
`GPT2LMHeadModel` whose vocabulary is the tokenizer's. Presets are named by their rough size with a
4k-token vocabulary (the embeddings are a large share of a small model; `n_params` tells exactly):

========  =======  ========  =======  =====  ============
preset    d_model  n_layers  n_heads  d_ff   params @ 4k
========  =======  ========  =======  =====  ============
``tiny``       64         2        4    128        ~0.34M (~0.1M @ 512)
``1m``        128         4        4    384        ~1.4M
``5m``        256         5        8    768        ~5.3M
``20m``       384        10        6   1152       ~20.8M (llama; gpt2 is smaller)
========  =======  ========  =======  =====  ============
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["PRESETS", "StudentConfig"]

ARCHS = ("llama", "gpt2")


@dataclass(frozen=True)
class StudentConfig:
    """Hyper-parameters of a student decoder, stored as given.

    `d_ff` None means ``4 * d_model`` for gpt2 and ``3 * d_model`` for llama (whose SwiGLU has three
    matrices). `n_kv_heads` None means as many as `n_heads` (no grouped-query attention).
    """

    arch: str = "llama"
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int | None = 384
    max_len: int = 256
    n_kv_heads: int | None = None
    dropout: float = 0.0
    tie_embeddings: bool = True
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if self.n_kv_heads is not None and self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> StudentConfig:
        """A named preset (``"tiny"``, ``"1m"``, ``"5m"``, ``"20m"``), with fields overridden."""
        try:
            base = PRESETS[name.lower()]
        except KeyError:
            raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
        return dataclasses.replace(base, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def ffn_dim(self) -> int:
        if self.d_ff is not None:
            return self.d_ff
        return 4 * self.d_model if self.arch == "gpt2" else 3 * self.d_model

    def hf_config(self, tokenizer: Any) -> Any:
        """The transformers config for this shape, with the tokenizer's vocabulary and special ids."""
        vocab_size = len(tokenizer)
        eos = tokenizer.eos_token_id
        bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
        if self.arch == "gpt2":
            from transformers import GPT2Config

            return GPT2Config(
                vocab_size=vocab_size,
                n_positions=self.max_len,
                n_embd=self.d_model,
                n_layer=self.n_layers,
                n_head=self.n_heads,
                n_inner=self.ffn_dim,
                resid_pdrop=self.dropout,
                embd_pdrop=self.dropout,
                attn_pdrop=self.dropout,
                bos_token_id=bos,
                eos_token_id=eos,
                pad_token_id=pad,
                tie_word_embeddings=self.tie_embeddings,
            )
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=self.d_model,
            intermediate_size=self.ffn_dim,
            num_hidden_layers=self.n_layers,
            num_attention_heads=self.n_heads,
            num_key_value_heads=self.n_kv_heads or self.n_heads,
            max_position_embeddings=self.max_len,
            attention_dropout=self.dropout,
            rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta},
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=pad,
            tie_word_embeddings=self.tie_embeddings,
        )

    def build(self, tokenizer: Any, *, seed: int = 0) -> Any:
        """A freshly initialised model, the same for the same seed; the global RNG is left untouched."""
        import torch
        from transformers import AutoModelForCausalLM

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_config(self.hf_config(tokenizer), dtype=torch.float32)
        return model

    def n_params(self, tokenizer: Any) -> int:
        """The number of parameters (tied embeddings counted once), without allocating the model."""
        import torch
        from transformers import AutoModelForCausalLM

        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(self.hf_config(tokenizer))
        return sum(p.numel() for p in model.parameters())


PRESETS: dict[str, StudentConfig] = {
    "tiny": StudentConfig(d_model=64, n_layers=2, n_heads=4, d_ff=128, max_len=256),
    "1m": StudentConfig(d_model=128, n_layers=4, n_heads=4, d_ff=384, max_len=256),
    "5m": StudentConfig(d_model=256, n_layers=5, n_heads=8, d_ff=768, max_len=256),
    "20m": StudentConfig(d_model=384, n_layers=10, n_heads=6, d_ff=1152, max_len=512),
}

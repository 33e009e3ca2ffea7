"""The lab: tiny-model training and distillation, for ground truth the detectors are measured against.

::

    corpus      Example, mix (ρ teacher / 1-ρ human), data_sha256
    human       human_texts from offline sources (pydoc topics, stdlib docstrings, ShareGPT human turns)
    tokenizer   train_tokenizer (byte-level BPE + ChatML template), load_tokenizer
    encoding    chat formatting with prompt tokens masked, padding
    student     StudentConfig and its presets (tiny, 1m, 5m, 20m)
    train       train_student, finetune (sequence- and logit-level distillation)
    checkpoint  save_checkpoint, load_checkpoint, read_metadata (HF directory + distillwatch_train.json)
    harvesting  ask a teacher many prompts, resumably (the distiller's first step)
    traffic_sim simulated API traffic with ground truth (benign personas, campaigns)
    replay      replay_traffic: send a traffic log to a gateway over HTTP, on the traffic's own clock
    closeness   held-out loss on a teacher's answers, student × teacher closeness table
    zoo         build_zoo from a spec (teachers, harvests, students, independents) with a ground-truth manifest

Names are imported lazily: ``import distillwatch.lab`` does not import torch or transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ClosenessTable",
    "HarvestResult",
    "Example",
    "ReplayClock",
    "ReplayResult",
    "StudentConfig",
    "TrainResult",
    "ZooManifest",
    "ZooSpec",
    "as_examples",
    "closeness_table",
    "data_sha256",
    "example_losses",
    "finetune",
    "harvest",
    "heldout_kl",
    "heldout_loss",
    "human_prompts",
    "human_texts",
    "build_zoo",
    "load_checkpoint",
    "load_spec",
    "load_tokenizer",
    "mix",
    "read_harvest",
    "simulate_traffic",
    "read_manifest",
    "read_metadata",
    "replay_traffic",
    "save_checkpoint",
    "train_student",
    "train_tokenizer",
]

_HOME = {
    "simulate_traffic": "traffic_sim",
    "ReplayClock": "replay",
    "ReplayResult": "replay",
    "replay_traffic": "replay",
    "HarvestResult": "harvesting",
    "harvest": "harvesting",
    "read_harvest": "harvesting",
    "ClosenessTable": "closeness",
    "closeness_table": "closeness",
    "example_losses": "closeness",
    "heldout_kl": "closeness",
    "heldout_loss": "closeness",
    "Example": "corpus",
    "as_examples": "corpus",
    "data_sha256": "corpus",
    "human_prompts": "human",
    "human_texts": "human",
    "mix": "corpus",
    "StudentConfig": "student",
    "TrainResult": "train",
    "finetune": "train",
    "load_checkpoint": "checkpoint",
    "read_metadata": "checkpoint",
    "save_checkpoint": "checkpoint",
    "train_student": "train",
    "load_tokenizer": "tokenizer",
    "train_tokenizer": "tokenizer",
    "ZooManifest": "zoo",
    "ZooSpec": "zoo",
    "build_zoo": "zoo",
    "load_spec": "zoo",
    "read_manifest": "zoo",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""Fixtures for the provenance tests: the tiny zoo (teacher, two controls, a student of the teacher and a
sibling), loaded as cached HF models, and one sentence embedder for the session."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread when other processes share the cores (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """{name: HFModel} for T, C1, C2, student (distilled from T's sampled answers), sibling (from U)."""
    from distillwatch.models import ResponseCache
    from distillwatch.models.hf import HFModel

    from .zoo import build_zoo

    root = tmp_path_factory.mktemp("zoo")
    cache = ResponseCache(root / "responses.sqlite")
    return {name: HFModel(path, cache=cache) for name, path in build_zoo(root).items()}


@pytest.fixture(scope="session")
def embedder():
    from distillwatch.provenance import Embedder

    return Embedder()

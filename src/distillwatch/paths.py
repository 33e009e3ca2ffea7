"""Where distillwatch keeps its files: the response cache, dequantized models, keys and state.

`DISTILLWATCH_CACHE_DIR` overrides the cache directory (default: the platform's user cache dir),
`DISTILLWATCH_MODELS_DIR` the folder of dequantized models inside it;
`DISTILLWATCH_HOME` overrides the home of keys, policies and state (default `~/.distillwatch`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "home_dir", "models_cache_dir", "response_cache_path"]


def cache_dir() -> Path:
    env = os.environ.get("DISTILLWATCH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("distillwatch"))


def home_dir() -> Path:
    return Path(os.environ.get("DISTILLWATCH_HOME", "~/.distillwatch")).expanduser()


def models_cache_dir() -> Path:
    """Dequantized bundled models; `DISTILLWATCH_MODELS_DIR` overrides (default: `<cache dir>/models`)."""
    env = os.environ.get("DISTILLWATCH_MODELS_DIR")
    return Path(env).expanduser() if env else cache_dir() / "models"


def response_cache_path() -> Path:
    return cache_dir() / "responses.sqlite"

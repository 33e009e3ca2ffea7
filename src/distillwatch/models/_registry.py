"""Model strings → backends, imported lazily so that a missing extra only matters when it is used.

    hf/<local dir>                     a transformers directory (extra: hf)
    bundled/<name>                     a real model shipped in a registry package (extra: hf)
    llamacpp/<file.gguf | bundled name> a GGUF run by llama.cpp, ~6x faster generation (extra: llamacpp)
    openai/<model>@<base_url>          any OpenAI-compatible server
    mock/<name>                        a deterministic test double

Backend arguments come as keyword arguments, or from the CLI as `-M key=value` (see `parse_model_args`).
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from ..errors import ModelStringError
from ..paths import response_cache_path
from ._cache import ResponseCache
from ._types import Model

__all__ = ["get_model", "parse_model_args", "default_cache", "PROVIDERS"]

PROVIDERS = {
    "hf": "hf/<local dir>",
    "bundled": "bundled/<name>",
    "llamacpp": "llamacpp/<file.gguf or bundled name>",
    "openai": "openai/<model>@<base_url>",
    "mock": "mock/<name>",
}
_caches: dict[Path, ResponseCache] = {}


def default_cache() -> ResponseCache:
    """The process-wide response cache at the default path (one object per path, shared stats)."""
    path = response_cache_path()
    if path not in _caches:
        _caches[path] = ResponseCache(path)
    return _caches[path]


def parse_model_args(pairs: list[str] | None) -> dict[str, Any]:
    """`["batch_size=4", "api_key_env=MY_KEY"]` → `{"batch_size": 4, "api_key_env": "MY_KEY"}`."""
    args: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ModelStringError(f"model argument '{pair}' is not key=value")
        args[key.strip()] = _literal(value.strip())
    return args


def _literal(value: str) -> Any:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _construct(cls, model_string: str, *args, **kwargs):
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        known = ", ".join(sorted(accepted - {"cache", "path", "model", "base_url", "name", "model_id"}))
        raise ModelStringError(
            f"unknown model argument(s) {', '.join(unknown)} for {model_string}; known: {known}"
        )
    return cls(*args, **kwargs)


def get_model(model: str, *, cache: ResponseCache | bool | None = True, **args: Any) -> Model:
    """Resolve a model string to a ready backend. `cache=True` uses the default response cache,
    `False`/`None` none, or pass a `ResponseCache`."""
    if isinstance(model, str) and not model.strip():
        raise ModelStringError("empty model string")
    provider, sep, rest = model.partition("/")
    if not sep or not rest:
        raise ModelStringError(
            f"'{model}' is not a model string; write one of: " + ", ".join(PROVIDERS.values())
        )
    if provider not in PROVIDERS:
        raise ModelStringError(
            f"unknown model provider '{provider}' in '{model}'; known: " + ", ".join(PROVIDERS.values())
        )
    store = default_cache() if cache is True else (cache or None)
    if provider == "hf":
        from .hf import HFModel

        path = Path(rest).expanduser()
        if not path.exists():
            raise ModelStringError(f"'{model}': no such directory {path}")
        return _construct(HFModel, model, path, cache=store, **args)
    if provider == "bundled":
        from .bundled import BUNDLED, bundled_path
        from .hf import HFModel

        path = bundled_path(rest)
        return _construct(
            HFModel, model, path, model_id=f"bundled/{rest}", cache=store,
            extra_eos=BUNDLED[rest].extra_eos, **args,
        )
    if provider == "llamacpp":
        from .llamacpp import LlamaCppModel, resolve_gguf

        path, template, extra_eos = resolve_gguf(rest)
        args.setdefault("chat_template", template)
        args.setdefault("extra_eos", extra_eos)
        return _construct(LlamaCppModel, model, path, model_id=model, cache=store, **args)
    if provider == "openai":
        from .openai_compat import OpenAIModel

        name, at, base_url = rest.rpartition("@")
        if not at:
            name, base_url = rest, os.environ.get("OPENAI_BASE_URL", "")
            if not base_url:
                raise ModelStringError(
                    f"'{model}' names no server; write openai/<model>@http://host:port/v1 "
                    "or set OPENAI_BASE_URL"
                )
        if not name:
            raise ModelStringError(f"'{model}' names no model before '@'")
        return _construct(OpenAIModel, model, name, base_url, cache=store, **args)
    from .mock import MockModel

    return _construct(MockModel, model, rest, cache=store, **args)

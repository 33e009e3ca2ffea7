"""The OpenAI-compatible service: `serve` today (a local model with request batching); the gateway's
accounts, policy, watermarking and request log build on it."""

from .engine import BatchingEngine, EngineStats
from .openai_api import ApiError, ServerLimits, create_app, parse_generate_request
from .serving import BackgroundServer, build_app, free_port, run_server

__all__ = [
    "ApiError",
    "BackgroundServer",
    "BatchingEngine",
    "EngineStats",
    "ServerLimits",
    "build_app",
    "create_app",
    "free_port",
    "parse_generate_request",
    "run_server",
]

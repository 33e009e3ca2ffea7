"""The OpenAI-compatible service: `serve` (a local model with request batching) and the gateway in
front of it or of any OpenAI-compatible URL: accounts and keys, policy, watermarking, a durable request
log in the traffic schema, rate limits and live scoring."""

from .app import AccountState, create_gateway_app
from .engine import BatchingEngine, EngineStats
from .keys import ApiKey, KeyStore, create_key, list_keys, revoke_key
from .live import LiveScorer, RateLimiter, Verdict, WindowScorer
from .live_scan import ScanScorer
from .openai_api import ApiError, ServerLimits, create_app, parse_generate_request
from .policy import Policy, load_policy
from .reasoning import ReasoningFilter, filter_reasoning
from .request_log import RequestLog
from .service import build_gateway, make_upstream, run_gateway
from .serving import BackgroundServer, build_app, free_port, run_server
from .upstream import HttpUpstream, LocalUpstream, Upstream, UpstreamResponse

__all__ = [
    "AccountState",
    "ApiError",
    "ApiKey",
    "BackgroundServer",
    "BatchingEngine",
    "EngineStats",
    "HttpUpstream",
    "KeyStore",
    "LiveScorer",
    "LocalUpstream",
    "Policy",
    "RateLimiter",
    "ReasoningFilter",
    "RequestLog",
    "ServerLimits",
    "Upstream",
    "UpstreamResponse",
    "Verdict",
    "ScanScorer",
    "WindowScorer",
    "build_app",
    "build_gateway",
    "create_app",
    "create_gateway_app",
    "create_key",
    "filter_reasoning",
    "free_port",
    "list_keys",
    "load_policy",
    "make_upstream",
    "parse_generate_request",
    "revoke_key",
    "run_gateway",
    "run_server",
]

"""The gateway's policy: one small YAML file, every setting optional.

    logprobs:  {mode: cap, max_top_logprobs: 2, echo: false}   # allow | cap | strip
    watermark: {config: "kgw:selfhash:key=env:DW_WM_KEY:delta=2", trusted_opt_out: true}
    reasoning: {mode: strip, tags: [think]}                     # keep | strip | summarize
    limits:    {requests_per_minute: 60, tokens_per_minute: 100000, max_body_bytes: 1000000,
                max_tokens: 2048, max_n: 4, max_messages: 256}
    scoring:   {window_s: 600, requests: 500, tokens: 500000}
    actions:   {flag: 0.5, throttle: 0.8, block: 1.0, throttle_requests_per_minute: 6}
    accounts:  {acct-big: {requests_per_minute: 600, tokens_per_minute: 2000000}}
    admin_token: env:DW_ADMIN_TOKEN
    upstream_api_key: env:UPSTREAM_KEY
    trusted_proxies: [127.0.0.1]                                # take the client IP from X-Forwarded-For

Raw log-probabilities are those of the model *before* the watermark, so they leak the unwatermarked
distribution: `cap` bounds `top_logprobs` (and `logprobs` of `/v1/completions`), `strip` removes them,
and `echo` (teacher-forced scoring of any text) is refused unless allowed. The watermark is on whenever
`watermark.config` is set; a client's opt-out field (`watermarking: false`, vLLM's name, and the
aliases in `watermark.opt_out_fields`) is stripped at ingress unless the key is trusted and
`trusted_opt_out` is true. Untrusted requests are forwarded with only the fields in `FORWARDED_FIELDS`.
Secrets (`key=env:...`, `admin_token`, `upstream_api_key`) may name an environment variable.
Behind a reverse proxy, list its addresses in `trusted_proxies`: for connections from them the client IP
logged (and used to link accounts) is the first address of `X-Forwarded-For`; from anyone else the
header is ignored, so clients cannot choose the IP they are logged under.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = [
    "FORWARDED_FIELDS",
    "ActionsPolicy",
    "LimitsPolicy",
    "LogprobsPolicy",
    "Policy",
    "ReasoningPolicy",
    "ScoringPolicy",
    "WatermarkPolicy",
    "load_policy",
]

# OpenAI request fields an untrusted client may send upstream (everything else is dropped at ingress).
FORWARDED_FIELDS = frozenset({
    "model", "messages", "prompt", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n",
    "stop", "seed", "stream", "stream_options", "logprobs", "top_logprobs", "echo", "presence_penalty",
    "frequency_penalty", "logit_bias", "user", "response_format", "suffix", "return_token_ids",
})
ACTIONS = ("allow", "flag", "throttle", "block")


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    if text.startswith("env:"):
        var = text[4:]
        if var not in os.environ:
            raise InputError(f"policy: environment variable {var} is not set")
        return os.environ[var]
    return text


@dataclass(frozen=True)
class LogprobsPolicy:
    mode: str = "cap"  # allow | cap | strip
    max_top_logprobs: int = 0
    echo: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("allow", "cap", "strip"):
            raise InputError(f"policy: logprobs.mode must be allow, cap or strip, got {self.mode!r}")


@dataclass(frozen=True)
class WatermarkPolicy:
    config: Any = field(default=None, repr=False)  # anything WatermarkConfig.parse takes; None = off
    trusted_opt_out: bool = True
    opt_out_fields: tuple[str, ...] = ("watermarking", "watermark", "disable_watermark", "no_watermark")

    def parsed(self):
        if self.config is None:
            return None
        from ..watermark import WatermarkConfig

        try:
            return WatermarkConfig.parse(self.config)
        except (ValueError, TypeError) as exc:  # the message may quote the spec: keep numbers out
            raise InputError("policy: bad watermark config: " + re.sub(r"\d{3,}", "<digits>", str(exc))) from None


@dataclass(frozen=True)
class ReasoningPolicy:
    mode: str = "keep"  # keep | strip | summarize
    tags: tuple[str, ...] = ("think",)

    def __post_init__(self) -> None:
        if self.mode not in ("keep", "strip", "summarize"):
            raise InputError(f"policy: reasoning.mode must be keep, strip or summarize, got {self.mode!r}")


@dataclass(frozen=True)
class LimitsPolicy:
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_body_bytes: int = 1_000_000
    max_tokens: int = 2048
    max_n: int = 8
    max_messages: int = 256


@dataclass(frozen=True)
class ScoringPolicy:
    """The built-in live score: max(requests / `requests`, tokens / `tokens`) over the last `window_s`."""

    window_s: float = 600.0
    requests: int = 1000
    tokens: int = 1_000_000


@dataclass(frozen=True)
class ActionsPolicy:
    """Score thresholds of each action (the highest reached wins) and what throttling means."""

    flag: float = 0.5
    throttle: float = 0.8
    block: float = 1.0
    throttle_requests_per_minute: int = 6

    def action_for(self, score: float) -> str:
        for name in ("block", "throttle", "flag"):
            if score >= getattr(self, name):
                return name
        return "allow"


_SECTIONS = {"logprobs": LogprobsPolicy, "watermark": WatermarkPolicy, "reasoning": ReasoningPolicy,
             "limits": LimitsPolicy, "scoring": ScoringPolicy, "actions": ActionsPolicy}


def _section(cls, data: Any, section: str):
    if data is None:
        return cls()
    if not isinstance(data, Mapping):
        raise InputError(f"policy: '{section}' must be a mapping")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InputError(f"policy: unknown setting(s) {unknown} in '{section}'; known: {sorted(known)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    for name, value in values.items():
        kind = str(known[name].type)
        if value is None and "None" in kind:
            continue
        if kind == "bool" and not isinstance(value, bool):
            raise InputError(f"policy: {section}.{name} must be true or false, got {value!r}")
        if kind.split(" ")[0] in ("int", "float") and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise InputError(f"policy: {section}.{name} must be a non-negative number, got {value!r}")
    return cls(**values)


@dataclass(frozen=True)
class Policy:
    logprobs: LogprobsPolicy = field(default_factory=LogprobsPolicy)
    watermark: WatermarkPolicy = field(default_factory=WatermarkPolicy)
    reasoning: ReasoningPolicy = field(default_factory=ReasoningPolicy)
    limits: LimitsPolicy = field(default_factory=LimitsPolicy)
    scoring: ScoringPolicy = field(default_factory=ScoringPolicy)
    actions: ActionsPolicy = field(default_factory=ActionsPolicy)
    accounts: Mapping[str, LimitsPolicy] = field(default_factory=dict)
    admin_token: str | None = field(default=None, repr=False)
    upstream_api_key: str | None = field(default=None, repr=False)
    trusted_proxies: frozenset[str] = frozenset()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Policy:
        data = dict(data or {})
        top = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - top)
        if unknown:
            raise InputError(f"policy: unknown section(s) {unknown}; known: {sorted(top)}")
        values: dict[str, Any] = {n: _section(c, data.get(n), n) for n, c in _SECTIONS.items()}
        base = values["limits"]
        accounts = data.get("accounts") or {}
        if not isinstance(accounts, Mapping):
            raise InputError("policy: 'accounts' must map account ids to limits")
        values["accounts"] = {}
        for account, overrides in accounts.items():
            _section(LimitsPolicy, overrides, f"accounts.{account}")  # validates the names
            values["accounts"][str(account)] = replace(base, **dict(overrides or {}))
        values["admin_token"] = _secret(data.get("admin_token"))
        values["upstream_api_key"] = _secret(data.get("upstream_api_key"))
        proxies = data.get("trusted_proxies") or []
        if isinstance(proxies, str) or not all(isinstance(p, str) for p in proxies):
            raise InputError("policy: 'trusted_proxies' must be a list of IP addresses")
        values["trusted_proxies"] = frozenset(proxies)
        policy = cls(**values)
        policy.watermark.parsed()  # fail at load time, not on the first request
        return policy

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client address to log: the first `X-Forwarded-For` hop when the peer is a trusted proxy."""
        if peer in self.trusted_proxies and forwarded_for:
            first = forwarded_for.split(",")[0].strip()
            if first:
                return first
        return peer

    def limits_for(self, account_id: str) -> LimitsPolicy:
        return self.accounts.get(account_id, self.limits)

    def forwarded_body(self, body: Mapping[str, Any], *, chat: bool, trusted: bool) -> tuple[dict, bool | None]:
        """The body to send upstream and whether to watermark it (None: no watermark configured), after
        the logprobs, opt-out and field rules. Raises `ApiError` (400) for what the policy refuses."""
        from .openai_api import ApiError

        # an opt-out is `watermarking: false` (vLLM), or `disable_watermark: true` for negative names
        opt_out = any(body.get(name) is name.startswith(("disable_", "no_"))
                      for name in self.watermark.opt_out_fields)
        out = {k: v for k, v in body.items() if k not in self.watermark.opt_out_fields}
        if not trusted:
            out = {k: v for k, v in out.items() if k in FORWARDED_FIELDS}
        watermark = None if self.watermark.config is None else \
            not (opt_out and trusted and self.watermark.trusted_opt_out)
        lp = self.logprobs
        if out.get("echo") and not chat and not (lp.echo or trusted):
            raise ApiError(400, "echo is disabled on this gateway", "echo")
        if lp.mode != "allow" and not trusted:
            if chat:
                if lp.mode == "strip":
                    out.pop("logprobs", None)
                    out.pop("top_logprobs", None)
                elif "top_logprobs" in out and isinstance(out["top_logprobs"], int):
                    out["top_logprobs"] = min(out["top_logprobs"], lp.max_top_logprobs)
            else:
                if lp.mode == "strip":
                    out.pop("logprobs", None)
                elif isinstance(out.get("logprobs"), int) and not isinstance(out.get("logprobs"), bool):
                    out["logprobs"] = min(out["logprobs"], lp.max_top_logprobs)
        return out, watermark


def load_policy(path: str | os.PathLike | None = None) -> Policy:
    """Read a policy YAML file (None: the defaults)."""
    if path is None:
        return Policy()
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise InputError(f"cannot read policy {p}: {exc}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"policy {p} is not valid YAML: {exc}") from None
    if data is not None and not isinstance(data, Mapping):
        raise InputError(f"policy {p}: expected a mapping at the top level")
    return Policy.from_mapping(data)

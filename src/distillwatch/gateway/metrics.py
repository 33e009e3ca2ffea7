"""Counters and sums for `/metrics`, rendered in the Prometheus text format (no client library needed)."""

from __future__ import annotations

import threading
from collections import defaultdict

__all__ = ["Metrics"]

_HELP = {
    "distillwatch_gateway_requests_total": ("counter", "Requests answered, by endpoint and HTTP status."),
    "distillwatch_gateway_request_seconds": ("summary", "Time from request to complete answer."),
    "distillwatch_gateway_tokens_total": ("counter", "Tokens served, by kind (prompt, completion)."),
    "distillwatch_gateway_actions_total": ("counter", "Requests by the live action of their account."),
    "distillwatch_gateway_policy_total": ("counter", "Policy interventions, by kind."),
    "distillwatch_gateway_upstream_errors_total": ("counter", "Upstream calls that failed."),
    "distillwatch_gateway_log_records_total": ("counter", "Records committed to the request log."),
    "distillwatch_gateway_log_commits_total": ("counter", "Group commits of the log (write; + fsync in fsync durability)."),
    "distillwatch_gateway_log_commit_seconds": ("summary", "Time spent committing the log before acknowledging."),
    "distillwatch_gateway_log_fsyncs_total": ("counter", "fsyncs of the log (per commit or in the background)."),
    "distillwatch_gateway_log_torn_lines_total": ("counter", "Torn log lines quarantined at recovery."),
    "distillwatch_gateway_accounts_flagged": ("gauge", "Accounts whose live action is not allow."),
}


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                     for k, v in labels)
    return "{" + inner + "}"


class Metrics:
    def __init__(self) -> None:
        self._values: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self._lock = threading.Lock()

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        with self._lock:
            self._values[name][tuple(sorted(labels.items()))] += value

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[name][tuple(sorted(labels.items()))] = value

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines, typed = [], set()
        with self._lock:
            for name in sorted(self._values):
                base = name.removesuffix("_sum").removesuffix("_count")
                kind, doc = _HELP.get(base, ("untyped", base))
                if base not in typed:
                    typed.add(base)
                    lines += [f"# HELP {base} {doc}", f"# TYPE {base} {kind}"]
                for labels, value in sorted(self._values[name].items()):
                    lines.append(f"{name}{_labels(labels)} {value:g}")
        return "\n".join(lines) + "\n"

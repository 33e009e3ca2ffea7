"""Live scoring and rate limits: the built-in scorer, the limiter, and a scorer plugged in as a hook."""

import openai
import pytest

from distillwatch.gateway import LiveScorer, RateLimiter, Verdict, WindowScorer

CHAT = [{"role": "user", "content": "hi"}]


def test_window_scorer_scores_requests_and_tokens_against_budgets():
    scorer = WindowScorer(window_s=60, requests=10, tokens=100)
    assert isinstance(scorer, LiveScorer)
    v = scorer.observe({"account_id": "a", "prompt_tokens": 5, "completion_tokens": 5})
    assert v.score == pytest.approx(0.1) and v.action is None
    v = scorer.observe({"account_id": "a", "prompt_tokens": 40, "completion_tokens": 40})
    assert v.score == pytest.approx(0.9) and "tokens" in v.reason
    assert scorer.observe({"account_id": "b"}).score == pytest.approx(0.1)  # accounts are separate
    assert scorer.observe({"account_id": "a", "completion_tokens": 1000}).score == 1.0


def test_rate_limiter_requests_and_tokens_per_minute():
    limiter = RateLimiter()
    assert [limiter.admit("a", 2, None) for _ in range(2)] == [None, None]
    wait = limiter.admit("a", 2, None)
    assert 59 < wait <= 60
    assert limiter.admit("b", 2, None) is None
    assert limiter.admit("c", None, 100) is None
    limiter.spend("c", 150)
    assert 0 < limiter.admit("c", None, 100) <= 60
    assert limiter.admit("d", None, None) is None


class Blocklist:
    """A scorer with its own actions, as a `traffic`-based scorer would plug in."""

    def observe(self, record):
        return Verdict(0.2, "block" if "evil" in str(record["messages"]) else None, "blocklist")


def test_a_plugged_in_scorer_decides_actions(gateway, keys):
    srv = gateway(scorer=Blocklist())
    c = openai.OpenAI(base_url=srv.base_url, api_key=keys.create("acct-x"), max_retries=0)
    c.chat.completions.create(model="m", messages=CHAT, max_tokens=2)
    assert srv.gw.accounts["acct-x"].action == "allow"  # 0.2 is under the flag threshold
    c.chat.completions.create(model="m", messages=[{"role": "user", "content": "evil sweep"}], max_tokens=2)
    with pytest.raises(openai.PermissionDeniedError):
        c.chat.completions.create(model="m", messages=CHAT, max_tokens=2)
    assert srv.gw.accounts["acct-x"].reason == "blocklist"

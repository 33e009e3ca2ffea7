"""Live scoring with scan's code: a hydra campaign's accounts reach the flag level while benign accounts
stay below it, with a reference fitted on benign history."""

import pyarrow.parquet as pq
import pytest

from distillwatch.gateway.live import Verdict
from distillwatch.gateway.live_scan import ScanScorer
from distillwatch.lab.traffic_sim import Campaign, simulate_traffic
from distillwatch.traffic import fit_reference


@pytest.fixture(scope="module")
def traffic(tmp_path_factory):
    d = tmp_path_factory.mktemp("live")
    benign, _ = simulate_traffic(d / "benign.parquet", seed=3, accounts=300, days=1, volume=0.5, campaigns=[])
    log, labels = simulate_traffic(d / "live.parquet", seed=4, accounts=150, days=1, volume=0.5,
                                   campaigns=[Campaign("hydra", "hydra", 12, 400)])
    rows = pq.read_table(log).to_pylist()
    lab = {r["account_id"]: r["campaign"] for r in pq.read_table(labels).to_pylist()}
    return fit_reference([benign], fpr=0.01), rows, lab


def test_hydra_accounts_are_flagged_live_and_benign_ones_are_not(traffic):
    reference, rows, lab = traffic
    scorer = ScanScorer(reference, fpr=0.01, refresh_every=10**9, refresh_s=10**9, background=False)
    for r in rows:
        assert isinstance(scorer.observe(r), Verdict)
    verdicts = scorer.refresh()
    campaign = [a for a, c in lab.items() if c == "hydra" and a in verdicts]
    benign = [a for a, c in lab.items() if c is None and a in verdicts]
    assert len(campaign) == 12 and len(benign) > 100
    flagged = [a for a in campaign if verdicts[a].score >= 0.5]
    assert len(flagged) >= 10
    assert sum(verdicts[a].score >= 0.5 for a in benign) <= 0.03 * len(benign)
    assert "hydra" not in verdicts[flagged[0]].reason and verdicts[flagged[0]].reason
    # an observed request now returns the account's stored verdict
    assert scorer.observe({**rows[-1], "account_id": flagged[0]}).score == verdicts[flagged[0]].score


def test_refreshes_in_the_background_without_blocking(traffic):
    reference, rows, _ = traffic
    scorer = ScanScorer(reference, refresh_every=200, refresh_s=10**9, background=True)
    for r in rows[:450]:
        scorer.observe(r)
    import time

    deadline = time.monotonic() + 60
    while scorer.refreshes < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scorer.refreshes >= 1 and scorer.verdicts()


def test_without_reference_waits_for_enough_accounts():
    scorer = ScanScorer(None, min_accounts=20, background=False, refresh_every=1)
    v = scorer.observe({"timestamp": "2026-01-01T00:00:00", "request_id": "r1", "account_id": "a", "model": "m",
                        "messages": "hi"})
    assert v.score == 0.0 and scorer.refreshes == 0

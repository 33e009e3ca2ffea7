"""`ScanScorer`: live scoring with `scan`'s own code — signatures, account features, account linking and
the calibrated benign model — over a sliding window of the requests the gateway has answered.

Every `refresh_every` requests (or `refresh_s` seconds, whichever comes first) the window is scored as
`scan` would score it (`traffic.scan.score_population`), and each account's verdict becomes

    score = min(1, 0.5 * max(account score / account threshold, cluster score / cluster threshold))

so an account reaches 0.5 (the policy's default `flag`) exactly when `scan` would alert on it or on its
linked cluster at the calibrated false-positive rate, 0.8 (`throttle`) at 1.6 times the threshold, and 1
(`block`) at twice it. The verdict's reason names the features that drove the score. Scoring runs in a
background thread, so requests never wait for it; an account's new verdict applies from its next request.

Calibration: give a `Reference` (`traffic.fit_reference` on benign history) — a window of a few dozen
accounts is too small to calibrate on itself; without one, the window's own population is used as `scan`
does, once it holds `min_accounts` accounts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from ..traffic.schema import from_records
from .live import Verdict

__all__ = ["ScanScorer"]

log = logging.getLogger("distillwatch.gateway")


class ScanScorer:
    """A `LiveScorer` running `scan`'s scoring on the last `window_s` seconds of requests (at most
    `max_rows` of them)."""

    def __init__(self, reference: Any = None, *, fpr: float = 0.001, window_s: float = 24 * 3600.0,
                 max_rows: int = 200_000, refresh_every: int = 50, refresh_s: float = 10.0, min_accounts: int = 20,
                 background: bool = True, clock: Callable[[], float] | None = None):
        self.reference = reference
        self.fpr = float(fpr)
        self.window_s = float(window_s)
        self.refresh_every = max(1, int(refresh_every))
        self.refresh_s = float(refresh_s)
        self.min_accounts = int(min_accounts)
        self.background = background
        self.clock = clock or time.monotonic  # the window's time (a replay passes the traffic's clock)
        self._rows: deque[tuple[float, dict]] = deque(maxlen=int(max_rows))
        self._verdicts: dict[str, Verdict] = {}
        self._lock = threading.Lock()
        self._since = 0
        self._last = self.clock()
        self._busy = threading.Lock()
        self.refreshes = 0
        self.last_alerts: list[dict] = []
        from ..traffic.signatures import load_kernels

        load_kernels()  # at start-up: the first refresh does not wait for the compiler

    # -- LiveScorer ------------------------------------------------------------------------------
    def observe(self, record: Mapping[str, Any]) -> Verdict:
        now = self.clock()
        with self._lock:
            self._rows.append((now, dict(record)))
            self._since += 1
            due = self._since >= self.refresh_every or now - self._last >= self.refresh_s
            verdict = self._verdicts.get(str(record["account_id"]), Verdict(0.0))
        if due:
            if self.background:
                if self._busy.acquire(blocking=False):
                    threading.Thread(target=self._refresh_locked, name="dw-scan-scorer", daemon=True).start()
            else:
                with self._busy:
                    self.refresh()
                with self._lock:
                    verdict = self._verdicts.get(str(record["account_id"]), verdict)
        return verdict

    def _refresh_locked(self) -> None:
        try:
            self.refresh()
        except Exception as exc:  # noqa: BLE001 - a failed refresh keeps the previous verdicts
            log.error("live scan scoring failed: %s", exc)
        finally:
            self._busy.release()

    # -- scoring ---------------------------------------------------------------------------------
    def verdicts(self) -> dict[str, Verdict]:
        with self._lock:
            return dict(self._verdicts)

    def refresh(self) -> dict[str, Verdict]:
        """Score the current window now (synchronously) and return the new verdicts."""
        from ..traffic._duck import connect
        from ..traffic.scan import population_alerts, score_population
        from ..traffic.signatures import compute_signatures

        now = self.clock()
        with self._lock:
            while self._rows and self._rows[0][0] < now - self.window_s:
                self._rows.popleft()
            rows = [r for _, r in self._rows]
            self._since = 0
            self._last = now
        if not rows:
            return {}
        table = from_records(rows)
        n_accounts = len(set(table.column("account_id").to_pylist()))
        if self.reference is None and n_accounts < self.min_accounts:
            return self.verdicts()
        con = connect(threads=1)
        try:
            sig = compute_signatures(table)
            con.register("dw_live_signatures", pa.Table.from_batches([sig]) if isinstance(sig, pa.RecordBatch) else sig)
            con.execute("CREATE OR REPLACE TABLE signatures AS SELECT * FROM dw_live_signatures")
            con.unregister("dw_live_signatures")
            r = score_population(con, fpr=self.fpr, reference=self.reference)
        finally:
            con.close()
        accounts = r["accounts"].column("account_id").to_pylist()
        a_ratio = np.asarray(r["account_scores"], float) / max(float(r["account_threshold"]), 1e-9)
        c_ids = r["cluster_features"].column("account_id").to_pylist()
        c_ratio = dict(zip(c_ids, np.asarray(r["cluster_scores"], float) / max(float(r["cluster_threshold"]), 1e-9)))
        cluster_of = dict(zip(r["clusters"].column("account_id").to_pylist(), r["clusters"].column("cluster_id").to_pylist()))
        alerts = population_alerts(r)
        why = {}
        for alert in alerts:
            drivers = ", ".join(d["feature"] for d in alert.get("reasons", [])[:3]) or "score"
            for acc in alert["account_ids"]:
                why.setdefault(acc, f"{alert['kind']} {alert['entity_id']}: {drivers}")
        new = {}
        for acc, ratio in zip(accounts, a_ratio):
            cluster = cluster_of.get(acc, acc)
            worst = max(float(ratio), float(c_ratio.get(cluster, 0.0)) if cluster.startswith("cluster:") else 0.0)
            new[acc] = Verdict(min(1.0, 0.5 * worst), None, why.get(acc, f"{worst:.2f} x threshold"))
        with self._lock:
            self._verdicts = new
            self.refreshes += 1
            self.last_alerts = alerts
        return dict(new)

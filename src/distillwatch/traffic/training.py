"""Learn `scan`'s feature weights from labelled traffic: logs whose harvesting accounts are known.

A labels file (Parquet, CSV or JSONL) has one row per account: ``account_id`` and either ``campaign``
(the campaign's name; null or empty for a benign account, as `distillwatch lab traffic` writes
``LOG.labels.parquet``) or ``label`` (1/true = harvesting, 0/false = benign).

How the weights are learnt, on the same features and surprises `scan` scores with:

1. the labelled logs are mapped, featurized and linked as in a scan (accounts, clusters);
2. the benign models are fitted on the benign entities only: the accounts labelled benign, and the
   components (singletons included) with no harvesting account;
3. each labelled account and each cluster of several accounts becomes one training row: its per-feature
   surprises against those models; a cluster is harvesting when most of its labelled accounts are;
4. `scoring.fit_weights` (non-negative, class-balanced, L2-regularised logistic regression) gives the
   weights, rescaled so that they sum to what the default weights sum to (scores stay on their usual
   scale; the threshold still comes from calibration, never from the regression).

Accounts of the logs missing from the labels are left out of training (not assumed benign) and counted.
The in-sample ranking of the training rows (ROC AUC, default against learnt weights) is reported: it says
whether the labels were separable by the features, not how the weights generalise (measure that on a
log the weights did not see: `bench/scan.py --train-seed`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from .engine import SqlEngine
from .linking import LinkOptions
from .scan import loaded_engine, population_entities
from .scoring import FEATURES, BenignModel, fit_weights

__all__ = ["LearnedWeights", "labels_beside", "learn_weights_from_logs", "learn_weights_from_signatures",
           "read_labels", "read_weights", "write_weights"]

DEFAULT_L2 = 0.01


def labels_beside(log: str | os.PathLike) -> Path:
    """Where a labelled log keeps its labels by default: ``LOG.labels.parquet`` beside ``LOG.parquet``."""
    log = Path(log)
    return log.with_name(log.name.removesuffix(".parquet") + ".labels.parquet")


def _read_table(path: Path) -> pa.Table:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if suffix == ".csv":
            import pyarrow.csv as pcsv

            return pcsv.read_csv(path)
        if suffix in (".jsonl", ".json", ".ndjson"):
            import pyarrow.json as pjson

            return pjson.read_json(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"{path}: not a readable labels file: {e}") from e
    raise InputError(f"{path}: labels must be .parquet, .csv or .jsonl (got '{suffix or 'no suffix'}')")


def read_labels(path: str | os.PathLike) -> dict[str, str | None]:
    """``{account_id: campaign name, or None for benign}`` from a labels file (see the module docstring;
    a ``label`` column of 1 gives the campaign name ``"harvesting"``). Raises `InputError` naming the first
    bad row on a missing ``account_id``, a label that is not 0/1, or an account labelled twice differently."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: labels file not found (labelled logs need one: LOG.labels.parquet beside "
                         f"LOG.parquet, as `distillwatch lab traffic` writes, or --labels FILE)")
    table = _read_table(path)
    if "account_id" not in table.column_names:
        raise InputError(f"{path}: no 'account_id' column (columns: {', '.join(table.column_names)})")
    accounts = table.column("account_id").cast(pa.string())
    if "campaign" in table.column_names:
        camp = pc.utf8_trim_whitespace(table.column("campaign").cast(pa.string()))
        group = pc.if_else(pc.equal(camp, ""), pa.scalar(None, pa.string()), camp)
        bad = pc.is_null(accounts)
    elif "label" in table.column_names:
        raw = table.column("label")
        if not (pa.types.is_boolean(raw.type) or pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type)):
            raise InputError(f"{path}: column 'label' must be 0/1 or true/false (it is {raw.type})")
        num = raw.cast(pa.float64())
        bad = pc.or_kleene(pc.is_null(accounts),
                           pc.invert(pc.is_in(num, value_set=pa.array([0.0, 1.0])))).fill_null(True)
        group = pc.if_else(pc.equal(num, 1.0), pa.scalar("harvesting"), pa.scalar(None, pa.string()))
    else:
        raise InputError(f"{path}: needs a 'campaign' column (null or empty for benign) or a 'label' column "
                         f"(1 harvesting, 0 benign); columns: {', '.join(table.column_names)}")
    if pc.any(bad).as_py():
        first = pc.index(bad, True).as_py()
        raise InputError(f"{path}: {pc.sum(bad.cast(pa.int64())).as_py()} row(s) without an account id or a "
                         f"0/1 label; first at row {first + 1}: {table.slice(first, 1).to_pylist()[0]}")
    out: dict[str, str | None] = {}
    for account, name in zip(accounts.to_pylist(), group.to_pylist()):  # one row per account: a short loop
        if out.get(account, name) != name:
            raise InputError(f"{path}: account '{account}' is labelled twice, as {out[account]!r} and {name!r}")
        out[account] = name
    return out


@dataclass
class LearnedWeights:
    """Weights learnt from labelled traffic, with what they were learnt on."""

    weights: dict[str, float]
    accounts: int
    harvesting_accounts: int
    campaigns: int  # distinct campaign names among the harvesting accounts (each weighs the same)
    clusters: int
    harvesting_clusters: int
    unlabelled_accounts: int  # in the logs but not in the labels: left out of training
    labels_not_in_logs: int
    auc_default: float  # in-sample ROC AUC of the training rows under the default weights
    auc_learnt: float  # ... and under the learnt ones
    l2: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney ROC AUC (ties count one half)."""
    from scipy.stats import rankdata

    pos = y > 0
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _campaigns(labels: Mapping[str, Any]) -> dict[str, str | None]:
    """Labels as campaign names: None, 0, False or "" is benign; 1 or True is the campaign "harvesting"."""
    out: dict[str, str | None] = {}
    for account, v in labels.items():  # one entry per account
        if v is None or v is False or v == 0 or v == "":
            out[account] = None
        elif v is True or v == 1:
            out[account] = "harvesting"
        elif isinstance(v, str):
            out[account] = v
        else:
            raise InputError(f"labels: account '{account}' has label {v!r}; use a campaign name, None, 0 or 1")
    return out


def _lookup(ids: pa.ChunkedArray | pa.Array, campaigns: Mapping[str, str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Per id of `ids`: (label 1 harvesting / 0 benign / -1 not labelled, campaign name or "")."""
    keys = pa.array(list(campaigns), pa.string())
    names = np.array([c or "" for c in campaigns.values()], dtype=object)
    at = pc.index_in(ids, value_set=keys).fill_null(-1).to_numpy(zero_copy_only=False)
    found = at >= 0
    campaign = np.full(len(at), "", dtype=object)
    campaign[found] = names[at[found]]
    label = np.where(found, (campaign != "").astype(np.int8), -1).astype(np.int8)
    return label, campaign


def learn_weights_from_signatures(con: SqlEngine, labels: Mapping[str, Any], *,
                                  link_options: LinkOptions | None = None, l2: float = DEFAULT_L2) -> LearnedWeights:
    """`learn_weights_from_logs` over the ``signatures`` table already loaded in `con`."""
    campaigns = _campaigns(labels)
    accounts, clusters, _, cluster_features = population_entities(con, link_options)

    acc_y, acc_campaign = _lookup(accounts.column("account_id"), campaigns)
    member_y, _ = _lookup(clusters.column("account_id"), campaigns)
    cid = clusters.column("cluster_id").to_numpy(zero_copy_only=False).astype(str)
    uniq, inv = np.unique(cid, return_inverse=True)
    n_known = np.bincount(inv, weights=member_y >= 0, minlength=len(uniq))
    n_harv = np.bincount(inv, weights=member_y == 1, minlength=len(uniq))
    clu_ids = cluster_features.column("account_id").to_numpy(zero_copy_only=False).astype(str)
    at = np.searchsorted(uniq, clu_ids)
    clu_known, clu_harv = n_known[at], n_harv[at]
    clu_y = np.where(clu_known == 0, -1, clu_harv > clu_known / 2).astype(np.int8)

    harvesting, benign = int((acc_y == 1).sum()), int((acc_y == 0).sum())
    if not harvesting or not benign:
        raise InputError(f"labels: training needs harvesting and benign accounts in the logs; the labelled "
                         f"accounts found there are {harvesting} harvesting and {benign} benign")
    acc_model = BenignModel().fit(accounts.filter(pa.array(acc_y == 0)))
    clu_model = BenignModel().fit(cluster_features.filter(pa.array(clu_harv == 0)))
    known = acc_y >= 0
    multi = np.char.startswith(clu_ids, "cluster:") & (clu_y >= 0)
    x = np.vstack([acc_model.surprises(accounts.filter(pa.array(known))),
                   clu_model.surprises(cluster_features.filter(pa.array(multi)))])
    y = np.r_[acc_y[known], clu_y[multi]].astype(np.float64)
    # each harvesting campaign weighs the same whatever its number of accounts (a hydra's 40 accounts
    # must not outvote a campaign of two), and so does each harvesting cluster
    group = np.r_[acc_campaign[known], np.char.add("cluster ", clu_ids[multi]).astype(object)]
    _, g_inv, g_size = np.unique(group, return_inverse=True, return_counts=True)
    sample_weight = np.where(y > 0, 1.0 / g_size[g_inv], 1.0)
    default = acc_model.weight_vector()
    w, _ = fit_weights(x, y, l2=l2, prior=default, sample_weight=sample_weight)
    if not w.any():
        raise InputError("labels: no feature separates the harvesting accounts from the benign ones, so no "
                         "weights could be learnt; keep the default weights")
    w = w * default.sum() / w.sum()
    in_logs = set(accounts.column("account_id").to_pylist())
    return LearnedWeights(
        weights={f.name: round(float(v), 4) for f, v in zip(FEATURES, w)},
        accounts=int(known.sum()), harvesting_accounts=harvesting,
        campaigns=len({c for c in acc_campaign[known] if c}),
        clusters=int(multi.sum()), harvesting_clusters=int((clu_y[multi] == 1).sum()),
        unlabelled_accounts=int((~known).sum()), labels_not_in_logs=len(set(campaigns) - in_logs),
        auc_default=round(_auc(x @ default, y), 4), auc_learnt=round(_auc(x @ w, y), 4), l2=l2)


def learn_weights_from_logs(logs: Sequence[str | os.PathLike],
                            labels: Mapping[str, Any] | str | os.PathLike | None = None, *,
                            engine: str | SqlEngine = "duckdb", link_options: LinkOptions | None = None,
                            l2: float = DEFAULT_L2, progress: bool = False) -> LearnedWeights:
    """Learn `scan`'s feature weights from labelled `logs` (see the module docstring). `labels`: a mapping
    ``{account_id: campaign name | None | 0 | 1}``, a labels file, or None for ``LOG.labels.parquet`` beside
    each log. The logs are read into an engine of their own (`engine`: a name, or an open engine left open)."""
    if labels is None:
        merged: dict[str, str | None] = {}
        for log in logs:
            merged.update(read_labels(labels_beside(log)))
        labels = merged
    elif not isinstance(labels, Mapping):
        labels = read_labels(labels)
    with loaded_engine(logs, engine, progress=progress) as eng:
        return learn_weights_from_signatures(eng, labels, link_options=link_options, l2=l2)


def write_weights(path: str | os.PathLike, learned: LearnedWeights, *, trained_on: Sequence[str] = ()) -> Path:
    """Write ``{"weights": {...}, "training": {...}}`` as JSON (what `read_weights` and ``scan --weights`` read)."""
    path = Path(path)
    path.write_text(json.dumps({"weights": learned.weights,
                                "training": {**{k: v for k, v in learned.as_dict().items() if k != "weights"},
                                             "logs": [os.fspath(p) for p in trained_on]}}, indent=2) + "\n")
    return path


def read_weights(path: str | os.PathLike) -> dict[str, float]:
    """Feature weights from a JSON file: `write_weights`' output, or a plain ``{feature: weight}`` object.
    Features left out keep their default weight; an unknown feature or a negative or non-finite weight is
    an `InputError`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise InputError(f"{path}: weights file not found") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a JSON weights file: {e}") from e
    weights = data.get("weights", data) if isinstance(data, dict) else None
    if not isinstance(weights, dict):
        raise InputError(f"{path}: expected a JSON object of feature weights")
    names = {f.name for f in FEATURES}
    unknown = sorted(set(weights) - names)
    if unknown:
        raise InputError(f"{path}: unknown feature(s) {', '.join(unknown)}; features: {', '.join(sorted(names))}")
    bad = [k for k, v in weights.items()
           if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0]
    if bad:
        raise InputError(f"{path}: weight of {bad[0]} must be a finite number >= 0 (got {weights[bad[0]]!r})")
    return {k: float(v) for k, v in weights.items()}

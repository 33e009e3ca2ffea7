"""Traffic: request logs in one Arrow schema, ingested with a quarantine, mapped to per-request
signatures and aggregated per account in SQL.

    >>> from distillwatch.traffic import LogReader, scan_accounts
    >>> reader = LogReader("requests.jsonl", quarantine="bad_rows.jsonl")  # doctest: +SKIP
    >>> features = scan_accounts(reader)                                     # doctest: +SKIP
    >>> reader.report.as_dict()                                              # doctest: +SKIP

Modules: `schema` (LOG_SCHEMA), `ingest` (readers), `quarantine` (rejected rows, IngestReport),
`openai_log` (mapping of OpenAI-style records), `lexicons` (flag/topic/language word lists),
`simhash` and `template` (template signatures), `signatures` (the map step), `features` (the
aggregate step in SQL), `entities` (features of accounts or clusters), `linking` (account graph and
clusters), `scoring` (benign model, calibration), `training` (weights learnt from labelled logs),
`alerts`, `scan` (the pipeline), `scan_report`, and the engines the map and the SQL run on: `engine`
(the seam, DuckDB in-process) and `spark`.
"""

from .alerts import build_alerts, read_alerts, sample_prompts, write_alerts
from .engine import SqlEngine, open_engine
from .entities import ENTITY_EXTRAS_SQL, entity_features
from .features import ACCOUNT_FEATURES_SQL, account_features, register_signatures, scan_accounts
from .ingest import FORMATS, IngestError, IngestOptions, LogReader, detect_format, read_log
from .lexicons import FLAGS, TOPICS, Lexicon
from .linking import ATTRIBUTES_SQL, LinkOptions, link_accounts
from .openai_log import OPENAI_MAPPING
from .quarantine import IngestReport, QuarantineWriter, read_quarantine
from .scan import (ENGINES, Reference, ScanResult, fit_reference, load_signatures, reference_from_signatures, scan,
                   score_population)
from .scan_report import render_scan_report
from .schema import LOG_SCHEMA, REQUIRED_FIELDS, SchemaError, conform, field_doc, from_records, validate
from .scoring import FEATURES, BenignModel, Feature, fit_weights, tail_threshold
from .signatures import SIGNATURE_SCHEMA, compute_signatures, map_signatures
from .simhash import hamming
from .template import mask_variables, template_signatures
from .training import (LearnedWeights, labels_beside, learn_weights_from_logs, learn_weights_from_signatures,
                       read_labels, read_weights, write_weights)

__all__ = [
    "ACCOUNT_FEATURES_SQL",
    "ATTRIBUTES_SQL",
    "BenignModel",
    "ENGINES",
    "ENTITY_EXTRAS_SQL",
    "FEATURES",
    "FLAGS",
    "FORMATS",
    "Feature",
    "IngestError",
    "IngestOptions",
    "IngestReport",
    "LOG_SCHEMA",
    "LearnedWeights",
    "Lexicon",
    "LinkOptions",
    "LogReader",
    "OPENAI_MAPPING",
    "QuarantineWriter",
    "REQUIRED_FIELDS",
    "Reference",
    "SIGNATURE_SCHEMA",
    "ScanResult",
    "SchemaError",
    "SqlEngine",
    "TOPICS",
    "account_features",
    "build_alerts",
    "compute_signatures",
    "conform",
    "detect_format",
    "entity_features",
    "field_doc",
    "fit_reference",
    "fit_weights",
    "from_records",
    "hamming",
    "labels_beside",
    "learn_weights_from_logs",
    "learn_weights_from_signatures",
    "link_accounts",
    "load_signatures",
    "map_signatures",
    "mask_variables",
    "open_engine",
    "read_alerts",
    "read_labels",
    "read_log",
    "read_quarantine",
    "read_weights",
    "reference_from_signatures",
    "register_signatures",
    "render_scan_report",
    "sample_prompts",
    "scan",
    "scan_accounts",
    "score_population",
    "tail_threshold",
    "template_signatures",
    "validate",
    "write_alerts",
    "write_weights",
]

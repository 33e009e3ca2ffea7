"""Traffic: request logs in one Arrow schema, ingested with a quarantine, mapped to per-request
signatures and aggregated per account in SQL.

    >>> from distillwatch.traffic import LogReader, scan_accounts
    >>> reader = LogReader("requests.jsonl", quarantine="bad_rows.jsonl")  # doctest: +SKIP
    >>> features = scan_accounts(reader)                                     # doctest: +SKIP
    >>> reader.report.as_dict()                                              # doctest: +SKIP

Modules: `schema` (LOG_SCHEMA), `ingest` (readers), `quarantine` (rejected rows, IngestReport),
`openai_log` (mapping of OpenAI-style records), `lexicons` (flag/topic/language word lists),
`simhash` and `template` (template signatures), `signatures` (the map step), `features` (the
DuckDB aggregate step).
"""

from .features import ACCOUNT_FEATURES_SQL, account_features, register_signatures, scan_accounts
from .ingest import FORMATS, IngestError, IngestOptions, LogReader, detect_format, read_log
from .lexicons import FLAGS, TOPICS, Lexicon
from .openai_log import OPENAI_MAPPING
from .quarantine import IngestReport, QuarantineWriter, read_quarantine
from .schema import LOG_SCHEMA, REQUIRED_FIELDS, SchemaError, conform, field_doc, from_records, validate
from .signatures import SIGNATURE_SCHEMA, compute_signatures, map_signatures
from .simhash import hamming
from .template import mask_variables, template_signatures

__all__ = [
    "ACCOUNT_FEATURES_SQL",
    "FLAGS",
    "FORMATS",
    "IngestError",
    "IngestOptions",
    "IngestReport",
    "LOG_SCHEMA",
    "Lexicon",
    "LogReader",
    "OPENAI_MAPPING",
    "QuarantineWriter",
    "REQUIRED_FIELDS",
    "SIGNATURE_SCHEMA",
    "SchemaError",
    "TOPICS",
    "account_features",
    "compute_signatures",
    "conform",
    "detect_format",
    "field_doc",
    "from_records",
    "hamming",
    "map_signatures",
    "mask_variables",
    "read_log",
    "read_quarantine",
    "register_signatures",
    "scan_accounts",
    "template_signatures",
    "validate",
]

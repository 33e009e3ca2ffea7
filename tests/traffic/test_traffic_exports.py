"""The public surface of distillwatch.traffic is exactly the intended names; every module declares __all__."""

from __future__ import annotations

import importlib
import pkgutil

import distillwatch.traffic as traffic

EXPECTED = {
    "ACCOUNT_FEATURES_SQL", "FLAGS", "FORMATS", "IngestError", "IngestOptions", "IngestReport", "LOG_SCHEMA",
    "Lexicon", "LogReader", "OPENAI_MAPPING", "QuarantineWriter", "REQUIRED_FIELDS", "SIGNATURE_SCHEMA",
    "SchemaError", "TOPICS", "account_features", "compute_signatures", "conform", "detect_format", "field_doc",
    "from_records", "hamming", "map_signatures", "mask_variables", "read_log", "read_quarantine",
    "register_signatures", "scan_accounts", "template_signatures", "validate",
    # scan: entities, linking, scoring, alerts, pipeline, report
    "ATTRIBUTES_SQL", "BenignModel", "ENGINES", "ENTITY_EXTRAS_SQL", "FEATURES", "Feature", "LinkOptions", "Reference",
    "ScanResult", "build_alerts", "entity_features", "fit_reference", "fit_weights", "link_accounts", "load_signatures",
    "read_alerts", "render_scan_report", "sample_prompts", "scan", "score_population", "tail_threshold", "write_alerts",
    "reference_from_signatures",
    # training: weights learnt from labelled logs
    "LearnedWeights", "labels_beside", "learn_weights_from_logs", "learn_weights_from_signatures", "read_labels",
    "read_weights", "write_weights",
    # engines: the SQL seam (DuckDB in-process, Spark)
    "SqlEngine", "open_engine",
}


def test_package_exports_exactly_the_public_names():
    assert set(traffic.__all__) == EXPECTED
    for name in traffic.__all__:
        assert hasattr(traffic, name), name


def test_every_module_declares_all_and_defines_it():
    for info in pkgutil.iter_modules(traffic.__path__):
        module = importlib.import_module(f"distillwatch.traffic.{info.name}")
        assert isinstance(module.__all__, list), info.name
        for name in module.__all__:
            assert hasattr(module, name), (info.name, name)

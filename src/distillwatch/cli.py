"""The `distillwatch` command line. Every verb is a thin shell over a library function."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .errors import DistillwatchError, InputError
from .runlog import RunLog

__all__ = ["app", "main"]

app = typer.Typer(
    help=(
        "Detect, prove and deter unauthorized distillation of AI models.\n\n"
        "Models are named by strings: hf/<dir>, bundled/smollm2-135m-instruct, bundled/gemma-3-270m, "
        "llamacpp/<file.gguf or bundled name>, openai/<model>@<base_url>, mock/<name>. Backend options go in "
        "-M key=value."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

MODEL_ARGS_HELP = "Backend option as key=value (repeatable), e.g. -M batch_size=4 or -M api_key_env=MY_KEY."


def _model(model: str, model_args: list[str] | None, no_cache: bool):
    from .models import get_model, parse_model_args

    return get_model(model, cache=not no_cache, **parse_model_args(model_args))


@app.command("models")
def models_cmd(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """List the bundled models (installed? dequantized copy cached?) and the response cache."""
    from .models import default_cache
    from .models.bundled import BUNDLED, bundled_status

    rows = [bundled_status(name) for name in BUNDLED]
    stats = default_cache().stats()
    if json_out:
        print(json.dumps({"bundled": rows, "response_cache": stats}))
        return
    from rich.table import Table

    table = Table(title="bundled models")
    for col in ("model", "description", "installed", "cached (fp32)"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["model"], r["description"], _yes(r["installed"]), _yes(r["cached"]))
    out.print(table)
    out.print(f"response cache: {stats['path']} — {stats['entries']} entries")
    for model_id, count in sorted(stats["entries_per_model"].items()):
        out.print(f"  {model_id}: {count}")


def _watermark_config(spec: str):
    from .watermark import WatermarkConfig

    try:
        return WatermarkConfig.parse(spec)
    except (ValueError, OSError) as exc:
        raise InputError(f"bad watermark config: {exc}") from None


def _yes(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[red]no[/]"


@app.command()
def generate(
    model: str = typer.Option(..., "--model", "-m", help="Model string, e.g. bundled/smollm2-135m-instruct."),
    prompt: Optional[str] = typer.Option(None, "--prompt", "-p", help="One prompt."),
    prompts: Optional[Path] = typer.Option(
        None, "--prompts", help="JSONL file: one {\"prompt\": ...}, {\"messages\": [...]} or string per line."
    ),
    max_tokens: int = typer.Option(128, "--max-tokens", min=0, help="Tokens to generate at most."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 = greedy."),
    top_p: float = typer.Option(1.0, "--top-p", min=0.0, max=1.0),
    seed: Optional[int] = typer.Option(None, "--seed", help="Sampling seed (reproducible answers)."),
    stop: list[str] = typer.Option([], "--stop", help="Stop string (repeatable)."),
    raw: bool = typer.Option(False, "--raw", help="Continue string prompts as plain text instead of as a chat user turn."),
    json_out: bool = typer.Option(False, "--json", help="Write JSON lines {prompt, text, token_ids} to stdout."),
    output: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write the JSON lines to this file."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the response cache."),
    model_args: Optional[list[str]] = typer.Option(None, "-M", help=MODEL_ARGS_HELP),
):
    """Generate answers from any model, for one prompt or a file of prompts (with a progress bar).

    Greedy and seeded answers are cached, so a re-run of the same file only computes what is new.
    Bad lines in a prompt file are quarantined beside it with the reason, and the exit code is 1.
    """
    from .models import GenerateRequest

    if (prompt is None) == (prompts is None):
        raise InputError("give exactly one of --prompt or --prompts")
    quarantine = None
    if prompt is not None:
        items: list = [prompt]
    else:
        from .data import read_prompt_file

        pf = read_prompt_file(prompts)
        items = [r.prompt for r in pf.records]
        quarantine = pf.write_quarantine(Path(str(prompts) + ".quarantine.jsonl"))
        if quarantine:
            console.print(f"[yellow]{len(pf.quarantined)} bad line(s) quarantined to {quarantine}[/]")
    requests = [
        GenerateRequest(
            prompt=p if (raw or not isinstance(p, str)) else [{"role": "user", "content": p}],
            max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, stop=tuple(stop),
        )
        for p in items
    ]
    m = _model(model, model_args, no_cache)
    completions = m.generate(requests, progress=len(requests) > 1)
    sink = open(output, "w", encoding="utf-8") if output else None
    try:
        for p, c in zip(items, completions):
            record = {"prompt": p, "text": c.text, "token_ids": c.token_ids, "finish_reason": c.finish_reason}
            line = json.dumps(record, ensure_ascii=False)
            if sink:
                sink.write(line + "\n")
            if json_out:
                print(line)
            else:
                out.print(f"[bold]>[/] {p if isinstance(p, str) else p[-1]['content']}")
                out.print(c.text + "\n")
    finally:
        if sink:
            sink.close()
    if quarantine:
        raise typer.Exit(1)


@app.command()
def serve(
    model: str = typer.Option(..., "--model", "-m", help="A local model string (hf/..., bundled/..., mock/...)."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    name: Optional[str] = typer.Option(None, "--name", help="Model name clients use (default: the model string)."),
    max_batch: int = typer.Option(
        16, "--max-batch", min=1,
        help="Requests decoding at once. Local transformers models batch continuously: a request joins "
             "between two decoding steps and leaves when its answer ends."),
    max_wait_ms: float = typer.Option(
        5.0, "--max-wait-ms", min=0.0,
        help="How long an idle server waits after a first request for others to join it."),
    max_tokens_limit: int = typer.Option(2048, "--max-tokens-limit", min=1, help="Largest max_tokens accepted."),
    watermark: Optional[str] = typer.Option(
        None, "--watermark",
        help="Watermark everything served: a spec like kgw:lefthash:key=env:WM_KEY:gamma=0.25:delta=2, "
             "or a JSON/YAML file."),
    model_args: Optional[list[str]] = typer.Option(None, "-M", help=MODEL_ARGS_HELP),
):
    """Serve a local model over the OpenAI-compatible API (/v1/models, /v1/chat/completions,
    /v1/completions with echo+logprobs, streaming), batching concurrent requests."""
    from .gateway import ServerLimits, build_app, run_server
    from .models import get_model, parse_model_args

    m = get_model(model, cache=False, **parse_model_args(model_args))
    processor = None
    if watermark:
        from .watermark import make_logits_processor

        config = _watermark_config(watermark)
        processor = make_logits_processor(config, _vocab_size(m))
    served = name or model
    app_ = build_app(m, served_name=served, max_batch=max_batch, max_wait_ms=max_wait_ms,
                     limits=ServerLimits(max_tokens=max_tokens_limit), logits_processor=processor)
    marked = f" with watermark {config!r}" if watermark else ""
    console.print(f"serving [bold]{served}[/] on http://{host}:{port}/v1{marked}  (Ctrl-C stops)")
    run_server(app_, host=host, port=port)


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("distillwatch-demo"), "--out", help="Where the demo writes its files and "
                                 "report.html."),
    quick: bool = typer.Option(False, "--quick", help="The same chain with smaller budgets (a few minutes)."),
):
    """The whole story offline, on bundled models: SmolLM2 served behind the watermarking gateway; benign users
    and a hydra distillation campaign over HTTP; live flagging and throttling; scan of the gateway's log;
    students distilled from the harvest, from Gemma-3-270M and from human text; radioactivity and trace on
    each; the student's risk card; one HTML report. Re-running resumes from the steps already done."""
    from .demo import run_demo

    run_demo(out_dir, quick=quick, console=out)


@app.command()
def gateway(
    upstream: str = typer.Option(..., "--upstream", help="A local model string (served in-process) or an "
                                 "OpenAI-compatible URL (http://host:port/v1)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    host: str = typer.Option("127.0.0.1", "--host"),
    log_dir: Path = typer.Option(Path("gateway-logs"), "--log-dir", help="Durable request log (JSONL, rotated to Parquet)."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy YAML: logprobs, watermark, limits, actions."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name clients see."),
    reference: Optional[list[Path]] = typer.Option(None, "--reference", help="Benign history log(s) to calibrate "
                                                   "live scoring on (repeatable). With it, accounts are scored live "
                                                   "by scan's own features and linking; without, by request volume."),
    fpr: float = typer.Option(0.001, "--fpr", min=1e-6, max=0.5, help="Benign false-positive rate of live alerts."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Feature weights of live scoring (with "
                                           "--reference): a weights.json from `scan --train`, or {feature: weight}."),
    log_durability: str = typer.Option("process", "--log-durability", help="process: an answered request is in "
                                       "the log after kill -9 (fsync every 0.2 s in the background); fsync: also "
                                       "after power loss (each answer waits for the disk)."),
):
    """The front door: an OpenAI-compatible gateway that authenticates keys, enforces the policy
    (logprobs caps, forced watermarking, rate limits, actions on live scores) and logs every request
    durably in the traffic schema, ready for `distillwatch scan`."""
    from .gateway.service import run_gateway

    scorer = None
    if weights and not reference:
        raise InputError("--weights sets the weights of live scoring by scan's features, which needs --reference")
    if reference:
        from .gateway.live_scan import ScanScorer
        from .traffic import fit_reference

        missing = [str(p) for p in reference if not p.exists()]
        if missing:
            raise InputError(f"reference log not found: {', '.join(missing)}")
        from .traffic import read_weights

        feature_weights = read_weights(weights) if weights else None
        scorer = ScanScorer(fit_reference(list(reference), fpr=fpr, weights=feature_weights), fpr=fpr)
        console.print(f"live scoring: scan features, calibrated on {len(reference)} benign log(s) at fpr {fpr:g}")
    if log_durability not in ("process", "fsync"):
        raise InputError(f"--log-durability must be process or fsync, got {log_durability!r}")
    console.print(f"gateway on http://{host}:{port}/v1 → {upstream} (log: {log_dir}, durability: {log_durability})")
    run_gateway(upstream, port=port, host=host, log_dir=log_dir, policy_path=policy, served_name=name, scorer=scorer,
                log_durability=log_durability)


keys_app = typer.Typer(help="API keys of the gateway's accounts (stored only as salted hashes).",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    account: str = typer.Option(..., "--account", help="Account the key belongs to."),
    org: Optional[str] = typer.Option(None, "--org", help="Organisation of the account."),
    trusted: bool = typer.Option(False, "--trusted", help="Trusted keys may opt out of the watermark."),
):
    """Create a key; it is printed once, on its own line, and never stored in clear."""
    from .gateway.keys import create_key

    print(create_key(account, org=org, trusted=trusted))


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key id (the part after 'dw-').")):
    """Revoke a key: the gateway answers 401 to it from now on."""
    from .gateway.keys import revoke_key

    if not revoke_key(key_id):
        raise InputError(f"no key with id {key_id}")
    out.print(f"revoked {key_id}")


@keys_app.command("list")
def keys_list(
    account: Optional[str] = typer.Option(None, "--account"),
    json_out: bool = typer.Option(False, "--json"),
):
    """List keys (ids, accounts, orgs, state; never secrets)."""
    from .gateway.keys import list_keys

    rows = list_keys(account=account)
    if json_out:
        print(json.dumps(rows))
        return
    from rich.table import Table

    table = Table(title="keys")
    columns = list(rows[0]) if rows else ["key_id", "account"]
    for col in columns:
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in columns))
    out.print(table)


@app.command()
def scan(
    logs: list[Path] = typer.Argument(..., help="Request logs: JSONL, OpenAI-style JSONL, CSV or Parquet (the gateway's too)."),
    out_dir: Path = typer.Option(Path("distillwatch-scan"), "--out", help="alerts.jsonl, summary.json, report.html go here."),
    engine: str = typer.Option(
        "duckdb", "--engine",
        help="duckdb (in-process, default) or spark (same pipeline on pyspark, local[2]: mapInArrow for the map, "
             "Spark SQL for the aggregates; for provider-scale logs; needs pip install 'distillwatch[spark]' "
             "and Java 17+). Both give the same alerts."),
    fpr: float = typer.Option(0.001, "--fpr", min=1e-6, max=0.5, help="Benign false-positive rate to calibrate to."),
    reference: Optional[list[Path]] = typer.Option(
        None, "--reference", help="Benign history logs to calibrate on (default: the scanned population itself)."),
    memory_limit: Optional[str] = typer.Option(
        None, "--memory-limit", help="DuckDB engine: memory it may hold before spilling to a temporary "
        "directory (e.g. 2GB, 500MB; default 4GB), so logs larger than RAM scan; 'none' for DuckDB's own "
        "default (80% of RAM)."),
    train: Optional[list[Path]] = typer.Option(
        None, "--train", help="Labelled logs to learn the feature weights from (repeatable): accounts known to "
        "harvest or known to be benign. Their labels are read from --labels, else from LOG.labels.parquet beside "
        "each log (as `distillwatch lab traffic` writes). The weights are written to OUT/weights.json."),
    labels: Optional[Path] = typer.Option(
        None, "--labels", help="Labels of the --train logs: Parquet, CSV or JSONL with account_id and either "
        "campaign (empty for benign) or label (1 harvesting, 0 benign)."),
    weights: Optional[Path] = typer.Option(
        None, "--weights", help="Feature weights to score with: a weights.json from an earlier --train run, or "
        "a JSON object {feature: weight} (features left out keep their default)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
):
    """Find distillation campaigns in API traffic: per-request signatures, per-account and per-cluster
    features, account linking, scores calibrated to a benign false-positive rate, explained alerts."""
    from .traffic import ENGINES, learn_weights_from_logs, read_weights, write_weights
    from .traffic import scan as run_scan

    if engine not in ENGINES:
        raise InputError(f"unknown engine '{engine}'; one of: {', '.join(ENGINES)}")
    if train and weights:
        raise InputError("--train learns the weights and --weights gives them: use one of the two")
    if labels and not train:
        raise InputError("--labels gives the labels of the --train logs; pass the labelled logs with --train")
    missing = [str(p) for p in [*logs, *(reference or []), *(train or [])] if not p.exists()]
    if missing:
        raise InputError(f"log not found: {', '.join(missing)}")
    feature_weights = read_weights(weights) if weights else None
    if train:
        learned = learn_weights_from_logs([str(p) for p in train], labels, engine=engine, progress=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = write_weights(out_dir / "weights.json", learned, trained_on=[str(p) for p in train])
        feature_weights = learned.weights
        top = sorted(learned.weights.items(), key=lambda kv: -kv[1])[:4]
        out.print(f"weights learnt from {learned.accounts} labelled accounts ({learned.harvesting_accounts} "
                  f"harvesting, {learned.campaigns} campaign(s)) and {learned.clusters} clusters; in-sample ROC AUC "
                  f"{learned.auc_default:.3f} (default weights) -> {learned.auc_learnt:.3f}; heaviest: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in top) + f" ({path})")
        if learned.unlabelled_accounts:
            console.print(f"[yellow]{learned.unlabelled_accounts} account(s) of the --train logs have no label "
                          f"and were left out of training[/]")
    result = run_scan([str(p) for p in logs], out_dir, engine=engine, fpr=fpr,
                      reference=[str(p) for p in reference] if reference else None, weights=feature_weights,
                      progress=True, **({} if memory_limit is None else {"memory_limit": memory_limit}))
    if json_out:
        print(json.dumps(result.summary, default=str))
    else:
        s = result.summary
        bad = s["ingest"].get("rows_quarantined", 0)
        out.print(f"{s['requests']} requests from {s['accounts']} accounts: {s['alerts']} alert(s), "
                  f"{s['flagged_accounts']} account(s) flagged; {bad} bad row(s) quarantined")
        out.print("files: " + ", ".join(str(p) for p in result.paths.values()))


lab_app = typer.Typer(help="The lab: harvest a teacher, distill students, build a ground-truth zoo.",
                      no_args_is_help=True)
app.add_typer(lab_app, name="lab")


@lab_app.command("harvest")
def lab_harvest(
    teacher: str = typer.Option(..., "--teacher", "-t", help="Model string to harvest (local or openai/...@url)."),
    prompts: str = typer.Option("sharegpt", "--prompts", help="sharegpt | probes:<name> | FILE.jsonl"),
    n: Optional[int] = typer.Option(None, "--n", min=1, help="How many prompts (required for sharegpt)."),
    output: Path = typer.Option(..., "--out", "-o", help="Harvest file (JSONL); re-running resumes it."),
    temperature: float = typer.Option(0.7, "--temperature", min=0.0),
    max_tokens: int = typer.Option(256, "--max-tokens", min=1),
    seed: int = typer.Option(0, "--seed", help="Sampling seed of the run (each prompt derives its own)."),
    watermark: Optional[str] = typer.Option(
        None, "--watermark", help="Watermark a local teacher's answers, e.g. kgw:lefthash:key=15485863."),
    no_cache: bool = typer.Option(False, "--no-cache"),
    model_args: Optional[list[str]] = typer.Option(None, "-M", help=MODEL_ARGS_HELP),
):
    """Query a teacher with many prompts and keep its answers, like a distiller would (resumable)."""
    from .data import load_prompts
    from .lab.harvesting import harvest

    pf = load_prompts(prompts, n, seed=seed)
    quarantine = pf.write_quarantine(Path(str(output) + ".quarantine.jsonl"))
    model = _model(teacher, model_args, no_cache)
    processor = None
    if watermark:
        from .watermark import make_logits_processor

        processor = make_logits_processor(_watermark_config(watermark), _vocab_size(model))
    result = harvest(model, pf.records, output, temperature=temperature, max_tokens=max_tokens, seed=seed,
                     logits_processor=processor)
    out.print(f"{result.total} answers in {result.path} ({result.new} new, {result.resumed} from before)")
    if quarantine:
        console.print(f"[yellow]{len(pf.quarantined)} bad prompt line(s) quarantined to {quarantine}[/]")
        raise typer.Exit(1)


@lab_app.command("zoo")
def lab_zoo(
    spec: str = typer.Option("ci", "--spec", help="A packaged spec (ci, default) or a YAML file."),
    output: Path = typer.Option(..., "--out", "-o", help="The zoo directory (manifest.json, models); re-running resumes."),
    api: bool = typer.Option(False, "--api", help="Harvest bundled teachers through a local OpenAI-compatible server."),
):
    """Build a ground-truth zoo: teachers, harvests, students (several sizes, seeds, rho), siblings and
    independents, with a manifest of each model's lineage and the student x teacher closeness table."""
    from .lab import build_zoo

    manifest = build_zoo(spec, output, progress=True, api=api)
    out.print(manifest.closeness_text())
    out.print(f"{len(manifest.models)} models; manifest: {Path(output) / 'manifest.json'}")


@lab_app.command("traffic")
def lab_traffic(
    output: Path = typer.Option(..., "--out", "-o", help="The simulated log (Parquet); labels go to LOG.labels.parquet."),
    accounts: int = typer.Option(5000, "--accounts", min=10, help="Benign accounts."),
    days: float = typer.Option(7.0, "--days", min=0.1),
    seed: int = typer.Option(0, "--seed"),
    campaigns: str = typer.Option("all", "--campaigns", help="Which campaigns: 'all' (one of every kind), "
                                  "'none' (benign only), kinds separated by commas (cot_harvest, capability_sweep, "
                                  "rubric_harvest, hydra, low_and_slow, reseller_hidden, model_pivot), or a JSON "
                                  "file of campaign records (name, kind, accounts, requests, start_day)."),
    phrasing: str = typer.Option("lexicon", "--phrasing", help="'lexicon': campaign requests worded as the scan's "
                                 "lexicons expect; 'paraphrased': reworded, so detection must rest on more "
                                 "than the words."),
):
    """Simulate API traffic with ground truth: benign personas built from real user prompts (incl. heavy
    batch customers and researchers) and every campaign type (CoT harvest, capability sweep, rubric
    harvest, hydra cluster, low-and-slow, reseller cover, pivot on a release). Responses are synthesised."""
    from .lab.traffic_sim import campaigns_from_spec, simulate_traffic

    try:
        camps = campaigns_from_spec(campaigns)
        log_path, labels = simulate_traffic(output, accounts=accounts, days=days, seed=seed, campaigns=camps,
                                            phrasing=phrasing)
    except ValueError as e:
        raise InputError(str(e)) from None
    out.print(f"log: {log_path}\nlabels: {labels}")


def _vocab_size(model) -> int:
    size = getattr(model, "vocab_size", None)
    if not size:
        raise InputError(f"{model.model_id} is remote: watermark on its server (distillwatch serve --watermark)")
    return int(size)


watermark_app = typer.Typer(help="Watermark detection on texts or token ids.", no_args_is_help=True)
app.add_typer(watermark_app, name="watermark")


@watermark_app.command("detect")
def watermark_detect(
    tokenizer: Optional[str] = typer.Option(
        None, "--tokenizer", help="Model string whose tokenizer reads --text-file (and gives the vocabulary size)."),
    key: str = typer.Option(..., "--key", help="The watermark key: an integer or env:VAR."),
    gamma: float = typer.Option(0.25, "--gamma", min=0.0, max=1.0),
    seeding: str = typer.Option("selfhash", "--seeding", help="lefthash | selfhash"),
    scheme: str = typer.Option("kgw", "--scheme", help="kgw | gumbel"),
    vocab_size: Optional[int] = typer.Option(None, "--vocab-size", help="Vocabulary size (default: the tokenizer's)."),
    text_file: Optional[Path] = typer.Option(None, "--text-file", help="A text file to tokenize and test."),
    tokens_json: Optional[Path] = typer.Option(None, "--tokens-json", help="A file holding a JSON list of token ids."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON line."),
):
    """Test a text for our watermark: exact p-value P[Bin(T, gamma) >= G] over distinct n-grams (KGW), or
    the Gamma tail of the Gumbel score. Null hypothesis: the text was written without this key."""
    from .watermark import WatermarkDetector

    if (text_file is None) == (tokens_json is None):
        raise InputError("give exactly one of --text-file or --tokens-json")
    config = _watermark_config(f"{scheme}:{seeding}:key={key}:gamma={gamma}" if scheme == "kgw"
                               else f"{scheme}:key={key}")
    model = None
    if tokenizer:
        from .models import get_model

        model = get_model(tokenizer, cache=False)
    if text_file is not None:
        if model is None or getattr(model, "tokenizer", None) is None:
            raise InputError("--text-file needs --tokenizer naming a local model (hf/... or bundled/...)")
        ids = model.encode_text(text_file.read_text(encoding="utf-8"))
    else:
        try:
            ids = json.loads(tokens_json.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{tokens_json}: not a JSON list of token ids ({exc})") from None
        if not isinstance(ids, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in ids):
            raise InputError(f"{tokens_json}: expected a JSON list of integers")
    vocab = vocab_size or (getattr(model, "vocab_size", None) if model else None)
    if not vocab:
        raise InputError("say the vocabulary size (--vocab-size) or name the --tokenizer")
    if ids and (min(ids) < 0 or max(ids) >= vocab):
        raise InputError(f"token ids must be in [0, {vocab})")
    d = WatermarkDetector(config, vocab).detect(ids)
    record = {"score": d.score, "p_value": d.p_value, "num_scored_tokens": d.num_scored_tokens,
              "is_watermarked": d.is_watermarked}
    if json_out:
        print(json.dumps(record))
    else:
        verdict = "[green]watermarked[/]" if d.is_watermarked else "no evidence of the watermark"
        out.print(f"{verdict}: p = {d.p_value:.3g} over {d.num_scored_tokens} scored tokens (score {d.score:.3g})")


@app.command()
def radioactivity(
    suspect: str = typer.Option(..., "--suspect", help="The suspect model string (reading mode: it must share the "
                                "watermark's tokenizer; generation mode: any, with --tokenizer)."),
    key: str = typer.Option(..., "--key", help="The provider's watermark key: an integer or env:VAR."),
    watermarked_data: Path = typer.Option(..., "--watermarked-data", help="Harvest JSONL of watermarked answers (prompt, token_ids)."),
    mode: str = typer.Option("reading", "--mode", help="reading (open weights) | generation (answers only)."),
    scheme: str = typer.Option("kgw:lefthash", "--scheme", help="Watermark scheme and seeding, e.g. kgw:lefthash, kgw:selfhash, gumbel."),
    gamma: float = typer.Option(0.25, "--gamma", min=0.0, max=1.0),
    max_tokens: int = typer.Option(128, "--max-tokens", min=1, help="Generation mode: tokens per answer."),
    temperature: float = typer.Option(0.7, "--temperature", min=0.0, help="Generation mode: sampling temperature "
                                      "(seeded per prompt; 0 is greedy)."),
    contexts: Optional[Path] = typer.Option(None, "--contexts", help="Reading mode: read this JSONL of text NOT "
                                            "watermarked with the key (prompt, token_ids) instead of the watermarked "
                                            "answers, keeping every position (more power on suspects close to the "
                                            "generator)."),
    weight_cap: Optional[int] = typer.Option(None, "--weight-cap", min=1, help="Reading mode, KGW: weight each "
                                             "distinct (window, token) tuple by how many positions predicted it, "
                                             "capped at this (e.g. 16); the p-value stays exact. More power: a "
                                             "student's radioactivity sits in the tuples it predicts often."),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help="Generation mode: a local model with the "
                                            "watermark's tokenizer (usually your own) that re-tokenizes the suspect's "
                                            "text, so a suspect with another tokenizer, or an API, can be tested."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write an HTML report with the p-value-vs-tokens curve."),
    json_out: bool = typer.Option(False, "--json"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    model_args: Optional[list[str]] = typer.Option(None, "-M", help=MODEL_ARGS_HELP),
):
    """Was the suspect trained on our watermarked outputs? (Sander et al. 2024.) Exact p-value under the
    null that the suspect never saw text watermarked with this key."""
    from .lab.harvesting import read_harvest
    from .watermark import check_radioactivity

    spec = f"{scheme}:key={key}" + (f":gamma={gamma}" if scheme.startswith("kgw") else "")
    config = _watermark_config(spec)
    records = read_harvest(watermarked_data)
    model = _model(suspect, model_args, no_cache)
    reader = _model(tokenizer, None, True) if tokenizer else None
    result = check_radioactivity(model, config, records, mode=mode, max_tokens=max_tokens, progress=True,
                                 contexts=read_harvest(contexts) if contexts else None, reader=reader,
                                 temperature=temperature, weight_cap=weight_cap)
    record = result.to_dict()
    if report:
        _radioactivity_report(result, suspect, report)
    if json_out:
        print(json.dumps({k: record[k] for k in ("p_value", "score", "num_scored_tokens", "tokens_read", "mode")}))
    else:
        out.print(f"{mode} mode: p = {result.evidence.p_value:.3g} over {result.evidence.n} scored tuples "
                  f"({result.tokens_read} tokens read)")


@app.command()
def trace(
    suspect: str = typer.Option(..., "--suspect", help="The model under suspicion."),
    teacher: str = typer.Option(..., "--teacher", help="The presumed teacher (often an openai/...@url endpoint)."),
    control: list[str] = typer.Option(
        ..., "--control",
        help="A control model (repeat; at least two advised): unrelated to the teacher but like it in size, "
             "tokenizer and kind of training data; controls unlike the teacher make the tests call "
             "look-alikes of the teacher derived. With --matched-controls, a pool to choose from."),
    matched_controls: Optional[int] = typer.Option(
        None, "--matched-controls", min=1,
        help="Treat the --control models as a pool known not to be derived from the teacher and keep the K "
             "that resemble the teacher most, on prompts the tests do not use (the suspect plays no part)."),
    budget: int = typer.Option(300, "--budget", min=10, help="Most requests to put to the suspect."),
    probes: str = typer.Option("sharegpt", "--probes", help="Probe prompts: sharegpt | probes:<name> | FILE.jsonl"),
    alpha: float = typer.Option(0.01, "--alpha", min=1e-9, max=0.5, help="Family-wise error rate of the verdict."),
    teacher_name: Optional[list[str]] = typer.Option(None, "--teacher-name", help="Names the teacher or its maker "
                                                     "goes by, for identity probes (repeatable)."),
    seed: int = typer.Option(0, "--seed"),
    out_dir: Path = typer.Option(Path("distillwatch-trace"), "--out", help="Where the report and run log go."),
    json_out: bool = typer.Option(False, "--json", help="Print {verdict, p_value, queries, evidence} as JSON."),
    no_cache: bool = typer.Option(False, "--no-cache"),
    served: Optional[Path] = typer.Option(None, "--served", help="Answers the teacher served: a request log (any "
                                          "format scan reads; a directory = all its files, e.g. the gateway's log) "
                                          "or a harvest JSONL. Adds the served-answer test (three quarters of the "
                                          "budget), which alone then decides."),
    served_account: Optional[list[str]] = typer.Option(None, "--served-account", help="Only this account's "
                                                       "answers from --served (repeat; e.g. the accounts scan flagged)."),
    served_watermark: Optional[str] = typer.Option(None, "--served-watermark", help="The watermark the answers "
                                                   "were served with (spec or config file), applied when the "
                                                   "teacher redraws them locally; omit for a teacher behind the gateway."),
    served_temperature: Optional[float] = typer.Option(None, "--served-temperature", min=0.0, help="Temperature "
                                                       "for --served rows that do not record one."),
    served_max_tokens: Optional[int] = typer.Option(None, "--served-max-tokens", min=1, help="max_tokens for "
                                                    "--served rows that do not record one."),
):
    """Was SUSPECT distilled from TEACHER? Calibrated tests (agreement, likelihood, distribution, style,
    identity) against controls, combined with family-wise error control; verdict `derived`, `no evidence`
    or `inconclusive`, stopping early under the query budget. With --served, also the exact served-answer
    test: is the suspect closer to the answers the teacher served than to fresh redraws of them?"""
    from .provenance import load_served, trace as run_trace
    from .provenance.report import trace_report

    served_answers = None
    if served is not None:
        served_answers, skipped = load_served(served, accounts=served_account, temperature=served_temperature,
                                              max_tokens=served_max_tokens)
        left_out = ", ".join(f"{n} {why}" for why, n in skipped.items())
        console.print(f"served answers: {len(served_answers)} sampled answers from {served}"
                      + (f" (left out: {left_out})" if left_out else ""))
        if not served_answers:
            raise InputError(f"no sampled answers to test in {served}" + (f" (left out: {left_out})" if left_out else ""))
    served_config = _watermark_config(served_watermark) if served_watermark is not None else None
    models = [_model(m, None, no_cache) for m in (suspect, teacher, *control)]
    result = run_trace(models[0], models[1], models[2:], budget=budget,
                       probes=None if probes == "sharegpt" else probes, alpha=alpha, seed=seed,
                       progress=True, teacher_names=teacher_name, served=served_answers,
                       served_watermark=served_config, matched_controls=matched_controls)
    if result.control_match:
        console.print(f"controls chosen from the pool: {', '.join(result.control_match['chosen'])}")
    record = result.to_dict()
    with RunLog("trace", out_dir) as log:
        log.write("config", suspect=suspect, teacher=teacher, controls=control, budget=budget, alpha=alpha)
        for e in record["evidence"]:
            log.write("evidence", **e)
        log.write("verdict", verdict=record["verdict"], p_value=record["p_value"], queries=record["queries"])
    report = trace_report(result).write(out_dir / "trace.html")
    if json_out:
        print(json.dumps({k: record[k] for k in ("verdict", "p_value", "queries", "evidence")}))
    else:
        out.print(f"verdict: [bold]{record['verdict']}[/] (p = {record['p_value']:.3g}, {record['queries']} queries)"
                  f" — report {report}")


@app.command()
def audit(
    model: str = typer.Option(..., "--model", help="The model to audit (the suspect)."),
    reference: str = typer.Option(..., "--reference", help="The model to compare with: the presumed teacher, or any "
                                  "model you trust."),
    harmful: str = typer.Option("strongreject", "--harmful", help="Harmful requests: strongreject | strongreject-small "
                                "| harmbench | advbench | donotanswer | FILE (.csv/.jsonl with a prompt column)."),
    n_harmful: Optional[int] = typer.Option(None, "--n-harmful", min=1, help="Sample this many harmful requests "
                                            "(stratified by category; default all)."),
    n_benign: int = typer.Option(60, "--n-benign", min=0, help="Benign sensitive requests for over-refusal (0: skip)."),
    judge: str = typer.Option("relevance", "--judge", help="Refusal judge: relevance (patterns + answer relevance), "
                              "patterns, or a model string for an LLM judge."),
    pairs: int = typer.Option(20, "--pairs", min=1, help="Published/fresh item pairs per task family."),
    benchmark: str = typer.Option("mmlu", "--benchmark", help="Real multiple-choice items: mmlu or a JSONL file."),
    n_benchmark: int = typer.Option(40, "--n-benchmark", min=0, help="Benchmark questions to use (0: skip)."),
    control: Optional[list[str]] = typer.Option(None, "--control", help="Control model for a trace verdict (repeat)."),
    reference_name: Optional[list[str]] = typer.Option(None, "--reference-name", help="A name the reference or its "
                                                       "maker goes by, for the identity probes (repeat)."),
    quick: bool = typer.Option(False, "--quick", help="Smaller samples (about a quarter of the time)."),
    alpha: float = typer.Option(0.01, "--alpha", min=1e-9, max=0.5, help="Level at which a finding is called a risk."),
    seed: int = typer.Option(0, "--seed"),
    out_dir: Path = typer.Option(Path("distillwatch-audit"), "--out", help="Where audit.html and audit.json go."),
    json_out: bool = typer.Option(False, "--json", help="Print the full JSON result to stdout."),
    model_arg: Optional[list[str]] = typer.Option(None, "--model-arg", "-M", help=MODEL_ARGS_HELP),
    no_cache: bool = typer.Option(False, "--no-cache"),
):
    """The risk card of MODEL against REFERENCE: does it refuse harmful requests less (safety regression),
    refuse benign ones differently, do better on published test items than on fresh twins (generalization
    gap), copy the reference's style more than its substance, and claim its identity? Writes a one-page
    HTML card and a JSON file with every number; answers are cached, so re-runs resume."""
    from .audit import AuditConfig, audit as run_audit, write_card

    overrides = dict(harmful=harmful, n_harmful=n_harmful, n_benign=n_benign, judge=judge, pairs_per_family=pairs,
                     benchmark=benchmark or None, n_benchmark=n_benchmark, controls=tuple(control or ()),
                     reference_names=tuple(reference_name or ()), alpha=alpha, seed=seed)
    if quick:
        defaults = AuditConfig.quick()
        for key, cli_default in (("n_harmful", None), ("n_benign", 60), ("pairs_per_family", 20), ("n_benchmark", 40)):
            if overrides[key] == cli_default:
                overrides[key] = getattr(defaults, key)
        cfg = AuditConfig.quick(**overrides)
    else:
        cfg = AuditConfig(**overrides)
    suspect = _model(model, model_arg, no_cache)
    ref = _model(reference, model_arg, no_cache)
    result = run_audit(suspect, ref, cfg, progress=lambda name: console.print(f"[bold]audit[/] {name}"))
    html, js = write_card(result, out_dir)
    with RunLog("audit", out_dir) as log:
        log.write("config", model=model, reference=reference, **{k: v for k, v in cfg.__dict__.items()})
        for f in result.findings:
            log.write("finding", **f)
    if json_out:
        print(js.read_text(encoding="utf-8"))
        return
    from rich.table import Table

    table = Table(title=f"audit of {result.suspect} against {result.reference}")
    for col in ("", "question", "finding", "p"):
        table.add_column(col)
    colours = {"risk": "[bold red]RISK[/]", "ok": "[green]OK[/]", "note": "[yellow]NOTE[/]"}
    for f in result.findings:
        table.add_row(colours[f["status"]], f["question"], f["finding"],
                      "" if f["p_value"] is None else f"{f['p_value']:.2g}")
    out.print(table)
    out.print(f"risk card: {html}\nnumbers:   {js}")


def _radioactivity_report(result, suspect: str, path: Path) -> None:
    from .report import Report, line_chart

    r = Report(f"Radioactivity of {suspect}", f"{result.mode} mode")
    r.card("p-value", f"{result.evidence.p_value:.2e}").card("scored tuples", result.evidence.n)
    r.card("tokens read", result.tokens_read)
    xs, ys = zip(*result.curve) if result.curve else ((), ())
    r.section("Evidence", "evidence").text(f"Null hypothesis: {result.evidence.null_hypothesis}.").figure(
        line_chart({"p-value": (list(xs), list(ys))}, title="p-value vs tokens read", xlabel="tokens read",
                   ylabel="p-value", log_y=True, hlines={"alpha 0.01": 0.01}),
        "Exact p-value of the test on growing prefixes of the data.",
    ).table(["field", "value"], [[k, v] for k, v in result.evidence.to_dict().items() if k != "details"])
    r.write(path)


def main() -> None:
    """Entry point: library errors become one red line and exit code 2, without a traceback."""
    try:
        app(standalone_mode=True)
    except DistillwatchError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()

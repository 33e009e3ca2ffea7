import json

from typer.testing import CliRunner

from distillwatch.cli import app

runner = CliRunner()


def test_generate_json_line_with_mock():
    r = runner.invoke(app, ["generate", "--model", "mock/a", "--prompt", "Name three colours.", "--json",
                            "--max-tokens", "6"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout.strip().splitlines()[-1])
    assert rec["prompt"] == "Name three colours." and rec["text"] and len(rec["token_ids"]) <= 6


def test_generate_prompt_file_quarantines_and_exits_1(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "a"}\n{broken\n{"prompt": "b"}\n')
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["generate", "-m", "mock/a", "--prompts", str(prompts), "--out", str(out)])
    assert r.exit_code == 1
    assert [json.loads(x)["prompt"] for x in out.read_text().splitlines()] == ["a", "b"]
    assert (tmp_path / "p.jsonl.quarantine.jsonl").read_text().count("\n") == 1


def test_every_verb_has_help():
    for verb in ("models", "generate", "serve", "demo", "audit", "gateway", "scan", "trace", "radioactivity"):
        r = runner.invoke(app, [verb, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output


def test_models_json_lists_bundled():
    r = runner.invoke(app, ["models", "--json"])
    assert r.exit_code == 0
    names = [b["model"] for b in json.loads(r.stdout)["bundled"]]
    assert names == ["bundled/smollm2-135m-instruct", "bundled/gemma-3-270m"]


def test_errors_are_one_line_and_exit_2(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "distillwatch.cli", "generate", "-m", "nope/x", "-p", "hi"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown model provider 'nope'")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_keys_create_list_revoke():
    r = runner.invoke(app, ["keys", "create", "--account", "acme", "--org", "acme-inc"])
    assert r.exit_code == 0
    key = r.stdout.strip()
    assert key.startswith("dw-") and len(r.stdout.strip().splitlines()) == 1
    listed = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)
    assert len(listed) == 1 and listed[0]["account_id"] == "acme"
    assert key.split("-", 2)[2] not in json.dumps(listed)  # the secret (which may hold "-") never shows
    assert runner.invoke(app, ["keys", "revoke", listed[0]["key_id"]]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "nope"]).exit_code != 0


def test_trace_cli_on_mock_models(tmp_path):
    args = ["trace", "--suspect", "mock/teacher", "--teacher", "mock/teacher", "--control", "mock/c1",
            "--control", "mock/c2", "--budget", "60", "--out", str(tmp_path), "--json", "--no-cache"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout.strip().splitlines()[-1])
    assert rec["verdict"] == "derived" and rec["queries"] <= 60
    assert {e["test"] for e in rec["evidence"]} >= {"agreement"}
    assert (tmp_path / "trace.html").read_text().count("<svg") >= 1
    assert list(tmp_path.glob("trace.*.jsonl"))
    r = runner.invoke(app, args[:1] + ["--suspect", "mock/other"] + args[3:])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["verdict"] != "derived"


def test_lab_traffic_then_scan(tmp_path):
    log = tmp_path / "log.parquet"
    r = runner.invoke(app, ["lab", "traffic", "--out", str(log), "--accounts", "300", "--days", "2", "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert log.exists() and (tmp_path / "log.labels.parquet").exists()
    r = runner.invoke(app, ["scan", str(log), "--out", str(tmp_path / "scan"), "--fpr", "0.01", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["requests"] > 1000 and summary["alerts"] >= 1
    assert (tmp_path / "scan" / "alerts.jsonl").exists() and (tmp_path / "scan" / "report.html").exists()
    bad = runner.invoke(app, ["scan", str(log), "--out", str(tmp_path / "bad"), "--engine", "bogus"])
    assert bad.exit_code != 0 and "unknown engine 'bogus'" in str(bad.exception)

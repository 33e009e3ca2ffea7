"""End to end on the real bundled models: load, generate, serve, and talk to it with the official
`openai` client and the CLI. The first run dequantizes the GGUF files (about a minute)."""

import json
import os
import subprocess
import sys

import openai
import pytest

from distillwatch.gateway import BackgroundServer, build_app
from distillwatch.models import GenerateRequest, get_model

pytestmark = pytest.mark.slow

SMOL = "bundled/smollm2-135m-instruct"
COLORS = [{"role": "user", "content": "Name three primary colors."}]


@pytest.fixture(scope="module")
def smollm2():
    return get_model(SMOL, cache=False)


def test_smollm2_answers_a_chat_prompt(smollm2):
    c = smollm2.generate([GenerateRequest(COLORS, max_tokens=24)])[0]
    assert c.token_ids and c.text.strip()
    assert any(color in c.text.lower() for color in ("red", "blue", "yellow"))
    assert smollm2.vocab_size == 49152 and 2 in smollm2.eos_ids  # <|im_end|>


def test_smollm2_served_to_the_official_client(smollm2):
    with BackgroundServer(build_app(smollm2, served_name="smollm2")) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="unused", max_retries=0)
        chat = client.chat.completions.create(model="smollm2", messages=COLORS, max_tokens=24, temperature=0)
        local = smollm2.generate([GenerateRequest(COLORS, max_tokens=24)])[0]
        assert chat.choices[0].message.content == local.text
        stream = client.chat.completions.create(model="smollm2", messages=COLORS, max_tokens=24,
                                                temperature=0, stream=True)
        assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices) == local.text
        echo = client.completions.create(model="smollm2", prompt="The capital of France is", max_tokens=4,
                                         temperature=0, echo=True, logprobs=1)
        assert echo.choices[0].text.startswith("The capital of France is")
        assert "Paris" in echo.choices[0].text
        backend = get_model(f"openai/smollm2@{srv.base_url}", cache=False)
        assert backend.generate([GenerateRequest(COLORS, max_tokens=24)])[0].token_ids == local.token_ids


def test_cli_generate_prints_a_json_line():
    proc = subprocess.run(
        [sys.executable, "-m", "distillwatch.cli", "generate", "--model", SMOL,
         "--prompt", "Name three primary colors.", "--max-tokens", "24", "--json"],
        capture_output=True, text=True, env=os.environ.copy(), timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["text"].strip() and record["token_ids"]


def test_gemma_loads_and_continues_text():
    gemma = get_model("bundled/gemma-3-270m", cache=False)
    assert gemma.vocab_size == 262144
    plain, chat = gemma.generate([
        GenerateRequest("The capital of France is", max_tokens=8),
        GenerateRequest([{"role": "user", "content": "What is the capital of France?"}], max_tokens=8),
    ])
    assert plain.text.strip() and chat.token_ids
    assert gemma.tokenizer.decode(gemma.encode_prompt([{"role": "user", "content": "hi"}])).endswith(
        "<start_of_turn>model\n")
    scores = gemma.score([("The capital of France is", " Paris")])[0]
    assert len(scores.logprobs) == 1 and scores.logprobs[0] > -8


def test_smollm2_behind_the_gateway_official_client_and_watermarked_answers(smollm2, tmp_path):
    """The gateway in front of the real model: the official client (chat, completions, streaming) works
    unchanged, and answers of 200 tokens carry the policy's watermark (p < 1e-4 for most; a low-entropy
    answer can fall short, which is why `bench/radioactivity.py` measures the rate over 100 prompts)."""
    from distillwatch.gateway import KeyStore, Policy, build_gateway
    from distillwatch.watermark import WatermarkConfig, WatermarkDetector

    os.environ["DW_TEST_WM_KEY"] = "15485863"
    policy = Policy.from_mapping({"watermark": {"config": {"scheme": "kgw", "seeding": "lefthash", "gamma": 0.25,
                                                           "delta": 2.0, "key": "env:DW_TEST_WM_KEY"}}})
    keys = KeyStore(tmp_path / "keys.sqlite")
    app = build_gateway(smollm2, tmp_path / "log", policy=policy, keys=keys, served_name="smollm2", max_batch=4)
    prompts = ["Explain step by step how a bicycle gear system works.",
               "Write a detailed guide to starting a vegetable garden.",
               "Describe the water cycle and why it matters, with examples."]
    with BackgroundServer(app) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key=keys.create("acct-e2e"), max_retries=0)
        answers = [client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": p}],
                                                  max_tokens=200, temperature=0.7, seed=i)
                   for i, p in enumerate(prompts)]
        text = client.completions.create(model="smollm2", prompt="The capital of France is", max_tokens=4).choices[0].text
        pieces = [e.choices[0].delta.content or "" for e in client.chat.completions.create(
            model="smollm2", messages=COLORS, max_tokens=12, stream=True) if e.choices]
    assert text.strip() and "".join(pieces).strip()
    detector = WatermarkDetector(WatermarkConfig("kgw", key=15485863, gamma=0.25, delta=2.0, seeding="lefthash"),
                                 smollm2.vocab_size)
    ps = [detector.detect(smollm2.encode_text(a.choices[0].message.content)).p_value for a in answers]
    assert all(a.usage.completion_tokens >= 150 for a in answers)
    assert sorted(ps)[1] < 1e-4 and max(ps) < 0.05, ps
    logged = app.state.gateway.log.read_all().to_pylist()
    assert sorted(r["status"] for r in logged) == [200] * 5

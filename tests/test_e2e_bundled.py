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

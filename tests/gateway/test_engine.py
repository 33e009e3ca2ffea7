"""The serving engine's continuous batching: callers that go away leave the batch."""

import asyncio

from distillwatch.gateway.engine import BatchingEngine
from distillwatch.models import GenerateRequest

CHAT = [{"role": "user", "content": "Name three primary colours."}]


class NoEnd:
    """Bans the end of sequence, so an answer runs to its budget."""

    def __init__(self, eos: set[int]):
        self.eos = sorted(eos)

    def __call__(self, ids, scores):
        scores[:, self.eos] = float("-inf")
        return scores


def test_a_cancelled_request_leaves_the_batch_and_the_others_finish(tiny_model):
    async def run():
        engine = BatchingEngine(tiny_model, max_batch=4, logits_processor=NoEnd(tiny_model.eos_ids))
        assert engine.continuous
        long = asyncio.ensure_future(engine.generate(GenerateRequest(CHAT, max_tokens=200)))
        while engine.stats.steps < 3:
            await asyncio.sleep(0.005)
        long.cancel()
        short = await engine.generate(GenerateRequest(CHAT, max_tokens=5))
        await asyncio.sleep(0.2)
        idle_from = engine.stats.steps
        await asyncio.sleep(0.3)
        stats = engine.stats.to_dict()
        await engine.stop()
        return short, idle_from, stats

    short, idle_from, stats = asyncio.run(run())
    assert len(short.token_ids) == 5
    assert stats["steps"] == idle_from < 200  # nothing decodes once the short answer is done
    assert stats["requests"] == 1 and stats["generated_tokens"] == 5

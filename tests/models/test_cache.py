import threading

from distillwatch.models import GenerateRequest, ResponseCache, get_model


def test_put_get_and_stats(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put_many([("k1", "m", "generate", {"text": "a"}), ("k2", "m2", "score", [1, 2])])
    assert cache.get_many(["k1", "k2", "k3"]) == {"k1": {"text": "a"}, "k2": [1, 2]}
    stats = cache.stats()
    assert stats["hits"] == 2 and stats["misses"] == 1
    assert stats["entries_per_model"] == {"m": 1, "m2": 1}
    assert cache.clear("m") == 1 and cache.stats()["entries"] == 1


def test_generate_uses_the_cache_only_for_deterministic_requests(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    model = get_model("mock/a", cache=cache)
    greedy = GenerateRequest("hello", max_tokens=8)
    sampled = GenerateRequest("hello", max_tokens=8, temperature=1.0)
    first = model.generate([greedy, sampled])
    assert not first[0].cached and not first[1].cached
    second = model.generate([greedy, sampled])
    assert second[0].cached and second[0].text == first[0].text
    assert not second[1].cached  # no seed: never cached
    # parameters are part of the key
    assert not model.generate([GenerateRequest("hello", max_tokens=9)])[0].cached


def test_cache_is_per_model_and_scores_are_cached(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    a, b = get_model("mock/a", cache=cache), get_model("mock/b", cache=cache)
    a.generate(["q"])
    assert not b.generate(["q"])[0].cached
    s1 = a.score(["one two three"])
    s2 = a.score(["one two three"])
    assert s1 == s2 and cache.hits >= 1


def test_concurrent_writers_and_readers(tmp_path):
    path = tmp_path / "c.sqlite"
    errors = []

    def worker(w):
        try:
            cache = ResponseCache(path)  # each thread may also have its own object
            for i in range(50):
                cache.put_many([(f"{w}-{i}", "m", "generate", {"i": i})])
                assert cache.get_many([f"{w}-{i}"]) == {f"{w}-{i}": {"i": i}}
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert ResponseCache(path).stats()["entries"] == 300


def test_processor_without_cache_key_bypasses_cache(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    model = get_model("mock/a", cache=cache)

    class Plain:
        def __call__(self, ids, scores):
            return scores

    class Keyed(Plain):
        cache_key = "keyed-v1"

    model.generate(["p"], logits_processor=Plain())
    assert not model.generate(["p"], logits_processor=Plain())[0].cached
    model.generate(["p"], logits_processor=Keyed())
    assert model.generate(["p"], logits_processor=Keyed())[0].cached

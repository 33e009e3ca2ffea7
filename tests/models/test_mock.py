from distillwatch.models import GenerateRequest, get_model


def test_mock_is_deterministic_and_model_specific():
    a, b = get_model("mock/a", cache=False), get_model("mock/b", cache=False)
    r = GenerateRequest("Name three colours.", max_tokens=20)
    assert a.generate([r])[0].text == a.generate([r])[0].text
    assert a.generate([r])[0].text != b.generate([r])[0].text


def test_mock_seeds_and_limits():
    m = get_model("mock/a", cache=False)
    s1 = m.generate([GenerateRequest("x", temperature=1.0, seed=1, max_tokens=30)])[0]
    s2 = m.generate([GenerateRequest("x", temperature=1.0, seed=2, max_tokens=30)])[0]
    assert s1.text != s2.text
    assert len(m.generate([GenerateRequest("x", max_tokens=3)])[0].token_ids) <= 3
    fixed = get_model("mock/a", cache=False, reply="hello world. bye")
    assert fixed.generate([GenerateRequest("x", stop=(".",))])[0].text == "hello world"

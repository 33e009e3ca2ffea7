"""The exported names are exactly the intended ones (httpx style)."""

import distillwatch.gateway
import distillwatch.models
import distillwatch.data


def test_models_exports():
    assert sorted(distillwatch.models.__all__) == sorted([
        "BaseModel", "Completion", "GenerateRequest", "LogitsProcessor", "Model", "PROVIDERS", "Prompt",
        "ResponseCache", "ScoreItem", "TokenScores", "context_room", "default_cache", "get_model", "is_chat",
        "parse_model_args",
    ])
    for name in distillwatch.models.__all__:
        assert hasattr(distillwatch.models, name)


def test_gateway_and_data_exports_resolve():
    for module in (distillwatch.gateway, distillwatch.data):
        for name in module.__all__:
            assert hasattr(module, name), name


def test_every_backend_satisfies_the_model_protocol(tiny_model):
    from distillwatch.models import Model, get_model

    for m in (tiny_model, get_model("mock/x", cache=False),
              get_model("openai/x@http://127.0.0.1:9/v1", cache=False)):
        assert isinstance(m, Model)

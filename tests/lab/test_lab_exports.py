from __future__ import annotations

import importlib
import subprocess
import sys

import distillwatch.lab as lab

MODULES = ["corpus", "human", "tokenizer", "encoding", "student", "train", "checkpoint", "closeness", "harvesting", "zoo"]


def test_package_exports_exactly_the_public_names():
    assert sorted(lab.__all__) == sorted(lab._HOME)
    for name in lab.__all__:
        assert getattr(lab, name) is getattr(
            importlib.import_module(f"distillwatch.lab.{lab._HOME[name]}"), name
        )


def test_every_module_declares_all():
    for mod in MODULES:
        m = importlib.import_module(f"distillwatch.lab.{mod}")
        assert m.__all__ and all(hasattr(m, n) for n in m.__all__)


def test_importing_the_lab_does_not_import_torch():
    code = "import sys, distillwatch.lab as lab; lab.Example; lab.mix; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

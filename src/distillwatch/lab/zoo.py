"""The zoo: a set of models whose lineage is known, built from a declarative spec, for measuring detectors.

A spec (YAML; the packaged ``ci`` and ``default`` under ``lab/specs/``, or a path) names

- **teachers**: a model string (``bundled/smollm2-135m-instruct``) or a tiny model trained here on one
  human-written corpus (``human: pydoc-topics``);
- **harvests**: a teacher's answers to a prompt set (n, temperature, max_tokens, an optional watermark
  config string), asked locally or through ``distillwatch serve`` (``via: api``: the realistic path);
- **students**: trained on a harvest, mixed to a fraction ρ of teacher text with human text, at a size
  preset and seed, with the teacher's tokenizer, the zoo's ``lab`` tokenizer or their ``own`` BPE;
- **independents**: trained on human-written text only (negatives).

A list value in a student or independent entry expands to the grid of all combinations. Students of
different teachers trained on the same prompts (same size, seed, ρ and tokenizer kind) are *siblings*, the
hard negative for each other. `build_zoo` writes ``manifest.json``: every model's ground truth, a
closeness table (each model's held-out loss per byte on each teacher's answers to held-out prompts) and
the lineage check per sibling pair. The build resumes: a step whose output and done-marker exist, for
the same step spec, is skipped; a harvest resumes on its own.

Layout of a zoo directory::

    manifest.json  spec.yaml  tokenizer/  teachers/<name>/  harvests/<name>.jsonl
    heldout/<teacher>.jsonl  students/<name>/  independents/<name>/  (each with a .done.json marker)
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import DistillwatchError, InputError

__all__ = [
    "HarvestSpec",
    "IndependentSpec",
    "StudentSpec",
    "TeacherSpec",
    "ZooManifest",
    "ZooSpec",
    "build_zoo",
    "load_spec",
    "packaged_specs",
    "read_manifest",
    "sign_test",
]

MANIFEST_FILE = "manifest.json"
FORMAT = "distillwatch.lab.zoo/1"
ROLES = ("teacher", "student", "independent")


# --- the spec ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherSpec:
    """A teacher: an existing `model` string, or a tiny model trained on `n` texts of a `human` source."""

    name: str
    model: str | None = None
    human: str | None = None
    n: int = 400
    size: str = "tiny"
    seed: int = 0
    steps: int | None = None
    epochs: int = 1
    lr: float = 2e-3
    batch_size: int = 16
    max_len: int | None = None

    def __post_init__(self) -> None:
        if (self.model is None) == (self.human is None):
            raise InputError(f"teacher {self.name!r}: give exactly one of 'model' or 'human'")

    @property
    def trained(self) -> bool:
        return self.model is None


@dataclass(frozen=True)
class HarvestSpec:
    """`teacher`'s answers to `n` prompts of the set `prompts`; `watermark` a watermark config string."""

    name: str
    teacher: str
    prompts: str = "train"
    n: int = 64
    temperature: float = 0.8
    max_tokens: int = 64
    seed: int = 0
    watermark: str | None = None
    via: str = "local"

    def __post_init__(self) -> None:
        if self.via not in ("local", "api"):
            raise InputError(f"harvest {self.name!r}: via must be 'local' or 'api', got {self.via!r}")


@dataclass(frozen=True)
class StudentSpec:
    """A from-scratch student trained on `harvest`, a fraction `rho` of its `n` examples from the teacher
    and the rest human text from `human` (the spec's ``human_fill`` by default)."""

    name: str
    harvest: str
    size: str = "tiny"
    seed: int = 0
    rho: float = 1.0
    n: int | None = None
    human: str | None = None
    tokenizer: str = "lab"  # lab (the zoo's shared BPE) | teacher | own
    vocab_size: int = 2048
    steps: int | None = None
    epochs: int = 1
    lr: float = 2e-3
    batch_size: int = 16
    max_len: int | None = None
    kl_weight: float = 0.0  # > 0: logit-level distillation (needs tokenizer: teacher)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rho <= 1.0:
            raise InputError(f"student {self.name!r}: rho must be in [0, 1], got {self.rho}")
        if self.tokenizer not in ("teacher", "lab", "own"):
            raise InputError(f"student {self.name!r}: tokenizer must be teacher, lab or own")
        if self.kl_weight > 0 and self.tokenizer != "teacher":
            raise InputError(f"student {self.name!r}: logit-level distillation needs tokenizer: teacher")


@dataclass(frozen=True)
class IndependentSpec:
    """A negative: trained on `n` texts of the `human` source only."""

    name: str
    human: str = "sharegpt"
    n: int = 200
    size: str = "tiny"
    seed: int = 0
    tokenizer: str = "lab"  # lab | own
    vocab_size: int = 2048
    steps: int | None = None
    epochs: int = 1
    lr: float = 2e-3
    batch_size: int = 16
    max_len: int | None = None

    def __post_init__(self) -> None:
        if self.tokenizer not in ("lab", "own"):
            raise InputError(f"independent {self.name!r}: tokenizer must be lab or own")


@dataclass(frozen=True)
class ZooSpec:
    """A whole zoo. `prompts` maps a set name to ``{source, n, seed, max_chars}`` (`load_prompts` sources, prompts
    longer than `max_chars` left out);
    `heldout` is ``{prompts, n, temperature, max_tokens, seed}``, the prompts every teacher answers for
    the closeness table (never trained on); `tokenizer` ``{vocab_size, sources, n}`` the shared ``lab``
    BPE; `human_fill` the human source that dilutes ρ < 1 students."""

    name: str
    teachers: tuple[TeacherSpec, ...]
    harvests: tuple[HarvestSpec, ...]
    students: tuple[StudentSpec, ...]
    independents: tuple[IndependentSpec, ...] = ()
    prompts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    heldout: Mapping[str, Any] = field(default_factory=dict)
    tokenizer: Mapping[str, Any] = field(default_factory=dict)
    human_fill: str = "sharegpt"
    max_chars: int = 600
    threads: int = 1
    description: str = ""

    def __post_init__(self) -> None:
        names = [s.name for s in (*self.teachers, *self.students, *self.independents)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"zoo spec {self.name!r}: model names must be unique, repeated: {dup}")
        teachers = {t.name for t in self.teachers}
        harvests = {h.name for h in self.harvests}
        for h in self.harvests:
            if h.teacher not in teachers:
                raise InputError(f"harvest {h.name!r}: unknown teacher {h.teacher!r}")
            if h.prompts not in self.prompts:
                raise InputError(f"harvest {h.name!r}: unknown prompt set {h.prompts!r}")
        for s in self.students:
            if s.harvest not in harvests:
                raise InputError(f"student {s.name!r}: unknown harvest {s.harvest!r}")
        if self.heldout.get("prompts", "heldout") not in self.prompts:
            raise InputError(f"zoo spec {self.name!r}: held-out prompt set is not among the prompt sets")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ZooSpec:
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown zoo spec field(s): {', '.join(unknown)}")
        d["teachers"] = tuple(_make(TeacherSpec, t) for t in d.get("teachers", ()))
        d["harvests"] = tuple(_make(HarvestSpec, h) for h in d.get("harvests", ()))
        d["students"] = tuple(
            _make(StudentSpec, e) for s in d.get("students", ()) for e in _grid(s, _student_name)
        )
        d["independents"] = tuple(
            _make(IndependentSpec, e) for s in d.get("independents", ()) for e in _grid(s, _independent_name)
        )
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def harvest(self, name: str) -> HarvestSpec:
        return next(h for h in self.harvests if h.name == name)

    def teacher(self, name: str) -> TeacherSpec:
        return next(t for t in self.teachers if t.name == name)


def _make(cls: type, d: Mapping[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise InputError(f"{cls.__name__} {d.get('name', '?')!r}: unknown field(s) {', '.join(unknown)}")
    if "name" not in d:
        raise InputError(f"{cls.__name__}: every entry needs a name ({dict(d)})")
    return cls(**d)


def _grid(entry: Mapping[str, Any], default_name: Any) -> Iterator[dict[str, Any]]:
    """One entry per combination of the list-valued fields; `name` may refer to fields as ``{field}``."""
    keys = [k for k, v in entry.items() if isinstance(v, list)]
    for values in itertools.product(*(entry[k] for k in keys)):
        e = {**entry, **dict(zip(keys, values))}
        e["name"] = e["name"].format(**e) if "name" in e else default_name(e)
        yield e


def _student_name(e: Mapping[str, Any]) -> str:
    name = f"{e['harvest']}-{e.get('size', 'tiny')}-s{e.get('seed', 0)}"
    if e.get("rho", 1.0) < 1.0:
        name += f"-rho{round(100 * e['rho'])}"
    if e.get("tokenizer", "lab") != "lab":
        name += f"-{e['tokenizer']}tok"
    if e.get("kl_weight", 0.0) > 0:
        name += "-kl"
    return name


def _independent_name(e: Mapping[str, Any]) -> str:
    return f"ind-{e.get('human', 'sharegpt')}-{e.get('size', 'tiny')}-s{e.get('seed', 0)}"


def packaged_specs() -> list[str]:
    """Names of the specs that ship with distillwatch (``ci``, ``default``)."""
    return sorted(p.name[:-5] for p in resources.files(__package__).joinpath("specs").iterdir()
                  if p.name.endswith(".yaml"))


def load_spec(spec: str | Path | Mapping[str, Any] | ZooSpec) -> ZooSpec:
    """A spec from a packaged name (``"ci"``), a YAML path, a dict, or a `ZooSpec` as is."""
    import yaml

    if isinstance(spec, ZooSpec):
        return spec
    if isinstance(spec, Mapping):
        return ZooSpec.from_dict(spec)
    path = Path(spec)
    if not path.is_file():
        if str(spec) not in packaged_specs():
            raise InputError(f"zoo spec {str(spec)!r} is neither a file nor a packaged spec "
                             f"({', '.join(packaged_specs())})")
        text = resources.files(__package__).joinpath("specs", f"{spec}.yaml").read_text()
    else:
        text = path.read_text()
    data = yaml.safe_load(text)
    if not isinstance(data, Mapping):
        raise InputError(f"zoo spec {str(spec)!r} is not a YAML mapping")
    return ZooSpec.from_dict(data)


# --- the manifest -----------------------------------------------------------------------------


@dataclass
class ZooManifest:
    """What a zoo holds. `models` are dicts with the keys ``name, path, role, teacher, rho, watermarked,
    seed, params, data_sha256, loss_curve`` (and ``details``); `path` is relative to `root`, or a model
    string for a model the zoo did not train."""

    root: Path
    models: list[dict[str, Any]]
    closeness: dict[str, Any] = field(default_factory=dict)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    spec: str = ""
    build: dict[str, Any] = field(default_factory=dict)

    def model(self, name: str) -> dict[str, Any]:
        for m in self.models:
            if m["name"] == name:
                return m
        raise KeyError(name)

    def by_role(self, role: str) -> list[dict[str, Any]]:
        return [m for m in self.models if m["role"] == role]

    def model_string(self, name: str) -> str:
        """A string `get_model` loads: ``hf/<root>/<path>`` for a zoo model, the string itself otherwise."""
        path = self.model(name)["path"]
        return path if _is_model_string(path) else f"hf/{self.root / path}"

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "spec": self.spec, "models": self.models, "closeness": self.closeness,
                "lineage": self.lineage, "build": self.build}

    def closeness_text(self) -> str:
        """The closeness table as text, a row per model."""
        import numpy as np

        from .closeness import ClosenessTable

        c = self.closeness
        return str(ClosenessTable(tuple(c["students"]), tuple(c["teachers"]), np.array(c["losses"]), c["per"]))


def read_manifest(zoo_dir: str | Path) -> ZooManifest:
    """The manifest of a built zoo."""
    root = Path(zoo_dir)
    file = root / MANIFEST_FILE
    if not file.is_file():
        raise InputError(f"{root} holds no {MANIFEST_FILE}; build it with `distillwatch lab zoo`")
    d = json.loads(file.read_text())
    return ZooManifest(root=root, models=d["models"], closeness=d.get("closeness", {}),
                       lineage=d.get("lineage", []), spec=d.get("spec", ""), build=d.get("build", {}))


# --- the builder ------------------------------------------------------------------------------


def build_zoo(
    spec: str | Path | Mapping[str, Any] | ZooSpec,
    out_dir: str | Path,
    *,
    progress: bool = True,
    api: bool = False,
) -> ZooManifest:
    """Build (or finish building) the zoo `spec` describes under `out_dir` and write its manifest.

    `api` harvests every bundled teacher through an OpenAI-compatible server on a background thread
    (as `distillwatch serve` does), as a per-harvest ``via: api`` does for one harvest.
    """
    from .train import _num_threads

    spec = load_spec(spec)
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    _write_spec(spec, root)
    b = _Builder(spec, root, progress=progress, api=api)
    start = time.perf_counter()
    with _num_threads(spec.threads), _quiet(not (progress and sys.stderr.isatty())):
        teachers = [b.teacher(t) for t in spec.teachers]
        for h in spec.harvests:
            b.harvest(h)
        for t in spec.teachers:
            b.heldout(t)
        independents = [b.independent(i) for i in spec.independents]
        students = [b.student(s) for s in spec.students]
        models = teachers + students + independents
        closeness = b.closeness(models)
    lineage = _lineage(spec, models, closeness, b.per_answer)
    manifest = ZooManifest(root=root, models=models, closeness=closeness, lineage=lineage, spec=spec.name,
                           build={"seconds": round(time.perf_counter() - start, 1), "ran": b.ran})
    (root / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), indent=1) + "\n")
    return manifest


@contextlib.contextmanager
def _quiet(quiet: bool) -> Iterator[None]:
    """Silence transformers' load/save progress bars for the build (they would litter a log file)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    if quiet:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _write_spec(spec: ZooSpec, root: Path) -> None:
    import yaml

    (root / "spec.yaml").write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))


class _Builder:
    def __init__(self, spec: ZooSpec, root: Path, *, progress: bool, api: bool):
        self.spec, self.root, self.progress, self.api = spec, root, progress, api
        self.ran: list[str] = []
        self._prompt_cache: dict[str, list[Any]] = {}

    # -- bookkeeping --
    def _log(self, msg: str) -> None:
        if self.progress:
            print(f"[zoo {self.spec.name}] {msg}", file=sys.stderr, flush=True)

    def _done(self, marker: Path, step: Mapping[str, Any]) -> dict[str, Any] | None:
        """The marker's record when the step was finished with the same spec, else None."""
        if marker.is_file():
            rec = json.loads(marker.read_text())
            if rec.get("step") == json.loads(json.dumps(step)):
                return rec
        return None

    def _finish(self, marker: Path, step: Mapping[str, Any], record: dict[str, Any], what: str) -> dict[str, Any]:
        rec = {"step": step, **record}
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(rec, indent=1) + "\n")
        tmp.replace(marker)
        self.ran.append(what)
        return json.loads(json.dumps(rec))

    # -- data --
    def _human(self, source: str, n: int, seed: int = 0) -> list[str]:
        from .human import human_texts

        return human_texts(source, n, seed=seed, max_chars=self.spec.max_chars)

    def prompts(self, name: str, n: int | None = None) -> list[Any]:
        """The prompt set `name` (held-out prompts removed from every other set)."""
        from ..data import load_prompts

        if name not in self._prompt_cache:
            cfg = self.spec.prompts[name]
            held_name = self.spec.heldout.get("prompts", "heldout")
            exclude = set() if name == held_name else {p.id for p in self.prompts(held_name)}
            want, longest = int(cfg["n"]), int(cfg.get("max_chars", 300))
            recs = load_prompts(cfg.get("source", "sharegpt"), 2 * want + len(exclude),
                                seed=int(cfg.get("seed", 0))).records
            keep = [r for r in recs if r.id not in exclude and len(json.dumps(r.prompt)) <= longest + 2]
            if len(keep) < want:
                raise InputError(f"prompt set {name!r}: only {len(keep)} prompts of <= {longest} characters")
            self._prompt_cache[name] = keep[:want]
        recs = self._prompt_cache[name]
        if n is not None and n > len(recs):
            raise InputError(f"prompt set {name!r} has {len(recs)} prompts, a harvest asks for {n}")
        return recs[:n] if n is not None else recs

    def lab_tokenizer(self) -> Path:
        out = self.root / "tokenizer"
        cfg = dict(self.spec.tokenizer)
        step = {"tokenizer": cfg, "max_chars": self.spec.max_chars}
        if self._done(out / ".done.json", step) is None:
            from .tokenizer import train_tokenizer

            sources = cfg.get("sources") or sorted({t.human for t in self.spec.teachers if t.trained})
            texts = [x for s in sources for x in self._human(s, int(cfg.get("n", 400)), seed=1)]
            tok = train_tokenizer(texts, vocab_size=int(cfg.get("vocab_size", 2048)))
            tok.save_pretrained(out)
            self._finish(out / ".done.json", step, {"vocab": len(tok)}, "tokenizer")
            self._log(f"lab tokenizer: {len(tok)} tokens")
        return out

    # -- steps --
    def teacher(self, t: TeacherSpec) -> dict[str, Any]:
        if not t.trained:
            return _entry(t.name, t.model, "teacher", None, None, False, None, _bundled_params(t.model),
                          None, None, {"model": t.model})
        out = self.root / "teachers" / t.name
        step = self._teacher_key(t.name)
        rec = self._done(out / ".done.json", step)
        if rec is None:
            texts = self._human(t.human, t.n, seed=t.seed)
            res = self._train(texts, self.lab_tokenizer(), t.size, t.seed, out, steps=t.steps, epochs=t.epochs,
                              lr=t.lr, batch_size=t.batch_size, max_len=t.max_len, label=f"teacher {t.name}")
            rec = self._finish(out / ".done.json", step, _trained(res), f"teacher:{t.name}")
        return _entry(t.name, f"teachers/{t.name}", "teacher", None, None, False, t.seed, rec["params"],
                      rec["data_sha256"], rec["loss_curve"], {"human": t.human, "size": t.size})

    def _teacher_key(self, name: str) -> dict[str, Any]:
        """What a teacher's outputs depend on: a step downstream of it is redone when this changes."""
        t = self.spec.teacher(name)
        if not t.trained:
            return dataclasses.asdict(t)
        return {**dataclasses.asdict(t), "tokenizer": dict(self.spec.tokenizer), "max_chars": self.spec.max_chars}

    def _teacher_model_string(self, name: str) -> str:
        t = self.spec.teacher(name)
        return t.model if not t.trained else f"hf/{self.root / 'teachers' / name}"

    def _teacher_dir(self, name: str) -> Path:
        t = self.spec.teacher(name)
        if t.trained:
            return self.root / "teachers" / name
        if t.model.startswith("bundled/"):
            from ..models.bundled import bundled_path

            return bundled_path(t.model.split("/", 1)[1])
        if t.model.startswith("hf/"):
            return Path(t.model[3:]).expanduser()
        raise InputError(f"teacher {name!r} ({t.model}) has no local directory: its tokenizer is unknown")

    def harvest(self, h: HarvestSpec) -> Path:
        return self._harvest(h, self.root / "harvests" / f"{h.name}.jsonl", self.prompts(h.prompts, h.n),
                             {**dataclasses.asdict(h), "teacher_spec": self._teacher_key(h.teacher),
                              "prompt_set": dict(self.spec.prompts[h.prompts])})

    def heldout(self, t: TeacherSpec) -> Path:
        cfg = self.spec.heldout
        h = HarvestSpec(name=f"heldout-{t.name}", teacher=t.name, prompts=cfg.get("prompts", "heldout"),
                        n=int(cfg.get("n", 32)), temperature=float(cfg.get("temperature", 0.8)),
                        max_tokens=int(cfg.get("max_tokens", 64)), seed=int(cfg.get("seed", 12345)),
                        via=cfg.get("via", "local"))
        return self._harvest(h, self.root / "heldout" / f"{t.name}.jsonl", self.prompts(h.prompts, h.n),
                             {**dataclasses.asdict(h), "teacher_spec": self._teacher_key(t.name),
                              "prompt_set": dict(self.spec.prompts[h.prompts])})

    def _harvest(self, h: HarvestSpec, out: Path, prompts: list[Any], step: dict[str, Any]) -> Path:
        from .harvesting import harvest, read_harvest

        marker = out.with_name(out.name + ".done.json")
        if self._done(marker, step) is not None and out.is_file():
            return out
        if marker.is_file():  # finished with another spec: start over
            marker.unlink()
            out.unlink(missing_ok=True)
        teacher = self._teacher_model_string(h.teacher)
        started = time.perf_counter()
        use_api = self._via(h) == "api"
        with self._serving(teacher, h, use_api) as (model, processor):
            res = harvest(model, prompts, out, temperature=h.temperature, max_tokens=h.max_tokens, seed=h.seed,
                          logits_processor=processor, watermark=h.watermark, progress=self.progress)
        recs = read_harvest(out)
        tokens = sum(len(r.get("token_ids") or ()) for r in recs)
        seconds = time.perf_counter() - started
        self._finish(marker, step, {"records": len(recs), "tokens": tokens, "new": res.new,
                                    "seconds": round(seconds, 1), "via": "api" if use_api else "local"},
                     f"harvest:{out.stem}")
        self._log(f"harvest {out.stem}: {res.new} new answers, {tokens} tokens in all, {seconds:.0f}s"
                  + (" (through the API)" if use_api else ""))
        return out

    def _via(self, h: HarvestSpec) -> str:
        bundled = self._teacher_model_string(h.teacher).startswith("bundled/")
        return "api" if h.via == "api" or (self.api and bundled) else "local"

    @contextlib.contextmanager
    def _serving(self, teacher: str, h: HarvestSpec, use_api: bool) -> Iterator[tuple[Any, Any]]:
        """The model to harvest and the local logits processor: a local model watermarks in `generate`;
        behind the API the server watermarks and the client sees plain text."""
        from ..models import get_model

        model = get_model(teacher, cache=False)
        processor = _watermark_processor(h.watermark, model) if h.watermark else None
        if not use_api:
            yield model, processor
            return
        from ..gateway import BackgroundServer, build_app

        served = f"zoo-{h.teacher}"
        app = build_app(model, served_name=served, logits_processor=processor, max_batch=16)
        with BackgroundServer(app) as srv:
            yield get_model(f"openai/{served}@{srv.base_url}", cache=False, concurrency=16), None

    def _examples(self, harvest_name: str) -> list[Any]:
        from .corpus import Example
        from .harvesting import read_harvest

        h = self.spec.harvest(harvest_name)
        order = {p.id: i for i, p in enumerate(self.prompts(h.prompts, h.n))}
        recs = sorted((r for r in read_harvest(self.root / "harvests" / f"{h.name}.jsonl") if r["id"] in order),
                      key=lambda r: order[r["id"]])
        return [Example(r["response"], prompt=r["prompt"], source=f"teacher:{h.teacher}")
                for r in recs if r["response"].strip()]

    def heldout_pairs(self, teacher: str) -> list[Any]:
        from .corpus import Example
        from .harvesting import read_harvest

        return [Example(r["response"], prompt=r["prompt"], source=f"teacher:{teacher}")
                for r in read_harvest(self.root / "heldout" / f"{teacher}.jsonl") if r["response"].strip()]

    def student(self, s: StudentSpec) -> dict[str, Any]:
        h = self.spec.harvest(s.harvest)
        out = self.root / "students" / s.name
        step = {**dataclasses.asdict(s), "harvest_spec": dataclasses.asdict(h), "teacher_spec": self._teacher_key(
            h.teacher), "tokenizer_spec": dict(self.spec.tokenizer), "human_fill": self.spec.human_fill,
            "max_chars": self.spec.max_chars}
        rec = self._done(out / ".done.json", step)
        if rec is None:
            from .corpus import mix

            teacher_ex = self._examples(s.harvest)
            n = s.n or len(teacher_ex)
            human = self._human(s.human or self.spec.human_fill, n - round(s.rho * n)) if s.rho < 1 else []
            data = mix(teacher_ex, human, s.rho, n, seed=s.seed)
            tok = self._tokenizer(s.tokenizer, data, s.vocab_size, h.teacher)
            teacher_dir = self._teacher_dir(h.teacher) if s.kl_weight > 0 else None
            res = self._train(data, tok, s.size, s.seed, out, steps=s.steps, epochs=s.epochs, lr=s.lr,
                              batch_size=s.batch_size, max_len=s.max_len, teacher=teacher_dir,
                              kl_weight=s.kl_weight or 0.5, label=f"student {s.name}")
            rec = self._finish(out / ".done.json", step, _trained(res), f"student:{s.name}")
        details = {"harvest": s.harvest, "prompts": h.prompts, "watermark": h.watermark, "size": s.size,
                   "tokenizer": s.tokenizer, "kl_weight": s.kl_weight, "via": self._via(h)}
        return _entry(s.name, f"students/{s.name}", "student", h.teacher, s.rho, h.watermark is not None, s.seed,
                      rec["params"], rec["data_sha256"], rec["loss_curve"], details)

    def independent(self, i: IndependentSpec) -> dict[str, Any]:
        out = self.root / "independents" / i.name
        step = {**dataclasses.asdict(i), "tokenizer_spec": dict(self.spec.tokenizer), "max_chars": self.spec.max_chars}
        rec = self._done(out / ".done.json", step)
        if rec is None:
            texts = self._human(i.human, i.n, seed=i.seed + 7)
            tok = self._tokenizer(i.tokenizer, texts, i.vocab_size, None)
            res = self._train(texts, tok, i.size, i.seed, out, steps=i.steps, epochs=i.epochs, lr=i.lr,
                              batch_size=i.batch_size, max_len=i.max_len, label=f"independent {i.name}")
            rec = self._finish(out / ".done.json", step, _trained(res), f"independent:{i.name}")
        return _entry(i.name, f"independents/{i.name}", "independent", None, 0.0, False, i.seed, rec["params"],
                      rec["data_sha256"], rec["loss_curve"], {"human": i.human, "size": i.size,
                                                               "tokenizer": i.tokenizer})

    def _tokenizer(self, kind: str, data: list[Any], vocab_size: int, teacher: str | None) -> Any:
        from .tokenizer import load_tokenizer, train_tokenizer

        if kind == "own":
            return train_tokenizer(data, vocab_size=vocab_size)
        if kind == "lab":
            return load_tokenizer(self.lab_tokenizer())
        return load_tokenizer(self._teacher_dir(teacher))

    def _train(self, data: list[Any], tok: Any, size: str, seed: int, out: Path, *, label: str,
               max_len: int | None = None, **kw: Any) -> Any:
        from ..progress import progress_bar
        from .student import StudentConfig
        from .train import train_student

        if out.exists():
            shutil.rmtree(out)
        cfg = StudentConfig.preset(size, **({"max_len": max_len} if max_len else {}))
        total = kw["steps"] or None
        with progress_bar(total, f"train {label}", self.progress) as advance:
            res = train_student(data, tok, cfg, seed=seed, out_dir=out, progress=lambda *_: advance(1), **kw)
        self._log(f"{label}: {res.params:,} params, {res.steps} steps, loss {res.loss_curve[0]:.2f} -> "
                  f"{res.loss_curve[-1]:.2f}, {res.seconds:.0f}s")
        return res

    def closeness(self, models: list[dict[str, Any]]) -> dict[str, Any]:
        """Every model's held-out loss per byte on every teacher's held-out answers, bundled teachers
        included (scored through their backend): pooled (the table) and per answer (for paired tests),
        kept in ``closeness.json``."""
        rows = models
        teachers = [t.name for t in self.spec.teachers]
        file = self.root / "closeness.json"
        step = {"rows": [(m["name"], m["path"] if _is_model_string(m["path"])
                          else _file_sha256(self.root / m["path"] / ".done.json")) for m in rows],
                "teachers": [self._teacher_key(t) for t in teachers], "heldout": dict(self.spec.heldout)}
        rec = self._done(file, step)
        if rec is None:
            import numpy as np

            from .checkpoint import load_checkpoint
            from .closeness import ClosenessTable, example_losses

            started = time.perf_counter()
            answers = {t: self.heldout_pairs(t) for t in teachers}
            losses = np.empty((len(rows), len(teachers)))
            per_answer: dict[str, dict[str, list[float]]] = {}
            for i, m in enumerate(rows):
                if _is_model_string(m["path"]):
                    from ..models import get_model

                    student = get_model(m["path"], cache=None)
                else:
                    student = load_checkpoint(self.root / m["path"])
                per_answer[m["name"]] = {}
                for j, t in enumerate(teachers):
                    nll, units = example_losses(student, answers[t], per="byte")
                    losses[i, j] = nll.sum() / units.sum()
                    per_answer[m["name"]][t] = [round(float(x), 5) for x in nll / np.maximum(units, 1)]
            table = ClosenessTable(tuple(m["name"] for m in rows), tuple(teachers), losses, "byte")
            rec = self._finish(file, step, {"table": table.to_dict(), "per_answer": per_answer}, "closeness")
            self._log(f"closeness table ({time.perf_counter() - started:.0f}s)\n{table}")
        self.per_answer = rec["per_answer"]
        return rec["table"]


def _watermark_processor(config: str, model: Any) -> Any:
    try:
        from distillwatch.watermark import make_logits_processor
    except ImportError as exc:  # the watermark package is optional here
        raise InputError(f"a watermarked harvest needs distillwatch.watermark, which failed to import: {exc}") \
            from exc
    tok = getattr(model, "tokenizer", None)
    if tok is None:
        raise InputError(f"cannot watermark {model.model_id}: its tokenizer is unknown")
    return make_logits_processor(config, len(tok))


def _trained(res: Any) -> dict[str, Any]:
    return {"params": res.params, "data_sha256": res.data_sha256, "loss_curve": [round(x, 4) for x in res.loss_curve],
            "seconds": round(res.seconds, 1), "steps": res.steps}


def _entry(name: str, path: str, role: str, teacher: str | None, rho: float | None, watermarked: bool,
           seed: int | None, params: int | None, data_sha256: str | None, loss_curve: list[float] | None,
           details: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "path": path, "role": role, "teacher": teacher, "rho": rho, "watermarked": watermarked,
            "seed": seed, "params": params, "data_sha256": data_sha256, "loss_curve": loss_curve,
            "details": details}


def _file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_model_string(path: str) -> bool:
    return path.split("/", 1)[0] in ("bundled", "hf", "openai", "mock") and "/" in path


def _bundled_params(model: str) -> int | None:
    """Parameter count of a local/bundled model from its config, without loading weights."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        if model.startswith("bundled/"):
            from ..models.bundled import bundled_path

            path = bundled_path(model.split("/", 1)[1])
        elif model.startswith("hf/"):
            path = Path(model[3:])
        else:
            return None
        with torch.device("meta"):
            m = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(path)))
        return sum(p.numel() for p in m.parameters())
    except (OSError, ValueError, ImportError, DistillwatchError):  # a count is nice to have, not a reason to fail
        return None


def _lineage(
    spec: ZooSpec,
    models: list[dict[str, Any]],
    closeness: Mapping[str, Any],
    per_answer: Mapping[str, Mapping[str, list[float]]],
) -> list[dict[str, Any]]:
    """For each student and each sibling (a student of another teacher on the same prompts, size, seed, ρ
    and tokenizer kind):

    - ``closer_than_sibling``: its loss on its teacher's held-out answers is below the sibling's, with
      ``p_closer`` the one-sided exact sign test over answers (H0: either model is as likely to predict an
      answer better; ties dropped);
    - ``prefers_own_teacher``: its loss on its teacher's answers is below its loss on the sibling's
      teacher's. Teachers' answers differ in entropy, so this raw comparison is confounded; the
      ``..._vs_baseline`` form compares the gains over the independents' mean loss on each teacher's
      answers instead (when the zoo has independents).
    """
    rows, cols = closeness["students"], closeness["teachers"]
    independents = [m["name"] for m in models if m["role"] == "independent" and m["name"] in rows]

    def loss(s: str, t: str) -> float:
        return float(closeness["losses"][rows.index(s)][cols.index(t)])

    def baseline(t: str) -> float | None:
        return sum(loss(i, t) for i in independents) / len(independents) if independents else None

    def key(s: StudentSpec) -> tuple:
        h = spec.harvest(s.harvest)
        return (h.prompts, h.n, h.watermark is not None, s.size, s.seed, s.rho, s.tokenizer, s.n, s.kl_weight)

    out = []
    for s in spec.students:
        t = spec.harvest(s.harvest).teacher
        for o in spec.students:
            t2 = spec.harvest(o.harvest).teacher
            if t2 == t or key(o) != key(s):
                continue
            own, sib_on_own, own_on_other = loss(s.name, t), loss(o.name, t), loss(s.name, t2)
            rec = {"student": s.name, "teacher": t, "sibling": o.name, "sibling_teacher": t2, "rho": s.rho,
                   "loss_on_teacher": round(own, 4), "sibling_loss_on_teacher": round(sib_on_own, 4),
                   "loss_on_sibling_teacher": round(own_on_other, 4),
                   "closer_than_sibling": own < sib_on_own,
                   "p_closer": sign_test(per_answer[s.name][t], per_answer[o.name][t]),
                   "prefers_own_teacher": own < own_on_other}
            if independents:
                gain, gain_other = baseline(t) - own, baseline(t2) - own_on_other
                rec.update(gain_on_teacher=round(gain, 4), gain_on_sibling_teacher=round(gain_other, 4),
                           prefers_own_teacher_vs_baseline=gain > gain_other)
            out.append(rec)
    return out


def sign_test(a: list[float], b: list[float]) -> float:
    """One-sided exact sign test that `a` is paired-lower than `b`: P(X >= wins) for X ~ Binomial(n, 1/2),
    n the untied pairs. H0: each pair is as likely to go either way."""
    from math import comb

    wins = sum(x < y for x, y in zip(a, b))
    n = wins + sum(x > y for x, y in zip(a, b))
    if n == 0:
        return 1.0
    return sum(comb(n, k) for k in range(wins, n + 1)) / 2**n

"""`WatermarkConfig`: which watermark, with which secret key, named by one string.

    >>> cfg = WatermarkConfig.parse("kgw:lefthash:key=15485863:gamma=0.25:delta=2")
    >>> cfg.context_width, cfg.seeding
    (1, 'lefthash')
    >>> "15485863" in repr(cfg) or "15485863" in cfg.cache_key
    False

Accepted forms (`WatermarkConfig.parse`): a spec string `scheme[:seeding][:name=value]...`; a JSON
object or a path to a `.json` / `.yaml` / `.yml` file holding the same names; a mapping; a config.
`key=env:NAME` reads the key from an environment variable, so it stays out of shell history.
The key is secret: `repr`, `cache_key` and `to_dict()` show only a one-way fingerprint of it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

__all__ = ["WatermarkConfig", "REFERENCE_KEY", "generate_key", "key_fingerprint"]

REFERENCE_KEY = 15485863  # the public hash key of the reference KGW implementation; not a secret
SCHEMES = ("kgw", "gumbel")
SEEDINGS = ("lefthash", "selfhash")
_KGW_CONTEXT_WIDTH = {"lefthash": 1, "selfhash": 4}
_GUMBEL_DEFAULT_CONTEXT = 4
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FIELDS = ("scheme", "key", "gamma", "delta", "seeding", "context_width")
_ALIASES = {"seeding_scheme": "seeding", "hash_key": "key", "h": "context_width", "context": "context_width"}


def generate_key() -> int:
    """A fresh random 63-bit watermark key."""
    return secrets.randbits(63)


@functools.lru_cache(maxsize=256)
def key_fingerprint(key: int) -> str:
    """A one-way, slow-to-invert fingerprint of a key (PBKDF2-SHA256, fixed salt), 16 hex digits.

    It identifies a key in logs and cache keys without revealing it; it cannot protect a key that is
    easy to guess, so use `generate_key()`.
    """
    digest = hashlib.pbkdf2_hmac("sha256", str(int(key)).encode(), b"distillwatch/watermark-key/v1", 20_000)
    return digest[:8].hex()


def _parse_number(name: str, text: str) -> Any:
    text = text.strip()
    if name in ("key", "context_width"):
        if name == "key" and text.startswith("env:"):
            var = text[4:]
            if var not in os.environ:
                raise ValueError(f"key=env:{var}: environment variable {var} is not set")
            text = os.environ[var].strip()
        return int(text, 0)
    if name in ("gamma", "delta"):
        return float(text)
    return text


@dataclass(frozen=True)
class WatermarkConfig:
    """A watermark scheme and its secret key.

    scheme: "kgw" (Kirchenbauer et al. green lists) or "gumbel" (Aaronson's Gumbel-max sampling).
    key: the secret, a signed 64-bit integer.
    gamma, delta: KGW green-list fraction and logit bias (ignored by "gumbel").
    seeding: KGW seeding scheme, "lefthash" (key x previous token) or "selfhash" (anchored min-hash
        over 4 tokens including the candidate itself), as in the reference implementation.
    context_width: tokens that seed the PRF, derived for KGW (1 or 4, the token itself included for
        selfhash); for "gumbel", the number of previous tokens (default 4).
    """

    scheme: str
    key: int = field(repr=False)
    gamma: float = 0.25
    delta: float = 2.0
    seeding: str | None = None
    context_width: int | None = None

    def __post_init__(self) -> None:
        scheme = str(self.scheme).lower()
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        object.__setattr__(self, "scheme", scheme)
        if isinstance(self.key, bool) or not isinstance(self.key, int):
            raise TypeError("key must be an int")
        if not _INT64_MIN <= self.key <= _INT64_MAX:
            raise ValueError("key must fit in a signed 64-bit integer")
        object.__setattr__(self, "gamma", float(self.gamma))
        object.__setattr__(self, "delta", float(self.delta))
        if scheme == "kgw":
            seeding = "selfhash" if self.seeding is None else str(self.seeding).lower()
            if seeding not in SEEDINGS:
                raise ValueError(f"seeding must be one of {SEEDINGS}, got {self.seeding!r}")
            width = _KGW_CONTEXT_WIDTH[seeding]
            if self.context_width not in (None, width):
                raise ValueError(f"KGW {seeding} has context_width {width}, got {self.context_width}")
            if not 0.0 < self.gamma < 1.0:
                raise ValueError(f"gamma must be in (0, 1), got {self.gamma}")
            object.__setattr__(self, "seeding", seeding)
            object.__setattr__(self, "context_width", width)
        else:
            if self.seeding is not None:
                raise ValueError("the gumbel scheme takes no seeding")
            width = _GUMBEL_DEFAULT_CONTEXT if self.context_width is None else int(self.context_width)
            if width < 1:
                raise ValueError(f"context_width must be >= 1, got {width}")
            object.__setattr__(self, "context_width", width)

    # -- derived ------------------------------------------------------------------------------
    @property
    def self_salt(self) -> bool:
        """Whether the scored token is part of its own PRF window (KGW selfhash)."""
        return self.seeding == "selfhash"

    @property
    def window_width(self) -> int:
        """Previous tokens that, with the scored token, form one scored n-gram."""
        return self.context_width - 1 if self.self_salt else self.context_width

    @property
    def ngram_size(self) -> int:
        return self.window_width + 1

    @property
    def key_fingerprint(self) -> str:
        return key_fingerprint(self.key)

    @property
    def name(self) -> str:
        """The scheme without its key, e.g. "kgw-selfhash" or "gumbel"."""
        return f"kgw-{self.seeding}" if self.scheme == "kgw" else "gumbel"

    @property
    def cache_key(self) -> str:
        """Everything that changes the watermark's effect, with the key replaced by its fingerprint."""
        if self.scheme == "kgw":
            params = f"gamma={self.gamma!r}:delta={self.delta!r}:context_width={self.context_width}"
        else:
            params = f"context_width={self.context_width}"
        return f"watermark:{self.name}:{params}:key_fp={self.key_fingerprint}"

    def __repr__(self) -> str:
        parts = [f"scheme={self.scheme!r}"]
        if self.scheme == "kgw":
            parts += [f"seeding={self.seeding!r}", f"gamma={self.gamma!r}", f"delta={self.delta!r}"]
        parts += [f"context_width={self.context_width}", f"key_fingerprint={self.key_fingerprint!r}"]
        return f"WatermarkConfig({', '.join(parts)})"

    def with_key(self, key: int) -> "WatermarkConfig":
        return dataclasses.replace(self, key=key)

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self, *, include_key: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"scheme": self.scheme}
        if self.scheme == "kgw":
            d.update(seeding=self.seeding, gamma=self.gamma, delta=self.delta)
        d["context_width"] = self.context_width
        if include_key:
            d["key"] = self.key
        else:
            d["key_fingerprint"] = self.key_fingerprint
        return d

    def to_string(self, *, include_key: bool = False) -> str:
        """The spec string; with `include_key=False` (default) it is not parseable back."""
        parts = [self.scheme]
        if self.scheme == "kgw":
            parts += [self.seeding, f"gamma={self.gamma:g}", f"delta={self.delta:g}"]
        else:
            parts.append(f"context_width={self.context_width}")
        parts.append(f"key={self.key}" if include_key else f"key_fingerprint={self.key_fingerprint}")
        return ":".join(parts)

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> "WatermarkConfig":
        values: dict[str, Any] = {}
        for raw_name, value in d.items():
            name = _ALIASES.get(str(raw_name), str(raw_name))
            if name not in _FIELDS:
                raise ValueError(f"unknown watermark setting {raw_name!r}; expected one of {_FIELDS}")
            if isinstance(value, str):
                value = _parse_number(name, value)
            values[name] = value
        if "scheme" not in values:
            values["scheme"] = "kgw"
        if "key" not in values:
            raise ValueError("a watermark config needs a key (key=<int> or key=env:VAR)")
        return cls(**values)

    @classmethod
    def from_string(cls, spec: str) -> "WatermarkConfig":
        """Parse `scheme[:seeding][:name=value]...`, e.g. "kgw:selfhash:key=env:WM_KEY:gamma=0.25"."""
        parts = [p.strip() for p in spec.strip().split(":")]
        if not parts or not parts[0]:
            raise ValueError("empty watermark spec")
        values: dict[str, Any] = {"scheme": parts[0]}
        i = 1
        while i < len(parts):
            part = parts[i]
            if "=" not in part:
                if part.lower() in SEEDINGS:
                    values["seeding"] = part
                    i += 1
                    continue
                raise ValueError(f"cannot parse {part!r} in watermark spec (expected name=value)")
            name, value = part.split("=", 1)
            if name.strip() == "key" and value.strip() == "env" and i + 1 < len(parts):
                value, i = f"env:{parts[i + 1]}", i + 1  # "key=env:VAR" was split at its colon
            values[name.strip()] = value
            i += 1
        return cls.from_mapping(values)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "WatermarkConfig":
        p = Path(path)
        text = p.read_text()
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
        if not isinstance(data, Mapping):
            raise ValueError(f"{p}: expected a mapping of watermark settings")
        if "watermark" in data and isinstance(data["watermark"], Mapping):
            data = data["watermark"]
        return cls.from_mapping(data)

    @classmethod
    def parse(cls, value: "str | os.PathLike | Mapping[str, Any] | WatermarkConfig") -> "WatermarkConfig":
        """What a `--watermark CONFIG` option takes: a spec string, JSON text, a file path or a mapping."""
        if isinstance(value, WatermarkConfig):
            return value
        if isinstance(value, Mapping):
            return cls.from_mapping(value)
        if isinstance(value, os.PathLike):
            return cls.from_file(value)
        text = str(value).strip()
        if text.startswith("{"):
            return cls.from_mapping(json.loads(text))
        if text.lower().endswith((".json", ".yaml", ".yml")):
            return cls.from_file(text)
        return cls.from_string(text)

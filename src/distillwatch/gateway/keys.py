"""API keys of the gateway: one SQLite file under `$DISTILLWATCH_HOME` (default `~/.distillwatch/keys.sqlite`).

A key reads `dw-<key_id>-<secret>`: the key id is public (it goes into the request log), the secret is
256 random bits shown once by `create` and stored only as HMAC-SHA256(salt, secret) with a per-key salt.
A fast keyed hash is enough for a uniformly random 256-bit secret (there is no dictionary to try);
comparison is constant-time, and an unknown key id costs the same hash as a known one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputError
from ..paths import home_dir

__all__ = ["ApiKey", "KeyStore", "create_key", "default_key_store_path", "list_keys", "revoke_key"]

PREFIX = "dw"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    key_id     TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    org_id     TEXT,
    trusted    INTEGER NOT NULL DEFAULT 0,
    salt       BLOB NOT NULL,
    digest     BLOB NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
)
"""


def default_key_store_path() -> Path:
    return home_dir() / "keys.sqlite"


@dataclass(frozen=True)
class ApiKey:
    """What the store knows of a key, without its secret."""

    key_id: str
    account_id: str
    org_id: str | None
    trusted: bool
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict:
        return {**asdict(self), "active": self.active}


def _digest(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


def split_key(key: str) -> tuple[str, str] | None:
    """`dw-<key_id>-<secret>` → (key_id, secret), or None when the text is not shaped like a key."""
    parts = key.strip().split("-", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isalnum() or len(parts[2]) < 16:
        return None
    return parts[1], parts[2]


class KeyStore:
    """Create, verify, revoke and list API keys. Safe to share between threads."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_key_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        if fresh:
            os.chmod(self.path, 0o600)
        self._lock = threading.Lock()
        self._dummy_salt = secrets.token_bytes(16)

    def create(self, account: str, org: str | None = None, trusted: bool = False) -> str:
        """A new key for `account`; the returned plaintext is the only copy of the secret."""
        if not isinstance(account, str) or not account.strip():
            raise InputError("a key needs a non-empty account id")
        key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_bytes(16)
        with self._lock:
            self._db.execute(
                "INSERT INTO keys (key_id, account_id, org_id, trusted, salt, digest, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key_id, account.strip(), org, int(bool(trusted)), salt, _digest(salt, secret), time.time()),
            )
        return f"{PREFIX}-{key_id}-{secret}"

    def verify(self, key: str | None) -> ApiKey | None:
        """The active key that `key` is, or None (unknown, malformed, wrong secret or revoked)."""
        parts = split_key(key) if isinstance(key, str) else None
        key_id, secret = parts if parts else ("", "x" * 43)
        with self._lock:
            row = self._db.execute(
                "SELECT key_id, account_id, org_id, trusted, created_at, revoked_at, salt, digest "
                "FROM keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None:
            _digest(self._dummy_salt, secret)  # the same work as for a known id
            return None
        if not hmac.compare_digest(_digest(row[6], secret), row[7]) or row[5] is not None:
            return None
        return ApiKey(row[0], row[1], row[2], bool(row[3]), row[4], row[5])

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by id; False when there is no such active key."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (time.time(), key_id))
        return cur.rowcount == 1

    def list(self, account: str | None = None) -> list[ApiKey]:
        """Every key (active and revoked), oldest first, without secrets or hashes."""
        sql = "SELECT key_id, account_id, org_id, trusted, created_at, revoked_at FROM keys"
        args: tuple = ()
        if account is not None:
            sql, args = sql + " WHERE account_id = ?", (account,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created_at, key_id", args).fetchall()
        return [ApiKey(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- what the CLI verbs call (`distillwatch keys create|revoke|list`) -------------------------------
def create_key(account: str, org: str | None = None, trusted: bool = False,
               path: str | os.PathLike | None = None) -> str:
    """`keys create --account A [--org O] [--trusted]`: the new key's plaintext (print it once)."""
    with KeyStore(path) as store:
        return store.create(account, org=org, trusted=trusted)


def revoke_key(key_id: str, path: str | os.PathLike | None = None) -> bool:
    """`keys revoke KEY_ID`: True when an active key was revoked."""
    with KeyStore(path) as store:
        return store.revoke(key_id)


def list_keys(account: str | None = None, path: str | os.PathLike | None = None) -> list[dict]:
    """`keys list [--account A]`: one dict per key, without secrets."""
    with KeyStore(path) as store:
        return [k.to_dict() for k in store.list(account)]

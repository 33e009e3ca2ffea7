"""API keys: shown once, stored as salted keyed hashes, verified in constant time, revocable."""

import os
import sqlite3

from distillwatch.gateway import KeyStore, create_key, list_keys, revoke_key
from distillwatch.paths import home_dir


def test_create_verify_revoke_list(tmp_path):
    store = KeyStore(tmp_path / "keys.sqlite")
    key = store.create("acct-1", org="org-9")
    prefix, key_id, secret = key.split("-", 2)
    assert prefix == "dw" and len(secret) >= 40
    found = store.verify(key)
    assert (found.key_id, found.account_id, found.org_id, found.trusted) == (key_id, "acct-1", "org-9", False)
    assert store.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None  # wrong secret
    assert store.verify(f"dw-{'0' * 12}-{secret}") is None  # unknown id
    assert store.verify("sk-not-ours") is None and store.verify("") is None and store.verify(None) is None
    assert store.revoke(key_id) and not store.revoke(key_id)
    assert store.verify(key) is None
    listed = store.list()
    assert [k.key_id for k in listed] == [key_id] and not listed[0].active
    assert (os.stat(tmp_path / "keys.sqlite").st_mode & 0o777) == 0o600
    store.close()
    raw = (tmp_path / "keys.sqlite").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("keys.sqlite-*"))
    assert secret.encode() not in raw  # only the salted hash is stored
    rows = sqlite3.connect(tmp_path / "keys.sqlite").execute("SELECT salt, digest FROM keys").fetchall()
    assert len(rows[0][0]) == 16 and len(rows[0][1]) == 32


def test_cli_functions_use_the_home_dir():
    key = create_key("acct-2", org="o", trusted=True)
    assert (home_dir() / "keys.sqlite").exists()
    (row,) = list_keys()
    assert row["account_id"] == "acct-2" and row["trusted"] and row["active"]
    assert key.split("-", 2)[2] not in repr(row)
    assert revoke_key(row["key_id"]) and not list_keys()[0]["active"]

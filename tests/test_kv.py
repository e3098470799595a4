"""The Workers-KV-like namespace over sqlitedict."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from locator.sources.kv import KVError, KVNamespace


@pytest.fixture
def store(tmp_path: Path) -> KVNamespace:
    kv = KVNamespace(tmp_path / "kv.sqlite")
    yield kv
    kv.close()


def test_get_put_delete(store: KVNamespace) -> None:
    assert store.get("DFW") is None
    store.put("DFW", "32.9,-97.0")
    assert store.get("DFW") == "32.9,-97.0"
    store.put("DFW", "33,-97")
    assert store.get("DFW") == "33,-97"
    assert store.delete("DFW") is True
    assert store.delete("DFW") is False
    assert store.get("DFW") is None


def test_list_by_prefix_with_pages(store: KVNamespace) -> None:
    store.put_many((f"K{i:03d}", str(i)) for i in range(25))
    store.put("OTHER", "x")
    page = store.list("K", limit=10)
    assert page.keys == [f"K{i:03d}" for i in range(10)] and not page.list_complete
    seen = list(page.keys)
    while page.cursor:
        page = store.list("K", limit=10, cursor=page.cursor)
        seen += page.keys
    assert seen == [f"K{i:03d}" for i in range(25)]
    assert page.list_complete and page.cursor is None
    assert store.list("ZZ").keys == [] and store.list("ZZ").list_complete


def test_limits(store: KVNamespace) -> None:
    with pytest.raises(KVError):
        store.put("", "x")
    with pytest.raises(KVError):
        store.put("k" * 513, "x")
    with pytest.raises(KVError):
        store.list(limit=1001)
    with pytest.raises(KVError):
        store.list(cursor="%%%")


def test_values_are_stored_as_text_never_pickled(tmp_path: Path) -> None:
    path = tmp_path / "kv.sqlite"
    with KVNamespace(path, "airports") as kv:
        kv.put("DFW", '{"latitude": 32.9}')
    rows = sqlite3.connect(path).execute('SELECT key, value FROM "airports"').fetchall()
    assert rows == [("DFW", '{"latitude": 32.9}')]


def test_build_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "kv.sqlite"
    assert KVNamespace.build(path, [("A", "1"), ("B", "2")]) == 2

    def failing() -> object:
        yield ("C", "3")
        raise RuntimeError("crash half-way")

    with pytest.raises(RuntimeError):
        KVNamespace.build(path, failing())  # type: ignore[arg-type]
    with KVNamespace(path, readonly=True) as kv:
        assert kv.list().keys == ["A", "B"]  # the old store is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kv.sqlite"]


def test_corrupt_or_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KVError, match="not found"):
        KVNamespace(tmp_path / "missing.sqlite", readonly=True)
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(KVError, match="cannot open"):
        KVNamespace(bad, readonly=True)

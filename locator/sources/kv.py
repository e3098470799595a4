"""A Cloudflare Workers KV namespace, emulated in one SQLite table through sqlitedict.

Same operations and limits as Workers KV: string values, keys up to 512 bytes, `list` by prefix in key
order with at most 1000 keys a page and an opaque cursor. Values are stored as text, never pickled.
"""

from __future__ import annotations

import base64
import contextlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from sqlitedict import SqliteDict

from locator.sources.files import replacing

MAX_KEY_BYTES = 512
MAX_LIST_LIMIT = 1000


class KVError(ValueError):
    """A bad key, limit or cursor, or a store that cannot be opened."""


@dataclass(frozen=True)
class KVListResult:
    """One page of `list`: keys in order, whether this is the last page, and the cursor for the next."""

    keys: list[str]
    list_complete: bool
    cursor: str | None


def _identity(value: str) -> str:
    return value


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key.encode()) > MAX_KEY_BYTES:
        raise KVError(f"key must be a non-empty string of at most {MAX_KEY_BYTES} bytes")
    return key


class KVNamespace:
    """get/put/delete/list over a sqlitedict table; use as a context manager or call close()."""

    def __init__(self, path: Path, namespace: str = "kv", *, readonly: bool = False) -> None:
        if readonly and not path.is_file():
            raise KVError(f"{path}: key-value store not found")
        if path.is_file():
            _check_database(path)
        self.path = path
        self.namespace = namespace
        try:
            self._db = SqliteDict(
                str(path),
                tablename=namespace,
                flag="r" if readonly else "c",
                encode=_identity,
                decode=_identity,
                autocommit=False,
                outer_stack=False,
            )
            len(self._db)  # touch the table now, so a corrupt file fails here and not on first get
        except Exception as exc:  # sqlitedict raises sqlite3 errors and RuntimeError on bad files
            raise KVError(f"{path}: cannot open key-value store: {exc}") from None

    def __enter__(self) -> KVNamespace:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def __len__(self) -> int:
        return len(self._db)

    def get(self, key: str) -> str | None:
        value = self._db.get(_check_key(key))
        return None if value is None else str(value)

    def items(self) -> list[tuple[str, str]]:
        """Every pair, for a reader that keeps a snapshot in memory."""
        return [(str(key), str(value)) for key, value in self._db.items()]

    def put(self, key: str, value: str) -> None:
        self._db[_check_key(key)] = str(value)
        self._db.commit()

    def delete(self, key: str) -> bool:
        """Remove `key`; True if it was there."""
        try:
            del self._db[_check_key(key)]
        except KeyError:
            return False
        self._db.commit()
        return True

    def put_many(self, items: Iterable[tuple[str, str]]) -> int:
        """Bulk load in one transaction; returns how many pairs were written."""
        count = 0
        for key, value in items:
            self._db[_check_key(key)] = str(value)
            count += 1
        self._db.commit()
        return count

    def list(self, prefix: str = "", limit: int = MAX_LIST_LIMIT, cursor: str | None = None) -> KVListResult:
        """Keys starting with `prefix`, in key order, `limit` a page; pass `cursor` back for the next."""
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise KVError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        after = _decode_cursor(cursor) if cursor else None
        matching = sorted(key for key in self._db.keys() if key.startswith(prefix))
        if after is not None:
            matching = [key for key in matching if key > after]
        page = matching[:limit]
        complete = len(matching) <= limit
        return KVListResult(page, complete, None if complete else _encode_cursor(page[-1]))

    @classmethod
    def build(cls, path: Path, items: Iterable[tuple[str, str]], namespace: str = "kv") -> int:
        """Write a fresh store atomically: fill a temporary file beside `path`, then rename it into place.

        A crash half-way leaves the old store (or none), never a half-written one.
        """
        with replacing(path) as temp, cls(temp, namespace) as store:
            return store.put_many(items)


def _check_database(path: Path) -> None:
    """Open the file with plain sqlite3 first: sqlitedict would only fail later, in its own thread."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise KVError(f"{path}: cannot open key-value store: {exc}") from None


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise KVError(f"cursor {cursor!r} was not returned by list") from None

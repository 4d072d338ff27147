"""ExplorerDB: the SQLite store between the indexer (writer) and the web app (reader).

One file, WAL journal (readers never block the writer), `synchronous=NORMAL`. The schema below is the
contract between indexer.py and web.py (SPEC.md): keep its names. Every amount in `events.args` is an
exact integer; integers beyond 2**53 are stored as decimal strings so that JSON readers never round them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks(number INTEGER PRIMARY KEY, hash TEXT NOT NULL, time INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS contracts(address TEXT PRIMARY KEY, kind TEXT NOT NULL, model_id INTEGER,
                                     from_block INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY,
  block INTEGER NOT NULL, log_index INTEGER NOT NULL, tx TEXT NOT NULL, time INTEGER NOT NULL,
  contract TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
  model_id INTEGER, host TEXT, account TEXT,
  args TEXT NOT NULL,
  UNIQUE(block, log_index));
CREATE INDEX IF NOT EXISTS ev_name ON events(name, block);
CREATE INDEX IF NOT EXISTS ev_model ON events(model_id, name, block);
CREATE INDEX IF NOT EXISTS ev_host ON events(host, name, block);
CREATE INDEX IF NOT EXISTS ev_account ON events(account, name, block);
"""

CONTRACT_KINDS = ("oml", "factory", "shares", "vault", "governor")
EVENT_COLUMNS = ("id", "block", "log_index", "tx", "time", "contract", "kind", "name", "model_id", "host",
                 "account", "args")
# Columns a caller may order by (`order=` is validated against these; never interpolated raw).
SORTABLE = ("id", "block", "log_index", "tx", "time", "contract", "kind", "name", "model_id", "host", "account")
DEFAULT_ORDER = "block DESC, log_index DESC"


@dataclass(frozen=True)
class EventRow:
    """One indexed log. `args` is the decoded JSON object (see SPEC.md for the encoding)."""

    block: int
    log_index: int
    tx: str
    time: int
    contract: str
    kind: str
    name: str
    model_id: int | None
    host: str | None
    account: str | None
    args: dict[str, Any]
    id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "block": self.block, "log_index": self.log_index, "tx": self.tx, "time": self.time,
                "contract": self.contract, "kind": self.kind, "name": self.name, "model_id": self.model_id,
                "host": self.host, "account": self.account, "args": self.args}


@dataclass(frozen=True)
class ContractRow:
    address: str
    kind: str
    model_id: int | None
    from_block: int


def parse_order(order: str) -> str:
    """Validate an ORDER BY clause of the form 'col [ASC|DESC], ...' against SORTABLE (ValueError otherwise)."""
    parts = []
    for term in order.split(","):
        words = term.split()
        if not words or len(words) > 2 or words[0] not in SORTABLE:
            raise ValueError(f"bad order term {term.strip()!r}: columns are {', '.join(SORTABLE)}")
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise ValueError(f"bad sort direction {words[1]!r} (ASC or DESC)")
        parts.append(f"{words[0]} {direction}")
    return ", ".join(parts)


class ExplorerDB:
    """A connection to the explorer database. Safe to share between threads (one lock around the connection);
    open one per process role if you prefer (WAL lets a reader run beside the writer)."""

    def __init__(self, conn: sqlite3.Connection, path: str):
        self.conn = conn
        self.path = path
        self.lock = threading.RLock()

    # --- lifecycle --------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "ExplorerDB":
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.executescript(SCHEMA)
        db = cls(conn, path)
        if db.meta_get("schema_version") is None:
            db.meta_set("schema_version", SCHEMA_VERSION)
        elif db.meta_get("schema_version") != SCHEMA_VERSION:
            raise RuntimeError(f"{path}: explorer schema version {db.meta_get('schema_version')} "
                               f"(this code reads {SCHEMA_VERSION}); delete the file to re-index")
        return db

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def transaction(self):
        """`with db.transaction():` runs the block in one BEGIN IMMEDIATE … COMMIT (ROLLBACK on error)."""
        return _Transaction(self)

    # --- meta -------------------------------------------------------------------------------------
    def meta_get(self, key: str, default: str | None = None) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def meta_int(self, key: str, default: int | None = None) -> int | None:
        value = self.meta_get(key)
        return int(value) if value not in (None, "") else default

    def meta_set(self, key: str, value: Any) -> None:
        with self.lock:
            self.conn.execute("INSERT INTO meta(key, value) VALUES(?, ?) "
                              "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, str(value)))

    def meta_set_many(self, items: dict[str, Any]) -> None:
        with self.lock:
            self.conn.executemany("INSERT INTO meta(key, value) VALUES(?, ?) "
                                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                                  [(k, str(v)) for k, v in items.items()])

    def meta(self) -> dict[str, str]:
        with self.lock:
            return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    # --- blocks -----------------------------------------------------------------------------------
    def insert_blocks(self, rows: Iterable[tuple[int, str, int]]) -> None:
        """(number, hash, time) rows; a re-indexed block replaces its hash."""
        with self.lock:
            self.conn.executemany("INSERT OR REPLACE INTO blocks(number, hash, time) VALUES(?, ?, ?)", rows)

    def block_hash(self, number: int) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT hash FROM blocks WHERE number = ?", (number,)).fetchone()
        return row[0] if row else None

    def blocks_desc(self, below: int | None = None, limit: int = 64) -> list[tuple[int, str]]:
        """Stored (number, hash), newest first, optionally only numbers < below."""
        with self.lock:
            if below is None:
                return self.conn.execute("SELECT number, hash FROM blocks ORDER BY number DESC LIMIT ?",
                                         (limit,)).fetchall()
            return self.conn.execute("SELECT number, hash FROM blocks WHERE number < ? ORDER BY number DESC "
                                     "LIMIT ?", (below, limit)).fetchall()

    def prune_blocks(self, keep_from: int, keep: Iterable[int] = ()) -> None:
        """Not used by the indexer (blocks with events are kept for their timestamps); left for maintenance."""
        with self.lock:
            self.conn.execute("DELETE FROM blocks WHERE number < ? AND number NOT IN (SELECT DISTINCT block FROM "
                              "events)", (keep_from,))

    # --- contracts --------------------------------------------------------------------------------
    def add_contract(self, address: str, kind: str, model_id: int | None, from_block: int) -> None:
        if kind not in CONTRACT_KINDS:
            raise ValueError(f"contract kind {kind!r} is not one of {CONTRACT_KINDS}")
        with self.lock:
            self.conn.execute("INSERT OR IGNORE INTO contracts(address, kind, model_id, from_block) "
                              "VALUES(?, ?, ?, ?)", (address, kind, model_id, from_block))

    def contracts(self, kind: str | None = None, model_id: int | None = None) -> list[ContractRow]:
        sql, params = "SELECT address, kind, model_id, from_block FROM contracts", []
        where = []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if model_id is not None:
            where.append("model_id = ?")
            params.append(model_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self.lock:
            rows = self.conn.execute(sql + " ORDER BY from_block, address", params).fetchall()
        return [ContractRow(*r) for r in rows]

    # --- events -----------------------------------------------------------------------------------
    def insert_events(self, rows: Iterable[EventRow | dict | Sequence]) -> int:
        """INSERT OR IGNORE on (block, log_index): indexing the same log twice never duplicates it.
        Returns how many rows were new."""
        tuples = [_event_tuple(r) for r in rows]
        with self.lock:
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT OR IGNORE INTO events(block, log_index, tx, time, contract, kind, name, model_id, host, "
                "account, args) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", tuples)
            return self.conn.total_changes - before

    def delete_from_block(self, n: int) -> int:
        """Reorg rollback: drop events, blocks and discovered contracts at block >= n. Returns events deleted."""
        with self.lock:
            deleted = self.conn.execute("DELETE FROM events WHERE block >= ?", (n,)).rowcount
            self.conn.execute("DELETE FROM blocks WHERE number >= ?", (n,))
            self.conn.execute("DELETE FROM contracts WHERE from_block >= ? AND kind NOT IN ('oml', 'factory')", (n,))
        return deleted

    def events(self, name: str | Sequence[str] | None = None, model_id: int | None = None, host: str | None = None,
               account: str | None = None, limit: int = 50, offset: int = 0, order: str = DEFAULT_ORDER,
               contract: str | None = None, tx: str | None = None) -> list[EventRow]:
        where, params = _where(name, model_id, host, account, contract, tx)
        sql = (f"SELECT {', '.join(EVENT_COLUMNS)} FROM events{where} ORDER BY {parse_order(order)} "
               f"LIMIT ? OFFSET ?")
        with self.lock:
            rows = self.conn.execute(sql, (*params, int(limit), int(offset))).fetchall()
        return [_row(r) for r in rows]

    def count(self, name: str | Sequence[str] | None = None, model_id: int | None = None, host: str | None = None,
              account: str | None = None, contract: str | None = None, tx: str | None = None) -> int:
        where, params = _where(name, model_id, host, account, contract, tx)
        with self.lock:
            return self.conn.execute(f"SELECT COUNT(*) FROM events{where}", params).fetchone()[0]

    def iter_events(self, name: str | Sequence[str] | None = None, model_id: int | None = None,
                    host: str | None = None, account: str | None = None, contract: str | None = None,
                    batch: int = 1000):
        """Every matching event in chain order (block, log_index), streamed `batch` rows at a time."""
        after = (-1, -1)
        where, params = _where(name, model_id, host, account, contract, None)
        key = "(block > ? OR (block = ? AND log_index > ?))"
        where = f"{where} AND {key}" if where else f" WHERE {key}"
        while True:
            with self.lock:
                rows = self.conn.execute(
                    f"SELECT {', '.join(EVENT_COLUMNS)} FROM events{where} ORDER BY block, log_index LIMIT ?",
                    (*params, after[0], after[0], after[1], batch)).fetchall()
            for r in rows:
                yield _row(r)
            if len(rows) < batch:
                return
            after = (rows[-1][1], rows[-1][2])

    # ================================================================================================
    # Aggregate queries for the web layer (web.py) go below this line.
    # ================================================================================================


class _Transaction:
    def __init__(self, db: ExplorerDB):
        self.db = db

    def __enter__(self):
        self.db.lock.acquire()
        try:
            self.db.conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.db.lock.release()
            raise
        return self.db

    def __exit__(self, exc_type, exc, tb):
        try:
            self.db.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self.db.lock.release()
        return False


def _where(name, model_id, host, account, contract, tx) -> tuple[str, list]:
    where, params = [], []
    if name is not None:
        if isinstance(name, str):
            where.append("name = ?")
            params.append(name)
        else:
            names = list(name)
            where.append(f"name IN ({', '.join('?' * len(names))})")
            params.extend(names)
    for column, value in (("model_id", model_id), ("host", host), ("account", account), ("contract", contract),
                          ("tx", tx)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def _event_tuple(r: EventRow | dict | Sequence) -> tuple:
    if isinstance(r, EventRow):
        return (r.block, r.log_index, r.tx, r.time, r.contract, r.kind, r.name, r.model_id, r.host, r.account,
                json.dumps(r.args, separators=(",", ":")))
    if isinstance(r, dict):
        args = r["args"]
        return (r["block"], r["log_index"], r["tx"], r["time"], r["contract"], r["kind"], r["name"], r.get("model_id"),
                r.get("host"), r.get("account"),
                args if isinstance(args, str) else json.dumps(args, separators=(",", ":")))
    return tuple(r)


def _row(r: Sequence) -> EventRow:
    (id_, block, log_index, tx, time_, contract, kind, name, model_id, host, account, args) = r
    return EventRow(block, log_index, tx, time_, contract, kind, name, model_id, host, account, json.loads(args), id_)

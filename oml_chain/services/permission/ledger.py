"""The permission service's durable ledger: SQLite in WAL mode.

Durability (`durability=`):
- `"crash"` (default, `synchronous=NORMAL`): every commit is in the WAL file —
  handed to the operating system — before the answer is sent, so a killed
  service (SIGKILL, OOM, a crash) loses nothing and charges nothing twice.
  A power loss or kernel crash may drop the newest few milliseconds of
  permissions; the host's next cumulative voucher covers them again.
- `"power"` (`synchronous=FULL`): each group commit is also fsynced before
  answering, so even a power loss loses nothing, at one disk flush per answer
  (3–12 ms on the VMs measured in benchmarks/results/serve.json).

Tables: `permissions` (every permission issued, with the voucher count of the
request that issued it), `vouchers` (the newest voucher per (model, host)) and
`settlements` (every settlement attempt, with its transaction and outcome).

A permission is answered only after its rows and the newest voucher are
committed (fsynced). Commits go through one writer thread that *group-commits*:
it takes every write that is waiting, applies them in one transaction and
fsyncs once, then wakes each waiter. That keeps every answer durable while many
hosts share one fsync (on a disk where an fsync costs ~10 ms this is what makes
throughput scale; a lone sequential request still pays one fsync).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...chain.errors import ConfigError

SCHEMA_VERSION = 2  # v2: vouchers carry the cumulative amount, permissions the price they were issued at
SCHEMA = """
CREATE TABLE IF NOT EXISTS permissions (
    model_id   INTEGER NOT NULL,
    host       TEXT    NOT NULL,      -- checksummed address
    seq        INTEGER NOT NULL,
    query_hash BLOB    NOT NULL,      -- 32 bytes
    count      INTEGER NOT NULL,      -- voucher count of the request that issued this permission
    signature  BLOB    NOT NULL,      -- 65 bytes r||s||v
    price      TEXT    NOT NULL,      -- wei charged for it: the model's price in force when it was issued
    issued_at  REAL    NOT NULL,
    PRIMARY KEY (model_id, host, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS permissions_by_count ON permissions (model_id, host, count);
CREATE TABLE IF NOT EXISTS vouchers (
    model_id   INTEGER NOT NULL,
    host       TEXT    NOT NULL,
    count      INTEGER NOT NULL,      -- newest cumulative count signed by the host (= permissions issued)
    amount     TEXT    NOT NULL,      -- its cumulative amount in wei (decimal; can exceed 2^63)
    signature  BLOB    NOT NULL,
    last_seq   INTEGER NOT NULL,
    updated_at REAL    NOT NULL,
    PRIMARY KEY (model_id, host)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settlements (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id   INTEGER NOT NULL,
    host       TEXT    NOT NULL,
    count      INTEGER NOT NULL,
    tx_hash    TEXT,
    status     TEXT    NOT NULL,      -- 'confirmed' or 'failed'
    error      TEXT,
    created_at REAL    NOT NULL
);
"""


@dataclass(frozen=True)
class Issued:
    """One permission as stored."""

    seq: int
    query_hash: bytes
    signature: bytes


@dataclass
class HostLedger:
    """What the ledger knows of one (model, host): the newest voucher and the newest request's permissions."""

    model_id: int
    host: str
    count: int = 0
    last_seq: int = 0
    voucher_signature: bytes = b""
    last_request: list[Issued] = field(default_factory=list)
    amount: int = 0  # cumulative wei of the newest voucher


@dataclass(frozen=True)
class VoucherRow:
    model_id: int
    host: str
    count: int
    amount: int
    signature: bytes


class Ledger:
    """One SQLite file; reads under a lock, writes through the group-commit writer thread."""

    DURABILITY = {"crash": "NORMAL", "power": "FULL"}

    def __init__(self, path: str | Path, durability: str = "crash"):
        self.path = Path(path)
        if durability not in self.DURABILITY:
            raise ConfigError(f"ledger durability must be one of {sorted(self.DURABILITY)}, got {durability!r}")
        self.durability = durability
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the permission ledger at {self.path} ({exc}); "
                              "pass a writable --db path") from exc
        if mode.lower() != "wal":
            raise ConfigError(f"the ledger {self.path} cannot use WAL mode (got {mode}); put it on a local disk")
        self._conn.execute(f"PRAGMA synchronous={self.DURABILITY[durability]}")
        self._conn.execute("PRAGMA busy_timeout=5000")
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        has_tables = self._conn.execute("SELECT count(*) FROM sqlite_master WHERE name='vouchers'").fetchone()[0]
        if has_tables and version < SCHEMA_VERSION:
            self._conn.close()
            raise ConfigError(f"the ledger {self.path} was written by protocol v1 (vouchers without amounts); settle "
                              "its vouchers with the v1 service, then start the v2 service with a new --db path")
        self._conn.executescript(SCHEMA)
        self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="ledger-writer", daemon=True)
        self._writer.start()
        self._closed = False

    # --- reads ------------------------------------------------------------------------------------
    def load_host(self, model_id: int, host: str) -> HostLedger:
        """The stored state of (model, host), empty when the host never asked."""
        with self._lock:
            row = self._conn.execute("SELECT count, last_seq, signature, amount FROM vouchers WHERE model_id=? "
                                     "AND host=?", (model_id, host)).fetchone()
            if row is None:
                return HostLedger(model_id, host)
            count, last_seq, sig, amount = row
            items = self._conn.execute(
                "SELECT seq, query_hash, signature FROM permissions WHERE model_id=? AND host=? AND count=? "
                "ORDER BY seq", (model_id, host, count)).fetchall()
        return HostLedger(model_id, host, count, last_seq, bytes(sig),
                          [Issued(s, bytes(q), bytes(g)) for s, q, g in items], int(amount))

    def vouchers(self) -> list[VoucherRow]:
        """The newest voucher of every (model, host)."""
        with self._lock:
            rows = self._conn.execute("SELECT model_id, host, count, amount, signature FROM vouchers").fetchall()
        return [VoucherRow(m, h, c, int(a), bytes(s)) for m, h, c, a, s in rows]

    def charged(self, model_id: int, host: str) -> int:
        """Σ price over the permissions issued to (model, host): what its vouchers must add up to."""
        with self._lock:
            rows = self._conn.execute("SELECT price FROM permissions WHERE model_id=? AND host=?",
                                      (model_id, host)).fetchall()
        return sum(int(p) for (p,) in rows)

    def permission_count(self, model_id: int | None = None, host: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM permissions", []
        if model_id is not None:
            sql += " WHERE model_id=? AND host=?"
            args = [model_id, host]
        with self._lock:
            return self._conn.execute(sql, args).fetchone()[0]

    def settlements(self) -> list[dict]:
        with self._lock:
            rows = self._conn.execute("SELECT model_id, host, count, tx_hash, status, error, created_at "
                                      "FROM settlements ORDER BY id").fetchall()
        keys = ("model_id", "host", "count", "tx_hash", "status", "error", "created_at")
        return [dict(zip(keys, r)) for r in rows]

    # --- writes -----------------------------------------------------------------------------------
    def _issue_ops(self, model_id: int, host: str, count: int, amount: int, price: int, voucher_sig: bytes,
                   items: list[Issued]) -> list[tuple[str, list]]:
        now = time.time()
        return [
            ("INSERT INTO permissions VALUES (?,?,?,?,?,?,?,?)",
             [(model_id, host, it.seq, it.query_hash, count, it.signature, str(price), now) for it in items]),
            ("INSERT INTO vouchers VALUES (?,?,?,?,?,?,?) ON CONFLICT (model_id, host) DO UPDATE SET "
             "count=excluded.count, amount=excluded.amount, signature=excluded.signature, "
             "last_seq=excluded.last_seq, updated_at=excluded.updated_at",
             [(model_id, host, count, str(amount), voucher_sig, items[-1].seq, now)]),
        ]

    async def record_issue(self, model_id: int, host: str, count: int, amount: int, price: int, voucher_sig: bytes,
                           items: list[Issued]) -> None:
        """Commit permissions (each at `price`) + the newest voucher (count, cumulative amount) durably;
        returns once committed (raises if the commit failed)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.put((self._issue_ops(model_id, host, count, amount, price, voucher_sig, items), loop, fut))
        await fut

    def record_issue_sync(self, model_id: int, host: str, count: int, amount: int, price: int, voucher_sig: bytes,
                          items: list[Issued]) -> None:
        done = threading.Event()
        box: list[BaseException | None] = [None]

        def wake(exc: BaseException | None) -> None:
            box[0] = exc
            done.set()

        self._queue.put((self._issue_ops(model_id, host, count, amount, price, voucher_sig, items), None, wake))
        done.wait()
        if box[0] is not None:
            raise box[0]

    def record_settlement(self, model_id: int, host: str, count: int, tx_hash: str | None, status: str,
                          error: str | None = None) -> None:
        with self._lock:
            self._conn.execute("INSERT INTO settlements (model_id, host, count, tx_hash, status, error, created_at) "
                               "VALUES (?,?,?,?,?,?,?)", (model_id, host, count, tx_hash, status, error, time.time()))

    def _write_loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            while True:  # group commit: everything that queued up while the last fsync ran
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            error: BaseException | None = None
            with self._lock:
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    for ops, _, _ in batch:
                        for sql, rows in ops:
                            self._conn.executemany(sql, rows)
                    self._conn.execute("COMMIT")
                except BaseException as exc:  # noqa: BLE001 - handed to every waiter
                    error = exc
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
            for _, loop, fut in batch:
                if loop is None:
                    fut(error)
                else:
                    loop.call_soon_threadsafe(_resolve, fut, error)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join(10)
        with self._lock:
            self._conn.close()


def _resolve(fut: asyncio.Future, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)

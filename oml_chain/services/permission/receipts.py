"""A host's permission receipts: the (queryHash, seq) of every permission it was given, and their on-chain record.

Why (protocol v2, contracts/README.md "What the permission rule promises"): when the owner retires a permission
signer, a permission that signer issued is only a shield against a slash if the host recorded it on chain —
a StandardMerkleTree root over its receipts, `recordPermissionReceipts(modelId, root)` — before
`retiredAt + noticePeriod`. A prover who reveals such a permission opens a *dispute*; the host wins it by
proving the disputed (queryHash, seq) under a root recorded in time (`defendSlash`).

The receipts live in the host's state SQLite file (WAL) beside the permission client's seq/count, one row per
permission, with the root they were recorded under (NULL until recorded):

    book = ReceiptBook("host.db", key)
    root = record_receipts(book, host_client, model_id)      # one transaction for everything not yet recorded
    defend_dispute(book, host_client, model_id, index)        # after a SlashDisputed event against this host
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable

from ...chain.errors import ConfigError
from ...chain.merkle import ReceiptTree, receipt_leaf

log = logging.getLogger("oml.receipts")

SCHEMA = """
CREATE TABLE IF NOT EXISTS receipts (
    key         TEXT    NOT NULL,     -- chain:contract:model:host
    seq         INTEGER NOT NULL,
    query_hash  BLOB    NOT NULL,     -- 32 bytes
    leaf        BLOB    NOT NULL,     -- receipt_leaf(query_hash, seq), as OML.receiptLeaf
    root        BLOB,                 -- the recorded root that holds it (NULL: not recorded yet)
    recorded_at REAL,
    PRIMARY KEY (key, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS receipts_by_leaf ON receipts (key, leaf);
CREATE INDEX IF NOT EXISTS receipts_by_root ON receipts (key, root);
"""


def state_key(chain_id: int, oml_address: str, model_id: int, host: str) -> str:
    """The key of one (chain, contract, model, host) in a host state file (the permission client uses it too)."""
    return f"{chain_id}:{oml_address.lower()}:{model_id}:{host.lower()}"


class ReceiptBook:
    """The receipts of one (chain, contract, model, host) in a SQLite file (shared with the permission client)."""

    def __init__(self, path: str | Path, key: str, conn: sqlite3.Connection | None = None,
                 lock: threading.Lock | None = None):
        self.key = key
        if conn is None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        self._conn = conn
        self._conn.executescript(SCHEMA)
        self._lock = lock or threading.Lock()

    def add(self, receipts: Iterable[tuple[int, bytes]]) -> None:
        """Keep (seq, query_hash) of permissions just obtained (idempotent per seq)."""
        rows = [(self.key, seq, bytes(qh), receipt_leaf(qh, seq)) for seq, qh in receipts]
        with self._lock:
            self._conn.executemany("INSERT OR IGNORE INTO receipts (key, seq, query_hash, leaf) VALUES (?,?,?,?)",
                                   rows)

    def unrecorded(self) -> list[tuple[bytes, int]]:
        with self._lock:
            rows = self._conn.execute("SELECT query_hash, seq FROM receipts WHERE key=? AND root IS NULL "
                                      "ORDER BY seq", (self.key,)).fetchall()
        return [(bytes(q), s) for q, s in rows]

    def mark_recorded(self, root: bytes, receipts: list[tuple[bytes, int]]) -> None:
        now = time.time()
        with self._lock:
            self._conn.executemany("UPDATE receipts SET root=?, recorded_at=? WHERE key=? AND seq=?",
                                   [(root, now, self.key, s) for _, s in receipts])

    def counts(self) -> tuple[int, int]:
        """(all receipts, receipts not yet recorded)."""
        with self._lock:
            total, pending = self._conn.execute(
                "SELECT count(*), sum(root IS NULL) FROM receipts WHERE key=?", (self.key,)).fetchone()
        return total, pending or 0

    def locate(self, leaf: bytes) -> tuple[ReceiptTree, bytes, int] | None:
        """The recorded tree holding the receipt with this leaf hash, its query hash and seq; None if unknown."""
        with self._lock:
            row = self._conn.execute("SELECT query_hash, seq, root FROM receipts WHERE key=? AND leaf=? AND root IS "
                                     "NOT NULL", (self.key, leaf)).fetchone()
            if row is None:
                return None
            qh, seq, root = bytes(row[0]), row[1], bytes(row[2])
            members = self._conn.execute("SELECT query_hash, seq FROM receipts WHERE key=? AND root=?",
                                         (self.key, root)).fetchall()
        tree = ReceiptTree((bytes(q), s) for q, s in members)
        if tree.root != root:
            raise ConfigError(f"the receipts stored under root 0x{root.hex()} rebuild to 0x{tree.root.hex()}; the "
                              "host state file is corrupt")
        return tree, qh, seq


def record_receipts(book: ReceiptBook, host_client, model_id: int) -> bytes | None:
    """Record every not-yet-recorded receipt under one new root (one transaction); None when there is nothing."""
    pending = book.unrecorded()
    if not pending:
        return None
    tree = ReceiptTree(pending)
    tx = host_client.record_permission_receipts(model_id, tree.root)
    book.mark_recorded(tree.root, pending)
    log.info("recorded %d permission receipts of model %d under root 0x%s in %s", len(pending), model_id,
             tree.root.hex(), tx.tx_hash)
    return tree.root


def defend_dispute(book: ReceiptBook, host_client, model_id: int, index: int, host: str | None = None):
    """Defend the open dispute on fingerprint `index` against this host: prove its receipt under a recorded root.

    Raises ConfigError when no open dispute exists or this host never recorded the disputed permission.
    """
    host = host or host_client.account
    dispute = host_client.get_dispute(model_id, host, index)
    if not dispute.open:
        raise ConfigError(f"there is no open dispute on fingerprint {index} of model {model_id} against {host}")
    found = book.locate(dispute.receipt_leaf)
    if found is None:
        raise ConfigError(f"the disputed permission (leaf 0x{dispute.receipt_leaf.hex()}) is not among the recorded "
                          f"receipts of {host}; it cannot be defended (was it ever issued to this host?)")
    tree, qh, seq = found
    return host_client.defend_slash(model_id, host, index, tree.root, tree.proof(qh, seq))

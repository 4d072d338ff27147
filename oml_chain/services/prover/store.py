"""The prover's durable record (SQLite, WAL): keys sent, probes, pending commitments, disputes, slashes.

A key is marked sent to a host *before* it is sent (a crash after sending must
never resend it to that host); burns are per host on chain, so the record is
per (model, key, host). A commitment is stored with its full evidence *before*
the commit transaction is sent, so a restarted prover can finish (or redo) the
commit and reveal it before it expires. A reveal that opens a dispute (the
permission was signed by a retired signer) moves the pending row into
`disputes` in one transaction; the prover finalizes it after its deadline.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ...chain.types import SlashEvidence

SCHEMA = """
CREATE TABLE IF NOT EXISTS sent_keys (
    model_id INTEGER NOT NULL, fp_index INTEGER NOT NULL, host TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (model_id, fp_index, host));
CREATE TABLE IF NOT EXISTS probes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, model_id INTEGER NOT NULL, host TEXT NOT NULL, endpoint TEXT NOT NULL,
    fp_index INTEGER NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL, seq INTEGER, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    commitment TEXT PRIMARY KEY, model_id INTEGER NOT NULL, host TEXT NOT NULL, fp_index INTEGER NOT NULL,
    evidence TEXT NOT NULL, state TEXT NOT NULL, commit_block INTEGER, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, error TEXT);
CREATE TABLE IF NOT EXISTS slashes (
    commitment TEXT PRIMARY KEY, model_id INTEGER NOT NULL, host TEXT NOT NULL, fp_index INTEGER NOT NULL,
    slashed TEXT NOT NULL, reward TEXT NOT NULL, tx_hash TEXT NOT NULL, block INTEGER NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS disputes (
    model_id INTEGER NOT NULL, host TEXT NOT NULL, fp_index INTEGER NOT NULL, commitment TEXT NOT NULL,
    signer TEXT NOT NULL, deadline INTEGER NOT NULL, state TEXT NOT NULL, tx_hash TEXT NOT NULL,
    block INTEGER NOT NULL, opened_at REAL NOT NULL, updated_at REAL NOT NULL, detail TEXT,
    PRIMARY KEY (model_id, host, fp_index));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# v1 databases kept one row per (model, key) in `used_keys`; they become rows of `sent_keys` once.
_MIGRATE_V1 = """INSERT OR IGNORE INTO sent_keys (model_id, fp_index, host, at)
    SELECT model_id, fp_index, host, at FROM used_keys"""

# pending.state: "new" (stored, commit not known to be mined) → "committed" → row deleted when revealed
# (a slashes or disputes row replaces it) or state "failed" with the error (expired, burned by someone else, …).
# disputes.state: "open" → "finalized" (a slashes row is added with the same commitment), "defended" (the host
# proved a receipt; no slash) or "closed" (closed on chain without a slash we can find).


@dataclass(frozen=True)
class Pending:
    commitment: bytes
    model_id: int
    host: str
    fp_index: int
    evidence: SlashEvidence
    state: str
    commit_block: int | None
    created_at: float


@dataclass(frozen=True)
class DisputeRecord:
    """A reveal that opened a dispute: the permission was signed by `signer`, a retired permission signer."""

    commitment: str
    model_id: int
    host: str
    fp_index: int
    signer: str
    deadline: int  # chain time after which the dispute can be finalized
    state: str  # open | finalized | defended | closed
    tx_hash: str
    block: int
    detail: str = ""


@dataclass(frozen=True)
class SlashRecord:
    commitment: str
    model_id: int
    host: str
    fp_index: int
    slashed: int
    reward: int
    tx_hash: str
    block: int


def evidence_to_json(ev: SlashEvidence) -> str:
    return json.dumps({
        "model_id": ev.model_id, "host": ev.host, "fingerprint_index": ev.fingerprint_index,
        "salt": ev.salt.hex(), "key_hash": ev.key_hash.hex(), "fingerprint_response": ev.fingerprint_response.hex(),
        "response": ev.response.hex(), "merkle_proof": [p.hex() for p in ev.merkle_proof], "seq": ev.seq,
        "permission": ev.permission.hex(), "attestation": ev.attestation.hex()})


def evidence_from_json(text: str) -> SlashEvidence:
    d = json.loads(text)
    b = bytes.fromhex
    return SlashEvidence(model_id=d["model_id"], host=d["host"], fingerprint_index=d["fingerprint_index"],
                         salt=b(d["salt"]), key_hash=b(d["key_hash"]), fingerprint_response=b(d["fingerprint_response"]),
                         response=b(d["response"]), merkle_proof=[b(p) for p in d["merkle_proof"]], seq=d["seq"],
                         permission=b(d["permission"]), attestation=b(d["attestation"]))


class ProverStore:
    """Thread-safe wrapper over one SQLite connection in WAL mode (synchronous=FULL: a commit is on disk)."""

    def __init__(self, path: str | Path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'used_keys'").fetchall():
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(_MIGRATE_V1)
            self._db.execute("DROP TABLE used_keys")
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # --- keys and probes ----------------------------------------------------------------------
    def sent_to(self, model_id: int) -> dict[int, set[str]]:
        """For each key index of the model: the hosts (checksummed) it was sent to or is burned for."""
        out: dict[int, set[str]] = {}
        for idx, host in self._exec("SELECT fp_index, host FROM sent_keys WHERE model_id = ?", (model_id,)):
            out.setdefault(idx, set()).add(host)
        return out

    def used_indices(self, model_id: int, host: str | None = None) -> set[int]:
        """Key indices sent to `host` (any host when None)."""
        if host is None:
            return set(self.sent_to(model_id))
        return {r[0] for r in self._exec("SELECT fp_index FROM sent_keys WHERE model_id = ? AND host = ?",
                                         (model_id, host))}

    def mark_used(self, model_id: int, fp_index: int, host: str) -> None:
        """Key `fp_index` was sent to `host` (or is burned for it): never send it to that host again."""
        self._exec("INSERT OR IGNORE INTO sent_keys VALUES (?, ?, ?, ?)", (model_id, fp_index, host, time.time()))

    def unmark_used(self, model_id: int, fp_index: int, host: str) -> None:
        """Give a key back (the request never reached the host)."""
        self._exec("DELETE FROM sent_keys WHERE model_id = ? AND fp_index = ? AND host = ?",
                   (model_id, fp_index, host))

    def record_probe(self, model_id: int, host: str, endpoint: str, fp_index: int, outcome: str, detail: str,
                     seq: int | None = None) -> None:
        self._exec("INSERT INTO probes (model_id, host, endpoint, fp_index, outcome, detail, seq, at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (model_id, host, endpoint, fp_index, outcome, detail[:500], seq,
                                                        time.time()))

    def probes(self, model_id: int | None = None, host: str | None = None) -> list[dict]:
        rows = self._exec("SELECT model_id, host, endpoint, fp_index, outcome, detail, seq, at FROM probes "
                          "ORDER BY id")
        out = [dict(zip(("model_id", "host", "endpoint", "fp_index", "outcome", "detail", "seq", "at"), r))
               for r in rows]
        return [p for p in out if (model_id is None or p["model_id"] == model_id)
                and (host is None or p["host"].lower() == host.lower())]

    # --- commitments --------------------------------------------------------------------------
    def add_pending(self, commitment: bytes, evidence: SlashEvidence) -> None:
        now = time.time()
        self._exec("INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?, ?, 'new', NULL, ?, ?, NULL)",
                   ("0x" + commitment.hex(), evidence.model_id, evidence.host, evidence.fingerprint_index,
                    evidence_to_json(evidence), now, now))

    def mark_committed(self, commitment: bytes, block: int) -> None:
        self._exec("UPDATE pending SET state = 'committed', commit_block = ?, updated_at = ? WHERE commitment = ?",
                   (block, time.time(), "0x" + commitment.hex()))

    def mark_failed(self, commitment: bytes, error: str) -> None:
        self._exec("UPDATE pending SET state = 'failed', error = ?, updated_at = ? WHERE commitment = ?",
                   (error[:500], time.time(), "0x" + commitment.hex()))

    def open_pending(self) -> list[Pending]:
        rows = self._exec("SELECT commitment, model_id, host, fp_index, evidence, state, commit_block, created_at "
                          "FROM pending WHERE state IN ('new', 'committed') ORDER BY created_at")
        return [Pending(bytes.fromhex(r[0][2:]), r[1], r[2], r[3], evidence_from_json(r[4]), r[5], r[6], r[7])
                for r in rows]

    def failed_pending(self) -> list[dict]:
        rows = self._exec("SELECT commitment, model_id, host, fp_index, error FROM pending WHERE state = 'failed'")
        return [dict(zip(("commitment", "model_id", "host", "fp_index", "error"), r)) for r in rows]

    def record_slash(self, commitment: bytes, model_id: int, host: str, fp_index: int, slashed: int, reward: int,
                     tx_hash: str, block: int) -> None:
        """The reveal succeeded: one transaction moves the pending row into `slashes`."""
        c = "0x" + commitment.hex()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT OR REPLACE INTO slashes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 (c, model_id, host, fp_index, str(slashed), str(reward), tx_hash, block, time.time()))
                self._db.execute("DELETE FROM pending WHERE commitment = ?", (c,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def record_dispute(self, commitment: bytes, model_id: int, host: str, fp_index: int, signer: str, deadline: int,
                       tx_hash: str, block: int) -> DisputeRecord:
        """The reveal opened a dispute: one transaction moves the pending row into `disputes`."""
        c = "0x" + commitment.hex()
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT OR REPLACE INTO disputes VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, NULL)",
                                 (model_id, host, fp_index, c, signer, deadline, tx_hash, block, now, now))
                self._db.execute("DELETE FROM pending WHERE commitment = ?", (c,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return DisputeRecord(c, model_id, host, fp_index, signer, deadline, "open", tx_hash, block)

    def close_dispute(self, model_id: int, host: str, fp_index: int, state: str, detail: str = "",
                      slash: SlashRecord | None = None) -> None:
        """Mark a dispute finalized / defended / closed; a finalized one also adds its slash, atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("UPDATE disputes SET state = ?, detail = ?, updated_at = ? "
                                 "WHERE model_id = ? AND host = ? AND fp_index = ?",
                                 (state, detail[:500], time.time(), model_id, host, fp_index))
                if slash is not None:
                    self._db.execute("INSERT OR REPLACE INTO slashes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                     (slash.commitment, slash.model_id, slash.host, slash.fp_index, str(slash.slashed),
                                      str(slash.reward), slash.tx_hash, slash.block, time.time()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def disputes(self, state: str | None = None) -> list[DisputeRecord]:
        rows = self._exec("SELECT commitment, model_id, host, fp_index, signer, deadline, state, tx_hash, block, "
                          "COALESCE(detail, '') FROM disputes ORDER BY opened_at")
        return [DisputeRecord(*r) for r in rows if state is None or r[6] == state]

    def slashes(self) -> list[SlashRecord]:
        rows = self._exec("SELECT commitment, model_id, host, fp_index, slashed, reward, tx_hash, block FROM slashes "
                          "ORDER BY at")
        return [SlashRecord(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), r[6], r[7]) for r in rows]

    # --- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._exec("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        self._exec("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

"""Host side of the permission protocol: durable seq/count, voucher signing, verified permissions.

    client = PermissionClient("http://127.0.0.1:8700", host_key, model_id, domain, permission_signer, "host.db",
                              price=chain_price(oml, model_id))
    perm = await client.request(query_hash)          # one permission (verified)
    perms = await client.request_batch([h1, h2, h3])  # one voucher for several queries

The voucher is cumulative in count and in amount (protocol v2): each request adds `queries × price in force`
to the amount the host signs, with the price read from the chain (`price`, cached a few seconds). If the
service computed another price (a scheduled change took effect between the two reads) the client re-reads
the chain and retries once when it now agrees; it never signs an amount it did not compute itself. Every
permission obtained is also kept as a *receipt* (receipts.py) for the host's on-chain record.

Before a request is sent, its seq(s) and the new cumulative count and amount are written to SQLite as the
*pending* request. A timeout or dropped connection is retried with the exact same body, which the service answers from
its ledger without charging again. After a crash the pending request is resolved first: retried exactly when the
same query asks again, otherwise reconciled against `GET /v1/hosts/...` (committed → counted; not committed →
its count is released). Every 4xx becomes the matching `PermissionServiceError` subclass (errors.py).
`SyncPermissionClient` runs the same coroutines on a private event loop.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import httpx

from ...chain.eip712 import Domain, Signer, permission_hash, verify_permission
from ...chain.errors import ConfigError
from .errors import (HostStateOutOfSync, PermissionConflict, PermissionServiceError, PermissionServiceUnavailable,
                     PermissionSignatureInvalid, VoucherAmountMismatch, error_from_response)
from .receipts import ReceiptBook, state_key

PriceSource = Callable[[bool], int]  # price(force_refresh) -> wei per query in force now


def chain_price(oml, model_id: int, ttl: float = 5.0) -> PriceSource:
    """The model's price in force now, read from the OML contract (`getModel`) and cached for `ttl` seconds."""
    cache: list = [0.0, 0]

    def price(force: bool = False) -> int:
        if force or time.monotonic() - cache[0] >= ttl:
            cache[1] = oml.get_model(model_id).price_per_query
            cache[0] = time.monotonic()
        return cache[1]

    price.fresh = lambda: time.monotonic() - cache[0] < ttl  # a cached answer: no chain read, no thread needed
    return price


def fixed_price(wei: int) -> PriceSource:
    """A constant price (tests and benchmarks of a model whose price does not change)."""
    def price(force: bool = False) -> int:
        return wei

    price.fresh = lambda: True
    return price


@dataclass(frozen=True)
class Permission:
    """σ(q): the permission signer's EIP-712 signature over Permission(modelId, host, queryHash, seq)."""

    model_id: int
    host: str
    query_hash: bytes
    seq: int
    signature: bytes
    count: int  # the host's cumulative voucher count after the request that obtained it

    @property
    def hash(self) -> bytes:
        """keccak256(signature): the permissionHash an attestation carries."""
        return permission_hash(self.signature)


@dataclass(frozen=True)
class _Pending:
    items: tuple[tuple[int, bytes], ...]  # (seq, query_hash)
    count: int
    batch: bool
    amount: int = 0  # cumulative wei of the voucher sent with it
    price: int = 0  # the price per query it was computed with

    def dumps(self) -> str:
        return json.dumps({"items": [[s, q.hex()] for s, q in self.items], "count": self.count, "batch": self.batch,
                           "amount": str(self.amount), "price": str(self.price)})

    @classmethod
    def loads(cls, raw: str) -> _Pending:
        d = json.loads(raw)
        return cls(tuple((s, bytes.fromhex(q)) for s, q in d["items"]), d["count"], d["batch"], int(d["amount"]),
                   int(d["price"]))


class _Store:
    """One row per (chain, contract, model, host) in SQLite (WAL): seq, count, cumulative amount, pending;
    and the host's permission receipts (receipts.py) in the same file.

    `synchronous=NORMAL`: each write reaches the WAL (the operating system) before the request is sent,
    so a killed host process resumes exactly; after a power loss `resync()` re-adopts the service's count.
    """

    def __init__(self, path: str | Path, key: str):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # v2 table (v1's host_state had no amount): a v1 file keeps its old table untouched beside this one.
        self._conn.execute("CREATE TABLE IF NOT EXISTS host_state_v2 (key TEXT PRIMARY KEY, seq INTEGER NOT NULL, "
                           "count INTEGER NOT NULL, amount TEXT NOT NULL, pending TEXT)")
        self._key = key
        self._lock = threading.Lock()
        self.receipts = ReceiptBook(path, key, self._conn, self._lock)

    def load(self) -> tuple[int, int, int, _Pending | None]:
        with self._lock:
            row = self._conn.execute("SELECT seq, count, amount, pending FROM host_state_v2 WHERE key=?",
                                     (self._key,)).fetchone()
        if row is None:
            return 0, 0, 0, None
        return row[0], row[1], int(row[2]), _Pending.loads(row[3]) if row[3] else None

    def save(self, seq: int, count: int, amount: int, pending: _Pending | None) -> None:
        with self._lock:
            self._conn.execute("INSERT INTO host_state_v2 VALUES (?,?,?,?,?) ON CONFLICT (key) DO UPDATE SET "
                               "seq=excluded.seq, count=excluded.count, amount=excluded.amount, "
                               "pending=excluded.pending",
                               (self._key, seq, count, str(amount), pending.dumps() if pending else None))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PermissionClient:
    """Obtains permissions for one host on one model from one permission service (async, httpx)."""

    def __init__(self, base_url: str, host_signer: Signer | str | bytes, model_id: int, domain: Domain,
                 permission_signer_address: str, state_path: str | Path, *, price: PriceSource,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.2,
                 http: httpx.AsyncClient | None = None):
        if not isinstance(model_id, int) or model_id < 1:
            raise ConfigError(f"model_id must be a positive integer, got {model_id!r}")
        self.base_url = base_url.rstrip("/")
        self.signer = host_signer if isinstance(host_signer, Signer) else Signer(host_signer)
        self.host = self.signer.address
        self.model_id = model_id
        self.domain = domain
        self.permission_signer = permission_signer_address
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._http = http
        self._own_http = http is None
        self._store = _Store(state_path, state_key(domain.chain_id, domain.verifying_contract, model_id, self.host))
        self._price = price
        self._seq, self._count, self._amount, self._pending = self._store.load()
        self._pending_done = False  # the pending request got its answer in this process
        self._lock: asyncio.Lock | None = None

    # --- state --------------------------------------------------------------------------------------
    @property
    def seq(self) -> int:
        """The newest seq this host has used (reserved)."""
        return self._seq

    @property
    def count(self) -> int:
        """The host's cumulative voucher count (permissions obtained, including a pending request)."""
        return self._count

    @property
    def amount(self) -> int:
        """The host's cumulative voucher amount in wei (what it owes in total, including a pending request)."""
        return self._amount

    @property
    def receipts(self) -> ReceiptBook:
        """The permission receipts kept for the on-chain record (receipts.record_receipts)."""
        return self._store.receipts

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout)
        return self._http

    async def _save(self) -> None:
        await asyncio.to_thread(self._store.save, self._seq, self._count, self._amount,
                                None if self._pending_done else self._pending)

    # --- public API ---------------------------------------------------------------------------------
    async def request(self, query_hash: bytes) -> Permission:
        """One permission for `query_hash` (32 bytes, keccak256(utf8(query)))."""
        return (await self._obtain([query_hash], batch=False))[0]

    async def request_batch(self, query_hashes: Sequence[bytes]) -> list[Permission]:
        """Permissions for several queries under one voucher, in order."""
        if not query_hashes:
            raise ConfigError("request_batch needs at least one query hash")
        return await self._obtain(list(query_hashes), batch=True)

    async def host_state(self) -> dict:
        """The service's view of this host: issued, voucher_count, settled_on_chain, escrow_spendable, last_seq."""
        r = await self._call("GET", f"/v1/hosts/{self.model_id}/{self.host}", None)
        return r

    async def resync(self) -> dict:
        """Adopt the service's issued count, amount and last seq (after losing the local store); returns the state."""
        async with self._mutex():
            st = await self.host_state()
            self._count, self._amount, self._seq, self._pending, self._pending_done = (
                int(st["issued"]), int(st["voucher_amount"]), max(self._seq, int(st["last_seq"])), None, False)
            await self._save()
            return st

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None
        self._store.close()

    # --- internals ----------------------------------------------------------------------------------
    def _mutex(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _obtain(self, hashes: list[bytes], batch: bool) -> list[Permission]:
        for h in hashes:
            if not isinstance(h, (bytes, bytearray)) or len(h) != 32:
                raise ConfigError(f"a query hash is 32 bytes (keccak256 of the query), got {h!r}")
        async with self._mutex():
            if self._pending is not None and not self._pending_done:
                if self._pending.batch == batch and [q for _, q in self._pending.items] == hashes:
                    return await self._send(self._pending)  # the same query again: exact retry, never charged twice
                await self._reconcile()
            fresh = getattr(self._price, "fresh", None)  # a cached price is read inline, a chain read in a thread
            price = self._price(False) if fresh is not None and fresh() else await asyncio.to_thread(self._price, False)
            try:
                return await self._new_request(hashes, batch, price)
            except VoucherAmountMismatch as exc:
                # A scheduled price change took effect between our read and the service's: re-read the chain
                # and retry once if we now agree (never adopt the service's number blindly).
                fresh = await asyncio.to_thread(self._price, True)
                if fresh == price or fresh != exc.price:
                    raise
                return await self._new_request(hashes, batch, fresh)

    async def _new_request(self, hashes: list[bytes], batch: bool, price: int) -> list[Permission]:
        n = len(hashes)
        pending = _Pending(tuple((self._seq + 1 + i, bytes(h)) for i, h in enumerate(hashes)), self._count + n,
                           batch, self._amount + n * price, price)
        self._seq, self._count, self._amount, self._pending = (pending.items[-1][0], pending.count, pending.amount,
                                                               pending)
        self._pending_done = False
        await self._save()  # durable before the service can see the voucher
        return await self._send(pending)

    def _body(self, p: _Pending) -> dict:
        voucher = {"model_id": self.model_id, "host": self.host, "count": p.count, "cumulative_amount": str(p.amount)}
        sig = "0x" + self.signer.sign_voucher(self.domain, self.model_id, self.host, p.count, p.amount).hex()
        if p.batch:
            return {"model_id": self.model_id, "host": self.host, "voucher": voucher, "voucher_signature": sig,
                    "items": [{"query_hash": "0x" + q.hex(), "seq": s} for s, q in p.items]}
        seq, q = p.items[0]
        return {"model_id": self.model_id, "host": self.host, "query_hash": "0x" + q.hex(), "seq": seq,
                "voucher": voucher, "voucher_signature": sig}

    async def _call(self, method: str, path: str, body: dict | None) -> Any:
        """One request, retried (same bytes) on transport errors and 5xx; raises the mapped error for a 4xx."""
        content = json.dumps(body).encode() if body is not None else None
        last: str = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                r = await self._client().request(method, self.base_url + path, content=content,
                                                  headers={"content-type": "application/json"})
            except httpx.TransportError as exc:
                last = f"{exc.__class__.__name__}: {exc}"
                continue
            try:
                data = r.json()
            except ValueError:
                data = None
            if r.status_code >= 500:
                last = f"HTTP {r.status_code}: {data}"
                continue
            if r.status_code >= 400:
                raise error_from_response(r.status_code, data)
            return data
        raise PermissionServiceUnavailable("unavailable", f"the permission service at {self.base_url} did not "
                                           f"answer {method} {path} after {self.retries + 1} tries ({last}); the "
                                           "request stays pending and is retried or reconciled on the next call")

    async def _send(self, p: _Pending) -> list[Permission]:
        path = "/v1/permissions/batch" if p.batch else "/v1/permissions"
        try:
            data = await self._call("POST", path, self._body(p))
        except VoucherAmountMismatch:
            await self._release(p)  # refused before anything was committed (the seq stays used)
            raise
        except PermissionConflict:
            await self._reconcile()  # the service's ledger knows better than our pending record
            raise
        except PermissionServiceUnavailable:
            raise  # stays pending
        except PermissionServiceError:
            await self._release(p)  # 400-404 are refused before anything is committed
            raise
        self._pending_done = True  # no fsync for the answer: after a crash the pending record is reconciled
        perms = self._verify(p, data)
        await asyncio.to_thread(self._store.receipts.add, [(x.seq, x.query_hash) for x in perms])
        return perms

    async def _release(self, p: _Pending) -> None:
        """Give back the count and amount a refused request reserved (its seqs stay used)."""
        self._count -= len(p.items)
        self._amount -= len(p.items) * p.price
        self._pending_done = True
        await self._save()

    def _verify(self, p: _Pending, data: Any) -> list[Permission]:
        try:
            if p.batch:
                got = [(int(x["seq"]), bytes.fromhex(x["query_hash"][2:]), bytes.fromhex(x["signature"][2:]))
                       for x in data["permissions"]]
            else:
                got = [(int(data["permission"]["seq"]), bytes.fromhex(data["permission"]["query_hash"][2:]),
                        bytes.fromhex(data["signature"][2:]))]
            count = int(data["count"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PermissionSignatureInvalid("permission_signature_invalid", f"the service's answer is malformed "
                                             f"({exc!r}); is {self.base_url} an OML permission service?") from None
        if count != p.count or [(s, q) for s, q, _ in got] != list(p.items):
            raise PermissionSignatureInvalid("permission_signature_invalid", f"the service answered for count "
                                             f"{count} / other queries than asked (count {p.count}); not using it")
        out = []
        for seq, qh, sig in got:
            if not verify_permission(self.domain, self.permission_signer, self.model_id, self.host, qh, seq, sig):
                raise PermissionSignatureInvalid("permission_signature_invalid", f"the permission for seq {seq} is "
                                                 f"not signed by the model's permission signer "
                                                 f"{self.permission_signer}; the service uses another key")
            out.append(Permission(self.model_id, self.host, qh, seq, sig, count))
        return out

    async def _reconcile(self) -> None:
        """Settle the fate of the pending request from the service's ledger."""
        p = self._pending
        st = await self.host_state()
        issued, last_seq = int(st["issued"]), int(st["last_seq"])
        if p is not None and not self._pending_done:
            n = len(p.items)
            if issued == p.count:
                self._count = p.count  # it was committed: counted (and paid for)
                await asyncio.to_thread(self._store.receipts.add, list(p.items))
            elif issued == p.count - n:
                self._count, self._amount = issued, p.amount - n * p.price  # never committed: release it
            else:
                raise HostStateOutOfSync("host_state_out_of_sync", f"the service has issued {issued} permissions to "
                                         f"{self.host} but the local store's pending request has count {p.count}; "
                                         "if the service's ledger is right call resync()")
            self._pending_done = True
        elif issued != self._count:
            raise HostStateOutOfSync("host_state_out_of_sync", f"the service has issued {issued} permissions to "
                                     f"{self.host} but the local store says {self._count}; if the service's ledger "
                                     "is right call resync()")
        self._seq = max(self._seq, last_seq)
        await self._save()


class SyncPermissionClient:
    """Blocking wrapper: the same `PermissionClient` coroutines on a private event loop (not inside a running loop)."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._loop = asyncio.new_event_loop()
        self.client = PermissionClient(*args, **kwargs)

    def _run(self, coro):
        return self._loop.run_until_complete(coro)

    def request(self, query_hash: bytes) -> Permission:
        return self._run(self.client.request(query_hash))

    def request_batch(self, query_hashes: Sequence[bytes]) -> list[Permission]:
        return self._run(self.client.request_batch(query_hashes))

    def host_state(self) -> dict:
        return self._run(self.client.host_state())

    def resync(self) -> dict:
        return self._run(self.client.resync())

    @property
    def count(self) -> int:
        return self.client.count

    @property
    def amount(self) -> int:
        return self.client.amount

    @property
    def receipts(self) -> ReceiptBook:
        return self.client.receipts

    @property
    def seq(self) -> int:
        return self.client.seq

    def close(self) -> None:
        self._run(self.client.aclose())
        self._loop.close()

    def __enter__(self) -> SyncPermissionClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

"""Indexer: follows OML, the CommunityFactory and every community's contracts from the chain into ExplorerDB.

One pass (`sync_once`) checks for a reorg, then indexes [last_block + 1, head - confirmations] in block
ranges of up to `chunk` blocks: one eth_getLogs per range for every followed address (topic-filtered by the
known event signatures), read as it arrives and handled in batches of `max_logs` logs (decode, one JSON-RPC
batch for the headers of their blocks: timestamps, hashes), all written in ONE SQLite transaction per range
together with the communities discovered through CommunityCreated and the new last_block. A crash therefore
never leaves half a range, a restart resumes from last_block, and memory holds one batch, however many logs
a range has (a node without a result limit may send 100,000s). A provider that refuses a range as too large
gets half the range, then the span doubles back.

Reorgs: the stored hash of last_block is compared with the chain's before each pass; on a mismatch the
stored blocks are walked back to the newest one the chain still has, everything after it is deleted
(`delete_from_block`) and indexed again. Any RPC failure sets meta rpc_ok=0 / rpc_error / rpc_error_at and
raises `RPCError`; `run` and `run_async` retry with exponential backoff (0.5 s doubling, capped) and never
raise on RPC errors.

The JSON-RPC is spoken directly over one HTTP session (batched, raw JSON) and logs are decoded here from the
ABIs (one-word static arguments sliced from the hex, eth_abi for the rest): web3's per-log formatting would
cost more than the whole of the rest (benchmarks/bench_explorer.py).
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Iterator, Sequence

import requests
from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address

from oml_chain.chain.errors import ConfigError, OMLError

from .db import EventRow, ExplorerDB

log = logging.getLogger("oml.explorer.indexer")

# Contract kind → the artifact whose ABI decodes its logs.
KIND_ARTIFACT = {"oml": "OML", "factory": "CommunityFactory", "shares": "ModelShares", "vault": "RevenueVault",
                 "governor": "ModelGovernor"}
SKIPPED_EVENTS = frozenset({"EIP712DomainChanged"})
# Which argument fills the `account` column, first match wins (SPEC.md: prover/recipient/voter/holder/owner).
ACCOUNT_ARGS = ("prover", "recipient", "voter", "account", "owner", "newOwner", "proposer", "delegator", "delegate",
                "to")
JS_SAFE = 2**53
BACKOFF_START, BACKOFF_MAX = 0.5, 30.0


class RPCError(OMLError, ConnectionError):
    """The JSON-RPC endpoint failed (unreachable, HTTP error, or a JSON-RPC error answer)."""

    def __init__(self, url: str, message: str, method: str | None = None, code: int | None = None):
        super().__init__(f"RPC {url}{' ' + method if method else ''} failed: {message}")
        self.url, self.method, self.code = url, method, code


class _TooManyLogs(Exception):
    """eth_getLogs refused the range as too large (a provider's result limit)."""


class _ChainMoved(Exception):
    """The chain reorganised while a range was read (a log's block hash is not its header's, or the range's
    last block changed): the range is rolled back and the next pass checks for the reorg."""


# --- JSON-RPC -----------------------------------------------------------------------------------------------


class JsonRpc:
    """Minimal JSON-RPC over HTTP (one keep-alive session, batches); a Web3 without an HTTP endpoint is
    called through its provider instead."""

    def __init__(self, target: Any, timeout: float = 30.0, read_size: int = 1 << 20):
        self.timeout = timeout
        self.read_size = read_size  # bytes per read of a streamed answer
        self._provider = None
        if isinstance(target, str):
            self.url = target
        else:
            provider = getattr(target, "provider", target)
            uri = getattr(provider, "endpoint_uri", None)
            if uri:
                self.url = str(uri)
            else:
                self._provider, self.url = provider, type(provider).__name__
        self.session = requests.Session()

    def call(self, method: str, params: list) -> Any:
        return self.batch([(method, params)])[0]

    def batch(self, calls: Sequence[tuple[str, list]]) -> list:
        if not calls:
            return []
        if self._provider is not None:
            return [self._answer(self._provider.make_request(m, p), m) for m, p in calls]
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        try:
            r = self.session.post(self.url, data=json.dumps(payload[0] if len(payload) == 1 else payload),
                                  headers={"Content-Type": "application/json"}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise RPCError(self.url, f"{type(exc).__name__}: {_short(exc)}", calls[0][0]) from exc
        if r.status_code != 200:
            raise RPCError(self.url, f"HTTP {r.status_code}: {r.text[:200]}", calls[0][0])
        try:
            data = json.loads(r.content)
        except ValueError as exc:
            raise RPCError(self.url, f"not JSON: {r.text[:200]!r}", calls[0][0]) from exc
        by_id = {d.get("id"): d for d in (data if isinstance(data, list) else [data])}
        return [self._answer(by_id.get(i), m) for i, (m, _) in enumerate(calls)]

    def stream_array(self, method: str, params: list, batch: int) -> Iterator[list]:
        """The elements of an array result, in lists of at most `batch`, parsed while the HTTP body arrives:
        a node without a result limit may answer one eth_getLogs with hundreds of thousands of logs, and this
        keeps only one batch (and one read buffer) in memory."""
        if self._provider is not None:
            result = self.call(method, params) or []
            for i in range(0, len(result), batch):
                yield result[i:i + batch]
            return
        body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": method, "params": params})
        try:
            r = self.session.post(self.url, data=body, headers={"Content-Type": "application/json"},
                                  timeout=self.timeout, stream=True)
        except requests.RequestException as exc:
            raise RPCError(self.url, f"{type(exc).__name__}: {_short(exc)}", method) from exc
        with r:
            if r.status_code != 200:
                raise RPCError(self.url, f"HTTP {r.status_code}: {r.text[:200]}", method)
            reader = _BodyReader(r, self.url, method, self.read_size)
            match = reader.find(_RESULT_ARRAY, stop='"error"')
            if match is None:  # an error answer (or no array): read it whole
                try:
                    result = self._answer(json.loads(reader.rest()), method)
                except ValueError as exc:
                    raise RPCError(self.url, f"not JSON: {reader.buf[:200]!r}", method) from exc
                if not isinstance(result, list):
                    raise RPCError(self.url, f"expected an array, got {str(result)[:100]}", method)
                for i in range(0, len(result), batch):
                    yield result[i:i + batch]
                return
            out: list = []
            for item in reader.array_items(match.end()):
                out.append(item)
                if len(out) >= batch:
                    yield out
                    out = []
            if out:
                yield out

    def _answer(self, d: dict | None, method: str) -> Any:
        if not isinstance(d, dict):
            raise RPCError(self.url, "no answer", method)
        if d.get("error"):
            err = d["error"] if isinstance(d["error"], dict) else {"message": str(d["error"])}
            raise RPCError(self.url, str(err.get("message")), method, err.get("code"))
        return d.get("result")

    def close(self) -> None:
        self.session.close()


_RESULT_ARRAY = re.compile(r'"result"\s*:\s*\[')


class _BodyReader:
    """Incremental reading of a JSON-RPC answer: find the result array, then decode its items one by one
    (json's C scanner on a sliding buffer; an item cut by a read boundary is retried with more bytes)."""

    def __init__(self, response, url: str, method: str, read_size: int):
        self.chunks = response.iter_content(chunk_size=read_size)
        self.text = codecs.getincrementaldecoder("utf-8")()
        self.buf, self.url, self.method = "", url, method

    def more(self) -> bool:
        try:
            piece = next(self.chunks)
        except StopIteration:
            self.buf += self.text.decode(b"", final=True)
            return False
        except requests.RequestException as exc:
            raise RPCError(self.url, f"{type(exc).__name__} while reading: {_short(exc)}", self.method) from exc
        self.buf += self.text.decode(piece)
        return True

    def find(self, pattern: re.Pattern, stop: str) -> re.Match | None:
        while True:
            match = pattern.search(self.buf)
            if match is not None:
                return match
            if stop in self.buf or not self.more():
                return None

    def rest(self) -> str:
        while self.more():
            pass
        return self.buf

    def array_items(self, pos: int) -> Iterator[Any]:
        decode = json.JSONDecoder().raw_decode
        while True:
            while pos < len(self.buf) and self.buf[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(self.buf):
                self.buf, pos = "", 0
                if not self.more():
                    raise RPCError(self.url, "the answer ended inside the result array", self.method)
                continue
            if self.buf[pos] == "]":
                return
            try:
                item, end = decode(self.buf, pos)
            except json.JSONDecodeError:  # cut by the read boundary: keep the tail, read on
                self.buf, pos = self.buf[pos:], 0
                if not self.more():
                    raise RPCError(self.url, "the answer ended inside an item", self.method) from None
                continue
            yield item
            pos = end
            if pos > 1 << 20:
                self.buf, pos = self.buf[pos:], 0


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "…"


# --- decoding -----------------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _checksum(word_or_address: str) -> str:
    return to_checksum_address("0x" + word_or_address[-40:])


def _jsonable(value: Any, typ: str) -> Any:
    """An ABI value as SPEC.md stores it: big ints as decimal strings, bytes as 0x-hex, addresses checksummed."""
    if typ.endswith("]"):
        inner = typ[:typ.rindex("[")]
        return [_jsonable(v, inner) for v in value]
    if typ == "address":
        return _checksum(value[2:] if value.startswith("0x") else value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > JS_SAFE else value
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, tuple):
        return [_jsonable(v, "") for v in value]
    return value


def _uint(word: str) -> int | str:
    v = int(word, 16)
    return str(v) if v > JS_SAFE else v


def _int(word: str) -> int | str:
    v = int(word, 16)
    if v >= 1 << 255:
        v -= 1 << 256
    return str(v) if abs(v) > JS_SAFE else v


def _bool(word: str) -> bool:
    return int(word, 16) != 0


def _word_decoder(typ: str):
    """The decoder of one 32-byte ABI word (64 hex chars) of a static one-word type; None for other types."""
    if typ == "address":
        return _checksum
    if typ == "bool":
        return _bool
    if typ.startswith("uint") and typ[4:].isdigit():
        return _uint
    if typ.startswith("int") and typ[3:].isdigit():
        return _int
    if typ.startswith("bytes") and typ[5:].isdigit():
        size = 2 * int(typ[5:])
        return lambda word: "0x" + word[:size]
    return None


def _word(word: str, typ: str) -> Any:
    fn = _word_decoder(typ)
    if fn is None:
        raise ValueError(f"not a one-word type: {typ}")
    return fn(word)


@dataclass(frozen=True)
class EventSpec:
    name: str
    indexed: tuple[tuple[str, str], ...]  # (arg name, type) in topic order
    data: tuple[tuple[str, str], ...]  # (arg name, type) in data order
    order: tuple[str, ...]  # the ABI's argument order (args keep it)

    def __post_init__(self) -> None:
        # Decoders chosen once per event, not per log (a dynamic indexed argument keeps its topic, the hash).
        object.__setattr__(self, "_topic_fns", tuple((n, _word_decoder(t) or _keep_topic) for n, t in self.indexed))
        fns = tuple((n, _word_decoder(t)) for n, t in self.data)
        object.__setattr__(self, "_data_fns", fns if all(f for _, f in fns) else None)

    @property
    def fast(self) -> bool:
        """Every data argument is one static word (sliced from the hex; eth_abi otherwise)."""
        return self._data_fns is not None

    def decode(self, topics: list[str], data: str) -> dict[str, Any]:
        if len(topics) != len(self.indexed) + 1:
            raise ValueError(f"{self.name}: {len(topics) - 1} indexed topics, the ABI has {len(self.indexed)}")
        values: dict[str, Any] = {}
        for (name, fn), topic in zip(self._topic_fns, topics[1:]):
            values[name] = fn(topic[2:])
        if self._data_fns is not None:
            if len(data) < 2 + 64 * len(self._data_fns):
                raise ValueError(f"{self.name}: {len(data) // 2 - 1} data bytes, need {32 * len(self.data)}")
            at = 2
            for name, fn in self._data_fns:
                values[name] = fn(data[at:at + 64])
                at += 64
        elif self.data:
            decoded = abi_decode([t for _, t in self.data], bytes.fromhex(data[2:]))
            for (name, typ), v in zip(self.data, decoded):
                values[name] = _jsonable(v, typ)
        return {k: values[k] for k in self.order}


def _keep_topic(word: str) -> str:
    return "0x" + word


def event_specs(abi: Iterable[dict]) -> dict[str, EventSpec]:
    """topic0 (0x-hex) → EventSpec for every event of `abi` the explorer keeps."""
    out = {}
    for e in abi:
        if e.get("type") != "event" or e.get("anonymous") or e["name"] in SKIPPED_EVENTS:
            continue
        indexed = tuple((i["name"], i["type"]) for i in e["inputs"] if i["indexed"])
        data = tuple((i["name"], i["type"]) for i in e["inputs"] if not i["indexed"])
        out["0x" + event_abi_to_log_topic(e).hex()] = EventSpec(e["name"], indexed, data,
                                                                tuple(i["name"] for i in e["inputs"]))
    return out


def load_specs(abis: dict[str, list] | None = None) -> dict[str, dict[str, EventSpec]]:
    """kind → topic0 → EventSpec, from `abis` (artifact name → ABI) or the compiled contracts."""
    if abis is None:
        from oml_chain.chain.dao import community_abis

        abis = community_abis()
    return {kind: event_specs(abis[art]) for kind, art in KIND_ARTIFACT.items() if art in abis}


# --- the indexer ----------------------------------------------------------------------------------------------


class Indexer:
    """Chain → ExplorerDB. `w3_or_rpc_url` is a Web3 (its HTTP endpoint is used) or an RPC URL.

    `start_block`: where to start on an empty database (default: the block OML was deployed in, found by a
    binary search over eth_getCode, or 0 where the node has no history). `chunk`: the most blocks per
    eth_getLogs (one transaction each). `max_logs`: logs decoded and written per batch within a range.
    The range's transaction stays open while its logs stream in: give the web app its own ExplorerDB
    (WAL readers are never blocked by the writer).
    """

    def __init__(self, w3_or_rpc_url: Any, db: ExplorerDB, oml_address: str, factory_address: str | None = None,
                 confirmations: int = 2, chunk: int = 2000, start_block: int | None = None,
                 abis: dict[str, list] | None = None, max_logs: int = 10_000, backoff_max: float = BACKOFF_MAX,
                 rpc_timeout: float = 30.0):
        if confirmations < 0 or chunk < 1 or max_logs < 1:
            raise ConfigError(f"confirmations ≥ 0, chunk ≥ 1, max_logs ≥ 1 (got {confirmations}, {chunk}, "
                              f"{max_logs})")
        self.rpc = JsonRpc(w3_or_rpc_url, timeout=rpc_timeout)
        self.db = db
        self.oml = to_checksum_address(oml_address)
        self.factory = to_checksum_address(factory_address) if factory_address else None
        self.confirmations = confirmations
        self.chunk = chunk
        self.start_block = start_block
        self.max_logs = max_logs
        self.backoff_max = backoff_max
        self.specs = load_specs(abis)
        self._topics = sorted({t for specs in self.specs.values() for t in specs})
        self._span = chunk  # halved while a provider refuses a range as too large, doubled back after
        self._ready = False
        self._followed: dict[str, tuple[str, int | None]] | None = None  # address → (kind, model_id)
        self._stop = threading.Event()
        self._failures = 0
        self._run_stop: threading.Event | None = None  # run()'s stop_event, checked between ranges too
        self.ranges_indexed = 0  # eth_getLogs ranges committed by this instance (benchmarks, logs)

    # --- one pass -----------------------------------------------------------------------------------------
    def sync_once(self, max_chunks: int | None = None) -> int:
        """Index everything confirmed that is not indexed yet; returns the number of events added.
        Raises RPCError (after recording it in meta) when the RPC fails; what was committed stays."""
        try:
            added = self._sync(max_chunks)
        except RPCError as exc:
            self._record_error(exc)
            raise
        return added

    def _sync(self, max_chunks: int | None) -> int:
        if not self._ready:
            self._setup()
        head = int(self.rpc.call("eth_blockNumber", []), 16)
        self.db.meta_set("head", head)
        self._check_reorg()
        target = head - self.confirmations
        added, chunks = 0, 0
        frm = self.db.meta_int("last_block") + 1
        while frm <= target and not self._stopping() and (max_chunks is None or chunks < max_chunks):
            to = min(frm + self._span - 1, target)
            try:
                _, n_new = self._index_range(frm, to, head)
            except _TooManyLogs:
                if self._span == 1:
                    raise RPCError(self.rpc.url, f"eth_getLogs refuses even one block ({frm})", "eth_getLogs")
                self._span = max(1, self._span // 2)
                continue
            except _ChainMoved as exc:
                log.warning("chain moved while indexing %d-%d (%s); the next pass re-checks", frm, to, exc)
                break
            added += n_new
            chunks += 1
            self.ranges_indexed += 1
            frm = to + 1
            self._span = min(self.chunk, self._span * 2)  # back up after a provider's limit halved it
        now = int(time.time())
        self.db.meta_set_many({"rpc_ok": 1, "last_sync_at": now})
        return added

    def _setup(self) -> None:
        """First contact: chain id and deployment checks, the start block, the root contracts."""
        chain_id = int(self.rpc.call("eth_chainId", []), 16)
        meta = self.db.meta()
        for key, want in (("chain_id", str(chain_id)), ("oml", self.oml)):
            if meta.get(key) not in (None, want):
                raise ConfigError(f"{self.db.path} indexes {key} {meta[key]}, not {want}; use another --db")
        if self.factory and meta.get("factory") not in (None, self.factory):
            raise ConfigError(f"{self.db.path} indexes factory {meta['factory']}, not {self.factory}; "
                              "use another --db")
        if meta.get("last_block") is None:
            start = self.start_block if self.start_block is not None else self._deployment_block(self.oml)
            with self.db.transaction():
                self.db.meta_set_many({"chain_id": chain_id, "oml": self.oml, "last_block": start - 1,
                                       "reorgs": meta.get("reorgs", 0), "start_block": start})
                self.db.add_contract(self.oml, "oml", None, start)
        start = self.db.meta_int("start_block", 0)
        if self.factory and meta.get("factory") is None:
            with self.db.transaction():
                self.db.meta_set("factory", self.factory)
                self.db.add_contract(self.factory, "factory", None, start)
                if self.db.meta_int("last_block") >= start:  # indexed without it so far: index it all again
                    self.db.delete_from_block(start)
                    self.db.meta_set("last_block", start - 1)
                    log.info("factory %s added to an indexed database: re-indexing from block %d", self.factory,
                             start)
        self._followed = None
        self._ready = True

    def _deployment_block(self, address: str) -> int:
        """The first block where `address` has code (binary search); 0 when the node cannot say."""
        try:
            hi = int(self.rpc.call("eth_blockNumber", []), 16)
            if self.rpc.call("eth_getCode", [address, hex(hi)]) in (None, "0x"):
                return 0
            lo = 0
            while lo < hi:
                mid = (lo + hi) // 2
                if self.rpc.call("eth_getCode", [address, hex(mid)]) in (None, "0x"):
                    lo = mid + 1
                else:
                    hi = mid
            return lo
        except RPCError as exc:
            if exc.code is None:  # unreachable: a real failure, not "no history here"
                raise
            log.info("cannot search the deployment block of %s (%s); starting at block 0", address, exc)
            return 0

    # --- one range --------------------------------------------------------------------------------------------
    def _followed_map(self) -> dict[str, tuple[str, int | None]]:
        if self._followed is None:
            self._followed = {c.address: (c.kind, c.model_id) for c in self.db.contracts()}
        return self._followed

    def _stream_logs(self, addresses: list[str], frm: int, to: int) -> Iterator[list[dict]]:
        """Logs of `addresses` in [frm, to], in batches of at most max_logs, as the node sends them."""
        query = [{"fromBlock": hex(frm), "toBlock": hex(to), "address": addresses, "topics": [self._topics]}]
        try:
            for batch in self.rpc.stream_array("eth_getLogs", query, self.max_logs):
                batch = [x for x in batch if not x.get("removed")]
                if batch:
                    yield batch
        except RPCError as exc:
            msg = str(exc).lower()
            if exc.code is not None and any(w in msg for w in ("too many", "limit", "range", "exceed", "10000")):
                raise _TooManyLogs(str(exc)) from exc
            raise

    def _index_range(self, frm: int, to: int, head: int) -> tuple[int, int]:
        """Index blocks [frm, to] in one transaction; returns (logs seen, events newly stored).

        The logs are written batch by batch as they stream in, all inside the range's transaction; contracts
        that the range creates (CommunityCreated) are then asked for their logs from their creation block.
        Block `to` is read before the logs and again after them: unchanged, no block of the range changed in
        between (a reorg there would change `to`'s hash), so a block that showed no logs had none."""
        followed = dict(self._followed_map())
        headers = self._headers([to])  # number → (hash, time) of every block touched, bounded by the range
        last_hash = headers[to][0]
        discovered: list[tuple[str, str, int, int]] = []  # (address, kind, model_id, block)
        n_logs = n_new = 0
        previous = self.db.meta_int("last_block")
        with self.db.transaction():
            pending = [(sorted(followed), frm)]
            while pending:
                addresses, start = pending.pop()
                fresh: list[tuple[str, int]] = []
                for batch in self._stream_logs(addresses, start, to):
                    n_logs += len(batch)
                    fresh += self._discover(batch, followed, discovered)
                    n_new += self._store(batch, followed, headers)
                if fresh:
                    pending.append((sorted({a for a, _ in fresh}), min(b for _, b in fresh)))
            now = self.rpc.call("eth_getBlockByNumber", [hex(to), False])
            if now is None or now["hash"] != last_hash:
                raise _ChainMoved(f"block {to} changed from {last_hash} during the range")
            self.db.insert_blocks([(to, *headers[to])])
            for address, kind, model_id, block in discovered:
                self.db.add_contract(address, kind, model_id, block)
            if previous is not None and previous < frm:  # the former "last indexed block", unless it holds events
                self.db.conn.execute("DELETE FROM blocks WHERE number = ? AND NOT EXISTS "
                                     "(SELECT 1 FROM events WHERE block = ?)", (previous, previous))
            self.db.meta_set_many({"last_block": to, "head": max(head, to)})
        if discovered:
            self._followed = None
            log.info("following %d new community contracts", len(discovered))
        return n_logs, n_new

    def _discover(self, batch: list[dict], followed: dict, discovered: list) -> list[tuple[str, int]]:
        """Community contracts announced by the factory in `batch`: followed from now on; (address, block)."""
        fresh = []
        created = self._created_topic()
        for lg in batch:
            if lg["topics"][0] != created or followed.get(_checksum(lg["address"][2:]), ("",))[0] != "factory":
                continue
            args = self.specs["factory"][created].decode(lg["topics"], lg["data"])
            block = int(lg["blockNumber"], 16)
            for kind in ("shares", "vault", "governor"):
                a = args[kind]
                if a not in followed:
                    followed[a] = (kind, args["modelId"])
                    discovered.append((a, kind, args["modelId"], block))
                    fresh.append((a, block))
        return fresh

    def _store(self, batch: list[dict], followed: dict, headers: dict) -> int:
        """Decode and insert one batch of logs (inside the range's transaction); returns the rows added."""
        numbers = {int(x["blockNumber"], 16) for x in batch}
        headers.update(self._headers(sorted(numbers - headers.keys())))
        for x in batch:
            h = headers[int(x["blockNumber"], 16)][0]
            if x.get("blockHash") and x["blockHash"] != h:
                raise _ChainMoved(f"block {int(x['blockNumber'], 16)}: log in {x['blockHash']}, header {h}")
        rows = [r for r in (self._row(x, followed, headers) for x in batch) if r is not None]
        new = self.db.insert_events(rows)
        self.db.insert_blocks((n, *headers[n]) for n in sorted(numbers))
        return new

    def _created_topic(self) -> str:
        return next(t for t, s in self.specs["factory"].items() if s.name == "CommunityCreated")

    def _headers(self, numbers: list[int]) -> dict[int, tuple[str, int]]:
        """number → (hash, timestamp), batched."""
        out: dict[int, tuple[str, int]] = {}
        for i in range(0, len(numbers), 500):
            part = numbers[i:i + 500]
            blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part])
            for n, b in zip(part, blocks):
                if b is None:
                    raise _ChainMoved(f"block {n} is gone")
                out[n] = (b["hash"], int(b["timestamp"], 16))
        return out

    def _row(self, x: dict, followed: dict, headers: dict) -> EventRow | None:
        contract = _checksum(x["address"][2:])
        kind, contract_model = followed.get(contract, (None, None))
        spec = self.specs.get(kind, {}).get(x["topics"][0]) if kind else None
        if spec is None:
            return None
        try:
            args = spec.decode(x["topics"], x["data"])
        except (ValueError, TypeError) as exc:  # a log that only shares the signature's topic
            log.warning("cannot decode %s log %s/%s: %s", spec.name, x["transactionHash"], x["logIndex"], exc)
            return None
        block = int(x["blockNumber"], 16)
        model_id = args.get("modelId", contract_model)
        account = next((args[k] for k in ACCOUNT_ARGS if k in args), None)
        return EventRow(block, int(x["logIndex"], 16), x["transactionHash"], headers[block][1], contract, kind,
                        spec.name, int(model_id) if model_id is not None else None, args.get("host"), account,
                        args)

    # --- reorgs -----------------------------------------------------------------------------------------------
    def _check_reorg(self) -> None:
        last = self.db.meta_int("last_block")
        stored = self.db.block_hash(last) if last is not None else None
        if stored is None:
            return
        chain = self.rpc.call("eth_getBlockByNumber", [hex(last), False])
        if chain is not None and chain["hash"] == stored:
            return
        common = self.db.meta_int("start_block", 0) - 1
        below = last + 1
        while True:
            page = self.db.blocks_desc(below=below, limit=64)
            if not page:
                break
            chain_blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n, _ in page])
            match = next((n for (n, h), b in zip(page, chain_blocks) if b is not None and b["hash"] == h), None)
            if match is not None:
                common = match
                break
            below = page[-1][0]
        with self.db.transaction():
            deleted = self.db.delete_from_block(common + 1)
            reorgs = self.db.meta_int("reorgs", 0) + 1
            self.db.meta_set_many({"last_block": common, "reorgs": reorgs})
            # keep a hash for the new last_block when it is known, so the next pass can check it
        self._followed = None
        log.warning("reorg: block %d changed; rolled back to block %d (%d events removed, reorg #%d)",
                    last, common, deleted, reorgs)

    # --- status and loops -------------------------------------------------------------------------------------
    def _record_error(self, exc: BaseException, prefix: str = "") -> None:
        log.warning("indexer: %s", exc)
        try:
            self.db.meta_set_many({"rpc_ok": 0, "rpc_error": prefix + _short(exc, 500),
                                   "rpc_error_at": int(time.time())})
        except Exception:  # the database itself failing must not hide the RPC error
            log.exception("cannot record the RPC error")

    def status(self) -> dict:
        """What the overview page shows: progress, lag, RPC health, counters."""
        st = status_from_meta(self.db.meta(), self.db.count(), self.confirmations)
        st["failures"] = self._failures  # consecutive failed passes of run / run_async (0 once one succeeds)
        return st

    def _stopping(self) -> bool:
        return self._stop.is_set() or (self._run_stop is not None and self._run_stop.is_set())

    def stop(self) -> None:
        """Ask `run` / `run_async` (and a pass in progress, between ranges) to stop."""
        self._stop.set()

    def _step(self, poll_interval: float) -> float:
        """One pass that never raises; returns how long to wait before the next (backoff after failures)."""
        try:
            self.sync_once()
        except Exception as exc:  # noqa: BLE001 — the serve process must survive anything a pass hits
            if not isinstance(exc, RPCError):
                log.exception("indexer pass failed")
                self._record_error(exc, prefix="indexer error: ")
            self._failures += 1
            return min(self.backoff_max, BACKOFF_START * 2 ** (self._failures - 1))
        self._failures = 0
        return poll_interval

    def run(self, poll_interval: float = 2.0, stop_event: threading.Event | None = None) -> None:
        """Follow the chain in this thread until `stop_event` (or `stop()`) is set."""
        stop_event = stop_event or self._stop
        self._stop.clear()
        self._run_stop = stop_event
        try:
            while not self._stopping():
                delay = self._step(poll_interval)
                stop_event.wait(delay)
        finally:
            self._run_stop = None

    async def run_async(self, poll_interval: float = 2.0) -> None:
        """Follow the chain as an asyncio task (passes run in a worker thread); cancel the task to stop."""
        self._stop.clear()
        try:
            while True:
                delay = await asyncio.to_thread(self._step, poll_interval)
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self._stop.set()  # a pass still running in its thread ends after its current range
            raise

    def close(self) -> None:
        self.rpc.close()


def status_from_meta(m: dict[str, str], events: int | None = None, confirmations: int | None = None) -> dict:
    """The indexer status from the meta table alone (the web app can call this with its own connection)."""
    def num(key):
        v = m.get(key)
        return int(v) if v not in (None, "") else None

    last, head = num("last_block"), num("head")
    out = {"chain_id": num("chain_id"), "oml": m.get("oml"), "factory": m.get("factory"),
           "start_block": num("start_block"), "last_block": last, "head": head,
           "lag": (head - last) if last is not None and head is not None else None,
           "rpc_ok": m.get("rpc_ok", "1") == "1", "rpc_error": m.get("rpc_error"), "rpc_error_at": num("rpc_error_at"),
           "last_sync_at": num("last_sync_at"), "reorgs": num("reorgs") or 0}
    if events is not None:
        out["events"] = events
    if confirmations is not None:
        out["confirmations"] = confirmations
    return out

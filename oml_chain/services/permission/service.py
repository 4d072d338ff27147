"""The permission service's logic, free of HTTP: parse a request, check it, sign, commit, answer.

Order of checks (cheap and stateless first): request shape (400) → model exists (404) → model's permission
signer is ours (403) → voucher names the same model and host (400) → voucher signed by the host (401) →
exact retry of the newest request (answered from the ledger, charged nothing) → seq increases (409) →
voucher count = issued + queries (409) → voucher cumulative amount = previous amount + queries × the price in
force now (409) → escrow covers cumulative amount − settled amount on chain (402, after one forced refresh) →
sign → commit to the ledger (fsync) → answer. Each permission is priced once, when it is issued; a later price
change never touches it (protocol v2).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_utils import to_checksum_address

from ...chain.eip712 import Domain, Signer, digest_permission, digest_voucher, recover
from ...chain.errors import SignatureError
from .chain import ChainView
from .errors import (EscrowInsufficientError, ModelNotServed, ModelUnknown, PermissionRequestInvalid, SeqReplayed,
                     VoucherAmountMismatch, VoucherCountMismatch, VoucherSignatureRejected)
from .ledger import HostLedger, Issued, Ledger

MAX_INT = 2**63 - 1  # seq, count and model ids are stored as SQLite INTEGERs
MAX_AMOUNT = 2**128 - 1  # the contract's bound on a voucher's cumulative amount
_ADDR_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


@lru_cache(maxsize=65536)
def _checksum(addr: str) -> str:
    return to_checksum_address(addr)


def _bad(message: str) -> PermissionRequestInvalid:
    return PermissionRequestInvalid("bad_request", message)


def _obj(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def _field(obj: dict, name: str, where: str) -> Any:
    if name not in obj:
        raise _bad(f"missing field {where}{name}; see oml_chain/services/README.md for the request format")
    return obj[name]


def _int(obj: dict, name: str, where: str = "", lo: int = 0) -> int:
    v = _field(obj, name, where)
    if not isinstance(v, int) or isinstance(v, bool):
        raise _bad(f"{where}{name} must be an integer (JSON number), got {type(v).__name__}")
    if not lo <= v <= MAX_INT:
        raise _bad(f"{where}{name} must be in {lo}..{MAX_INT}, got {v}")
    return v


def _address(obj: dict, name: str, where: str = "") -> str:
    v = _field(obj, name, where)
    if not isinstance(v, str) or not _ADDR_RE.match(v):
        raise _bad(f"{where}{name} must be a 0x-prefixed 20-byte hex address, got {str(v)[:80]!r}")
    return _checksum(v)


def _hex(obj: dict, name: str, nbytes: int, where: str = "") -> bytes:
    v = _field(obj, name, where)
    if not isinstance(v, str) or not v.startswith("0x") or len(v) != 2 + 2 * nbytes:
        raise _bad(f"{where}{name} must be 0x followed by {2 * nbytes} hex digits ({nbytes} bytes), "
                   f"got {str(v)[:80]!r}")
    try:
        return bytes.fromhex(v[2:])
    except ValueError:
        raise _bad(f"{where}{name} is not valid hex: {v[:80]!r}") from None


def _wei(obj: dict, name: str, where: str = "") -> int:
    """A wei amount: a decimal string (amounts can exceed 2^53) or a JSON integer."""
    v = _field(obj, name, where)
    if isinstance(v, str) and v.isdigit() and len(v) <= 40:
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_AMOUNT:
        raise _bad(f"{where}{name} must be a wei amount in 0..2^128-1 as a decimal string, got {str(v)[:80]!r}")
    return v


@dataclass(frozen=True)
class PermissionRequest:
    """A parsed single or batch request: `items` are (seq, query_hash) in request order."""

    model_id: int
    host: str
    items: list[tuple[int, bytes]]
    count: int
    voucher_signature: bytes
    batch: bool
    amount: int = 0  # the voucher's cumulative amount in wei


def parse_request(body: Any, batch: bool, max_batch: int) -> PermissionRequest:
    """Validate the JSON body of POST /v1/permissions (batch=False) or /v1/permissions/batch."""
    body = _obj(body, "the request body")
    model_id = _int(body, "model_id", lo=1)
    host = _address(body, "host")
    if batch:
        raw = _field(body, "items", "")
        if not isinstance(raw, list) or not raw:
            raise _bad("items must be a non-empty JSON array of {query_hash, seq}")
        if len(raw) > max_batch:
            raise PermissionRequestInvalid("batch_too_large", f"a batch holds at most {max_batch} items, got "
                                           f"{len(raw)}; split it")
        items = []
        for i, it in enumerate(raw):
            it = _obj(it, f"items[{i}]")
            items.append((_int(it, "seq", f"items[{i}].", lo=1), _hex(it, "query_hash", 32, f"items[{i}].")))
        for (a, _), (b, _) in zip(items, items[1:]):
            if b <= a:
                raise _bad(f"seq must strictly increase within a batch ({a} then {b})")
    else:
        items = [(_int(body, "seq", lo=1), _hex(body, "query_hash", 32))]
    voucher = _obj(_field(body, "voucher", ""), "voucher")
    v_model = _int(voucher, "model_id", "voucher.", lo=1)
    v_host = _address(voucher, "host", "voucher.")
    count = _int(voucher, "count", "voucher.", lo=1)
    amount = _wei(voucher, "cumulative_amount", "voucher.")
    sig = _hex(body, "voucher_signature", 65)
    if v_model != model_id or v_host != host:
        raise PermissionRequestInvalid("voucher_mismatch", f"the voucher is for model {v_model} host {v_host} but "
                                       f"the request is for model {model_id} host {host}; sign a voucher for the "
                                       "requesting host and model")
    return PermissionRequest(model_id, host, items, count, sig, batch, amount)


class PermissionService:
    """Issues permissions for every model whose permission signer is `signer`, on one deployment."""

    def __init__(self, signer: Signer, domain: Domain, chain: ChainView, ledger: Ledger):
        self.signer = signer
        self.domain = domain
        self.chain = chain
        self.ledger = ledger
        self._hosts: dict[tuple[int, str], HostLedger] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    def _host(self, key: tuple[int, str]) -> HostLedger:
        st = self._hosts.get(key)
        if st is None:
            st = self._hosts[key] = self.ledger.load_host(*key)
        return st

    async def _model(self, model_id: int):
        model = await self.chain.model(model_id)
        if not model.exists:
            raise ModelUnknown("model_not_found", f"model {model_id} is not registered on the OML contract "
                               f"{self.domain.verifying_contract}; check the model id and the chain")
        if model.permission_signer.lower() != self.signer.address.lower():
            raise ModelNotServed("model_not_served", f"model {model_id}'s permission signer is "
                                 f"{model.permission_signer}, not this service's key {self.signer.address}; "
                                 "ask the service that holds that key")
        return model

    async def issue(self, req: PermissionRequest) -> tuple[list[Issued], int]:
        """The permissions for `req` (stored ones for an exact retry) and the host's voucher count."""
        model = await self._model(req.model_id)
        try:
            voucher_signer = recover(digest_voucher(self.domain, req.model_id, req.host, req.count, req.amount),
                                     req.voucher_signature)
        except SignatureError as exc:
            raise VoucherSignatureRejected("voucher_signature_invalid", f"the voucher signature is malformed: {exc}")
        if voucher_signer != req.host:
            raise VoucherSignatureRejected("voucher_signature_invalid", f"the voucher is signed by {voucher_signer},"
                                           f" not the host {req.host}; sign Voucher(modelId, host, count, "
                                           "cumulativeAmount) with the host's staking key under this deployment's "
                                           "EIP-712 domain")
        key = (req.model_id, req.host)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            st = self._host(key)
            if (req.count == st.count and req.amount == st.amount
                    and [(p.seq, p.query_hash) for p in st.last_request] == req.items):
                return list(st.last_request), st.count  # exact retry: same answer, nothing charged
            first = req.items[0][0]
            if first <= st.last_seq:
                raise SeqReplayed("seq_replayed", f"seq {first} is not above the newest issued seq {st.last_seq} "
                                  f"for model {req.model_id} host {req.host}; use seq {st.last_seq + 1} or higher",
                                  last_seq=st.last_seq)
            expected = st.count + len(req.items)
            if req.count != expected:
                raise VoucherCountMismatch("voucher_count_mismatch", f"voucher count {req.count} != issued "
                                           f"{st.count} + {len(req.items)} queries; sign a voucher for count "
                                           f"{expected}", expected=expected, issued=st.count)
            price = model.price
            expected_amount = st.amount + len(req.items) * price
            if req.amount != expected_amount:  # maybe a scheduled price change took effect since our last read
                price = (await self.chain.model(req.model_id, force=True)).price
                expected_amount = st.amount + len(req.items) * price
            if req.amount != expected_amount:
                raise VoucherAmountMismatch(
                    "voucher_amount_mismatch", f"voucher cumulative amount {req.amount} wei != previous "
                    f"{st.amount} + {len(req.items)} queries × {price} wei (the price in force now); sign a voucher "
                    f"for {expected_amount} wei (check the model's price and pending changes with `oml status`)",
                    expected=str(expected_amount), previous=str(st.amount), price=str(price))
            await self._check_escrow(req)
            issued = [Issued(seq, qh, self.signer.sign_digest(digest_permission(self.domain, req.model_id, req.host,
                                                                                qh, seq)))
                      for seq, qh in req.items]
            await self._commit(st, req, issued, price)
            return issued, st.count

    async def _check_escrow(self, req: PermissionRequest) -> None:
        funds = await self.chain.funds(req.model_id, req.host)
        if req.amount - funds.settled_amount > funds.spendable:
            funds = await self.chain.funds(req.model_id, req.host, force=True)  # maybe a deposit just landed
            needed = max(0, req.amount - funds.settled_amount)
            if needed > funds.spendable:
                raise EscrowInsufficientError(
                    "escrow_insufficient", f"host {req.host} needs {needed} wei of spendable escrow on model "
                    f"{req.model_id} for {req.count - funds.settled} unsettled queries, but has "
                    f"{funds.spendable} wei (balance − thawing); deposit with `oml host deposit`",
                    needed=str(needed), available=str(funds.spendable))

    async def _commit(self, st: HostLedger, req: PermissionRequest, issued: list[Issued], price: int) -> None:
        commit = asyncio.ensure_future(self.ledger.record_issue(req.model_id, req.host, req.count, req.amount, price,
                                                                req.voucher_signature, issued))
        try:
            await asyncio.shield(commit)
        except asyncio.CancelledError:
            # The client went away or the server is stopping: finish the commit before releasing the host's
            # lock, so the in-memory state never falls behind what is on disk.
            await commit
            self._apply(st, req, issued)
            raise
        self._apply(st, req, issued)

    @staticmethod
    def _apply(st: HostLedger, req: PermissionRequest, issued: list[Issued]) -> None:
        st.count, st.last_seq, st.voucher_signature, st.last_request, st.amount = (
            req.count, issued[-1].seq, req.voucher_signature, issued, req.amount)

    async def host_state(self, model_id: int, host: str) -> dict:
        """GET /v1/hosts/{model_id}/{host}."""
        await self._model(model_id)
        funds = await self.chain.funds(model_id, host)
        st = self._host((model_id, host))
        return {"issued": st.count, "voucher_count": st.count, "voucher_amount": str(st.amount),
                "settled_on_chain": funds.settled, "settled_amount": str(funds.settled_amount),
                "escrow_spendable": str(funds.spendable), "last_seq": st.last_seq}

    def answer(self, req: PermissionRequest, issued: list[Issued], count: int) -> dict:
        signer = self.signer.address
        if req.batch:
            return {"permissions": [{"query_hash": "0x" + p.query_hash.hex(), "seq": p.seq,
                                     "signature": "0x" + p.signature.hex()} for p in issued],
                    "signer": signer, "count": count, "cumulative_amount": str(req.amount)}
        p = issued[0]
        return {"permission": {"model_id": req.model_id, "host": req.host, "query_hash": "0x" + p.query_hash.hex(),
                               "seq": p.seq},
                "signature": "0x" + p.signature.hex(), "signer": signer, "count": count,
                "cumulative_amount": str(req.amount)}

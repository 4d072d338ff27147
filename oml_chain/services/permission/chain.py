"""What the permission service reads from and writes to the chain: cached model/escrow state, settlement.

Reads are cached for `ttl` seconds (a query never waits on an RPC while the
cache is fresh); the service forces one refresh before it rejects a host for
insufficient escrow. Settlement presents the newest voucher of every host whose
count is above the on-chain settled count; the contract moves the voucher's
cumulative amount minus what was settled before (protocol v2: price is never
read at settlement, so a later price change cannot reprice these queries).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from ...chain.client import OMLContract
from ...chain.errors import ContractError, ContractLookupError
from ...chain.roles import PermissionSignerClient
from .ledger import Ledger

log = logging.getLogger("oml.permission")


@dataclass(frozen=True)
class ModelInfo:
    """The fields of a registered model the service needs; `exists` False for an unknown id."""

    exists: bool
    price: int = 0  # in force now (a scheduled change counts from its effective time)
    permission_signer: str = ""
    active: bool = False


@dataclass(frozen=True)
class HostFunds:
    """A host's escrow as the service sees it: spendable = balance − thawing; settled = on-chain settled count
    and settled_amount = the cumulative wei already moved by settlements."""

    spendable: int
    settled: int
    settled_amount: int = 0


class ChainView:
    """TTL cache over the OML contract's model and escrow views (blocking RPCs run in worker threads)."""

    def __init__(self, oml: OMLContract, ttl: float):
        self.oml = oml
        self.ttl = ttl
        self._models: dict[int, tuple[float, ModelInfo]] = {}
        self._funds: dict[tuple[int, str], tuple[float, HostFunds]] = {}

    def _fresh(self, entry) -> bool:
        return entry is not None and time.monotonic() - entry[0] < self.ttl

    def _read_model(self, model_id: int) -> ModelInfo:
        try:
            m = self.oml.get_model(model_id)
        except ContractLookupError:
            return ModelInfo(exists=False)
        return ModelInfo(True, m.price_per_query, m.permission_signer, m.active)

    def _read_funds(self, model_id: int, host: str) -> HostFunds:
        escrow = self.oml.get_escrow(model_id, host)
        return HostFunds(escrow.spendable, self.oml.settled_count(model_id, host),
                         self.oml.settled_amount(model_id, host))

    async def model(self, model_id: int, force: bool = False) -> ModelInfo:
        entry = self._models.get(model_id)
        if force or not self._fresh(entry):
            info = await asyncio.to_thread(self._read_model, model_id)
            entry = (time.monotonic(), info)
            self._models[model_id] = entry
        return entry[1]

    async def funds(self, model_id: int, host: str, force: bool = False) -> HostFunds:
        key = (model_id, host)
        entry = self._funds.get(key)
        if force or not self._fresh(entry):
            entry = (time.monotonic(), await asyncio.to_thread(self._read_funds, model_id, host))
            self._funds[key] = entry
        return entry[1]

    def invalidate(self, model_id: int, host: str) -> None:
        self._funds.pop((model_id, host), None)


@dataclass(frozen=True)
class SettlementResult:
    model_id: int
    host: str
    count: int
    queries: int  # count − settled before; what this settlement charged for
    tx_hash: str | None
    error: str | None = None
    amount: int = 0  # wei moved by this settlement (cumulative amount − settled amount before)

    @property
    def ok(self) -> bool:
        return self.error is None


def settle_all(ledger: Ledger, client: PermissionSignerClient) -> list[SettlementResult]:
    """Settle the newest voucher of every host whose count or amount exceeds what is settled on chain.

    One transaction per such host, from `client`'s key. A failure (RPC down, revert) is logged, recorded
    in the ledger as 'failed' and left for the next round; it never raises for a single host.
    """
    results = []
    for v in ledger.vouchers():
        try:
            # settle while the voucher adds queries or money; the contract keeps max(count) and the newest amount,
            # so a host that settled a voucher of its own cannot make us skip one that owes more
            settled = client.settled_count(v.model_id, v.host)
            settled_amount = client.settled_amount(v.model_id, v.host)
            if v.count <= settled and v.amount <= settled_amount:
                continue
            tx = client.settle(v.model_id, v.host, v.count, v.amount, v.signature)
        except Exception as exc:  # noqa: BLE001 - one host failing must not stop the round
            kind = exc.error if isinstance(exc, ContractError) else exc.__class__.__name__
            log.warning("settling model %s host %s count %s failed (%s): %s; retrying next round",
                        v.model_id, v.host, v.count, kind, exc)
            ledger.record_settlement(v.model_id, v.host, v.count, None, "failed", f"{kind}: {exc}"[:500])
            results.append(SettlementResult(v.model_id, v.host, v.count, 0, None, str(exc)))
            continue
        queries, amount = max(0, v.count - settled), v.amount - settled_amount
        ledger.record_settlement(v.model_id, v.host, v.count, tx.tx_hash, "confirmed")
        log.info("settled model %s host %s up to count %s (%s queries, %s wei) in %s", v.model_id, v.host, v.count,
                 queries, amount, tx.tx_hash)
        results.append(SettlementResult(v.model_id, v.host, v.count, queries, tx.tx_hash, amount=amount))
    return results

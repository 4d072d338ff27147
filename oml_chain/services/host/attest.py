"""The OML side of serving one query: σ(q) from the permission service, then the host's signed attestation.

`OMLGate.permit(query_hash)` obtains a permission through the permission service's `PermissionClient`
(which keeps seq and the cumulative voucher count durable). Permits asked for while another request is in
flight are coalesced into one `/v1/permissions/batch` call under one voucher, so concurrent users do not queue
behind one another's round trips. On `escrow_insufficient` the gate can deposit `auto_deposit_wei` and retry
once. In rogue mode (`no_permission`) it asks nobody: no permission, permission_hash zero, a local seq.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from typing import Any

from ...chain.eip712 import Domain, Signer, permission_hash, text_hash
from ..permission import EscrowInsufficientError, Permission, PermissionClient

log = logging.getLogger("oml.host.attest")

MAX_PERMIT_BATCH = 64


@dataclass(frozen=True)
class Attested:
    """What a response carries: the `oml` body field and the X-OML-* headers."""

    model_id: int
    host: str
    query_hash: bytes
    response_hash: bytes
    seq: int
    permission: bytes | None
    attestation: bytes
    attestation_signer: str

    def body(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "host": self.host, "query_hash": "0x" + self.query_hash.hex(),
                "response_hash": "0x" + self.response_hash.hex(), "seq": self.seq,
                "permission": "0x" + self.permission.hex() if self.permission else None,
                "permission_hash": "0x" + permission_hash(self.permission).hex(),
                "attestation": "0x" + self.attestation.hex(), "attestation_signer": self.attestation_signer}

    def headers(self) -> dict[str, str]:
        return {"X-OML-Attestation": "0x" + self.attestation.hex(), "X-OML-Seq": str(self.seq),
                "X-OML-Permission": "0x" + self.permission.hex() if self.permission else ""}


class OMLGate:
    """Permissions (coalesced) and attestations for one host serving one model."""

    def __init__(self, domain: Domain, model_id: int, host: str, attestation_signer: Signer,
                 permissions: PermissionClient | None, auto_deposit_wei: int = 0, deposit=None):
        self.domain, self.model_id, self.host = domain, model_id, host
        self.signer = attestation_signer
        self.permissions = permissions  # None: rogue mode
        self.auto_deposit_wei = auto_deposit_wei
        self._deposit = deposit  # callable(model_id, wei), blocking (HostClient.deposit_escrow)
        self._rogue_seq = itertools.count(1)
        self._waiting: list[tuple[bytes, asyncio.Future]] = []
        self._draining = False
        self.permit_calls = 0  # round trips to the permission service
        self.deposits = 0

    @property
    def rogue(self) -> bool:
        return self.permissions is None

    async def permit(self, query_hash: bytes) -> Permission | None:
        """σ(q) for this query (None in rogue mode); raises the permission service's error when refused."""
        if self.permissions is None:
            return None
        fut = asyncio.get_running_loop().create_future()
        self._waiting.append((query_hash, fut))
        if not self._draining:
            self._draining = True
            asyncio.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self._waiting:
                items = self._waiting[:MAX_PERMIT_BATCH]
                del self._waiting[:MAX_PERMIT_BATCH]
                try:
                    perms = await self._obtain([q for q, _ in items])
                except Exception as exc:  # handed to every waiting request, which turns it into an HTTP error
                    for _, f in items:
                        if not f.done():
                            f.set_exception(exc)
                    continue
                for (_, f), p in zip(items, perms):
                    if not f.done():
                        f.set_result(p)
        finally:
            self._draining = False

    async def _obtain(self, hashes: list[bytes]) -> list[Permission]:
        for attempt in (0, 1):
            try:
                self.permit_calls += 1
                if len(hashes) == 1:
                    return [await self.permissions.request(hashes[0])]
                return await self.permissions.request_batch(hashes)
            except EscrowInsufficientError as exc:
                if attempt or not self.auto_deposit_wei or self._deposit is None:
                    raise
                log.warning("escrow insufficient (needed %s, available %s wei): depositing %s wei and retrying",
                            exc.needed, exc.available, self.auto_deposit_wei)
                await asyncio.to_thread(self._deposit, self.model_id, self.auto_deposit_wei)
                self.deposits += 1
        raise AssertionError("unreachable")

    def next_rogue_seq(self) -> int:
        return next(self._rogue_seq)

    def attest(self, query_hash: bytes, response: str, permission: Permission | None,
               seq: int | None = None) -> Attested:
        """Sign Attestation(modelId, host, query_hash = keccak(query), keccak(response), keccak(σ) or 0, seq)."""
        qh, rh = query_hash, text_hash(response)
        sig = permission.signature if permission is not None else None
        if permission is not None:
            seq = permission.seq
        elif seq is None:
            seq = self.next_rogue_seq()
        att = self.signer.sign_attestation(self.domain, self.model_id, self.host, qh, rh, permission_hash(sig), seq)
        return Attested(self.model_id, self.host, qh, rh, seq, sig, att, self.signer.address)

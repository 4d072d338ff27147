"""The host's guard: keeps its permission receipts on chain and defends disputes, in the background.

Protocol v2 (contracts/README.md): a permission signed by a *retired* permission signer only shields the host
if the host recorded its receipt (queryHash, seq) on chain before `retiredAt + noticePeriod`, and only if the
host answers the dispute within `DISPUTE_WINDOW`. The guard does both without the operator's attention:

- every `receipt_interval` seconds it records the receipts not yet recorded (one transaction, ~45k gas);
- when the model's permission signer changes it records at once (the notice period is its deadline) and
  switches the permission client to the new signer;
- it follows `SlashDisputed` events against this host and defends each with a proof from its receipts.

Every step that fails (RPC down, a revert) is logged and retried on the next tick; serving never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ...chain.errors import OMLError
from ...chain.roles import HostClient
from ..permission import PermissionClient, defend_dispute, record_receipts

log = logging.getLogger("oml.host.guard")


class ReceiptGuard:
    def __init__(self, host_client: HostClient, model_id: int, permissions: PermissionClient,
                 receipt_interval: float = 600.0, tick: float = 15.0):
        self.client = host_client
        self.model_id = model_id
        self.permissions = permissions
        self.receipt_interval = receipt_interval
        self.tick = min(tick, receipt_interval) if receipt_interval > 0 else tick
        self._signer = permissions.permission_signer
        self._last_record = time.monotonic()
        self._from_block: int | None = None
        self.recorded_roots: list[bytes] = []
        self.defended: list[int] = []

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await asyncio.to_thread(self.step)
            except OMLError as exc:
                log.warning("receipt guard: %s; retrying in %.0f s", exc, self.tick)
            except Exception:  # noqa: BLE001 - the guard must outlive a bad tick
                log.exception("receipt guard tick failed; retrying in %.0f s", self.tick)

    def step(self) -> None:
        """One tick (blocking): signer rotation, periodic recording, disputes."""
        signer = self.client.get_model(self.model_id).permission_signer
        rotated = signer.lower() != self._signer.lower()
        if rotated:
            log.warning("model %d's permission signer changed from %s to %s: recording receipts now (the notice "
                        "period is the deadline) and verifying permissions against the new signer", self.model_id,
                        self._signer, signer)
            self._signer = self.permissions.permission_signer = signer
        due = self.receipt_interval > 0 and time.monotonic() - self._last_record >= self.receipt_interval
        if rotated or due:
            self.record()
        self.defend_new_disputes()

    def record(self) -> bytes | None:
        root = record_receipts(self.permissions.receipts, self.client, self.model_id)
        self._last_record = time.monotonic()
        if root is not None:
            self.recorded_roots.append(root)
        return root

    def defend_new_disputes(self) -> None:
        head = self.client.w3.eth.block_number
        start = self._from_block if self._from_block is not None else max(0, head - 10_000)
        if start > head:
            return
        for ev in self.client.events("SlashDisputed", start, head, modelId=self.model_id, host=self.client.account):
            index = ev.args["index"]
            if not self.client.get_dispute(self.model_id, self.client.account, index).open:
                continue
            try:
                defend_dispute(self.permissions.receipts, self.client, self.model_id, index)
            except OMLError as exc:
                log.error("cannot defend the dispute on fingerprint %d of model %d: %s", index, self.model_id, exc)
                continue
            log.info("defended the dispute on fingerprint %d of model %d", index, self.model_id)
            self.defended.append(index)
        self._from_block = head + 1

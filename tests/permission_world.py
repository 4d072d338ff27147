"""Helpers for the permission-service tests: a real uvicorn server in a thread or a subprocess, request bodies."""

from __future__ import annotations

from pathlib import Path

from chain_world import PRICE

from oml_chain.chain.anvil import free_port
from oml_chain.chain.eip712 import Signer
from oml_chain.services.permission import PermissionConfig, uvicorn_config
from oml_chain.services.permission.process import ServiceProcess as ProcServer  # noqa: F401
from server_thread import ServerThread


def make_config(world, db_path: Path, **over) -> PermissionConfig:
    kw = dict(rpc_url=world.w3.provider.endpoint_uri, oml_address=world.address,
              signer_key="0x" + world.signer.signer.private_key.hex(), db_path=str(db_path), settle_interval=0,
              escrow_ttl=2.0, port=free_port(), log_level="warning")
    kw.update(over)
    return PermissionConfig(**kw)


class ThreadServer(ServerThread):
    """The permission service served by uvicorn in a background thread; `stop()` runs the shutdown."""

    def __init__(self, config: PermissionConfig):
        self.config = config
        super().__init__(uvicorn_config(config), config.port, "permission service")


def single_body(host: Signer, domain, model_id: int, query_hash: bytes, seq: int, count: int,
                voucher_signer: Signer | None = None, amount: int | None = None) -> dict:
    """One permission request whose voucher owes `amount` (default: count × the world's PRICE)."""
    amount = count * PRICE if amount is None else amount
    sig = (voucher_signer or host).sign_voucher(domain, model_id, host.address, count, amount)
    return {"model_id": model_id, "host": host.address, "query_hash": "0x" + query_hash.hex(), "seq": seq,
            "voucher": {"model_id": model_id, "host": host.address, "count": count, "cumulative_amount": str(amount)},
            "voucher_signature": "0x" + sig.hex()}

"""The permission service (the platform's signer) and the host-side permission client.

Service: `create_app(PermissionConfig)` (ASGI) / `run(config)` (uvicorn), or as a process
`python -m oml_chain.services.permission --help`. Client: `PermissionClient` (async) and
`SyncPermissionClient`. Library settlement: `settle_all(ledger, signer_client)`.
"""

from .app import create_app, run, uvicorn_config
from .chain import SettlementResult, settle_all
from .client import Permission, PermissionClient, SyncPermissionClient, chain_price, fixed_price
from .receipts import ReceiptBook, defend_dispute, record_receipts, state_key
from .config import PermissionConfig
from .errors import (EscrowInsufficientError, HostStateOutOfSync, ModelNotServed, ModelUnknown, PermissionConflict,
                     PermissionRequestInvalid, PermissionServiceError, PermissionServiceUnavailable,
                     PermissionSignatureInvalid, SeqReplayed, VoucherAmountMismatch, VoucherCountMismatch, VoucherSignatureRejected)
from .ledger import Ledger

__all__ = ["chain_price", "fixed_price", "ReceiptBook", "record_receipts", "defend_dispute", "create_app", "run", "uvicorn_config", "settle_all", "SettlementResult", "Permission",
           "PermissionClient", "SyncPermissionClient", "PermissionConfig", "Ledger", "PermissionServiceError",
           "PermissionRequestInvalid", "VoucherSignatureRejected", "EscrowInsufficientError", "ModelNotServed",
           "ModelUnknown", "PermissionConflict", "VoucherCountMismatch", "VoucherAmountMismatch", "SeqReplayed",
           "PermissionServiceUnavailable", "PermissionSignatureInvalid", "HostStateOutOfSync"]

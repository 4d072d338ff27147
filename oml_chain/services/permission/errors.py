"""Errors of the permission protocol, shared by the service (raises them) and the client (re-raises them).

Each carries the HTTP status and the machine `code` of the wire protocol
(oml_chain/services/README.md); the client rebuilds the same class from a
response body, so `except EscrowInsufficientError as e: e.needed` works across HTTP.
"""

from __future__ import annotations

from typing import Any

from ...chain.errors import OMLError, SignatureError


class PermissionServiceError(OMLError):
    """A refusal or failure of the permission service; `status`, `code` and `details` as on the wire."""

    status = 500
    codes: tuple[str, ...] = ()

    def __init__(self, code: str, message: str, status: int | None = None, **details: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status
        self.details = details

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class PermissionRequestInvalid(PermissionServiceError, ValueError):
    """400: the request is malformed (JSON, types, hex, voucher fields) — a bug in the caller."""

    status = 400
    codes = ("bad_json", "bad_request", "voucher_mismatch", "batch_too_large", "body_too_large")


class VoucherSignatureRejected(PermissionServiceError, SignatureError):
    """401: the voucher is not signed by the host under this deployment's EIP-712 domain."""

    status = 401
    codes = ("voucher_signature_invalid",)


class EscrowInsufficientError(PermissionServiceError, ValueError):
    """402: the host's spendable escrow does not cover the voucher; `needed` / `available` in wei."""

    status = 402
    codes = ("escrow_insufficient",)

    @property
    def needed(self) -> int:
        return int(self.details.get("needed", 0))

    @property
    def available(self) -> int:
        return int(self.details.get("available", 0))


class ModelNotServed(PermissionServiceError, PermissionError):
    """403: the model's permission signer is not this service's key."""

    status = 403
    codes = ("model_not_served",)


class ModelUnknown(PermissionServiceError, LookupError):
    """404: no such model on chain (or no such route)."""

    status = 404
    codes = ("model_not_found", "not_found", "method_not_allowed")


class PermissionConflict(PermissionServiceError, RuntimeError):
    """409: the host's seq or voucher count is out of step with the ledger."""

    status = 409
    codes = ()


class VoucherCountMismatch(PermissionConflict):
    """409: voucher.count must be issued + number of queries; `expected` says what the service wanted."""

    codes = ("voucher_count_mismatch",)

    @property
    def expected(self) -> int:
        return int(self.details.get("expected", -1))


class VoucherAmountMismatch(PermissionConflict):
    """409: voucher.cumulativeAmount must be the previous amount + queries × the price in force now; `expected`,
    `previous` and `price` (wei, decimal strings) say what the service computed."""

    codes = ("voucher_amount_mismatch",)

    @property
    def expected(self) -> int:
        return int(self.details.get("expected", -1))

    @property
    def price(self) -> int:
        return int(self.details.get("price", -1))


class SeqReplayed(PermissionConflict):
    """409: seq must strictly increase per (model, host); `last_seq` is the newest issued."""

    codes = ("seq_replayed",)


class PermissionServiceUnavailable(PermissionServiceError, ConnectionError):
    """5xx or no answer: the service (or its chain) is down; retry later."""

    status = 503
    codes = ("chain_unavailable", "internal_error", "unavailable")


class PermissionSignatureInvalid(PermissionServiceError, SignatureError):
    """Client side: the service returned a signature that is not the model's permission signer's."""

    codes = ("permission_signature_invalid",)


class HostStateOutOfSync(PermissionServiceError, RuntimeError):
    """Client side: the local seq/count store disagrees with the service's ledger."""

    codes = ("host_state_out_of_sync",)


_BY_CODE = {code: cls for cls in (PermissionRequestInvalid, VoucherSignatureRejected, EscrowInsufficientError,
                                  ModelNotServed, ModelUnknown, VoucherCountMismatch, VoucherAmountMismatch, SeqReplayed,
                                  PermissionServiceUnavailable)
            for code in cls.codes}


def error_from_response(status: int, body: Any) -> PermissionServiceError:
    """The exception for an error response (any status ≥ 400), from its JSON body when it has one."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return PermissionServiceUnavailable("unavailable", f"the permission service answered HTTP {status} "
                                            "without an OML error body; is the URL right?", status)
    code = str(err.get("code", "unknown"))
    message = str(err.get("message", ""))
    details = {k: v for k, v in err.items() if k not in ("code", "message")}
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = PermissionServiceUnavailable if status >= 500 else PermissionRequestInvalid
    return cls(code, message, status, **details)

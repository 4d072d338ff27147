"""EIP-712 DownloadRequest(uint256 modelId,address host,uint256 timestamp), signed by the host's staking key.

Same OML domain as the contract's structs (eip712.Domain); sent as the headers `X-OML-Host`,
`X-OML-Timestamp` (unix seconds) and `X-OML-Signature` (65-byte r‖s‖v, 0x hex).
"""

from __future__ import annotations

import time

from eth_utils import is_address, to_checksum_address

from ...chain.eip712 import Domain, Signer, _address, _digest, _uint, keccak, recover, type_string
from ...chain.errors import SignatureError

DOWNLOAD_REQUEST_FIELDS = (("modelId", "uint256"), ("host", "address"), ("timestamp", "uint256"))
DOWNLOAD_REQUEST_TYPEHASH = keccak(type_string("DownloadRequest", DOWNLOAD_REQUEST_FIELDS).encode())
MAX_SKEW_S = 300
HEADER_HOST, HEADER_TIMESTAMP, HEADER_SIGNATURE = "X-OML-Host", "X-OML-Timestamp", "X-OML-Signature"


def hash_download_request(model_id: int, host: str, timestamp: int) -> bytes:
    return keccak(DOWNLOAD_REQUEST_TYPEHASH + _uint(model_id) + _address(host) + _uint(timestamp))


def digest_download_request(domain: Domain, model_id: int, host: str, timestamp: int) -> bytes:
    return _digest(domain, hash_download_request(model_id, host, timestamp))


def sign_download_request(signer: Signer, domain: Domain, model_id: int, timestamp: int | None = None) -> dict:
    """The three request headers for `signer` (the host's staking key), timestamped now unless given."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    sig = signer.sign_digest(digest_download_request(domain, model_id, signer.address, ts))
    return {HEADER_HOST: signer.address, HEADER_TIMESTAMP: str(ts), HEADER_SIGNATURE: "0x" + sig.hex()}


class DownloadAuthError(SignatureError):
    """401: the request headers are missing, malformed, stale or not signed by the named host."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def verify_download_request(domain: Domain, model_id: int, headers, now: float | None = None,
                            max_skew: int = MAX_SKEW_S) -> str:
    """The checksummed host address the headers prove, or DownloadAuthError saying what is wrong."""
    host, ts, sig = (headers.get(h) for h in (HEADER_HOST, HEADER_TIMESTAMP, HEADER_SIGNATURE))
    if not host or not ts or not sig:
        raise DownloadAuthError("missing_auth", f"send the headers {HEADER_HOST}, {HEADER_TIMESTAMP} and "
                                f"{HEADER_SIGNATURE} (an EIP-712 DownloadRequest signed by the host's staking key; "
                                "`oml host download` does this)")
    if not is_address(host):
        raise DownloadAuthError("bad_auth", f"{HEADER_HOST} must be a 0x-address, got {host!r}")
    if not ts.isdigit():
        raise DownloadAuthError("bad_auth", f"{HEADER_TIMESTAMP} must be unix seconds, got {ts!r}")
    now = time.time() if now is None else now
    if abs(now - int(ts)) > max_skew:
        raise DownloadAuthError("stale_request", f"the request timestamp {ts} is more than {max_skew} s from the "
                                f"server's clock ({int(now)}); sign a fresh request and check the host's clock")
    try:
        raw = bytes.fromhex(sig.removeprefix("0x"))
        signer = recover(digest_download_request(domain, model_id, host, int(ts)), raw)
    except (ValueError, SignatureError) as exc:
        raise DownloadAuthError("bad_signature", f"{HEADER_SIGNATURE} is not a valid signature ({exc})") from None
    if signer.lower() != host.lower():
        raise DownloadAuthError("bad_signature", f"the signature is by {signer}, not by {host}, over "
                                f"DownloadRequest(modelId={model_id}, host, timestamp) in this deployment's domain "
                                f"(chain {domain.chain_id}, OML {domain.verifying_contract}); sign with the host's "
                                "staking key")
    return to_checksum_address(host)

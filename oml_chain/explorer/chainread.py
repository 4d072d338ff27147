"""The few things the explorer reads from the chain rather than from its database, with a short timeout and
a cache, so that a page never waits long on a slow or absent node:

- a model's full parameters (`getModel` at the last indexed block): the stake terms and notice period are in
  no event (ModelRegistered carries only the rest);
- a slash's evidence: the `reveal(commitment, evidence)` calldata of the transaction that burned the
  fingerprint, decoded with the OML ABI and checked here (Merkle proof against the model's fingerprint root,
  response prefix, attestation signer recovered from the EIP-712 digest).

A transaction's input never changes for its hash, so decoded evidence is cached for good; model reads are
cached per block. After a failure the reader keeps quiet for `backoff` seconds (pages show "unavailable").
"""

from __future__ import annotations

import threading
import time
from typing import Any

from eth_utils import to_checksum_address

from ..chain.eip712 import Domain, SignatureError, digest_attestation, keccak, permission_hash, recover
from ..chain.merkle import FingerprintLeaf, verify_proof
from ..chain.types import _snake


class ChainReader:
    def __init__(self, rpc_url: str | None, oml: str | None, timeout: float = 3.0, backoff: float = 10.0,
                 abi: list | None = None):
        self.rpc_url, self.oml = rpc_url, to_checksum_address(oml) if oml else None
        self.timeout, self.backoff = timeout, backoff
        self._abi = abi
        self._w3 = self._contract = None
        self._lock = threading.Lock()
        self._cache: dict[Any, Any] = {}
        self._down_until = 0.0
        self.last_error: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.rpc_url and self.oml)

    def _oml(self):
        if self._contract is None:
            from web3 import Web3

            from ..chain.artifacts import load_artifact

            self._w3 = Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": self.timeout}))
            self._contract = self._w3.eth.contract(address=self.oml, abi=self._abi or load_artifact("OML").abi)
        return self._contract

    def _guarded(self, key: Any, fn) -> Any:
        """fn() cached under key; None (and quiet for `backoff` s) when the node fails."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            if not self.enabled or time.monotonic() < self._down_until:
                return None
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - any node or decoding failure: the page shows "unavailable"
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            if not _is_revert(exc):
                with self._lock:
                    self._down_until = time.monotonic() + self.backoff
            return None
        with self._lock:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = value
        return value

    # --- models -----------------------------------------------------------------------------------------
    def model(self, model_id: int, block: int | None) -> dict | None:
        """getModel(model_id) as of `block` (latest when None), keys in snake_case; None if unavailable."""
        def read():
            c = self._oml()
            raw = c.functions.getModel(model_id).call(block_identifier=block if block is not None else "latest")
            outs = next(f for f in c.abi if f.get("name") == "getModel")["outputs"][0]["components"]
            return {_snake(o["name"]): (("0x" + bytes(v).hex()) if isinstance(v, (bytes, bytearray)) else v)
                    for o, v in zip(outs, raw)}
        return self._guarded(("model", model_id, block), read)

    # --- slash evidence ---------------------------------------------------------------------------------
    def evidence(self, tx_hash: str, chain_id: int, model_root: str | None) -> dict | None:
        """The decoded and checked `reveal` evidence of `tx_hash`, or None (not a direct reveal call, or the
        node is unavailable)."""
        return self._guarded(("evidence", tx_hash), lambda: self._evidence(tx_hash, chain_id, model_root))

    def _evidence(self, tx_hash: str, chain_id: int, model_root: str | None) -> dict | None:
        c = self._oml()
        tx = self._w3.eth.get_transaction(tx_hash)
        if not tx.get("to") or to_checksum_address(tx["to"]) != self.oml:
            return {"decoded": False, "reason": f"the transaction called {tx.get('to')}, not OML; its evidence "
                                                "is not in its calldata"}
        fn, params = c.decode_function_input(tx["input"])
        if fn.fn_name != "reveal":
            return {"decoded": False, "reason": f"the transaction called {fn.fn_name}, not reveal"}
        ev = params["evidence"]
        g = ev.get if isinstance(ev, dict) else (lambda k: getattr(ev, k))
        fp_response, response = bytes(g("fingerprintResponse")), bytes(g("response"))
        permission, attestation = bytes(g("permission")), bytes(g("attestation"))
        key_hash, salt = bytes(g("keyHash")), bytes(g("salt"))
        proof = [bytes(p) for p in g("merkleProof")]
        index, model_id, host, seq = int(g("fingerprintIndex")), int(g("modelId")), g("host"), int(g("seq"))
        leaf = FingerprintLeaf(index, salt, key_hash, keccak(fp_response))
        proof_ok = verify_proof(bytes.fromhex(model_root[2:]), leaf, proof) if model_root else None
        digest = digest_attestation(Domain(chain_id, self.oml), model_id, host, key_hash, keccak(response),
                                    permission_hash(permission), seq)
        try:
            signer = recover(digest, attestation)
        except SignatureError:
            signer = None
        return {"decoded": True, "commitment": "0x" + bytes(params["commitment"]).hex(), "model_id": model_id,
                "host": to_checksum_address(host), "fingerprint_index": index, "salt": "0x" + salt.hex(),
                "key_hash": "0x" + key_hash.hex(), "fingerprint_response": _text(fp_response),
                "fingerprint_response_hex": "0x" + fp_response.hex(), "response": _text(response),
                "response_hex": "0x" + response.hex(), "merkle_proof": ["0x" + p.hex() for p in proof],
                "merkle_proof_valid": proof_ok, "response_matches": response.startswith(fp_response),
                "seq": seq, "permission": "0x" + permission.hex(), "attestation": "0x" + attestation.hex(),
                "attestation_signer": signer, "prover": to_checksum_address(tx["from"]),
                "reveal_block": tx.get("blockNumber")}


def _text(b: bytes) -> str | None:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _is_revert(exc: Exception) -> bool:
    from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

    return isinstance(exc, (ContractCustomError, ContractLogicError, ContractPanicError, ValueError))

"""Role clients over OMLContract: owner, host, permission signer, prover.

Each is an `OMLContract` with the actions of one actor; all reads are on the base.
"""

from __future__ import annotations

import time

from eth_abi import encode as abi_encode

from .client import OMLContract, TxResult
from .eip712 import Signer, keccak, permission_hash, text_hash
from .errors import ConfigError, ContractStateError
from .merkle import FingerprintLeaf, FingerprintTree
from .types import SLASH_EVIDENCE_ABI_TYPE, ModelId, ModelParams, SlashEvidence, StakeTerms, Voucher


class OwnerClient(OMLContract):
    """A model owner: registers models and manages them."""

    def register_model(self, params: ModelParams) -> ModelId:
        """Register; returns the new model id (from the ModelRegistered event)."""
        return ModelId(self.transact("registerModel", params.to_abi()).event("ModelRegistered").args["modelId"])

    def set_price(self, model_id: int, price_per_query: int) -> TxResult:
        """Announce a new price; it takes effect after the model's notice period (PriceChangeScheduled)."""
        return self.transact("setPrice", model_id, price_per_query)

    def set_stake_terms(self, model_id: int, terms: StakeTerms) -> TxResult:
        """Announce new stake terms (min stake, slash and prover bps, unbonding delay) after the notice period."""
        return self.transact("setStakeTerms", model_id, terms.to_abi())

    def set_permission_signer(self, model_id: int, signer: str) -> TxResult:
        """Rotate the permission signer now; the old one is retired (it can never be used again by this model)."""
        return self.transact("setPermissionSigner", model_id, signer)

    def set_revenue_recipient(self, model_id: int, recipient: str) -> TxResult:
        return self.transact("setRevenueRecipient", model_id, recipient)

    def set_metadata_uri(self, model_id: int, uri: str) -> TxResult:
        return self.transact("setMetadataURI", model_id, uri)

    def set_active(self, model_id: int, active: bool) -> TxResult:
        return self.transact("setActive", model_id, active)

    def transfer_model_ownership(self, model_id: int, new_owner: str) -> TxResult:
        return self.transact("transferModelOwnership", model_id, new_owner)

    def withdraw_revenue(self, model_id: int) -> TxResult:
        """Pull the model's revenue to its revenue recipient (this client must be the recipient)."""
        return self.transact("withdrawRevenue", model_id)


class HostClient(OMLContract):
    """A host: stakes (its key is the staking address and signs vouchers), keeps a fee escrow, attests."""

    def __init__(self, w3, address, private_key, attestation_key: bytes | str | Signer | None = None, **kw):
        super().__init__(w3, address, private_key, **kw)
        self.attestation_signer: Signer = (attestation_key if isinstance(attestation_key, Signer)
                                           else Signer(attestation_key) if attestation_key is not None
                                           else self.signer)

    def stake(self, model_id: int, amount: int, endpoint: str = "", attestation_signer: str | None = None) -> TxResult:
        """Stake `amount` wei (or top up); the attestation signer defaults to this client's attestation key."""
        return self.transact("stake", model_id, attestation_signer or self.attestation_signer.address, endpoint,
                             value=amount)

    def set_attestation_signer(self, model_id: int, signer: str) -> TxResult:
        return self.transact("setAttestationSigner", model_id, signer)

    def set_endpoint(self, model_id: int, endpoint: str) -> TxResult:
        return self.transact("setEndpoint", model_id, endpoint)

    def request_unstake(self, model_id: int) -> TxResult:
        return self.transact("requestUnstake", model_id)

    def withdraw_stake(self, model_id: int) -> TxResult:
        return self.transact("withdrawStake", model_id)

    def deposit_escrow(self, model_id: int, amount: int) -> TxResult:
        return self.transact("depositEscrow", model_id, value=amount)

    def request_escrow_withdrawal(self, model_id: int, amount: int) -> TxResult:
        return self.transact("requestEscrowWithdrawal", model_id, amount)

    def withdraw_escrow(self, model_id: int) -> TxResult:
        return self.transact("withdrawEscrow", model_id)

    def sign_voucher(self, model_id: int, count: int, cumulative_amount: int) -> bytes:
        """EIP-712 Voucher(modelId, host=this account, count, cumulativeAmount) signed with the staking key."""
        return self.signer.sign_voucher(self.domain, model_id, self.account, count, cumulative_amount)

    def record_permission_receipts(self, model_id: int, root: bytes) -> TxResult:
        """Record on chain that this host held the permission receipts under `root` (a ReceiptTree root) now."""
        return self.transact("recordPermissionReceipts", model_id, root)

    def defend_slash(self, model_id: int, host: str, index: int, root: bytes, proof: list[bytes]) -> TxResult:
        """Close a dispute by proving the disputed (queryHash, seq) under a receipt root recorded in time."""
        return self.transact("defendSlash", model_id, host, index, root, proof)

    def attest(self, model_id: int, query: str | bytes, response: str | bytes, permission: bytes | None,
               seq: int) -> bytes:
        """Attestation over (modelId, host, keccak(query), keccak(response), keccak(permission) or 0, seq)."""
        return self.attestation_signer.sign_attestation(self.domain, model_id, self.account, text_hash(query),
                                                        text_hash(response), permission_hash(permission), seq)


class PermissionSignerClient(OMLContract):
    """The permission service's key: signs per-query permissions and settles vouchers (anyone may settle)."""

    def sign_permission(self, model_id: int, host: str, query_hash: bytes, seq: int) -> bytes:
        return self.signer.sign_permission(self.domain, model_id, host, query_hash, seq)

    def settle(self, model_id: int, host: str, count: int, cumulative_amount: int, host_signature: bytes) -> TxResult:
        """Present the newest voucher: moves cumulativeAmount − settledAmount from the host's escrow to revenue."""
        return self.transact("settle", Voucher(model_id, host, count, cumulative_amount).to_abi(), host_signature)


def evidence_hash(evidence: SlashEvidence) -> bytes:
    """keccak256(abi.encode(evidence)) exactly as Solidity encodes the struct."""
    return keccak(abi_encode([SLASH_EVIDENCE_ABI_TYPE], [evidence.abi_tuple()]))


def commitment_of(prover: str, evidence: SlashEvidence) -> bytes:
    """keccak256(abi.encode(prover, keccak256(abi.encode(evidence))))."""
    return keccak(abi_encode(["address", "bytes32"], [prover, evidence_hash(evidence)]))


def build_evidence(model_id: int, host: str, leaf: FingerprintLeaf, tree: FingerprintTree,
                   fingerprint_response: str | bytes, response: str | bytes, seq: int,
                   permission: bytes | None, attestation: bytes) -> SlashEvidence:
    """Evidence for `reveal` from a fingerprint leaf, its tree and the host's attested answer."""
    fr = fingerprint_response.encode() if isinstance(fingerprint_response, str) else bytes(fingerprint_response)
    if keccak(fr) != leaf.response_hash:
        raise ConfigError(f"fingerprint response {fr!r} does not hash to the leaf's responseHash "
                          f"for index {leaf.index}; use the response from the fingerprint file")
    resp = response.encode() if isinstance(response, str) else bytes(response)
    return SlashEvidence(model_id=model_id, host=host, fingerprint_index=leaf.index, salt=leaf.salt,
                         key_hash=leaf.key_hash, fingerprint_response=fr, response=resp,
                         merkle_proof=tree.proof(leaf.index), seq=seq, permission=bytes(permission or b""),
                         attestation=bytes(attestation))


class ProverClient(OMLContract):
    """A prover: commits to slash evidence, reveals it a block later, pulls rewards."""

    def commitment(self, evidence: SlashEvidence) -> bytes:
        return commitment_of(self.account, evidence)

    def commit(self, commitment: bytes) -> TxResult:
        return self.transact("commit", commitment)

    def reveal(self, commitment: bytes, evidence: SlashEvidence) -> TxResult:
        return self.transact("reveal", commitment, evidence.to_abi())

    def prove(self, evidence: SlashEvidence, poll: float = 0.2, timeout: float = 120.0) -> TxResult:
        """Commit, then reveal in a later block (retrying while the chain has not moved on).

        Returns the reveal's result: a HostSlashed event, or SlashDisputed when the permission was signed by a
        retired signer (then `finalize_slash` after the dispute window, unless the host defends). On an
        automining chain the reveal is simply the next transaction; on a chain with a block time it waits
        for the next block.
        """
        c = self.commitment(evidence)
        self.commit(c)
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.reveal(c, evidence)
            except ContractStateError as exc:
                if exc.error != "SlashRevealTooEarly" or time.monotonic() > deadline:
                    raise
            time.sleep(poll)

    def finalize_slash(self, model_id: int, host: str, index: int) -> TxResult:
        """Slash after an undefended dispute's window (anyone may call; the dispute's prover is paid)."""
        return self.transact("finalizeSlash", model_id, host, index)

    def withdraw_reward(self) -> TxResult:
        return self.transact("withdrawReward")

// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IOMLErrors} from "./IOMLErrors.sol";
import {Commitment, Dispute, SlashEvidence} from "../libraries/OMLTypes.sol";

/// @title ISlashing
/// @notice Commit–reveal slash proofs against hosts that served a fingerprint key without permission,
/// permission receipts and disputes for permissions of retired signers, and prover rewards (pull).
interface ISlashing is IOMLErrors {
    /// @notice `prover` already holds this commitment and it has not expired.
    error SlashCommitmentExists(address prover, bytes32 commitment);
    /// @notice `prover` holds no such commitment.
    error SlashCommitmentNotFound(address prover, bytes32 commitment);
    /// @notice `keccak256(abi.encode(caller, keccak256(abi.encode(evidence))))` differs from the commitment.
    error SlashCommitmentMismatch();
    /// @notice The reveal is in `block` but must come after the commit's block `commitBlock`.
    error SlashRevealTooEarly(uint256 block, uint256 commitBlock);
    /// @notice The commitment expired at `expiry` (commit time + REVEAL_WINDOW); it is `now`.
    error SlashCommitmentExpired(uint256 now, uint256 expiry);
    /// @notice The host's stake was no longer slashable when the commitment was made.
    error SlashStakeNotSlashable(uint256 modelId, address host, uint256 commitTime, uint256 unbondingEnd);
    /// @notice The host has no stake left on the model (or the slash would round to zero).
    error SlashNothingToSlash(uint256 modelId, address host);
    /// @notice The fingerprint index is not below the model's fingerprint `count`.
    error SlashFingerprintIndexOutOfRange(uint256 index, uint256 count);
    /// @notice The fingerprint was already revealed against this host and burned for it.
    error SlashFingerprintBurned(uint256 modelId, address host, uint256 index);
    /// @notice The Merkle proof does not prove the fingerprint leaf against the model's root.
    error SlashInvalidMerkleProof();
    /// @notice The attestation is not signed by the host's attestation signer (current, or replaced and
    /// still valid at the commit time).
    error SlashInvalidAttestation();
    /// @notice The attested response does not start with the fingerprint response.
    error SlashResponseMismatch();
    /// @notice The attached permission is signed by the model's current permission signer: the query was permitted.
    error SlashPermissionValid();
    /// @notice A permission-receipt root of zero.
    error SlashZeroReceiptRoot();
    /// @notice No open dispute for `(modelId, host, index)`.
    error SlashDisputeNotFound(uint256 modelId, address host, uint256 index);
    /// @notice The defence window closed at `deadline`; it is `now`.
    error SlashDisputeExpired(uint256 now, uint256 deadline);
    /// @notice The host may still defend until `deadline`; it is `now`.
    error SlashDisputeActive(uint256 now, uint256 deadline);
    /// @notice The host never recorded receipt root `root` on this model.
    error SlashReceiptNotRecorded(bytes32 root);
    /// @notice The root was recorded at `recordedAt`, after the retired signer's `shieldDeadline`.
    error SlashReceiptTooLate(uint256 recordedAt, uint256 shieldDeadline);
    /// @notice The proof does not place the dispute's receipt leaf under the root.
    error SlashInvalidReceiptProof();

    /// @notice `prover` committed to slash evidence in block `blockNumber`.
    event SlashCommitted(bytes32 indexed commitment, address indexed prover, uint256 blockNumber);
    /// @notice `host` recorded that it held the permission receipts under `root` (now).
    event PermissionReceiptsRecorded(uint256 indexed modelId, address indexed host, bytes32 root);
    /// @notice A reveal carried a permission of the retired signer `signer`: the host may defend until `deadline`.
    event SlashDisputed(
        uint256 indexed modelId,
        address indexed host,
        uint256 index,
        address indexed prover,
        address signer,
        uint256 deadline
    );
    /// @notice The host proved it held the disputed permission in time; the dispute closed without a slash.
    event SlashDefended(uint256 indexed modelId, address indexed host, uint256 index);
    /// @notice `host` lost `slashed` wei of stake; `reward` of it was credited to `prover`, the rest to revenue.
    event HostSlashed(
        uint256 indexed modelId,
        address indexed host,
        address indexed prover,
        uint256 index,
        uint256 slashed,
        uint256 reward
    );
    /// @notice Fingerprint `index` of `modelId` was revealed against `host` and can never be used against it again.
    event FingerprintBurned(uint256 indexed modelId, address indexed host, uint256 index);
    /// @notice `prover` pulled `amount` wei of rewards.
    event RewardWithdrawn(address indexed prover, uint256 amount);

    /// @notice Seconds a commitment may be revealed after it was made (1 day); also the extra lock
    /// on stake withdrawal after unbonding.
    function REVEAL_WINDOW() external view returns (uint256);

    /// @notice Seconds a host may defend a disputed slash after it is opened (1 day).
    function DISPUTE_WINDOW() external view returns (uint256);

    /// @notice Commit to slash evidence: `commitment = keccak256(abi.encode(prover, keccak256(abi.encode(evidence))))`.
    /// @dev Stored under `(msg.sender, commitment)` as `(block.number, block.timestamp)`; a copy committed by
    /// another address is stored under that address and blocks nobody. The caller's own expired commitment
    /// may be overwritten (SlashCommitmentExists otherwise).
    /// @param commitment The commitment hash.
    function commit(bytes32 commitment) external;

    /// @notice Reveal committed evidence. Without a permission, or with one that is malformed or signed by a
    /// key that never was the model's permission signer: burns `(modelId, host, index)`, slashes
    /// `stake × slashBps / 10000`, credits `slashed × proverShareBps / 10000` to the prover and the rest to
    /// revenue (terms in force at the commit time). With a permission of a retired signer: burns the index and
    /// opens a dispute instead (see `defendSlash`, `finalizeSlash`). Deletes the commitment.
    /// @dev Checks, in order: SlashCommitmentNotFound, SlashCommitmentMismatch, SlashRevealTooEarly,
    /// SlashCommitmentExpired, SlashNothingToSlash, SlashStakeNotSlashable, SlashFingerprintIndexOutOfRange,
    /// SlashFingerprintBurned, SlashInvalidMerkleProof, SlashInvalidAttestation, SlashResponseMismatch,
    /// SlashPermissionValid (current signer).
    /// @param commitment The commitment made earlier by the caller.
    /// @param evidence The evidence it binds.
    function reveal(bytes32 commitment, SlashEvidence calldata evidence) external;

    /// @notice Record that the caller (a host) holds the permission-receipt leaves `(queryHash, seq)` under
    /// `root` as of now. The first recording of a root is kept.
    /// @param modelId The model.
    /// @param root StandardMerkleTree root of the receipts (non-zero).
    function recordPermissionReceipts(uint256 modelId, bytes32 root) external;

    /// @notice Close a dispute without a slash (anyone, until its deadline) by proving that the host recorded
    /// the disputed permission's receipt under `root` no later than the dispute's `shieldDeadline`.
    /// The index stays burned for that host.
    /// @dev Reverts with SlashDisputeNotFound, SlashDisputeExpired, SlashReceiptNotRecorded,
    /// SlashReceiptTooLate or SlashInvalidReceiptProof.
    /// @param modelId The model.
    /// @param host The disputed host.
    /// @param index The disputed fingerprint index.
    /// @param root A receipt root recorded by `host` on `modelId`.
    /// @param proof StandardMerkleTree proof of the dispute's `receiptLeaf` under `root`.
    function defendSlash(uint256 modelId, address host, uint256 index, bytes32 root, bytes32[] calldata proof)
        external;

    /// @notice Slash an undefended dispute (anyone, after its deadline) with the terms stored in it, applied to
    /// the host's current stake, crediting the dispute's prover; closes the dispute (a zero slash just closes).
    /// @dev Reverts with SlashDisputeNotFound or SlashDisputeActive.
    /// @param modelId The model.
    /// @param host The disputed host.
    /// @param index The disputed fingerprint index.
    function finalizeSlash(uint256 modelId, address host, uint256 index) external;

    /// @notice Pay the caller's accumulated prover rewards.
    function withdrawReward() external;

    /// @notice The commitment hash for `prover` and `evidence` (helper for clients).
    function commitmentOf(address prover, SlashEvidence calldata evidence) external pure returns (bytes32);

    /// @notice Whether fingerprint `index` of `modelId` has been burned for `host`.
    function isBurned(uint256 modelId, address host, uint256 index) external view returns (bool);

    /// @notice Unwithdrawn prover rewards of `prover`.
    function rewardOf(address prover) external view returns (uint256);

    /// @notice The commitment `commitment` stored by `prover` (all zero if none).
    function getCommitment(address prover, bytes32 commitment) external view returns (Commitment memory);

    /// @notice The open dispute for `(modelId, host, index)` (all zero if none).
    function getDispute(uint256 modelId, address host, uint256 index) external view returns (Dispute memory);

    /// @notice When `host` first recorded receipt root `root` on `modelId` (0: never).
    function receiptRecordedAt(uint256 modelId, address host, bytes32 root) external view returns (uint256);
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IOMLErrors} from "./IOMLErrors.sol";
import {Commitment, SlashEvidence} from "../libraries/OMLTypes.sol";

/// @title ISlashing
/// @notice Commit–reveal slash proofs against hosts that served a fingerprint key without permission,
/// and prover rewards (pull).
interface ISlashing is IOMLErrors {
    /// @notice The commitment is already recorded and has not expired.
    error SlashCommitmentExists(bytes32 commitment);
    /// @notice No such commitment.
    error SlashCommitmentNotFound(bytes32 commitment);
    /// @notice Only the `prover` who committed may reveal; `caller` is someone else.
    error SlashNotCommitter(address caller, address prover);
    /// @notice `keccak256(abi.encode(caller, keccak256(abi.encode(evidence))))` differs from the commitment.
    error SlashCommitmentMismatch();
    /// @notice The reveal is in `block` but must come after the commit's block `commitBlock`.
    error SlashRevealTooEarly(uint256 block, uint256 commitBlock);
    /// @notice The commitment expired at `expiry` (commit time + REVEAL_WINDOW); it is `now`.
    error SlashCommitmentExpired(uint256 now, uint256 expiry);
    /// @notice The host's stake was no longer slashable when the commitment was made.
    error SlashStakeNotSlashable(uint256 modelId, address host, uint256 commitTime, uint256 unbondingEnd);
    /// @notice The host has no stake left on the model.
    error SlashNothingToSlash(uint256 modelId, address host);
    /// @notice The fingerprint index is not below the model's fingerprint `count`.
    error SlashFingerprintIndexOutOfRange(uint256 index, uint256 count);
    /// @notice The fingerprint was already revealed and burned.
    error SlashFingerprintBurned(uint256 modelId, uint256 index);
    /// @notice The Merkle proof does not prove the fingerprint leaf against the model's root.
    error SlashInvalidMerkleProof();
    /// @notice The attestation is not signed by the host's attestation signer.
    error SlashInvalidAttestation();
    /// @notice The attested response does not start with the fingerprint response.
    error SlashResponseMismatch();
    /// @notice The attached permission is a valid permission for the query: the query was permitted.
    error SlashPermissionValid();

    /// @notice `prover` committed to slash evidence in block `blockNumber`.
    event SlashCommitted(bytes32 indexed commitment, address indexed prover, uint256 blockNumber);
    /// @notice `host` lost `slashed` wei of stake; `reward` of it was credited to `prover`, the rest to revenue.
    event HostSlashed(
        uint256 indexed modelId,
        address indexed host,
        address indexed prover,
        uint256 index,
        uint256 slashed,
        uint256 reward
    );
    /// @notice Fingerprint `index` of `modelId` was revealed and can never be used again.
    event FingerprintBurned(uint256 indexed modelId, uint256 indexed index);
    /// @notice `prover` pulled `amount` wei of rewards.
    event RewardWithdrawn(address indexed prover, uint256 amount);

    /// @notice Seconds a commitment may be revealed after it was made (1 day); also the extra lock
    /// on stake withdrawal after unbonding.
    function REVEAL_WINDOW() external view returns (uint256);

    /// @notice Commit to slash evidence: `commitment = keccak256(abi.encode(prover, keccak256(abi.encode(evidence))))`.
    /// @dev Records `(msg.sender, block.number, block.timestamp)` in one storage slot. An expired commitment
    /// may be overwritten.
    /// @param commitment The commitment hash.
    function commit(bytes32 commitment) external;

    /// @notice Reveal committed evidence: on success burns the fingerprint, slashes
    /// `stake × slashBps / 10000`, credits `slashed × proverShareBps / 10000` to the prover's reward
    /// and the rest to the model's revenue, and deletes the commitment.
    /// @dev Each failed check has its own error (see the errors above).
    /// @param commitment The commitment made earlier by the caller.
    /// @param evidence The evidence it binds.
    function reveal(bytes32 commitment, SlashEvidence calldata evidence) external;

    /// @notice Pay the caller's accumulated prover rewards.
    function withdrawReward() external;

    /// @notice The commitment hash for `prover` and `evidence` (helper for clients).
    function commitmentOf(address prover, SlashEvidence calldata evidence) external pure returns (bytes32);

    /// @notice Whether fingerprint `index` of `modelId` has been burned.
    function isBurned(uint256 modelId, uint256 index) external view returns (bool);

    /// @notice Unwithdrawn prover rewards of `prover`.
    function rewardOf(address prover) external view returns (uint256);

    /// @notice A stored commitment (all zero if none).
    function getCommitment(bytes32 commitment) external view returns (Commitment memory);
}

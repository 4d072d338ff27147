// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ISlashing} from "./interfaces/ISlashing.sol";
import {FeeEscrow} from "./FeeEscrow.sol";
import {HostStaking} from "./HostStaking.sol";
import {BasisPoints} from "./libraries/BasisPoints.sol";
import {Commitment, HostStake, Model, OMLTypes, SlashEvidence} from "./libraries/OMLTypes.sol";
import {Signatures} from "./libraries/Signatures.sol";

/// @title Slashing
/// @notice Commit–reveal slash proofs and prover rewards (one concern of `OML`).
abstract contract Slashing is HostStaking, FeeEscrow, ISlashing {
    mapping(bytes32 commitment => Commitment) private _commitments;
    mapping(uint256 modelId => mapping(uint256 wordIndex => uint256 bits)) private _burned;
    mapping(address prover => uint256 amount) private _rewards;

    /// @inheritdoc ISlashing
    function REVEAL_WINDOW() external pure returns (uint256) {
        return OMLTypes.REVEAL_WINDOW;
    }

    /// @inheritdoc ISlashing
    function commit(bytes32 commitment) external {
        Commitment storage c = _commitments[commitment];
        if (c.prover != address(0)) {
            require(block.timestamp > c.timestamp + OMLTypes.REVEAL_WINDOW, SlashCommitmentExists(commitment));
        }
        _commit(commitment, c);
    }

    /// @inheritdoc ISlashing
    function reveal(bytes32 commitment, SlashEvidence calldata evidence) external {
        Commitment memory c = _commitments[commitment];
        require(c.prover != address(0), SlashCommitmentNotFound(commitment));
        require(msg.sender == c.prover, SlashNotCommitter(msg.sender, c.prover));
        require(commitmentOf(msg.sender, evidence) == commitment, SlashCommitmentMismatch());
        require(block.number > c.blockNumber, SlashRevealTooEarly(block.number, c.blockNumber));
        uint256 expiry = uint256(c.timestamp) + OMLTypes.REVEAL_WINDOW;
        require(block.timestamp <= expiry, SlashCommitmentExpired(block.timestamp, expiry));
        delete _commitments[commitment];
        _reveal(evidence, c.timestamp);
    }

    /// @inheritdoc ISlashing
    function withdrawReward() external nonReentrant {
        uint256 amount = _rewards[msg.sender];
        require(amount != 0, NothingToWithdraw());
        _rewards[msg.sender] = 0;
        emit RewardWithdrawn(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
    }

    /// @inheritdoc ISlashing
    function commitmentOf(address prover, SlashEvidence calldata evidence) public pure returns (bytes32) {
        return keccak256(abi.encode(prover, keccak256(abi.encode(evidence))));
    }

    /// @inheritdoc ISlashing
    function isBurned(uint256 modelId, uint256 index) external view returns (bool) {
        return _isBurned(modelId, index);
    }

    /// @inheritdoc ISlashing
    function rewardOf(address prover) external view returns (uint256) {
        return _rewards[prover];
    }

    /// @inheritdoc ISlashing
    function getCommitment(bytes32 commitment) external view returns (Commitment memory) {
        return _commitments[commitment];
    }

    /// @dev Record `(msg.sender, block.number, block.timestamp)` in the commitment's single slot.
    function _commit(bytes32 commitment, Commitment storage c) private {
        c.prover = msg.sender;
        // casting to 'uint48' is safe because block numbers and timestamps stay below 2^48 for millennia
        // forge-lint: disable-next-line(unsafe-typecast)
        c.blockNumber = uint48(block.number);
        // forge-lint: disable-next-line(unsafe-typecast)
        c.timestamp = uint48(block.timestamp);
        emit SlashCommitted(commitment, msg.sender, block.number);
    }

    /// @dev Check the evidence against the model and the host's stake, then burn, slash and credit.
    function _reveal(SlashEvidence calldata ev, uint256 commitTime) private {
        HostStake storage s = _stakeOf(ev.modelId, ev.host);
        uint256 amount = s.amount;
        require(amount != 0, SlashNothingToSlash(ev.modelId, ev.host));
        // A non-zero stake implies the model exists (models are never deleted), so skip that check.
        Model storage m = _modelUnchecked(ev.modelId);
        uint256 unbondingEnd = s.unbondingEnd;
        require(
            unbondingEnd == 0 || commitTime < unbondingEnd,
            SlashStakeNotSlashable(ev.modelId, ev.host, commitTime, unbondingEnd)
        );
        _checkFingerprint(m, ev);
        _checkAttestation(s, ev, commitTime);
        _checkResponse(ev);
        _checkPermission(m, ev);
        _slash(m, s, ev, amount);
    }

    /// @dev Index in range, not burned, and the leaf proven against the model's root.
    function _checkFingerprint(Model storage m, SlashEvidence calldata ev) private view {
        uint256 count = m.fingerprintCount;
        require(ev.fingerprintIndex < count, SlashFingerprintIndexOutOfRange(ev.fingerprintIndex, count));
        require(!_isBurned(ev.modelId, ev.fingerprintIndex), SlashFingerprintBurned(ev.modelId, ev.fingerprintIndex));
        bytes32 leaf =
            OMLTypes.fingerprintLeaf(ev.fingerprintIndex, ev.salt, ev.keyHash, keccak256(ev.fingerprintResponse));
        require(MerkleProof.verifyCalldata(ev.merkleProof, m.fingerprintRoot, leaf), SlashInvalidMerkleProof());
    }

    /// @dev The attestation is signed by the host's signer, or by its previous signer when the commitment
    /// was made while that one was still accepted.
    function _checkAttestation(HostStake storage s, SlashEvidence calldata ev, uint256 commitTime) private view {
        bytes32 permissionHash = ev.permission.length == 0 ? bytes32(0) : keccak256(ev.permission);
        bytes32 digest = _hashTypedDataV4(
            OMLTypes.hashAttestation(
                ev.modelId, ev.host, ev.keyHash, keccak256(ev.response), permissionHash, ev.seq
            )
        );
        if (Signatures.isValidNow(s.attestationSigner, digest, ev.attestation)) return;
        PreviousSigner storage p = _previousSignerOf(ev.modelId, ev.host);
        require(
            p.signer != address(0) && commitTime < p.validUntil
                && Signatures.isValidNow(p.signer, digest, ev.attestation),
            SlashInvalidAttestation()
        );
    }

    /// @dev The attested response starts with the fingerprint response.
    function _checkResponse(SlashEvidence calldata ev) private pure {
        uint256 n = ev.fingerprintResponse.length;
        require(
            ev.response.length >= n && keccak256(ev.response[:n]) == keccak256(ev.fingerprintResponse),
            SlashResponseMismatch()
        );
    }

    /// @dev The attached permission (if any) is not a valid permission for this query by the model's
    /// current or any replaced permission signer.
    function _checkPermission(Model storage m, SlashEvidence calldata ev) private view {
        if (ev.permission.length == 0) return;
        bytes32 digest = _hashTypedDataV4(OMLTypes.hashPermission(ev.modelId, ev.host, ev.keyHash, ev.seq));
        address signer = m.permissionSigner;
        // slither-disable-next-line unused-return -- err is checked; the unnamed errArg only details a failure
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, ev.permission);
        bool permitted =
            err == ECDSA.RecoverError.NoError && (recovered == signer || _wasPermissionSigner(ev.modelId, recovered));
        if (!permitted && signer.code.length != 0) {
            permitted = SignatureChecker.isValidERC1271SignatureNowCalldata(signer, digest, ev.permission);
        }
        require(!permitted, SlashPermissionValid());
    }

    /// @dev Burn the index, take `amount × slashBps` from the stake, split it between prover and revenue.
    function _slash(Model storage m, HostStake storage s, SlashEvidence calldata ev, uint256 amount) private {
        uint256 slashed = BasisPoints.mulBps(amount, m.slashBps);
        require(slashed != 0, SlashNothingToSlash(ev.modelId, ev.host));
        (uint256 reward, uint256 rest) = BasisPoints.split(slashed, m.proverShareBps);
        _burned[ev.modelId][ev.fingerprintIndex >> 8] |= uint256(1) << (ev.fingerprintIndex & 0xff);
        emit FingerprintBurned(ev.modelId, ev.fingerprintIndex);
        _slashStake(s, slashed);
        _rewards[msg.sender] += reward;
        _creditRevenue(ev.modelId, rest);
        emit HostSlashed(ev.modelId, ev.host, msg.sender, ev.fingerprintIndex, slashed, reward);
    }

    /// @dev Whether fingerprint `index` of `modelId` is burned (one bit in a 256-bit word).
    function _isBurned(uint256 modelId, uint256 index) private view returns (bool) {
        return _burned[modelId][index >> 8] & (uint256(1) << (index & 0xff)) != 0;
    }
}

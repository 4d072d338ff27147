// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ISlashing} from "./interfaces/ISlashing.sol";
import {FeeEscrow} from "./FeeEscrow.sol";
import {HostStaking} from "./HostStaking.sol";
import {BasisPoints} from "./libraries/BasisPoints.sol";
import {Commitment, Dispute, OMLTypes, SlashEvidence} from "./libraries/OMLTypes.sol";

/// @title Slashing
/// @notice Commit–reveal slash proofs, permission receipts, disputes and prover rewards (one concern of `OML`).
abstract contract Slashing is HostStaking, FeeEscrow, ISlashing {
    mapping(address prover => mapping(bytes32 commitment => Commitment)) private _commitments;
    mapping(uint256 modelId => mapping(address host => mapping(uint256 word => uint256 bits))) private _burned;
    mapping(address prover => uint256 amount) private _rewards;
    mapping(uint256 modelId => mapping(address host => mapping(bytes32 root => uint256 recordedAt))) private
        _receipts;
    mapping(uint256 modelId => mapping(address host => mapping(uint256 index => Dispute))) private _disputes;

    /// @inheritdoc ISlashing
    function REVEAL_WINDOW() external pure returns (uint256) {
        return OMLTypes.REVEAL_WINDOW;
    }

    /// @inheritdoc ISlashing
    function DISPUTE_WINDOW() external pure returns (uint256) {
        return OMLTypes.DISPUTE_WINDOW;
    }

    /// @inheritdoc ISlashing
    function commit(bytes32 commitment) external {
        Commitment storage c = _commitments[msg.sender][commitment];
        uint256 committedAt = c.timestamp;
        require(
            committedAt == 0 || block.timestamp > committedAt + OMLTypes.REVEAL_WINDOW,
            SlashCommitmentExists(msg.sender, commitment)
        );
        _commit(commitment, c);
    }

    /// @inheritdoc ISlashing
    function reveal(bytes32 commitment, SlashEvidence calldata evidence) external {
        Commitment memory c = _commitments[msg.sender][commitment];
        require(c.timestamp != 0, SlashCommitmentNotFound(msg.sender, commitment));
        require(commitmentOf(msg.sender, evidence) == commitment, SlashCommitmentMismatch());
        require(block.number > c.blockNumber, SlashRevealTooEarly(block.number, c.blockNumber));
        uint256 expiry = uint256(c.timestamp) + OMLTypes.REVEAL_WINDOW;
        require(block.timestamp <= expiry, SlashCommitmentExpired(block.timestamp, expiry));
        delete _commitments[msg.sender][commitment];
        _reveal(evidence, c.timestamp);
    }

    /// @inheritdoc ISlashing
    function recordPermissionReceipts(uint256 modelId, bytes32 root) external {
        require(root != bytes32(0), SlashZeroReceiptRoot());
        mapping(bytes32 root => uint256 recordedAt) storage receipts = _receipts[modelId][msg.sender];
        if (receipts[root] != 0) return; // the first recording is kept
        receipts[root] = block.timestamp;
        emit PermissionReceiptsRecorded(modelId, msg.sender, root);
    }

    /// @inheritdoc ISlashing
    function defendSlash(uint256 modelId, address host, uint256 index, bytes32 root, bytes32[] calldata proof)
        external
    {
        Dispute storage d = _existingDispute(modelId, host, index);
        require(block.timestamp <= d.deadline, SlashDisputeExpired(block.timestamp, d.deadline));
        uint256 recordedAt = _receipts[modelId][host][root];
        require(recordedAt != 0, SlashReceiptNotRecorded(root));
        require(recordedAt <= d.shieldDeadline, SlashReceiptTooLate(recordedAt, d.shieldDeadline));
        require(MerkleProof.verifyCalldata(proof, root, d.receiptLeaf), SlashInvalidReceiptProof());
        _closeDispute(modelId, host, index);
        emit SlashDefended(modelId, host, index);
    }

    /// @inheritdoc ISlashing
    function finalizeSlash(uint256 modelId, address host, uint256 index) external {
        Dispute memory d = _existingDispute(modelId, host, index);
        require(block.timestamp > d.deadline, SlashDisputeActive(block.timestamp, d.deadline));
        _closeDispute(modelId, host, index);
        _slash(modelId, host, index, d.prover, d.slashBps, d.proverShareBps);
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
    function isBurned(uint256 modelId, address host, uint256 index) external view returns (bool) {
        return _isBurned(modelId, host, index);
    }

    /// @inheritdoc ISlashing
    function rewardOf(address prover) external view returns (uint256) {
        return _rewards[prover];
    }

    /// @inheritdoc ISlashing
    function getCommitment(address prover, bytes32 commitment) external view returns (Commitment memory) {
        return _commitments[prover][commitment];
    }

    /// @inheritdoc ISlashing
    function getDispute(uint256 modelId, address host, uint256 index) external view returns (Dispute memory) {
        return _disputes[modelId][host][index];
    }

    /// @inheritdoc ISlashing
    function receiptRecordedAt(uint256 modelId, address host, bytes32 root) external view returns (uint256) {
        return _receipts[modelId][host][root];
    }

    /// @dev Record `(block.number, block.timestamp)` in the commitment's single slot.
    function _commit(bytes32 commitment, Commitment storage c) private {
        // casting to 'uint48' is safe because block numbers and timestamps stay below 2^48 for millennia
        // forge-lint: disable-next-line(unsafe-typecast)
        c.blockNumber = uint48(block.number);
        // forge-lint: disable-next-line(unsafe-typecast)
        c.timestamp = uint48(block.timestamp);
        emit SlashCommitted(commitment, msg.sender, block.number);
    }

    /// @dev Check the evidence against the model and the host's stake, burn the index for the host, then
    /// slash now or, for a retired signer's permission, open a dispute.
    function _reveal(SlashEvidence calldata ev, uint256 commitTime) private {
        StakeRecord storage s = _stakeOf(ev.modelId, ev.host);
        require(s.amount != 0, SlashNothingToSlash(ev.modelId, ev.host));
        uint256 unbondingEnd = s.unbondingEnd;
        require(
            unbondingEnd == 0 || commitTime < unbondingEnd,
            SlashStakeNotSlashable(ev.modelId, ev.host, commitTime, unbondingEnd)
        );
        // A non-zero stake implies the model exists (models are never deleted), so skip that check.
        ModelRecord storage m = _modelUnchecked(ev.modelId);
        _checkFingerprint(m, ev);
        _checkAttestation(s, ev, commitTime);
        _checkResponse(ev);
        (address retiredSigner, uint256 retiredAt) = _retiredPermissionSigner(m, ev);
        (uint16 slashBps, uint16 proverShareBps) = _slashTermsAt(m, commitTime);
        _burn(ev.modelId, ev.host, ev.fingerprintIndex);
        if (retiredAt == 0) {
            uint256 slashed = _slash(ev.modelId, ev.host, ev.fingerprintIndex, msg.sender, slashBps, proverShareBps);
            require(slashed != 0, SlashNothingToSlash(ev.modelId, ev.host));
        } else {
            s.openDisputes += 1;
            _openDispute(ev, slashBps, proverShareBps, retiredSigner, retiredAt + m.noticePeriod);
        }
    }

    /// @dev Index in range, not burned for this host, and the leaf proven against the model's root.
    function _checkFingerprint(ModelRecord storage m, SlashEvidence calldata ev) private view {
        uint256 count = m.fingerprintCount;
        require(ev.fingerprintIndex < count, SlashFingerprintIndexOutOfRange(ev.fingerprintIndex, count));
        require(
            !_isBurned(ev.modelId, ev.host, ev.fingerprintIndex),
            SlashFingerprintBurned(ev.modelId, ev.host, ev.fingerprintIndex)
        );
        bytes32 leaf =
            OMLTypes.fingerprintLeaf(ev.fingerprintIndex, ev.salt, ev.keyHash, keccak256(ev.fingerprintResponse));
        require(MerkleProof.verifyCalldata(ev.merkleProof, m.fingerprintRoot, leaf), SlashInvalidMerkleProof());
    }

    /// @dev The attestation recovers (ECDSA only) to the host's current signer, or to a replaced one still
    /// valid at the commit time.
    function _checkAttestation(StakeRecord storage s, SlashEvidence calldata ev, uint256 commitTime) private view {
        bytes32 permissionHash = ev.permission.length == 0 ? bytes32(0) : keccak256(ev.permission);
        bytes32 digest = _hashTypedDataV4(
            OMLTypes.hashAttestation(
                ev.modelId, ev.host, ev.keyHash, keccak256(ev.response), permissionHash, ev.seq
            )
        );
        // slither-disable-next-line unused-return -- err is checked; the unnamed errArg only details a failure
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, ev.attestation);
        require(
            err == ECDSA.RecoverError.NoError && _isAttestationSigner(ev.modelId, ev.host, s, signer, commitTime),
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

    /// @dev Classify the attached permission (ECDSA only): signed by the current signer → revert
    /// SlashPermissionValid; by a retired signer → that signer and its retirement time (a dispute);
    /// empty, malformed, or by a key that never was the signer → `(0, 0)` (slash now).
    function _retiredPermissionSigner(ModelRecord storage m, SlashEvidence calldata ev)
        private
        view
        returns (address signer, uint256 retiredAt)
    {
        if (ev.permission.length == 0) return (address(0), 0);
        bytes32 digest = _hashTypedDataV4(OMLTypes.hashPermission(ev.modelId, ev.host, ev.keyHash, ev.seq));
        ECDSA.RecoverError err;
        // slither-disable-next-line unused-return -- err is checked; the unnamed errArg only details a failure
        (signer, err,) = ECDSA.tryRecoverCalldata(digest, ev.permission);
        if (err != ECDSA.RecoverError.NoError) return (address(0), 0);
        require(signer != m.permissionSigner, SlashPermissionValid());
        retiredAt = _retiredAt(ev.modelId, signer);
    }

    /// @dev Store a dispute over `(modelId, host, index)` with the commit-time slash terms.
    function _openDispute(
        SlashEvidence calldata ev,
        uint16 slashBps,
        uint16 proverShareBps,
        address signer,
        uint256 shieldDeadline
    ) private {
        uint256 deadline = block.timestamp + OMLTypes.DISPUTE_WINDOW;
        _disputes[ev.modelId][ev.host][ev.fingerprintIndex] = Dispute({
            prover: msg.sender,
            // casting to 'uint48' is safe because timestamps stay below 2^48 for millennia
            // forge-lint: disable-next-line(unsafe-typecast)
            deadline: uint48(deadline),
            slashBps: slashBps,
            proverShareBps: proverShareBps,
            receiptLeaf: OMLTypes.receiptLeaf(ev.keyHash, ev.seq),
            // casting to 'uint64' is safe because retiredAt and noticePeriod are both far below 2^63
            // forge-lint: disable-next-line(unsafe-typecast)
            shieldDeadline: uint64(shieldDeadline)
        });
        emit SlashDisputed(ev.modelId, ev.host, ev.fingerprintIndex, msg.sender, signer, deadline);
    }

    /// @dev Take `stake × slashBps / 10000`, credit `proverShareBps` of it to `prover` and the rest to the
    /// model's revenue. Returns the amount slashed (no event when it is zero).
    function _slash(
        uint256 modelId,
        address host,
        uint256 index,
        address prover,
        uint256 slashBps,
        uint256 proverShareBps
    ) private returns (uint256 slashed) {
        StakeRecord storage s = _stakeOf(modelId, host);
        slashed = BasisPoints.mulBps(s.amount, slashBps);
        // slither-disable-next-line incorrect-equality -- a stake too small to slash closes the case, by design
        if (slashed == 0) return 0;
        (uint256 reward, uint256 rest) = BasisPoints.split(slashed, proverShareBps);
        _slashStake(s, slashed);
        if (reward != 0) _rewards[prover] += reward;
        _creditRevenue(_modelUnchecked(modelId), rest);
        emit HostSlashed(modelId, host, prover, index, slashed, reward);
    }

    /// @dev Burn fingerprint `index` of `modelId` for `host` (one bit in a 256-bit word).
    function _burn(uint256 modelId, address host, uint256 index) private {
        _burned[modelId][host][index >> 8] |= uint256(1) << (index & 0xff);
        emit FingerprintBurned(modelId, host, index);
    }

    /// @dev Delete a dispute and decrement the host's open-dispute count.
    function _closeDispute(uint256 modelId, address host, uint256 index) private {
        delete _disputes[modelId][host][index];
        _stakeOf(modelId, host).openDisputes -= 1;
    }

    /// @dev The open dispute over `(modelId, host, index)`; reverts with SlashDisputeNotFound.
    function _existingDispute(uint256 modelId, address host, uint256 index)
        private
        view
        returns (Dispute storage d)
    {
        d = _disputes[modelId][host][index];
        require(d.deadline != 0, SlashDisputeNotFound(modelId, host, index));
    }

    /// @dev Whether fingerprint `index` of `modelId` is burned for `host`.
    function _isBurned(uint256 modelId, address host, uint256 index) private view returns (bool) {
        return _burned[modelId][host][index >> 8] & (uint256(1) << (index & 0xff)) != 0;
    }
}

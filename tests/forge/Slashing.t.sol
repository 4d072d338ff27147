// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {MerkleBuilder} from "./utils/MerkleBuilder.sol";
import {ISlashing} from "../../contracts/interfaces/ISlashing.sol";
import {IHostStaking} from "../../contracts/interfaces/IHostStaking.sol";
import {IOMLErrors} from "../../contracts/interfaces/IOMLErrors.sol";
import {Commitment, HostStake, SlashEvidence} from "../../contracts/libraries/OMLTypes.sol";

/// @notice Commit–reveal slashing end to end: real vm.sign signatures and real StandardMerkleTree proofs.
contract SlashingTest is OMLFixture {
    bytes internal constant SERVED = "zebra2 is what I would say to that";

    function setUp() public override {
        super.setUp();
        _stakeHost(2 ether);
    }

    function test_reveal_slashesHost_paysProverShare_andBurnsFingerprint() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        bytes32 c = _commitAndReveal(ev);

        uint256 slashed = 1 ether; // 2 ether × 5000 bps
        uint256 reward = 0.2 ether; // slashed × 2000 bps
        assertEq(oml.getStake(modelId, host).amount, 2 ether - slashed, "stake after slash");
        assertEq(oml.rewardOf(prover), reward, "prover reward");
        assertEq(oml.revenueOf(modelId), slashed - reward, "treasury share");
        assertTrue(oml.isBurned(modelId, 2), "index 2 burned");
        assertFalse(oml.isBurned(modelId, 1), "index 1 untouched");
        assertEq(oml.getCommitment(c).prover, address(0), "commitment deleted");
    }

    function test_reveal_acceptsEveryLeafOfOddTree() public {
        for (uint256 i = 0; i < N_FINGERPRINTS; i++) {
            bytes memory served = bytes.concat(_fpResponse(i), " and more");
            _commitAndReveal(_evidence(i, served, "", ATTESTATION_PK));
            assertTrue(oml.isBurned(modelId, i), "leaf burned");
        }
        // 2 ether halved five times
        assertEq(oml.getStake(modelId, host).amount, 2 ether / 32, "stake after five slashes");
    }

    function test_reveal_worksWithTwoLeafTree() public {
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = _leaf(0);
        leaves[1] = _leaf(1);
        (tree, treePos) = MerkleBuilder.build(leaves);
        assertEq(MerkleBuilder.proof(tree, treePos[0]).length, 1, "two-leaf proof has one sibling");
        vm.prank(owner);
        modelId = oml.registerModel(_params(tree[0], 2));
        _stakeHost(MIN_STAKE);
        _commitAndReveal(_evidence(1, bytes.concat(_fpResponse(1)), "", ATTESTATION_PK));
        assertTrue(oml.isBurned(modelId, 1), "leaf 1 burned");
        assertEq(oml.getStake(modelId, host).amount, MIN_STAKE / 2, "stake halved");
    }

    function test_reveal_slashesWhen_permissionSignedByWrongKey() public {
        bytes memory forged = _permission(STRANGER_PK, modelId, 2, 7);
        _commitAndReveal(_evidence(2, SERVED, forged, ATTESTATION_PK));
        assertTrue(oml.isBurned(modelId, 2), "burned despite forged permission");
    }

    function test_reveal_slashesWhen_permissionForOtherSeq() public {
        bytes memory other = _permission(PERMISSION_PK, modelId, 2, 8);
        _commitAndReveal(_evidence(2, SERVED, other, ATTESTATION_PK));
        assertTrue(oml.isBurned(modelId, 2), "permission for another seq does not cover seq 7");
    }

    function test_reveal_revertsWhen_permissionValid() public {
        SlashEvidence memory ev = _evidence(2, SERVED, _permission(PERMISSION_PK, modelId, 2, 7), ATTESTATION_PK);
        bytes32 c = _commit(prover, ev);
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashPermissionValid.selector));
        vm.prank(prover);
        oml.reveal(c, ev);
    }

    function test_reveal_revertsWhen_permissionFromReplacedSigner() public {
        SlashEvidence memory ev = _evidence(2, SERVED, _permission(PERMISSION_PK, modelId, 2, 7), ATTESTATION_PK);
        vm.prank(owner);
        oml.setPermissionSigner(modelId, stranger);
        bytes32 c = _commit(prover, ev);
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashPermissionValid.selector));
        vm.prank(prover);
        oml.reveal(c, ev);
    }

    function test_reveal_revertsWhen_fingerprintAlreadyBurned() public {
        _commitAndReveal(_evidence(2, SERVED, "", ATTESTATION_PK));
        SlashEvidence memory again = _evidence(2, SERVED, "", ATTESTATION_PK);
        again.seq = 9;
        _attest(again, ATTESTATION_PK);
        bytes32 c = _commit(prover, again);
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashFingerprintBurned.selector, modelId, 2));
        vm.prank(prover);
        oml.reveal(c, again);
    }

    function test_reveal_revertsWhen_sameBlockAsCommit() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        bytes32 c = _commit(prover, ev);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashRevealTooEarly.selector, block.number, block.number));
        vm.prank(prover);
        oml.reveal(c, ev);
    }

    function test_reveal_revertsWhen_commitmentExpired() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        bytes32 c = _commit(prover, ev);
        uint256 expiry = block.timestamp + 1 days;
        vm.roll(block.number + 1);
        vm.warp(expiry + 1);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashCommitmentExpired.selector, expiry + 1, expiry));
        vm.prank(prover);
        oml.reveal(c, ev);
    }

    function test_reveal_revertsWhen_frontRunnerCopiesEvidence() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        bytes32 c = _commit(prover, ev);
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashNotCommitter.selector, stranger, prover));
        vm.prank(stranger);
        oml.reveal(c, ev);
        // Committing the copied evidence under its own address does not help the copier either:
        bytes32 own = _commit(stranger, ev);
        vm.prank(prover);
        oml.reveal(c, ev);
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashFingerprintBurned.selector, modelId, 2));
        vm.prank(stranger);
        oml.reveal(own, ev);
    }

    function test_reveal_revertsWhen_evidenceDiffersFromCommitment() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        bytes32 c = _commit(prover, ev);
        ev.seq = 8;
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashCommitmentMismatch.selector));
        vm.prank(prover);
        oml.reveal(c, ev);
    }

    function test_reveal_revertsWhen_commitmentUnknown() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashCommitmentNotFound.selector, bytes32(uint256(1))));
        vm.prank(prover);
        oml.reveal(bytes32(uint256(1)), ev);
    }

    function test_reveal_revertsWhen_merkleProofInvalid() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        ev.salt = keccak256("wrong salt");
        _expectRevealRevert(ev, abi.encodeWithSelector(ISlashing.SlashInvalidMerkleProof.selector));
    }

    function test_reveal_revertsWhen_indexOutOfRange() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        ev.fingerprintIndex = N_FINGERPRINTS;
        _expectRevealRevert(
            ev,
            abi.encodeWithSelector(ISlashing.SlashFingerprintIndexOutOfRange.selector, N_FINGERPRINTS, N_FINGERPRINTS)
        );
    }

    function test_reveal_revertsWhen_responseDoesNotStartWithFingerprint() public {
        SlashEvidence memory ev = _evidence(2, "the zebra2", "", ATTESTATION_PK);
        _expectRevealRevert(ev, abi.encodeWithSelector(ISlashing.SlashResponseMismatch.selector));
    }

    function test_reveal_revertsWhen_attestationNotByHostSigner() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", STRANGER_PK);
        _expectRevealRevert(ev, abi.encodeWithSelector(ISlashing.SlashInvalidAttestation.selector));
    }

    function test_reveal_acceptsPreviousAttestationSigner_whenCommittedWithinWindow() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        vm.prank(host);
        oml.setAttestationSigner(modelId, stranger);
        vm.warp(block.timestamp + 1 days - 1);
        _commitAndReveal(ev);
        assertTrue(oml.isBurned(modelId, 2), "old signer's attestation still counts");
    }

    function test_reveal_revertsWhen_previousSignerExpiredAtCommit() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        vm.prank(host);
        oml.setAttestationSigner(modelId, stranger);
        vm.warp(block.timestamp + 1 days);
        _expectRevealRevert(ev, abi.encodeWithSelector(ISlashing.SlashInvalidAttestation.selector));
    }

    function test_reveal_revertsWhen_committedAfterUnbondingEnded() public {
        vm.prank(host);
        oml.requestUnstake(modelId);
        vm.warp(block.timestamp + DELAY);
        uint256 commitTime = block.timestamp;
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        _expectRevealRevert(
            ev,
            abi.encodeWithSelector(
                ISlashing.SlashStakeNotSlashable.selector, modelId, host, commitTime, commitTime
            )
        );
    }

    function test_withdrawStake_cannotOutrunCommitMadeBeforeUnbondingEnd() public {
        vm.prank(host);
        oml.requestUnstake(modelId);
        uint256 unbondingEnd = block.timestamp + DELAY;
        vm.warp(unbondingEnd - 1);
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        bytes32 c = _commit(prover, ev);
        vm.roll(block.number + 1);
        vm.warp(unbondingEnd - 1 + 1 days); // last moment of the reveal window
        vm.expectRevert(
            abi.encodeWithSelector(IHostStaking.StakeStillLocked.selector, block.timestamp, unbondingEnd + 1 days)
        );
        vm.prank(host);
        oml.withdrawStake(modelId);
        vm.prank(prover);
        oml.reveal(c, ev);
        assertEq(oml.getStake(modelId, host).amount, 1 ether, "slashed while unbonding");
    }

    function test_commit_revertsWhen_commitmentExists_untilExpired() public {
        bytes32 c = keccak256("c");
        vm.prank(prover);
        oml.commit(c);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashCommitmentExists.selector, c));
        vm.prank(stranger);
        oml.commit(c);
        vm.warp(block.timestamp + 1 days + 1);
        vm.roll(block.number + 5);
        vm.prank(stranger);
        oml.commit(c);
        Commitment memory stored = oml.getCommitment(c);
        assertEq(stored.prover, stranger, "expired commitment overwritten");
        assertEq(stored.blockNumber, block.number, "block recorded");
        assertEq(stored.timestamp, block.timestamp, "time recorded");
    }

    function test_withdrawReward_paysProverOnce() public {
        _commitAndReveal(_evidence(2, SERVED, "", ATTESTATION_PK));
        uint256 before = prover.balance;
        vm.prank(prover);
        oml.withdrawReward();
        assertEq(prover.balance - before, 0.2 ether, "reward paid");
        vm.expectRevert(abi.encodeWithSelector(IOMLErrors.NothingToWithdraw.selector));
        vm.prank(prover);
        oml.withdrawReward();
    }

    function _expectRevealRevert(SlashEvidence memory ev, bytes memory err) private {
        bytes32 c = _commit(prover, ev);
        vm.roll(block.number + 1);
        vm.expectRevert(err);
        vm.prank(prover);
        oml.reveal(c, ev);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {MerkleBuilder} from "./utils/MerkleBuilder.sol";
import {ISlashing} from "../../contracts/interfaces/ISlashing.sol";
import {IHostStaking} from "../../contracts/interfaces/IHostStaking.sol";
import {IOMLErrors} from "../../contracts/interfaces/IOMLErrors.sol";
import {Commitment, SlashEvidence, StakeTerms} from "../../contracts/libraries/OMLTypes.sol";

/// @notice Commit–reveal slashing end to end: real vm.sign signatures and real StandardMerkleTree proofs.
contract SlashingTest is OMLFixture {
    bytes internal constant SERVED = "zebra2 is what I would say to that";
    uint256 internal constant HOST2_PK = 0xC0FFEE2;
    uint256 internal constant ATTESTATION2_PK = 0xDEAD2;

    function setUp() public override {
        super.setUp();
        _stakeHost(2 ether);
    }

    function test_reveal_slashesHost_paysProverShare_andBurnsFingerprint() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        bytes32 c = oml.commitmentOf(prover, ev);
        _commit(prover, ev);
        vm.roll(block.number + 1);
        vm.expectEmit();
        emit ISlashing.FingerprintBurned(modelId, host, 2);
        vm.expectEmit();
        emit ISlashing.HostSlashed(modelId, host, prover, 2, 1 ether, 0.2 ether);
        vm.prank(prover);
        oml.reveal(c, ev);

        uint256 slashed = 1 ether; // 2 ether × 5000 bps
        uint256 reward = 0.2 ether; // slashed × 2000 bps
        assertEq(oml.getStake(modelId, host).amount, 2 ether - slashed, "stake after slash");
        assertEq(oml.rewardOf(prover), reward, "prover reward");
        assertEq(oml.revenueOf(modelId), slashed - reward, "treasury share");
        assertTrue(oml.isBurned(modelId, host, 2), "index 2 burned");
        assertFalse(oml.isBurned(modelId, host, 1), "index 1 untouched");
        assertEq(oml.getCommitment(prover, c).timestamp, 0, "commitment deleted");
    }

    function test_reveal_acceptsEveryLeafOfOddTree() public {
        for (uint256 i = 0; i < N_FINGERPRINTS; i++) {
            bytes memory served = bytes.concat(_fpResponse(i), " and more");
            _commitAndReveal(_evidence(i, served, "", ATTESTATION_PK));
            assertTrue(oml.isBurned(modelId, host, i), "leaf burned");
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
        assertTrue(oml.isBurned(modelId, host, 1), "leaf 1 burned");
        assertEq(oml.getStake(modelId, host).amount, MIN_STAKE / 2, "stake halved");
    }

    function test_reveal_slashesWhen_permissionSignedByWrongKey() public {
        bytes memory forged = _permissionFor(STRANGER_PK, 2);
        _commitAndReveal(_evidence(2, SERVED, forged, ATTESTATION_PK));
        assertTrue(oml.isBurned(modelId, host, 2), "burned despite forged permission");
        assertEq(oml.getStake(modelId, host).amount, 1 ether, "slashed now, no dispute");
        assertEq(oml.openDisputes(modelId, host), 0, "no dispute");
    }

    function test_reveal_slashesWhen_permissionMalformed() public {
        bytes memory malformed = new bytes(64);
        _commitAndReveal(_evidence(2, SERVED, malformed, ATTESTATION_PK));
        assertEq(oml.getStake(modelId, host).amount, 1 ether, "a malformed permission shields nothing");
    }

    function test_reveal_slashesWhen_permissionForOtherSeq() public {
        bytes memory other = _permission(PERMISSION_PK, modelId, 2, 8);
        _commitAndReveal(_evidence(2, SERVED, other, ATTESTATION_PK));
        assertTrue(oml.isBurned(modelId, host, 2), "permission for another seq does not cover seq 7");
    }

    /// @dev A permission by the current signer is a valid permission: no slash, whatever happens later.
    function test_reveal_revertsWhen_permissionValid() public {
        SlashEvidence memory ev = _evidence(2, SERVED, _permissionFor(PERMISSION_PK, 2), ATTESTATION_PK);
        _expectRevealRevert(ev, abi.encodeWithSelector(ISlashing.SlashPermissionValid.selector));
        assertFalse(oml.isBurned(modelId, host, 2), "not burned");
    }

    function test_reveal_revertsWhen_fingerprintAlreadyBurned() public {
        _commitAndReveal(_evidence(2, SERVED, "", ATTESTATION_PK));
        SlashEvidence memory again = _evidence(2, SERVED, "", ATTESTATION_PK);
        again.seq = 9;
        _attest(again, ATTESTATION_PK);
        _expectRevealRevert(
            again, abi.encodeWithSelector(ISlashing.SlashFingerprintBurned.selector, modelId, host, 2)
        );
    }

    /// @dev Finding: burns were per (model, index), so a sybil host could self-report an index to burn it for
    /// every host. Burns are per (model, host, index): the honest-looking host stays slashable with it.
    function test_reveal_sybilBurnDoesNotBurnForOtherHost() public {
        address host2 = vm.addr(HOST2_PK);
        vm.deal(host2, 10 ether);
        vm.prank(host2);
        oml.stake{value: MIN_STAKE}(modelId, vm.addr(ATTESTATION2_PK), "https://sybil.example");
        // The sybil serves fingerprint 2 and reports itself through a sybil prover (the stranger).
        SlashEvidence memory self = _evidence(2, SERVED, "", ATTESTATION2_PK);
        self.host = host2;
        _attest(self, ATTESTATION2_PK);
        bytes32 c = _commit(stranger, self);
        vm.roll(block.number + 1);
        vm.prank(stranger);
        oml.reveal(c, self);
        assertTrue(oml.isBurned(modelId, host2, 2), "burned for the sybil");
        assertFalse(oml.isBurned(modelId, host, 2), "not burned for the other host");
        // Self-reporting never pays: the sybil lost the slash and got at most half of it back.
        uint256 lost = MIN_STAKE - oml.getStake(modelId, host2).amount;
        assertLe(2 * oml.rewardOf(stranger), lost, "reward <= half the slash");
        // The same index still proves the other host's misuse.
        _commitAndReveal(_evidence(2, SERVED, "", ATTESTATION_PK));
        assertTrue(oml.isBurned(modelId, host, 2), "burned for host");
        assertEq(oml.getStake(modelId, host).amount, 1 ether, "host slashed with the same index");
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

    /// @dev Finding: commitments were global, so copying a prover's commit blocked the prover. They are now
    /// stored per committer: the copy blocks nobody and cannot be revealed by the copier.
    function test_commit_copiedByAnotherAddressBlocksNobody() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        bytes32 c = oml.commitmentOf(prover, ev);
        vm.prank(stranger);
        oml.commit(c); // front-run copy of the prover's commit
        vm.prank(prover);
        oml.commit(c); // not blocked
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashCommitmentMismatch.selector));
        vm.prank(stranger);
        oml.reveal(c, ev); // the commitment binds the prover's address
        vm.prank(prover);
        oml.reveal(c, ev);
        assertTrue(oml.isBurned(modelId, host, 2), "prover's reveal went through");
        assertEq(oml.getCommitment(stranger, c).timestamp, block.timestamp, "copy left under the copier");
    }

    function test_reveal_revertsWhen_copierRevealsWithOwnCommitmentAfterProver() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        bytes32 c = _commit(prover, ev);
        bytes32 own = _commit(stranger, ev);
        vm.roll(block.number + 1);
        vm.prank(prover);
        oml.reveal(c, ev);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashFingerprintBurned.selector, modelId, host, 2));
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
        bytes32 c = _commit(prover, ev);
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashCommitmentNotFound.selector, stranger, c));
        vm.prank(stranger);
        oml.reveal(c, ev);
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
        assertTrue(oml.isBurned(modelId, host, 2), "old signer's attestation still counts");
    }

    /// @dev Finding: a second rotation overwrote the first replaced signer's validity. Committing just before
    /// the first signer's validUntil still reveals after any number of later rotations.
    function test_reveal_secondRotationDoesNotShortenFirstSignersValidity() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        uint256 t0 = block.timestamp;
        vm.prank(host);
        oml.setAttestationSigner(modelId, stranger); // ATTESTATION valid until t0 + 1 day
        vm.warp(t0 + 1 hours);
        vm.prank(host);
        oml.setAttestationSigner(modelId, owner); // second rotation
        vm.warp(t0 + 2 hours);
        vm.prank(host);
        oml.setAttestationSigner(modelId, recipient); // third rotation
        vm.warp(t0 + 1 days - 1); // just before the first signer's validUntil
        bytes32 c = _commit(prover, ev);
        vm.roll(block.number + 1);
        vm.warp(t0 + 1 days + 12 hours); // reveal after validUntil: the commit time is what counts
        vm.prank(prover);
        oml.reveal(c, ev);
        assertTrue(oml.isBurned(modelId, host, 2), "first signer still valid at commit time");
    }

    function test_reveal_revertsWhen_previousSignerExpiredAtCommit() public {
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        vm.prank(host);
        oml.setAttestationSigner(modelId, stranger);
        vm.warp(block.timestamp + 1 days);
        _expectRevealRevert(ev, abi.encodeWithSelector(ISlashing.SlashInvalidAttestation.selector));
    }

    /// @dev Finding: reveal used the slash terms in force at reveal time, so an owner could raise slashBps
    /// over a pending commitment. A commitment is judged by the terms in force at its commit time.
    function test_reveal_usesSlashTermsInForceAtCommit() public {
        vm.prank(owner);
        oml.setStakeTerms(
            modelId,
            StakeTerms({minHostStake: MIN_STAKE, slashBps: 10_000, proverShareBps: 5000, unbondingDelay: DELAY})
        );
        uint256 effectiveAt = block.timestamp + NOTICE;
        vm.warp(effectiveAt - 1);
        SlashEvidence memory ev = _evidence(2, SERVED, "", ATTESTATION_PK);
        bytes32 c = _commit(prover, ev); // committed under the old terms
        vm.roll(block.number + 1);
        vm.warp(effectiveAt + 1); // new terms in force at reveal
        assertEq(oml.getModel(modelId).slashBps, 10_000, "new terms in force now");
        vm.prank(prover);
        oml.reveal(c, ev);
        assertEq(oml.getStake(modelId, host).amount, 1 ether, "old slashBps (5000) used");
        assertEq(oml.rewardOf(prover), 0.2 ether, "old proverShareBps (2000) used");
        // A commitment made under the new terms uses them.
        _commitAndReveal(_evidence(3, bytes.concat(_fpResponse(3)), "", ATTESTATION_PK));
        assertEq(oml.getStake(modelId, host).amount, 0, "new slashBps (10000) used");
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

    function test_reveal_revertsWhen_slashRoundsToZero() public {
        // Halve a tiny stake until 5000 bps of it is zero: the reveal reverts instead of burning for nothing.
        vm.prank(owner);
        modelId = oml.registerModel(_params(tree[0], N_FINGERPRINTS));
        vm.prank(owner);
        oml.setStakeTerms(
            modelId, StakeTerms({minHostStake: 2, slashBps: SLASH_BPS, proverShareBps: 0, unbondingDelay: DELAY})
        );
        vm.warp(block.timestamp + NOTICE);
        _stakeHost(2);
        _commitAndReveal(_evidence(0, bytes.concat(_fpResponse(0)), "", ATTESTATION_PK)); // 2 → 1
        _expectRevealRevert(
            _evidence(1, bytes.concat(_fpResponse(1)), "", ATTESTATION_PK),
            abi.encodeWithSelector(ISlashing.SlashNothingToSlash.selector, modelId, host)
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
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashCommitmentExists.selector, prover, c));
        vm.prank(prover);
        oml.commit(c);
        vm.warp(block.timestamp + 1 days + 1);
        vm.roll(block.number + 5);
        vm.prank(prover);
        oml.commit(c);
        Commitment memory stored = oml.getCommitment(prover, c);
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
}

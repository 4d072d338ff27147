// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {MerkleBuilder} from "./utils/MerkleBuilder.sol";
import {ISlashing} from "../../contracts/interfaces/ISlashing.sol";
import {IHostStaking} from "../../contracts/interfaces/IHostStaking.sol";
import {Dispute, OMLTypes, SlashEvidence, StakeTerms} from "../../contracts/libraries/OMLTypes.sol";

/// @notice Permission receipts and disputes: permissions of a retired permission signer.
contract DisputesTest is OMLFixture {
    bytes internal constant SERVED = "zebra2 is what I would say to that";
    uint256 internal constant NEW_SIGNER_PK = 0xB0B2;

    bytes32[] internal receiptTree;
    uint256[] internal receiptPos;

    function setUp() public override {
        super.setUp();
        _stakeHost(2 ether);
    }

    // ---- receipts ----

    function test_recordPermissionReceipts_keepsFirstRecording() public {
        bytes32 root = keccak256("root");
        vm.expectEmit();
        emit ISlashing.PermissionReceiptsRecorded(modelId, host, root);
        vm.prank(host);
        oml.recordPermissionReceipts(modelId, root);
        uint256 first = block.timestamp;
        vm.warp(block.timestamp + 1 days);
        vm.prank(host);
        oml.recordPermissionReceipts(modelId, root);
        assertEq(oml.receiptRecordedAt(modelId, host, root), first, "first recording kept");
        assertEq(oml.receiptRecordedAt(modelId, stranger, root), 0, "per host");
    }

    function test_recordPermissionReceipts_revertsWhen_zeroRoot() public {
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashZeroReceiptRoot.selector));
        vm.prank(host);
        oml.recordPermissionReceipts(modelId, bytes32(0));
    }

    function test_receiptLeaf_matchesStandardMerkleTreeLeaf() public view {
        bytes32 q = keccak256("query");
        assertEq(
            oml.receiptLeaf(q, 7), keccak256(bytes.concat(keccak256(abi.encode(q, uint256(7))))), "leaf encoding"
        );
    }

    // ---- disputes ----

    function test_reveal_opensDispute_whenPermissionByRetiredSigner() public {
        SlashEvidence memory ev = _evidence(2, SERVED, _permissionFor(PERMISSION_PK, 2), ATTESTATION_PK);
        uint256 retiredAt = _rotate();
        bytes32 c = _commit(prover, ev);
        vm.roll(block.number + 1);
        vm.expectEmit();
        emit ISlashing.FingerprintBurned(modelId, host, 2);
        vm.expectEmit();
        emit ISlashing.SlashDisputed(modelId, host, 2, prover, permissionSigner, block.timestamp + 1 days);
        vm.prank(prover);
        oml.reveal(c, ev);
        Dispute memory d = oml.getDispute(modelId, host, 2);
        assertEq(d.prover, prover, "prover");
        assertEq(d.deadline, block.timestamp + 1 days, "deadline");
        assertEq(d.slashBps, SLASH_BPS, "slashBps");
        assertEq(d.proverShareBps, PROVER_SHARE_BPS, "proverShareBps");
        assertEq(d.receiptLeaf, oml.receiptLeaf(ev.keyHash, ev.seq), "receipt leaf");
        assertEq(d.shieldDeadline, retiredAt + NOTICE, "shield deadline");
        assertEq(oml.openDisputes(modelId, host), 1, "one open dispute");
        assertEq(oml.getStake(modelId, host).amount, 2 ether, "not slashed yet");
        assertTrue(oml.isBurned(modelId, host, 2), "index burned");
        assertEq(oml.getCommitment(prover, c).timestamp, 0, "commitment deleted");
    }

    /// @dev Finding (a): a rotation turned permissions that honest hosts were issued (and paid for) into slash
    /// evidence. A host that recorded its receipt before retiredAt + notice defends, however late the evidence.
    function test_defendSlash_honestHostWithTimelyReceipt_notSlashed_evenWithLateEvidence() public {
        bytes memory permission = _permissionFor(PERMISSION_PK, 2); // issued while PERMISSION_PK is current
        SlashEvidence memory ev = _evidence(2, SERVED, permission, ATTESTATION_PK);
        bytes32 root = _recordReceipts(ev.keyHash, ev.seq);
        _rotate();
        vm.warp(block.timestamp + 200 days); // evidence surfaces much later, after more rotations
        vm.prank(owner);
        oml.setPermissionSigner(modelId, stranger);
        _commitAndReveal(ev);
        assertEq(oml.openDisputes(modelId, host), 1, "dispute opened");
        vm.warp(block.timestamp + 1 days); // last moment of the defence window
        vm.expectEmit();
        emit ISlashing.SlashDefended(modelId, host, 2);
        vm.prank(stranger); // anyone may defend
        oml.defendSlash(modelId, host, 2, root, MerkleBuilder.proof(receiptTree, receiptPos[0]));
        assertEq(oml.getStake(modelId, host).amount, 2 ether, "honest host not slashed");
        assertEq(oml.openDisputes(modelId, host), 0, "dispute closed");
        assertEq(oml.getDispute(modelId, host, 2).deadline, 0, "dispute deleted");
        assertEq(oml.rewardOf(prover), 0, "no reward");
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashDisputeNotFound.selector, modelId, host, 2));
        oml.finalizeSlash(modelId, host, 2);
    }

    function test_defendSlash_receiptRecordedDuringGrace_shields() public {
        bytes memory permission = _permissionFor(PERMISSION_PK, 2);
        SlashEvidence memory ev = _evidence(2, SERVED, permission, ATTESTATION_PK);
        uint256 retiredAt = _rotate();
        vm.warp(retiredAt + NOTICE); // the last moment of the grace
        bytes32 root = _recordReceipts(ev.keyHash, ev.seq);
        _commitAndReveal(ev);
        oml.defendSlash(modelId, host, 2, root, MerkleBuilder.proof(receiptTree, receiptPos[0]));
        assertEq(oml.getStake(modelId, host).amount, 2 ether, "not slashed");
    }

    /// @dev Finding (b): a leaked, retired permission key could shield new unpermitted answers forever. A
    /// permission it signs after the grace cannot be defended, and the slash uses the commit-time terms.
    function test_finalizeSlash_forgedPermissionByRetiredKeyAfterGrace_slashesWithCommitTimeTerms() public {
        uint256 retiredAt = _rotate();
        vm.warp(retiredAt + NOTICE + 1);
        // The thief signs with the leaked retired key; the host serves and even records the receipt (too late).
        bytes memory forged = _permissionFor(PERMISSION_PK, 2);
        SlashEvidence memory ev = _evidence(2, SERVED, forged, ATTESTATION_PK);
        bytes32 root = _recordReceipts(ev.keyHash, ev.seq);
        bytes32 c = _commit(prover, ev); // commit under the current terms (5000 / 2000)
        vm.prank(owner);
        oml.setStakeTerms(
            modelId, StakeTerms({minHostStake: MIN_STAKE, slashBps: 100, proverShareBps: 0, unbondingDelay: DELAY})
        );
        vm.roll(block.number + 1);
        vm.warp(block.timestamp + NOTICE); // new terms in force at reveal
        vm.prank(prover);
        oml.reveal(c, ev);
        vm.expectRevert(
            abi.encodeWithSelector(ISlashing.SlashReceiptTooLate.selector, retiredAt + NOTICE + 1, retiredAt + NOTICE)
        );
        vm.prank(host);
        oml.defendSlash(modelId, host, 2, root, MerkleBuilder.proof(receiptTree, receiptPos[0]));

        uint256 deadline = oml.getDispute(modelId, host, 2).deadline;
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashDisputeActive.selector, deadline, deadline));
        vm.warp(deadline);
        oml.finalizeSlash(modelId, host, 2);
        vm.warp(deadline + 1);
        vm.expectEmit();
        emit ISlashing.HostSlashed(modelId, host, prover, 2, 1 ether, 0.2 ether);
        vm.prank(stranger); // anyone may finalize
        oml.finalizeSlash(modelId, host, 2);
        assertEq(oml.getStake(modelId, host).amount, 1 ether, "slashed with commit-time slashBps");
        assertEq(oml.rewardOf(prover), 0.2 ether, "dispute's prover rewarded with commit-time share");
        assertEq(oml.revenueOf(modelId), 0.8 ether, "rest to revenue");
        assertEq(oml.openDisputes(modelId, host), 0, "closed");
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashDisputeNotFound.selector, modelId, host, 2));
        oml.finalizeSlash(modelId, host, 2);
    }

    function test_withdrawStake_blockedWhileDisputeOpen_allowedAfterFinalize() public {
        _openDispute();
        vm.prank(host);
        oml.requestUnstake(modelId);
        vm.warp(block.timestamp + DELAY + 1 days);
        vm.expectRevert(abi.encodeWithSelector(IHostStaking.StakeDisputePending.selector, modelId, host, 1));
        vm.prank(host);
        oml.withdrawStake(modelId);
        oml.finalizeSlash(modelId, host, 2);
        uint256 before = host.balance;
        vm.prank(host);
        oml.withdrawStake(modelId);
        assertEq(host.balance - before, 1 ether, "remaining stake withdrawn");
    }

    function test_withdrawStake_blockedWhileDisputeOpen_allowedAfterDefend() public {
        SlashEvidence memory ev = _evidence(2, SERVED, _permissionFor(PERMISSION_PK, 2), ATTESTATION_PK);
        bytes32 root = _recordReceipts(ev.keyHash, ev.seq);
        _rotate();
        _commitAndReveal(ev);
        vm.prank(host);
        oml.requestUnstake(modelId);
        vm.warp(block.timestamp + 1 days);
        oml.defendSlash(modelId, host, 2, root, MerkleBuilder.proof(receiptTree, receiptPos[0]));
        vm.warp(block.timestamp + DELAY);
        vm.prank(host);
        oml.withdrawStake(modelId);
        assertEq(oml.getStake(modelId, host).amount, 0, "withdrawn in full");
    }

    function test_defendSlash_revertsWhen_disputeNotFound() public {
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashDisputeNotFound.selector, modelId, host, 2));
        oml.defendSlash(modelId, host, 2, bytes32(0), new bytes32[](0));
    }

    function test_defendSlash_revertsWhen_expired() public {
        _openDispute();
        uint256 deadline = oml.getDispute(modelId, host, 2).deadline;
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashDisputeExpired.selector, deadline + 1, deadline));
        oml.defendSlash(modelId, host, 2, bytes32(0), new bytes32[](0));
    }

    function test_defendSlash_revertsWhen_receiptNotRecorded() public {
        _openDispute();
        bytes32 root = keccak256("never recorded");
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashReceiptNotRecorded.selector, root));
        oml.defendSlash(modelId, host, 2, root, new bytes32[](0));
    }

    function test_defendSlash_revertsWhen_receiptRecordedByAnotherHost() public {
        SlashEvidence memory ev = _evidence(2, SERVED, _permissionFor(PERMISSION_PK, 2), ATTESTATION_PK);
        bytes32 root = _buildReceipts(ev.keyHash, ev.seq);
        vm.prank(stranger);
        oml.recordPermissionReceipts(modelId, root);
        _rotate();
        _commitAndReveal(ev);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashReceiptNotRecorded.selector, root));
        oml.defendSlash(modelId, host, 2, root, MerkleBuilder.proof(receiptTree, receiptPos[0]));
    }

    function test_defendSlash_revertsWhen_proofDoesNotHoldLeaf() public {
        SlashEvidence memory ev = _evidence(2, SERVED, _permissionFor(PERMISSION_PK, 2), ATTESTATION_PK);
        bytes32 root = _recordReceipts(keccak256("another query"), ev.seq); // leaf 0 is another query
        _rotate();
        _commitAndReveal(ev);
        vm.expectRevert(abi.encodeWithSelector(ISlashing.SlashInvalidReceiptProof.selector));
        oml.defendSlash(modelId, host, 2, root, MerkleBuilder.proof(receiptTree, receiptPos[0]));
    }

    function test_finalizeSlash_zeroSlashJustCloses() public {
        _openDispute();
        // Another proof under later terms takes the whole stake before the dispute is finalized.
        vm.prank(owner);
        oml.setStakeTerms(
            modelId, StakeTerms({minHostStake: MIN_STAKE, slashBps: 10_000, proverShareBps: 0, unbondingDelay: DELAY})
        );
        vm.warp(block.timestamp + NOTICE);
        _commitAndReveal(_evidence(3, bytes.concat(_fpResponse(3)), "", ATTESTATION_PK));
        assertEq(oml.getStake(modelId, host).amount, 0, "stake gone");
        uint256 rewardBefore = oml.rewardOf(prover);
        vm.warp(oml.getDispute(modelId, host, 2).deadline + 1);
        oml.finalizeSlash(modelId, host, 2);
        assertEq(oml.openDisputes(modelId, host), 0, "closed");
        assertEq(oml.rewardOf(prover), rewardBefore, "nothing to slash, nothing credited");
    }

    // ---- helpers ----

    /// @dev Rotate the permission signer away from PERMISSION_PK; returns the retirement time.
    function _rotate() private returns (uint256 retiredAt) {
        vm.prank(owner);
        oml.setPermissionSigner(modelId, vm.addr(NEW_SIGNER_PK));
        return block.timestamp;
    }

    /// @dev Open a dispute over fingerprint 2 with a retired signer's permission and no receipt.
    function _openDispute() private {
        SlashEvidence memory ev = _evidence(2, SERVED, _permissionFor(PERMISSION_PK, 2), ATTESTATION_PK);
        _rotate();
        _commitAndReveal(ev);
        assertEq(oml.openDisputes(modelId, host), 1, "dispute open");
    }

    /// @dev A three-leaf receipt tree whose leaf 0 is `(queryHash, seq)`.
    function _buildReceipts(bytes32 queryHash, uint256 seq) private returns (bytes32 root) {
        bytes32[] memory leaves = new bytes32[](3);
        leaves[0] = OMLTypes.receiptLeaf(queryHash, seq);
        leaves[1] = OMLTypes.receiptLeaf(keccak256("q1"), 1);
        leaves[2] = OMLTypes.receiptLeaf(keccak256("q2"), 2);
        (receiptTree, receiptPos) = MerkleBuilder.build(leaves);
        return receiptTree[0];
    }

    /// @dev Build the receipt tree and record its root as the host, now.
    function _recordReceipts(bytes32 queryHash, uint256 seq) private returns (bytes32 root) {
        root = _buildReceipts(queryHash, seq);
        vm.prank(host);
        oml.recordPermissionReceipts(modelId, root);
    }
}

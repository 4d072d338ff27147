// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "../utils/OMLFixture.sol";
import {MerkleBuilder} from "../utils/MerkleBuilder.sol";
import {HostStake, SlashEvidence, Voucher} from "../../../contracts/libraries/OMLTypes.sol";

/// @notice Drives a real OML with bounded random actions by three hosts and two provers, and keeps ghost
/// totals for the invariants. Deploys and owns its OML (via the fixture's setUp) so signing keys are known.
contract OMLHandler is OMLFixture {
    uint256 internal constant N_HOSTS = 3;
    uint256 internal constant N_PROVERS = 2;

    uint256 public ghostTotalStaked;
    uint256 public ghostTotalSlashed;
    uint256 public ghostSuccessfulReveals;
    mapping(uint256 index => uint256 burns) public ghostBurns;
    mapping(address host => uint256 count) public ghostSettled;
    mapping(bytes32 action => uint256 calls) public calls;

    constructor() {
        setUp();
        for (uint256 i = 0; i < N_HOSTS; i++) {
            vm.deal(hostAt(i), 1_000 ether);
        }
    }

    /// @notice The OML under test.
    function target() external view returns (address) {
        return address(oml);
    }

    // ---- actors ----

    function hostPk(uint256 i) public pure returns (uint256) {
        return HOST_PK + i;
    }

    function hostAt(uint256 i) public pure returns (address) {
        return vm.addr(hostPk(i));
    }

    function proverAt(uint256 i) public pure returns (address) {
        return vm.addr(PROVER_PK + i);
    }

    function nHosts() external pure returns (uint256) {
        return N_HOSTS;
    }

    function nProvers() external pure returns (uint256) {
        return N_PROVERS;
    }

    function nFingerprints() external pure returns (uint256) {
        return N_FINGERPRINTS;
    }

    // ---- actions ----

    function stake(uint256 hostSeed, uint256 amount) external {
        address h = hostAt(hostSeed % N_HOSTS);
        HostStake memory s = oml.getStake(modelId, h);
        if (s.unbondingEnd != 0) return;
        amount = bound(amount, s.amount >= MIN_STAKE ? 1 : MIN_STAKE - s.amount, 5 ether);
        vm.prank(h);
        oml.stake{value: amount}(modelId, attestationSigner, "https://h.example");
        ghostTotalStaked += amount;
        calls["stake"]++;
    }

    function deposit(uint256 hostSeed, uint256 amount) external {
        address h = hostAt(hostSeed % N_HOSTS);
        amount = bound(amount, 1, 1 ether);
        vm.prank(h);
        oml.depositEscrow{value: amount}(modelId);
        calls["deposit"]++;
    }

    /// @dev Settle a voucher `delta` queries beyond (or, for delta < 0 after wrapping, at or below) the
    /// settled count; only increasing, covered vouchers may succeed.
    function settle(uint256 hostSeed, uint256 delta) external {
        uint256 i = hostSeed % N_HOSTS;
        address h = hostAt(i);
        uint256 settled = oml.settledCount(modelId, h);
        uint256 count = settled + bound(delta, 0, 300);
        if (delta % 7 == 0 && settled != 0) count = settled - bound(delta, 0, settled); // stale voucher
        Voucher memory v = Voucher({modelId: modelId, host: h, count: count});
        bytes memory sig = _sign(hostPk(i), oml.voucherDigest(v));
        (uint256 balanceBefore,,) = oml.getEscrow(modelId, h);
        try oml.settle(v, sig) {
            assertTrue(count > settled, "settle succeeded with a non-increasing count");
            (uint256 balanceAfter,,) = oml.getEscrow(modelId, h);
            assertEq(balanceBefore - balanceAfter, (count - settled) * PRICE, "escrow moved");
            ghostSettled[h] = count;
            calls["settle"]++;
        } catch {
            calls["settle reverted"]++;
        }
        assertGe(oml.settledCount(modelId, h), settled, "settled count decreased");
    }

    function requestUnstake(uint256 hostSeed) external {
        address h = hostAt(hostSeed % N_HOSTS);
        HostStake memory s = oml.getStake(modelId, h);
        if (s.unbondingEnd != 0 || (s.amount == 0 && s.attestationSigner == address(0))) return;
        vm.prank(h);
        oml.requestUnstake(modelId);
        calls["requestUnstake"]++;
    }

    function withdrawStake(uint256 hostSeed) external {
        address h = hostAt(hostSeed % N_HOSTS);
        HostStake memory s = oml.getStake(modelId, h);
        if (s.unbondingEnd == 0) return;
        if (block.timestamp < s.unbondingEnd + 1 days) vm.warp(s.unbondingEnd + 1 days);
        vm.prank(h);
        oml.withdrawStake(modelId);
        calls["withdrawStake"]++;
    }

    function requestEscrowWithdrawal(uint256 hostSeed, uint256 amount) external {
        address h = hostAt(hostSeed % N_HOSTS);
        (uint256 balance,,) = oml.getEscrow(modelId, h);
        if (balance == 0) return;
        vm.prank(h);
        oml.requestEscrowWithdrawal(modelId, bound(amount, 1, balance));
        calls["requestEscrowWithdrawal"]++;
    }

    function withdrawEscrow(uint256 hostSeed) external {
        address h = hostAt(hostSeed % N_HOSTS);
        (, uint256 thawing, uint256 thawEnd) = oml.getEscrow(modelId, h);
        if (thawing == 0) return;
        if (block.timestamp < thawEnd) vm.warp(thawEnd);
        vm.prank(h);
        oml.withdrawEscrow(modelId);
        calls["withdrawEscrow"]++;
    }

    /// @dev Commit and reveal a proof that host `hostSeed` served fingerprint `indexSeed` unpermitted.
    function slash(uint256 hostSeed, uint256 proverSeed, uint256 indexSeed) external {
        address h = hostAt(hostSeed % N_HOSTS);
        address p = proverAt(proverSeed % N_PROVERS);
        uint256 index = indexSeed % N_FINGERPRINTS;
        SlashEvidence memory ev = _hostEvidence(h, index, indexSeed);
        bytes32 c = oml.commitmentOf(p, ev);
        vm.prank(p);
        try oml.commit(c) {} catch {
            return;
        }
        vm.roll(block.number + 1);
        uint256 before = oml.getStake(modelId, h).amount;
        vm.prank(p);
        try oml.reveal(c, ev) {
            ghostBurns[index]++;
            ghostSuccessfulReveals++;
            ghostTotalSlashed += before - oml.getStake(modelId, h).amount;
            calls["slash"]++;
        } catch {
            calls["slash reverted"]++;
        }
    }

    function withdrawRevenue() external {
        if (oml.revenueOf(modelId) == 0) return;
        vm.prank(recipient);
        oml.withdrawRevenue(modelId);
        calls["withdrawRevenue"]++;
    }

    function withdrawReward(uint256 proverSeed) external {
        address p = proverAt(proverSeed % N_PROVERS);
        if (oml.rewardOf(p) == 0) return;
        vm.prank(p);
        oml.withdrawReward();
        calls["withdrawReward"]++;
    }

    function passTime(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 2 days));
        vm.roll(block.number + 1);
    }

    /// @dev The selectors the invariant fuzzer may call (not the fixture's helpers).
    function actionSelectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](12);
        s[0] = this.stake.selector;
        s[1] = this.deposit.selector;
        s[2] = this.settle.selector;
        s[3] = this.requestUnstake.selector;
        s[4] = this.withdrawStake.selector;
        s[5] = this.requestEscrowWithdrawal.selector;
        s[6] = this.withdrawEscrow.selector;
        s[7] = this.slash.selector;
        s[8] = this.withdrawRevenue.selector;
        s[9] = this.withdrawReward.selector;
        s[10] = this.passTime.selector;
        s[11] = this.slash.selector; // slashing twice as likely
    }

    function _hostEvidence(address h, uint256 index, uint256 seq) private view returns (SlashEvidence memory ev) {
        ev.modelId = modelId;
        ev.host = h;
        ev.fingerprintIndex = index;
        ev.salt = _salt(index);
        ev.keyHash = keccak256(bytes(_key(index)));
        ev.fingerprintResponse = _fpResponse(index);
        ev.response = bytes.concat(_fpResponse(index), " indeed");
        ev.merkleProof = MerkleBuilder.proof(tree, treePos[index]);
        ev.seq = seq;
        _attest(ev, ATTESTATION_PK);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {OML} from "../../contracts/OML.sol";
import {SlashEvidence, Voucher} from "../../contracts/libraries/OMLTypes.sol";

/// @notice A contract that is at once a host (staking address), a model's revenue recipient and a prover, and
/// that tries, from the ETH transfer of every payout, to take the same money again through each withdrawal.
contract ReentrantAccount {
    OML public immutable oml;
    uint256 public immutable modelId;
    uint256 public received;
    uint256 public payouts;
    bytes4 public reentryError;
    bool public reentrySucceeded;

    constructor(OML oml_, uint256 modelId_) {
        oml = oml_;
        modelId = modelId_;
    }

    function stake(address attestationSigner) external payable {
        oml.stake{value: msg.value}(modelId, attestationSigner, "");
    }

    function deposit() external payable {
        oml.depositEscrow{value: msg.value}(modelId);
    }

    function requestEscrow(uint256 amount) external {
        oml.requestEscrowWithdrawal(modelId, amount);
    }

    function unstake() external {
        oml.requestUnstake(modelId);
    }

    function commit(bytes32 c) external {
        oml.commit(c);
    }

    function reveal(bytes32 c, SlashEvidence calldata ev) external {
        oml.reveal(c, ev);
    }

    function withdrawEscrow() external {
        oml.withdrawEscrow(modelId);
    }

    function withdrawStake() external {
        oml.withdrawStake(modelId);
    }

    function withdrawRevenue() external {
        oml.withdrawRevenue(modelId);
    }

    function withdrawReward() external {
        oml.withdrawReward();
    }

    /// @dev Every withdrawal again, from inside the payout; any of them paying would be a double payment.
    function reenterAll() external {
        try oml.withdrawEscrow(modelId) {
            reentrySucceeded = true;
        } catch (bytes memory err) {
            reentryError = bytes4(err);
        }
        try oml.withdrawStake(modelId) {
            reentrySucceeded = true;
        } catch {}
        try oml.withdrawRevenue(modelId) {
            reentrySucceeded = true;
        } catch {}
        try oml.withdrawReward() {
            reentrySucceeded = true;
        } catch {}
    }

    receive() external payable {
        received += msg.value;
        payouts += 1;
        if (msg.sender == address(oml)) this.reenterAll();
    }
}

/// @notice Re-entrancy from a receiving contract: each payout pays once, every nested withdrawal reverts with
/// OpenZeppelin's ReentrancyGuardReentrantCall, and the contract's ETH goes down by exactly the one payout.
contract ReentrancyTest is OMLFixture {
    bytes4 internal constant REENTRANT = bytes4(keccak256("ReentrancyGuardReentrantCall()"));
    ReentrantAccount internal attacker;

    function setUp() public override {
        super.setUp();
        attacker = new ReentrantAccount(oml, modelId);
        vm.deal(address(attacker), 10 ether);
        vm.deal(address(this), 10 ether);
    }

    function _assertSinglePayout(uint256 amount, uint256 omlBefore) internal view {
        assertEq(attacker.payouts(), 1, "one payout");
        assertEq(attacker.received(), amount, "paid exactly once");
        assertEq(address(oml).balance, omlBefore - amount, "OML lost exactly the payout");
        assertEq(attacker.reentryError(), REENTRANT, "nested withdrawal hit the guard");
        assertFalse(attacker.reentrySucceeded(), "no nested withdrawal succeeded");
    }

    function test_withdrawEscrow_reentryFromPayoutReverts() public {
        attacker.deposit{value: 1 ether}();
        attacker.requestEscrow(0.4 ether);
        vm.warp(block.timestamp + DELAY);
        uint256 before = address(oml).balance;
        attacker.withdrawEscrow();
        _assertSinglePayout(0.4 ether, before);
    }

    function test_withdrawStake_reentryFromPayoutReverts() public {
        attacker.stake{value: MIN_STAKE}(attestationSigner);
        attacker.unstake();
        vm.warp(block.timestamp + DELAY + oml.REVEAL_WINDOW());
        uint256 before = address(oml).balance;
        attacker.withdrawStake();
        _assertSinglePayout(MIN_STAKE, before);
    }

    function test_withdrawRevenue_reentryFromPayoutReverts() public {
        vm.prank(owner);
        oml.setRevenueRecipient(modelId, address(attacker));
        vm.prank(host);
        oml.depositEscrow{value: 1 ether}(modelId);
        (Voucher memory v, bytes memory sig) = _voucherSig(100);
        oml.settle(v, sig);
        uint256 before = address(oml).balance;
        attacker.withdrawRevenue();
        _assertSinglePayout(100 * PRICE, before);
    }

    function test_withdrawReward_reentryFromPayoutReverts() public {
        _stakeHost(MIN_STAKE);
        SlashEvidence memory ev = _evidence(2, bytes.concat(_fpResponse(2), " etc"), "", ATTESTATION_PK);
        bytes32 c = oml.commitmentOf(address(attacker), ev);
        attacker.commit(c);
        vm.roll(block.number + 1);
        attacker.reveal(c, ev);
        uint256 reward = oml.rewardOf(address(attacker));
        assertEq(reward, MIN_STAKE * SLASH_BPS / 10_000 * PROVER_SHARE_BPS / 10_000, "reward");
        uint256 before = address(oml).balance;
        attacker.withdrawReward();
        _assertSinglePayout(reward, before);
    }
}

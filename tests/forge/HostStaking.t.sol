// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {IHostStaking} from "../../contracts/interfaces/IHostStaking.sol";
import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {HostStake} from "../../contracts/libraries/OMLTypes.sol";

contract HostStakingTest is OMLFixture {
    function test_stake_recordsStake_andMakesHostActive() public {
        vm.expectEmit();
        emit IHostStaking.HostStaked(modelId, host, MIN_STAKE, MIN_STAKE);
        _stakeHost(MIN_STAKE);
        HostStake memory s = oml.getStake(modelId, host);
        assertEq(s.amount, MIN_STAKE, "amount");
        assertEq(s.unbondingEnd, 0, "bonded");
        assertEq(s.attestationSigner, attestationSigner, "signer");
        assertEq(s.endpoint, "https://host.example", "endpoint");
        assertTrue(oml.isActiveHost(modelId, host), "active");
        assertEq(address(oml).balance, MIN_STAKE, "ETH held");
    }

    function test_stake_topsUpBelowMinimumOnceStaked() public {
        _stakeHost(MIN_STAKE);
        _stakeHost(1);
        assertEq(oml.getStake(modelId, host).amount, MIN_STAKE + 1, "topped up");
    }

    function test_stake_revertsWhen_belowMinimum() public {
        vm.expectRevert(abi.encodeWithSelector(IHostStaking.StakeBelowMinimum.selector, MIN_STAKE - 1, MIN_STAKE));
        _stakeHost(MIN_STAKE - 1);
    }

    function test_stake_revertsWhen_modelInactive() public {
        vm.prank(owner);
        oml.setActive(modelId, false);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelInactive.selector, modelId));
        _stakeHost(MIN_STAKE);
    }

    function test_stake_revertsWhen_unbonding() public {
        _stakeHost(MIN_STAKE);
        vm.prank(host);
        oml.requestUnstake(modelId);
        vm.expectRevert(
            abi.encodeWithSelector(IHostStaking.StakeUnbonding.selector, modelId, host, block.timestamp + DELAY)
        );
        _stakeHost(1);
    }

    function test_unstake_thenWithdraw_afterDelayPlusRevealWindow() public {
        _stakeHost(MIN_STAKE);
        vm.prank(host);
        oml.requestUnstake(modelId);
        assertFalse(oml.isActiveHost(modelId, host), "unbonding host inactive");
        uint256 unlock = block.timestamp + DELAY + 1 days;
        vm.warp(unlock - 1);
        vm.expectRevert(abi.encodeWithSelector(IHostStaking.StakeStillLocked.selector, unlock - 1, unlock));
        vm.prank(host);
        oml.withdrawStake(modelId);
        vm.warp(unlock);
        uint256 before = host.balance;
        vm.prank(host);
        oml.withdrawStake(modelId);
        assertEq(host.balance - before, MIN_STAKE, "stake returned");
        assertEq(oml.getStake(modelId, host).amount, 0, "record cleared");
        _stakeHost(MIN_STAKE); // may stake afresh
    }

    function test_withdrawStake_revertsWhen_notUnbonding() public {
        _stakeHost(MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(IHostStaking.StakeNotUnbonding.selector, modelId, host));
        vm.prank(host);
        oml.withdrawStake(modelId);
    }

    function test_requestUnstake_revertsWhen_noStake() public {
        vm.expectRevert(abi.encodeWithSelector(IHostStaking.StakeNotFound.selector, modelId, host));
        vm.prank(host);
        oml.requestUnstake(modelId);
    }

    function test_setAttestationSigner_keepsPrevious_andLimitsRotation() public {
        _stakeHost(MIN_STAKE);
        vm.prank(host);
        oml.setAttestationSigner(modelId, stranger);
        (address prev, uint256 until) = oml.getPreviousAttestationSigner(modelId, host);
        assertEq(prev, attestationSigner, "previous signer");
        assertEq(until, block.timestamp + 1 days, "valid for one reveal window");
        vm.expectRevert(
            abi.encodeWithSelector(IHostStaking.StakeSignerRotationTooSoon.selector, block.timestamp, until)
        );
        vm.prank(host);
        oml.setAttestationSigner(modelId, owner);
        vm.warp(until);
        vm.prank(host);
        oml.setAttestationSigner(modelId, owner);
        assertEq(oml.getStake(modelId, host).attestationSigner, owner, "rotated after window");
    }

    function test_setEndpoint_updates() public {
        _stakeHost(MIN_STAKE);
        vm.prank(host);
        oml.setEndpoint(modelId, "https://new.example");
        assertEq(oml.getStake(modelId, host).endpoint, "https://new.example", "endpoint");
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {ERC1271Mock} from "./utils/ERC1271Mock.sol";
import {IHostStaking} from "../../contracts/interfaces/IHostStaking.sol";
import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {HostStake, StakeTerms} from "../../contracts/libraries/OMLTypes.sol";

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
        assertEq(oml.openDisputes(modelId, host), 0, "no disputes");
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

    function test_stake_usesMinimumInForceNow() public {
        vm.prank(owner);
        oml.setStakeTerms(
            modelId,
            StakeTerms({minHostStake: 2 ether, slashBps: SLASH_BPS, proverShareBps: 0, unbondingDelay: DELAY})
        );
        _stakeHost(MIN_STAKE); // the old minimum until the notice ends
        assertTrue(oml.isActiveHost(modelId, host), "active under the old minimum");
        vm.warp(block.timestamp + NOTICE);
        assertFalse(oml.isActiveHost(modelId, host), "below the new minimum");
        vm.expectRevert(abi.encodeWithSelector(IHostStaking.StakeBelowMinimum.selector, MIN_STAKE + 1, 2 ether));
        _stakeHost(1);
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

    /// @dev Finding: an ERC-1271 attestation signer could make every attestation unverifiable.
    function test_stake_revertsWhen_attestationSignerIsContract() public {
        ERC1271Mock wallet = new ERC1271Mock(attestationSigner, false);
        vm.expectRevert(abi.encodeWithSelector(IHostStaking.StakeSignerNotEOA.selector, address(wallet)));
        vm.prank(host);
        oml.stake{value: MIN_STAKE}(modelId, address(wallet), "https://host.example");
    }

    function test_setAttestationSigner_revertsWhen_signerIsContract() public {
        _stakeHost(MIN_STAKE);
        ERC1271Mock wallet = new ERC1271Mock(attestationSigner, false);
        vm.expectRevert(abi.encodeWithSelector(IHostStaking.StakeSignerNotEOA.selector, address(wallet)));
        vm.prank(host);
        oml.setAttestationSigner(modelId, address(wallet));
    }

    function test_stake_revertsWhen_zeroAttestationSigner() public {
        vm.expectRevert(abi.encodeWithSelector(IHostStaking.StakeZeroAttestationSigner.selector));
        vm.prank(host);
        oml.stake{value: MIN_STAKE}(modelId, address(0), "https://host.example");
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

    function test_requestUnstake_usesDelayInForceAtRequest() public {
        _stakeHost(MIN_STAKE);
        vm.prank(owner);
        oml.setStakeTerms(
            modelId,
            StakeTerms({minHostStake: MIN_STAKE, slashBps: SLASH_BPS, proverShareBps: 0, unbondingDelay: 30 days})
        );
        vm.warp(block.timestamp + NOTICE);
        vm.prank(host);
        oml.requestUnstake(modelId);
        assertEq(oml.getStake(modelId, host).unbondingEnd, block.timestamp + 30 days, "new delay in force");
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

    /// @dev Finding: one rotation slot let a second rotation cut the first replaced signer's validity short,
    /// and the rate limit that prevented it blocked honest key changes. Validity is now per signer.
    function test_setAttestationSigner_secondRotationDoesNotShortenFirst_noRateLimit() public {
        _stakeHost(MIN_STAKE);
        uint256 t0 = block.timestamp;
        vm.prank(host);
        oml.setAttestationSigner(modelId, stranger);
        assertEq(oml.attestationSignerValidUntil(modelId, host, attestationSigner), t0 + 1 days, "first validity");
        vm.warp(t0 + 1 hours);
        vm.prank(host);
        oml.setAttestationSigner(modelId, owner); // no rate limit
        assertEq(oml.attestationSignerValidUntil(modelId, host, attestationSigner), t0 + 1 days, "first kept");
        assertEq(
            oml.attestationSignerValidUntil(modelId, host, stranger), t0 + 1 hours + 1 days, "second validity"
        );
        assertEq(oml.attestationSignerValidUntil(modelId, host, owner), 0, "current signer never replaced");
        assertEq(oml.getStake(modelId, host).attestationSigner, owner, "rotated twice");
    }

    function test_setEndpoint_updates() public {
        _stakeHost(MIN_STAKE);
        vm.prank(host);
        oml.setEndpoint(modelId, "https://new.example");
        assertEq(oml.getStake(modelId, host).endpoint, "https://new.example", "endpoint");
    }
}

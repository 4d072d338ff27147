// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {ERC1271Mock} from "./utils/ERC1271Mock.sol";
import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {Model, ModelParams, StakeTerms} from "../../contracts/libraries/OMLTypes.sol";

contract ModelRegistryTest is OMLFixture {
    function test_registerModel_storesParams_ownerAndActive() public view {
        Model memory m = oml.getModel(modelId);
        assertEq(modelId, 1, "ids start at 1");
        assertEq(oml.modelCount(), 1, "one model");
        assertEq(m.weightsHash, keccak256("weights"), "weightsHash");
        assertEq(m.metadataURI, "ipfs://model", "metadataURI");
        assertEq(m.fingerprintRoot, tree[0], "root");
        assertEq(m.fingerprintCount, N_FINGERPRINTS, "count");
        assertEq(m.pricePerQuery, PRICE, "price");
        assertEq(m.permissionSigner, permissionSigner, "permission signer");
        assertEq(m.minHostStake, MIN_STAKE, "min stake");
        assertEq(m.slashBps, SLASH_BPS, "slashBps");
        assertEq(m.proverShareBps, PROVER_SHARE_BPS, "proverShareBps");
        assertEq(m.unbondingDelay, DELAY, "delay");
        assertEq(m.revenueRecipient, recipient, "recipient");
        assertEq(m.noticePeriod, NOTICE, "notice period");
        assertEq(m.owner, owner, "owner");
        assertTrue(m.active, "active");
        assertEq(oml.priceAt(modelId, block.timestamp), PRICE, "price in force from registration");
        assertEq(oml.priceAt(modelId, block.timestamp - 1), 0, "no price before registration");
    }

    function test_registerModel_emitsModelRegistered() public {
        ModelParams memory p = _params(keccak256("root"), 3);
        vm.expectEmit();
        emit IModelRegistry.ModelRegistered(
            2, stranger, p.weightsHash, p.fingerprintRoot, 3, PRICE, permissionSigner, p.metadataURI
        );
        vm.prank(stranger);
        assertEq(oml.registerModel(p), 2, "second id");
    }

    function test_registerModel_revertsWhen_paramsInvalid() public {
        _expectRegisterRevert(
            _params(bytes32(0), 3), abi.encodeWithSelector(IModelRegistry.ModelZeroFingerprintRoot.selector)
        );
        _expectRegisterRevert(
            _params(keccak256("root"), 0), abi.encodeWithSelector(IModelRegistry.ModelZeroFingerprintCount.selector)
        );
        ModelParams memory p = _params(keccak256("root"), 3);
        p.revenueRecipient = address(0);
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroRevenueRecipient.selector));
        p = _params(keccak256("root"), 3);
        p.permissionSigner = address(0);
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroPermissionSigner.selector));
        p = _params(keccak256("root"), 3);
        p.slashBps = 10_001;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelBpsOutOfRange.selector, 10_001));
        p = _params(keccak256("root"), 3);
        p.slashBps = 0;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroSlashBps.selector));
        p = _params(keccak256("root"), 3);
        p.minHostStake = 0;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroMinHostStake.selector));
    }

    function test_registerModel_checksInSpecOrder() public {
        // Everything wrong at once: the first check of the spec's order wins.
        ModelParams memory p = _params(bytes32(0), 0);
        p.revenueRecipient = address(0);
        p.permissionSigner = address(0);
        p.noticePeriod = 0;
        p.slashBps = 0;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroFingerprintRoot.selector));
        p.fingerprintRoot = keccak256("root");
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroFingerprintCount.selector));
        p.fingerprintCount = 3;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroRevenueRecipient.selector));
        p.revenueRecipient = recipient;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroPermissionSigner.selector));
        p.permissionSigner = permissionSigner;
        _expectRegisterRevert(
            p, abi.encodeWithSelector(IModelRegistry.ModelNoticePeriodOutOfRange.selector, 0, 1 hours, 30 days)
        );
        p.noticePeriod = NOTICE;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroSlashBps.selector));
        p.slashBps = SLASH_BPS;
        vm.prank(owner);
        oml.registerModel(p);
    }

    function test_registerModel_revertsWhen_noticePeriodOutOfRange() public {
        ModelParams memory p = _params(keccak256("root"), 3);
        p.noticePeriod = 1 hours - 1;
        _expectRegisterRevert(
            p,
            abi.encodeWithSelector(IModelRegistry.ModelNoticePeriodOutOfRange.selector, 1 hours - 1, 1 hours, 30 days)
        );
        p.noticePeriod = 30 days + 1;
        _expectRegisterRevert(
            p,
            abi.encodeWithSelector(IModelRegistry.ModelNoticePeriodOutOfRange.selector, 30 days + 1, 1 hours, 30 days)
        );
        p.noticePeriod = 30 days;
        vm.prank(owner);
        oml.registerModel(p);
    }

    /// @dev Finding: an unbonding delay of 0 let a host escape before a commit could be revealed; 366 days
    /// locked hosts in. Both bounds are enforced.
    function test_registerModel_revertsWhen_unbondingDelayOutOfRange() public {
        ModelParams memory p = _params(keccak256("root"), 3);
        p.unbondingDelay = 0;
        _expectRegisterRevert(
            p, abi.encodeWithSelector(IModelRegistry.ModelUnbondingDelayOutOfRange.selector, 0, 1 days, 365 days)
        );
        p.unbondingDelay = 366 days;
        _expectRegisterRevert(
            p,
            abi.encodeWithSelector(IModelRegistry.ModelUnbondingDelayOutOfRange.selector, 366 days, 1 days, 365 days)
        );
        p.unbondingDelay = 1 days;
        vm.prank(owner);
        oml.registerModel(p);
        p.unbondingDelay = 365 days;
        vm.prank(owner);
        oml.registerModel(p);
    }

    /// @dev Finding: minHostStake = 1 with slashBps 5000 made every slash of a minimum stake round to zero.
    function test_registerModel_revertsWhen_minStakeTooSmallToSlash() public {
        ModelParams memory p = _params(keccak256("root"), 3);
        p.minHostStake = 1;
        p.slashBps = 5000;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelMinStakeTooSmall.selector, 1, 5000));
        p.minHostStake = 2; // 2 × 5000 / 10000 = 1
        vm.prank(owner);
        oml.registerModel(p);
    }

    /// @dev Finding: with proverShareBps above 5000 a sybil self-report paid more than it cost.
    function test_registerModel_revertsWhen_proverShareAbove5000() public {
        ModelParams memory p = _params(keccak256("root"), 3);
        p.proverShareBps = 5001;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelProverShareTooHigh.selector, 5001, 5000));
        p.proverShareBps = 5000;
        vm.prank(owner);
        oml.registerModel(p);
    }

    /// @dev Finding: an ERC-1271 permission signer could turn permissions valid or invalid at will.
    function test_registerModel_revertsWhen_permissionSignerIsContract() public {
        ERC1271Mock wallet = new ERC1271Mock(permissionSigner, true);
        ModelParams memory p = _params(keccak256("root"), 3);
        p.permissionSigner = address(wallet);
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelSignerNotEOA.selector, address(wallet)));
    }

    function test_setPermissionSigner_revertsWhen_newSignerIsContract() public {
        ERC1271Mock wallet = new ERC1271Mock(permissionSigner, true);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelSignerNotEOA.selector, address(wallet)));
        vm.prank(owner);
        oml.setPermissionSigner(modelId, address(wallet));
    }

    function test_setPermissionSigner_retiresOldSigner_once() public {
        vm.expectEmit();
        emit IModelRegistry.PermissionSignerUpdated(modelId, permissionSigner, stranger);
        vm.prank(owner);
        oml.setPermissionSigner(modelId, stranger);
        uint256 retiredAt = block.timestamp;
        assertEq(oml.getModel(modelId).permissionSigner, stranger, "new signer in force now");
        assertEq(oml.permissionSignerRetiredAt(modelId, permissionSigner), retiredAt, "old signer retired now");
        assertEq(oml.permissionSignerRetiredAt(modelId, stranger), 0, "current signer not retired");

        vm.warp(block.timestamp + 5 days);
        vm.prank(owner);
        oml.setPermissionSigner(modelId, owner);
        assertEq(oml.permissionSignerRetiredAt(modelId, stranger), block.timestamp, "second signer retired");
        assertEq(oml.permissionSignerRetiredAt(modelId, permissionSigner), retiredAt, "first retirement kept");
    }

    function test_setPermissionSigner_revertsWhen_signerReused() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelPermissionSignerReused.selector, permissionSigner));
        vm.prank(owner);
        oml.setPermissionSigner(modelId, permissionSigner); // the current one
        vm.prank(owner);
        oml.setPermissionSigner(modelId, stranger);
        uint256 retiredAt = block.timestamp;
        vm.warp(block.timestamp + 1 days);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelPermissionSignerReused.selector, permissionSigner));
        vm.prank(owner);
        oml.setPermissionSigner(modelId, permissionSigner); // a retired one: its retiredAt is never overwritten
        assertEq(oml.permissionSignerRetiredAt(modelId, permissionSigner), retiredAt, "retiredAt unchanged");
    }

    function test_setPermissionSigner_revertsWhen_zero() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelZeroPermissionSigner.selector));
        vm.prank(owner);
        oml.setPermissionSigner(modelId, address(0));
    }

    /// @dev Finding: a price change took effect immediately. It now waits the notice period.
    function test_setPrice_takesEffectOnlyAfterNotice() public {
        uint256 effectiveAt = block.timestamp + NOTICE;
        vm.expectEmit();
        emit IModelRegistry.PriceChangeScheduled(modelId, PRICE, 5 * PRICE, effectiveAt);
        vm.prank(owner);
        oml.setPrice(modelId, 5 * PRICE);
        assertEq(oml.getModel(modelId).pricePerQuery, PRICE, "old price in force now");
        (uint256 pending, uint256 effective) = oml.pendingPrice(modelId);
        assertEq(pending, 5 * PRICE, "pending price");
        assertEq(effective, effectiveAt, "pending effectiveAt");
        assertEq(oml.priceAt(modelId, effectiveAt - 1), PRICE, "old price until the notice ends");
        assertEq(oml.priceAt(modelId, effectiveAt), 5 * PRICE, "new price from effectiveAt");

        vm.warp(effectiveAt);
        assertEq(oml.getModel(modelId).pricePerQuery, 5 * PRICE, "new price in force");
        (pending, effective) = oml.pendingPrice(modelId);
        assertEq(pending, 5 * PRICE, "nothing pending: current price");
        assertEq(effective, 0, "nothing pending");
    }

    function test_setPrice_sameEffectiveAtReplaces_earlierChangesApplyInTurn() public {
        vm.startPrank(owner);
        oml.setPrice(modelId, 2); // effective t0 + N
        oml.setPrice(modelId, 3); // same effectiveAt: replaces 2
        uint256 first = block.timestamp + NOTICE;
        vm.warp(block.timestamp + 10 minutes);
        oml.setPrice(modelId, 4); // effective t0 + 10 min + N
        vm.stopPrank();
        uint256 second = block.timestamp + NOTICE;
        assertEq(oml.priceAt(modelId, first - 1), PRICE, "registration price");
        assertEq(oml.priceAt(modelId, first), 3, "replaced change");
        assertEq(oml.priceAt(modelId, second - 1), 3, "first change until the second");
        assertEq(oml.priceAt(modelId, second), 4, "second change");
        (uint256 pending, uint256 effective) = oml.pendingPrice(modelId);
        assertEq(pending, 4, "latest pending");
        assertEq(effective, second, "latest effectiveAt");
    }

    function test_setStakeTerms_scheduledWithNotice() public {
        StakeTerms memory t =
            StakeTerms({minHostStake: 3 ether, slashBps: 1000, proverShareBps: 5000, unbondingDelay: 10 days});
        uint256 effectiveAt = block.timestamp + NOTICE;
        vm.expectEmit();
        emit IModelRegistry.StakeTermsChangeScheduled(modelId, 3 ether, 1000, 5000, 10 days, effectiveAt);
        vm.prank(owner);
        oml.setStakeTerms(modelId, t);
        Model memory m = oml.getModel(modelId);
        assertEq(m.minHostStake, MIN_STAKE, "old min in force now");
        assertEq(m.slashBps, SLASH_BPS, "old slashBps in force now");
        (StakeTerms memory pending, uint256 effective) = oml.pendingStakeTerms(modelId);
        assertEq(pending.minHostStake, 3 ether, "pending min");
        assertEq(effective, effectiveAt, "pending effectiveAt");
        StakeTerms memory before = oml.stakeTermsAt(modelId, effectiveAt - 1);
        assertEq(before.unbondingDelay, DELAY, "old delay before effectiveAt");
        vm.warp(effectiveAt);
        m = oml.getModel(modelId);
        assertEq(m.minHostStake, 3 ether, "min");
        assertEq(m.slashBps, 1000, "slashBps");
        assertEq(m.proverShareBps, 5000, "proverShareBps");
        assertEq(m.unbondingDelay, 10 days, "delay");
        (, effective) = oml.pendingStakeTerms(modelId);
        assertEq(effective, 0, "nothing pending");
    }

    function test_setStakeTerms_revertsWhen_termsInvalid() public {
        StakeTerms memory t =
            StakeTerms({minHostStake: MIN_STAKE, slashBps: SLASH_BPS, proverShareBps: 5001, unbondingDelay: DELAY});
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelProverShareTooHigh.selector, 5001, 5000));
        oml.setStakeTerms(modelId, t);
        t.proverShareBps = PROVER_SHARE_BPS;
        t.unbondingDelay = 0;
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelUnbondingDelayOutOfRange.selector, 0, 1 days, 365 days)
        );
        oml.setStakeTerms(modelId, t);
        t.unbondingDelay = DELAY;
        t.minHostStake = 1;
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelMinStakeTooSmall.selector, 1, SLASH_BPS));
        oml.setStakeTerms(modelId, t);
        t.minHostStake = MIN_STAKE;
        t.slashBps = 0;
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelZeroSlashBps.selector));
        oml.setStakeTerms(modelId, t);
        vm.stopPrank();
    }

    function test_setStakeTerms_revertsWhen_callerNotOwner() public {
        StakeTerms memory t =
            StakeTerms({minHostStake: MIN_STAKE, slashBps: SLASH_BPS, proverShareBps: 0, unbondingDelay: DELAY});
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotOwner.selector, modelId, stranger, owner));
        vm.prank(stranger);
        oml.setStakeTerms(modelId, t);
    }

    function test_setRevenueRecipient_immediate() public {
        vm.expectEmit();
        emit IModelRegistry.RevenueRecipientUpdated(modelId, recipient, stranger);
        vm.prank(owner);
        oml.setRevenueRecipient(modelId, stranger);
        assertEq(oml.getModel(modelId).revenueRecipient, stranger, "recipient");
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelZeroRevenueRecipient.selector));
        vm.prank(owner);
        oml.setRevenueRecipient(modelId, address(0));
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotOwner.selector, modelId, stranger, owner));
        vm.prank(stranger);
        oml.setRevenueRecipient(modelId, stranger);
    }

    function test_ownerUpdates_changeModel() public {
        vm.startPrank(owner);
        oml.setMetadataURI(modelId, "ipfs://v2");
        oml.setActive(modelId, false);
        oml.transferModelOwnership(modelId, stranger);
        vm.stopPrank();
        Model memory m = oml.getModel(modelId);
        assertEq(m.metadataURI, "ipfs://v2", "uri");
        assertFalse(m.active, "inactive");
        assertEq(m.owner, stranger, "new owner");
    }

    function test_setPrice_revertsWhen_callerNotOwner() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotOwner.selector, modelId, stranger, owner));
        vm.prank(stranger);
        oml.setPrice(modelId, 1);
    }

    function test_getModel_revertsWhen_modelNotFound() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotFound.selector, 99));
        oml.getModel(99);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotFound.selector, 99));
        oml.priceAt(99, block.timestamp);
    }

    function test_transferModelOwnership_revertsWhen_zeroOwner() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelZeroOwner.selector));
        vm.prank(owner);
        oml.transferModelOwnership(modelId, address(0));
    }

    function _expectRegisterRevert(ModelParams memory p, bytes memory err) private {
        vm.expectRevert(err);
        vm.prank(owner);
        oml.registerModel(p);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {Model, ModelParams} from "../../contracts/libraries/OMLTypes.sol";

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
        assertEq(m.owner, owner, "owner");
        assertTrue(m.active, "active");
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
        ModelParams memory p = _params(keccak256("root"), 3);
        p.slashBps = 10_001;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelBpsOutOfRange.selector, 10_001));
        p = _params(keccak256("root"), 3);
        p.proverShareBps = 20_000;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelBpsOutOfRange.selector, 20_000));
        p = _params(keccak256("root"), 3);
        p.slashBps = 0;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroSlashBps.selector));
        p = _params(keccak256("root"), 3);
        p.permissionSigner = address(0);
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroPermissionSigner.selector));
        p = _params(keccak256("root"), 3);
        p.revenueRecipient = address(0);
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroRevenueRecipient.selector));
        _expectRegisterRevert(
            _params(bytes32(0), 3), abi.encodeWithSelector(IModelRegistry.ModelZeroFingerprintRoot.selector)
        );
        _expectRegisterRevert(
            _params(keccak256("root"), 0), abi.encodeWithSelector(IModelRegistry.ModelZeroFingerprintCount.selector)
        );
        p = _params(keccak256("root"), 3);
        p.minHostStake = 0;
        _expectRegisterRevert(p, abi.encodeWithSelector(IModelRegistry.ModelZeroMinHostStake.selector));
    }

    function test_ownerUpdates_changeModel() public {
        vm.startPrank(owner);
        oml.setPrice(modelId, 5);
        oml.setPermissionSigner(modelId, stranger);
        oml.setMetadataURI(modelId, "ipfs://v2");
        oml.setActive(modelId, false);
        oml.transferModelOwnership(modelId, stranger);
        vm.stopPrank();
        Model memory m = oml.getModel(modelId);
        assertEq(m.pricePerQuery, 5, "price");
        assertEq(m.permissionSigner, stranger, "signer");
        assertTrue(oml.wasPermissionSigner(modelId, permissionSigner), "old signer remembered");
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

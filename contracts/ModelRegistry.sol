// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {Model, ModelParams} from "./libraries/OMLTypes.sol";
import {BasisPoints} from "./libraries/BasisPoints.sol";

/// @title ModelRegistry
/// @notice Registration of fingerprinted models and owner-only updates (one concern of `OML`).
abstract contract ModelRegistry is IModelRegistry {
    uint256 private _modelCount;
    mapping(uint256 modelId => Model) private _models;
    mapping(uint256 modelId => mapping(address signer => bool)) private _pastPermissionSigners;

    /// @dev Reverts unless `msg.sender` owns `modelId`.
    modifier onlyModelOwner(uint256 modelId) {
        _checkModelOwner(modelId);
        _;
    }

    /// @inheritdoc IModelRegistry
    function registerModel(ModelParams calldata params) external returns (uint256 modelId) {
        _validateParams(params);
        return _registerModel(params, msg.sender);
    }

    /// @inheritdoc IModelRegistry
    function setPrice(uint256 modelId, uint128 newPrice) external onlyModelOwner(modelId) {
        Model storage m = _models[modelId];
        uint128 oldPrice = m.pricePerQuery;
        m.pricePerQuery = newPrice;
        emit PriceUpdated(modelId, oldPrice, newPrice);
    }

    /// @inheritdoc IModelRegistry
    function setPermissionSigner(uint256 modelId, address newSigner) external onlyModelOwner(modelId) {
        require(newSigner != address(0), ModelZeroPermissionSigner());
        Model storage m = _models[modelId];
        address oldSigner = m.permissionSigner;
        m.permissionSigner = newSigner;
        _pastPermissionSigners[modelId][oldSigner] = true;
        emit PermissionSignerUpdated(modelId, oldSigner, newSigner);
    }

    /// @inheritdoc IModelRegistry
    function setMetadataURI(uint256 modelId, string calldata newURI) external onlyModelOwner(modelId) {
        _models[modelId].metadataURI = newURI;
        emit MetadataURIUpdated(modelId, newURI);
    }

    /// @inheritdoc IModelRegistry
    function setActive(uint256 modelId, bool active) external onlyModelOwner(modelId) {
        _models[modelId].active = active;
        emit ModelActiveSet(modelId, active);
    }

    /// @inheritdoc IModelRegistry
    function transferModelOwnership(uint256 modelId, address newOwner) external onlyModelOwner(modelId) {
        require(newOwner != address(0), ModelZeroOwner());
        Model storage m = _models[modelId];
        address previousOwner = m.owner;
        m.owner = newOwner;
        emit ModelOwnershipTransferred(modelId, previousOwner, newOwner);
    }

    /// @inheritdoc IModelRegistry
    function getModel(uint256 modelId) external view returns (Model memory) {
        return _model(modelId);
    }

    /// @inheritdoc IModelRegistry
    function wasPermissionSigner(uint256 modelId, address signer) external view returns (bool) {
        return _wasPermissionSigner(modelId, signer);
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256) {
        return _modelCount;
    }

    /// @dev Store a validated model under the next id.
    function _registerModel(ModelParams calldata p, address owner) internal returns (uint256 modelId) {
        modelId = ++_modelCount;
        Model storage m = _models[modelId];
        m.weightsHash = p.weightsHash;
        m.metadataURI = p.metadataURI;
        m.fingerprintRoot = p.fingerprintRoot;
        m.fingerprintCount = p.fingerprintCount;
        m.pricePerQuery = p.pricePerQuery;
        m.permissionSigner = p.permissionSigner;
        m.minHostStake = p.minHostStake;
        m.slashBps = p.slashBps;
        m.proverShareBps = p.proverShareBps;
        m.unbondingDelay = p.unbondingDelay;
        m.revenueRecipient = p.revenueRecipient;
        m.owner = owner;
        m.active = true;
        emit ModelRegistered(
            modelId,
            owner,
            p.weightsHash,
            p.fingerprintRoot,
            p.fingerprintCount,
            p.pricePerQuery,
            p.permissionSigner,
            p.metadataURI
        );
    }

    /// @dev Reject parameters that would make a model unusable or unslashable.
    function _validateParams(ModelParams calldata p) internal pure {
        require(p.slashBps != 0, ModelZeroSlashBps());
        require(p.slashBps <= BasisPoints.MAX_BPS, ModelBpsOutOfRange(p.slashBps));
        require(p.proverShareBps <= BasisPoints.MAX_BPS, ModelBpsOutOfRange(p.proverShareBps));
        require(p.permissionSigner != address(0), ModelZeroPermissionSigner());
        require(p.revenueRecipient != address(0), ModelZeroRevenueRecipient());
        require(p.fingerprintRoot != bytes32(0), ModelZeroFingerprintRoot());
        require(p.fingerprintCount != 0, ModelZeroFingerprintCount());
        require(p.minHostStake != 0, ModelZeroMinHostStake());
    }

    /// @dev The stored model; reverts with ModelNotFound for an unknown id.
    function _model(uint256 modelId) internal view returns (Model storage m) {
        m = _models[modelId];
        require(m.owner != address(0), ModelNotFound(modelId));
    }

    /// @dev The stored model without the existence check (all zero, owner 0, for an unknown id).
    function _modelUnchecked(uint256 modelId) internal view returns (Model storage) {
        return _models[modelId];
    }

    /// @dev Whether `signer` was replaced as the model's permission signer at some point.
    function _wasPermissionSigner(uint256 modelId, address signer) internal view returns (bool) {
        return _pastPermissionSigners[modelId][signer];
    }

    /// @dev Reverts with ModelNotFound or ModelNotOwner.
    function _checkModelOwner(uint256 modelId) private view {
        address owner = _model(modelId).owner;
        require(msg.sender == owner, ModelNotOwner(modelId, msg.sender, owner));
    }
}

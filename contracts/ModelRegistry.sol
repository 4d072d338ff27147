// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {Model, ModelParams, OMLTypes, StakeTerms} from "./libraries/OMLTypes.sol";
import {BasisPoints} from "./libraries/BasisPoints.sol";
import {StakeTermsLib} from "./libraries/StakeTermsLib.sol";

/// @title ModelRegistry
/// @notice Registration of fingerprinted models, owner-only updates, price and stake terms scheduled with
/// notice, and permission-signer retirement (one concern of `OML`).
abstract contract ModelRegistry is IModelRegistry {
    using Checkpoints for Checkpoints.Trace208;

    /// @dev A model as stored. A reveal reads `fingerprintRoot` and the slot
    /// `revenue | fingerprintCount | noticePeriod`, which is never zero once registered: crediting revenue
    /// (settlement, slashes) never writes a fresh slot and costs no extra cold read in a reveal.
    struct ModelRecord {
        bytes32 fingerprintRoot;
        /// @dev Unwithdrawn revenue (fees and the treasury share of slashes), owned by `FeeEscrow`.
        uint128 revenue;
        uint32 fingerprintCount;
        uint64 noticePeriod;
        address permissionSigner;
        address owner;
        bool active;
        address revenueRecipient;
        bytes32 weightsHash;
        string metadataURI;
        /// @dev Price per query, keyed by the time each value takes effect.
        Checkpoints.Trace208 price;
        /// @dev `StakeTermsLib.pack(terms)`, keyed by the time each value takes effect.
        Checkpoints.Trace208 stakeTerms;
    }

    uint256 private _modelCount;
    mapping(uint256 modelId => ModelRecord) private _models;
    mapping(uint256 modelId => mapping(address signer => uint256 retiredAt)) private _signerRetiredAt;

    /// @dev Reverts unless `msg.sender` owns `modelId`.
    modifier onlyModelOwner(uint256 modelId) {
        _checkModelOwner(modelId);
        _;
    }

    /// @inheritdoc IModelRegistry
    function registerModel(ModelParams calldata params) external returns (uint256 modelId) {
        StakeTerms memory terms = StakeTerms({
            minHostStake: params.minHostStake,
            slashBps: params.slashBps,
            proverShareBps: params.proverShareBps,
            unbondingDelay: params.unbondingDelay
        });
        _validateParams(params);
        _validateStakeTerms(terms);
        return _registerModel(params, terms, msg.sender);
    }

    /// @inheritdoc IModelRegistry
    function setPrice(uint256 modelId, uint128 newPrice) external onlyModelOwner(modelId) {
        ModelRecord storage m = _models[modelId];
        uint256 oldPrice = _lookup(m.price, block.timestamp);
        uint256 effectiveAt = _schedule(m, m.price, newPrice);
        emit PriceChangeScheduled(modelId, oldPrice, newPrice, effectiveAt);
    }

    /// @inheritdoc IModelRegistry
    function setStakeTerms(uint256 modelId, StakeTerms calldata terms) external onlyModelOwner(modelId) {
        _validateStakeTerms(terms);
        ModelRecord storage m = _models[modelId];
        uint256 effectiveAt = _schedule(m, m.stakeTerms, StakeTermsLib.pack(terms));
        emit StakeTermsChangeScheduled(
            modelId, terms.minHostStake, terms.slashBps, terms.proverShareBps, terms.unbondingDelay, effectiveAt
        );
    }

    /// @inheritdoc IModelRegistry
    function setPermissionSigner(uint256 modelId, address newSigner) external onlyModelOwner(modelId) {
        _checkPermissionSigner(newSigner);
        ModelRecord storage m = _models[modelId];
        address oldSigner = m.permissionSigner;
        require(
            newSigner != oldSigner && _signerRetiredAt[modelId][newSigner] == 0,
            ModelPermissionSignerReused(newSigner)
        );
        _rotatePermissionSigner(modelId, m, oldSigner, newSigner);
    }

    /// @inheritdoc IModelRegistry
    function setRevenueRecipient(uint256 modelId, address newRecipient) external onlyModelOwner(modelId) {
        require(newRecipient != address(0), ModelZeroRevenueRecipient());
        ModelRecord storage m = _models[modelId];
        address oldRecipient = m.revenueRecipient;
        m.revenueRecipient = newRecipient;
        emit RevenueRecipientUpdated(modelId, oldRecipient, newRecipient);
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
        ModelRecord storage m = _models[modelId];
        address previousOwner = m.owner;
        m.owner = newOwner;
        emit ModelOwnershipTransferred(modelId, previousOwner, newOwner);
    }

    /// @inheritdoc IModelRegistry
    function getModel(uint256 modelId) external view returns (Model memory model) {
        ModelRecord storage m = _model(modelId);
        StakeTerms memory terms = _stakeTermsAt(m, block.timestamp);
        model.weightsHash = m.weightsHash;
        model.metadataURI = m.metadataURI;
        model.fingerprintRoot = m.fingerprintRoot;
        model.fingerprintCount = m.fingerprintCount;
        // casting to 'uint128' is safe because every price pushed is a uint128
        // forge-lint: disable-next-line(unsafe-typecast)
        model.pricePerQuery = uint128(_lookup(m.price, block.timestamp));
        model.permissionSigner = m.permissionSigner;
        model.minHostStake = terms.minHostStake;
        model.slashBps = terms.slashBps;
        model.proverShareBps = terms.proverShareBps;
        model.unbondingDelay = terms.unbondingDelay;
        model.revenueRecipient = m.revenueRecipient;
        model.noticePeriod = m.noticePeriod;
        model.owner = m.owner;
        model.active = m.active;
    }

    /// @inheritdoc IModelRegistry
    function priceAt(uint256 modelId, uint256 timestamp) external view returns (uint256) {
        return _lookup(_model(modelId).price, timestamp);
    }

    /// @inheritdoc IModelRegistry
    function stakeTermsAt(uint256 modelId, uint256 timestamp) external view returns (StakeTerms memory) {
        return _stakeTermsAt(_model(modelId), timestamp);
    }

    /// @inheritdoc IModelRegistry
    function pendingPrice(uint256 modelId) external view returns (uint256 price, uint256 effectiveAt) {
        return _pending(_model(modelId).price);
    }

    /// @inheritdoc IModelRegistry
    function pendingStakeTerms(uint256 modelId)
        external
        view
        returns (StakeTerms memory terms, uint256 effectiveAt)
    {
        uint256 packed;
        (packed, effectiveAt) = _pending(_model(modelId).stakeTerms);
        // casting to 'uint208' is safe because the value was read from a Trace208
        // forge-lint: disable-next-line(unsafe-typecast)
        terms = StakeTermsLib.unpack(uint208(packed));
    }

    /// @inheritdoc IModelRegistry
    function permissionSignerRetiredAt(uint256 modelId, address signer) external view returns (uint256) {
        return _signerRetiredAt[modelId][signer];
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256) {
        return _modelCount;
    }

    /// @dev Store a validated model under the next id, with price and stake terms in force from now.
    function _registerModel(ModelParams calldata p, StakeTerms memory terms, address owner)
        private
        returns (uint256 modelId)
    {
        modelId = ++_modelCount;
        ModelRecord storage m = _models[modelId];
        m.fingerprintRoot = p.fingerprintRoot;
        m.permissionSigner = p.permissionSigner;
        m.fingerprintCount = p.fingerprintCount;
        m.noticePeriod = p.noticePeriod;
        m.owner = owner;
        m.active = true;
        m.revenueRecipient = p.revenueRecipient;
        m.weightsHash = p.weightsHash;
        m.metadataURI = p.metadataURI;
        // slither-disable-next-line unused-return -- push returns (old, new) values; the first entry has no old one
        m.price.push(_key(block.timestamp), p.pricePerQuery);
        // slither-disable-next-line unused-return -- as above
        m.stakeTerms.push(_key(block.timestamp), StakeTermsLib.pack(terms));
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

    /// @dev Push `value` into `trace` from `now + noticePeriod`; returns that time.
    function _schedule(ModelRecord storage m, Checkpoints.Trace208 storage trace, uint208 value)
        private
        returns (uint256 effectiveAt)
    {
        effectiveAt = block.timestamp + m.noticePeriod;
        // slither-disable-next-line unused-return -- push returns (old, new) values; the event reports both
        trace.push(_key(effectiveAt), value);
    }

    /// @dev Retire `oldSigner` now (a signer is retired once: signers are never reused) and install `newSigner`.
    function _rotatePermissionSigner(uint256 modelId, ModelRecord storage m, address oldSigner, address newSigner)
        private
    {
        _signerRetiredAt[modelId][oldSigner] = block.timestamp;
        m.permissionSigner = newSigner;
        emit PermissionSignerUpdated(modelId, oldSigner, newSigner);
    }

    /// @dev Registration checks other than the stake terms, in the order of the spec.
    function _validateParams(ModelParams calldata p) private view {
        require(p.fingerprintRoot != bytes32(0), ModelZeroFingerprintRoot());
        require(p.fingerprintCount != 0, ModelZeroFingerprintCount());
        require(p.revenueRecipient != address(0), ModelZeroRevenueRecipient());
        _checkPermissionSigner(p.permissionSigner);
        require(
            p.noticePeriod >= OMLTypes.MIN_NOTICE_PERIOD && p.noticePeriod <= OMLTypes.MAX_NOTICE_PERIOD,
            ModelNoticePeriodOutOfRange(p.noticePeriod, OMLTypes.MIN_NOTICE_PERIOD, OMLTypes.MAX_NOTICE_PERIOD)
        );
    }

    /// @dev A permission signer is a non-zero EOA.
    function _checkPermissionSigner(address signer) private view {
        require(signer != address(0), ModelZeroPermissionSigner());
        require(signer.code.length == 0, ModelSignerNotEOA(signer));
    }

    /// @dev Stake terms that keep a model slashable: a non-zero slash of a minimum stake, a prover share that
    /// never makes self-reporting pay, and an unbonding delay that covers the reveal window.
    function _validateStakeTerms(StakeTerms memory t) private pure {
        require(t.slashBps != 0, ModelZeroSlashBps());
        require(t.slashBps <= BasisPoints.MAX_BPS, ModelBpsOutOfRange(t.slashBps));
        require(
            t.proverShareBps <= OMLTypes.MAX_PROVER_SHARE_BPS,
            ModelProverShareTooHigh(t.proverShareBps, OMLTypes.MAX_PROVER_SHARE_BPS)
        );
        require(
            t.unbondingDelay >= OMLTypes.MIN_UNBONDING_DELAY && t.unbondingDelay <= OMLTypes.MAX_UNBONDING_DELAY,
            ModelUnbondingDelayOutOfRange(
                t.unbondingDelay, OMLTypes.MIN_UNBONDING_DELAY, OMLTypes.MAX_UNBONDING_DELAY
            )
        );
        require(t.minHostStake != 0, ModelZeroMinHostStake());
        require(
            BasisPoints.mulBps(t.minHostStake, t.slashBps) != 0, ModelMinStakeTooSmall(t.minHostStake, t.slashBps)
        );
    }

    /// @dev The stored model; reverts with ModelNotFound for an unknown id.
    function _model(uint256 modelId) internal view returns (ModelRecord storage m) {
        m = _models[modelId];
        require(m.owner != address(0), ModelNotFound(modelId));
    }

    /// @dev The stored model without the existence check (all zero for an unknown id).
    function _modelUnchecked(uint256 modelId) internal view returns (ModelRecord storage) {
        return _models[modelId];
    }

    /// @dev The stake terms of `m` in force at `timestamp`.
    function _stakeTermsAt(ModelRecord storage m, uint256 timestamp) internal view returns (StakeTerms memory) {
        // casting to 'uint208' is safe because the value was read from a Trace208
        // forge-lint: disable-next-line(unsafe-typecast)
        return StakeTermsLib.unpack(uint208(_lookup(m.stakeTerms, timestamp)));
    }

    /// @dev Only the slash terms (`slashBps`, `proverShareBps`) of `m` in force at `timestamp`.
    function _slashTermsAt(ModelRecord storage m, uint256 timestamp)
        internal
        view
        returns (uint16 slashBps, uint16 proverShareBps)
    {
        // casting to 'uint208' is safe because the value was read from a Trace208
        // forge-lint: disable-next-line(unsafe-typecast)
        return StakeTermsLib.slashTerms(uint208(_lookup(m.stakeTerms, timestamp)));
    }

    /// @dev Add `amount` to the model's unwithdrawn revenue.
    function _creditRevenue(ModelRecord storage m, uint256 amount) internal {
        m.revenue = SafeCast.toUint128(m.revenue + amount);
    }

    /// @dev When `signer` was retired as the model's permission signer (0: never).
    function _retiredAt(uint256 modelId, address signer) internal view returns (uint256) {
        return _signerRetiredAt[modelId][signer];
    }

    /// @dev The value of `trace` in force at `timestamp` (the latest one for times beyond 2^48).
    function _lookup(Checkpoints.Trace208 storage trace, uint256 timestamp) private view returns (uint256) {
        return trace.upperLookupRecent(_key(Math.min(timestamp, type(uint48).max)));
    }

    /// @dev The latest scheduled value of `trace` and its time if not yet in force, else `(value now, 0)`.
    function _pending(Checkpoints.Trace208 storage trace) private view returns (uint256 value, uint256 effectiveAt) {
        // slither-disable-next-line unused-return -- `exists` is always true: registration writes the first entry
        (, uint48 key, uint208 latest) = trace.latestCheckpoint();
        if (key > block.timestamp) return (latest, key);
        return (latest, 0);
    }

    /// @dev A checkpoint key (timestamps fit 48 bits for millions of years).
    function _key(uint256 timestamp) private pure returns (uint48) {
        return SafeCast.toUint48(timestamp);
    }

    /// @dev Reverts with ModelNotFound or ModelNotOwner.
    function _checkModelOwner(uint256 modelId) private view {
        address owner = _model(modelId).owner;
        require(msg.sender == owner, ModelNotOwner(modelId, msg.sender, owner));
    }
}

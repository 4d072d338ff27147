// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Model, ModelParams, StakeTerms} from "../libraries/OMLTypes.sol";

/// @title IModelRegistry
/// @notice Registration of fingerprinted models, owner-only updates, price and stake terms scheduled with
/// notice, and permission-signer retirement.
interface IModelRegistry {
    /// @notice No model has id `modelId` (ids start at 1).
    error ModelNotFound(uint256 modelId);
    /// @notice `caller` is not the model's `owner`.
    error ModelNotOwner(uint256 modelId, address caller, address owner);
    /// @notice The model is inactive and accepts no new stake.
    error ModelInactive(uint256 modelId);
    /// @notice `slashBps` exceeds 10000.
    error ModelBpsOutOfRange(uint256 bps);
    /// @notice `slashBps` is zero: a slash would take nothing.
    error ModelZeroSlashBps();
    /// @notice The permission signer is the zero address.
    error ModelZeroPermissionSigner();
    /// @notice The revenue recipient is the zero address.
    error ModelZeroRevenueRecipient();
    /// @notice The fingerprint Merkle root is zero.
    error ModelZeroFingerprintRoot();
    /// @notice The fingerprint count is zero.
    error ModelZeroFingerprintCount();
    /// @notice The minimum host stake is zero: hosts would have nothing to lose.
    error ModelZeroMinHostStake();
    /// @notice The new owner is the zero address.
    error ModelZeroOwner();
    /// @notice The permission signer has code; it must be an EOA (permissions are checked with ECDSA only).
    error ModelSignerNotEOA(address signer);
    /// @notice `period` is outside `[min, max]` (MIN_NOTICE_PERIOD, MAX_NOTICE_PERIOD).
    error ModelNoticePeriodOutOfRange(uint256 period, uint256 min, uint256 max);
    /// @notice `proverShareBps` exceeds `max` (MAX_PROVER_SHARE_BPS = 5000).
    error ModelProverShareTooHigh(uint256 bps, uint256 max);
    /// @notice `delay` is outside `[min, max]` (MIN_UNBONDING_DELAY, MAX_UNBONDING_DELAY).
    error ModelUnbondingDelayOutOfRange(uint256 delay, uint256 min, uint256 max);
    /// @notice `minHostStake × slashBps / 10000` is zero: a slash of a minimum stake would take nothing.
    error ModelMinStakeTooSmall(uint256 minHostStake, uint256 slashBps);
    /// @notice `signer` is the model's current permission signer or was one before.
    error ModelPermissionSignerReused(address signer);

    /// @notice A model was registered by `owner`.
    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        bytes32 weightsHash,
        bytes32 fingerprintRoot,
        uint32 fingerprintCount,
        uint128 pricePerQuery,
        address permissionSigner,
        string metadataURI
    );
    /// @notice The price per query becomes `newPrice` at `effectiveAt`; `oldPrice` is the price in force
    /// when the change was scheduled.
    event PriceChangeScheduled(uint256 indexed modelId, uint256 oldPrice, uint256 newPrice, uint256 effectiveAt);
    /// @notice The stake terms become these at `effectiveAt`.
    event StakeTermsChangeScheduled(
        uint256 indexed modelId,
        uint256 minHostStake,
        uint256 slashBps,
        uint256 proverShareBps,
        uint256 unbondingDelay,
        uint256 effectiveAt
    );
    /// @notice The permission signer changed; `oldSigner` is retired now (see `permissionSignerRetiredAt`).
    event PermissionSignerUpdated(uint256 indexed modelId, address oldSigner, address newSigner);
    /// @notice The revenue recipient changed.
    event RevenueRecipientUpdated(uint256 indexed modelId, address oldRecipient, address newRecipient);
    /// @notice The metadata URI changed.
    event MetadataURIUpdated(uint256 indexed modelId, string metadataURI);
    /// @notice The model was activated or deactivated.
    event ModelActiveSet(uint256 indexed modelId, bool active);
    /// @notice Ownership of the model moved from `previousOwner` to `newOwner`.
    event ModelOwnershipTransferred(uint256 indexed modelId, address indexed previousOwner, address indexed newOwner);

    /// @notice Register a model; the caller becomes its owner and the model starts active. Price and stake
    /// terms are in force from now.
    /// @dev Checks, in order: ModelZeroFingerprintRoot, ModelZeroFingerprintCount, ModelZeroRevenueRecipient,
    /// ModelZeroPermissionSigner, ModelSignerNotEOA, ModelNoticePeriodOutOfRange, then the stake terms as in
    /// `setStakeTerms`.
    /// @param params The model's parameters (see `ModelParams`).
    /// @return modelId The new model's id (1, 2, ...).
    function registerModel(ModelParams calldata params) external returns (uint256 modelId);

    /// @notice Schedule a new fee per permitted query (owner only), in force from `now + noticePeriod`.
    /// Settlement never reads the price (vouchers carry the amount), so a change cannot reprice queries
    /// already permitted. A second change for the same `effectiveAt` replaces the first.
    /// @param modelId The model.
    /// @param newPrice Wei per query (0 allowed).
    function setPrice(uint256 modelId, uint128 newPrice) external;

    /// @notice Schedule new stake terms (owner only), in force from `now + noticePeriod`. A pending slash
    /// commitment is judged by the terms in force at its commit time.
    /// @dev Checks, in order: ModelZeroSlashBps, ModelBpsOutOfRange, ModelProverShareTooHigh,
    /// ModelUnbondingDelayOutOfRange, ModelZeroMinHostStake, ModelMinStakeTooSmall.
    /// @param modelId The model.
    /// @param terms The new terms.
    function setStakeTerms(uint256 modelId, StakeTerms calldata terms) external;

    /// @notice Replace the key that signs permissions (owner only), immediately. The old signer is retired
    /// now: its permissions open a dispute in `reveal` that the host wins with a receipt recorded before
    /// `retiredAt + noticePeriod`.
    /// @dev Reverts with ModelZeroPermissionSigner, ModelSignerNotEOA or ModelPermissionSignerReused (the
    /// current signer, or any signer this model used before).
    /// @param modelId The model.
    /// @param newSigner A fresh EOA.
    function setPermissionSigner(uint256 modelId, address newSigner) external;

    /// @notice Replace who may pull the model's revenue (owner only), immediately.
    /// @param modelId The model.
    /// @param newRecipient Non-zero address.
    function setRevenueRecipient(uint256 modelId, address newRecipient) external;

    /// @notice Set the metadata URI (owner only).
    /// @param modelId The model.
    /// @param newURI The new URI.
    function setMetadataURI(uint256 modelId, string calldata newURI) external;

    /// @notice Activate or deactivate the model (owner only). Inactive models take no new stake.
    /// @param modelId The model.
    /// @param active The new flag.
    function setActive(uint256 modelId, bool active) external;

    /// @notice Hand the model to `newOwner` (owner only).
    /// @param modelId The model.
    /// @param newOwner Non-zero address.
    function transferModelOwnership(uint256 modelId, address newOwner) external;

    /// @notice A registered model with price and stake terms in force now. Reverts with ModelNotFound.
    /// @param modelId The model.
    /// @return The model's parameters plus owner and active flag.
    function getModel(uint256 modelId) external view returns (Model memory);

    /// @notice The price per query in force at `timestamp` (0 before registration).
    function priceAt(uint256 modelId, uint256 timestamp) external view returns (uint256);

    /// @notice The stake terms in force at `timestamp` (all zero before registration).
    function stakeTermsAt(uint256 modelId, uint256 timestamp) external view returns (StakeTerms memory);

    /// @notice The latest scheduled price change if it is not yet in force, else `(price now, 0)`.
    function pendingPrice(uint256 modelId) external view returns (uint256 price, uint256 effectiveAt);

    /// @notice The latest scheduled stake-terms change if it is not yet in force, else `(terms now, 0)`.
    function pendingStakeTerms(uint256 modelId) external view returns (StakeTerms memory terms, uint256 effectiveAt);

    /// @notice When `signer` was retired as the model's permission signer (0: never retired).
    function permissionSignerRetiredAt(uint256 modelId, address signer) external view returns (uint256);

    /// @notice Number of models registered so far (the highest id).
    function modelCount() external view returns (uint256);
}

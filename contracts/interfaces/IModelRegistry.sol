// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Model, ModelParams} from "../libraries/OMLTypes.sol";

/// @title IModelRegistry
/// @notice Registration of fingerprinted models and owner-only updates of their parameters.
interface IModelRegistry {
    /// @notice No model has id `modelId` (ids start at 1).
    error ModelNotFound(uint256 modelId);
    /// @notice `caller` is not the model's `owner`.
    error ModelNotOwner(uint256 modelId, address caller, address owner);
    /// @notice The model is inactive and accepts no new stake.
    error ModelInactive(uint256 modelId);
    /// @notice A basis-point parameter exceeds 10000.
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
    /// @notice The price per query changed.
    event PriceUpdated(uint256 indexed modelId, uint128 oldPrice, uint128 newPrice);
    /// @notice The permission signer changed.
    event PermissionSignerUpdated(uint256 indexed modelId, address oldSigner, address newSigner);
    /// @notice The metadata URI changed.
    event MetadataURIUpdated(uint256 indexed modelId, string metadataURI);
    /// @notice The model was activated or deactivated.
    event ModelActiveSet(uint256 indexed modelId, bool active);
    /// @notice Ownership of the model moved from `previousOwner` to `newOwner`.
    event ModelOwnershipTransferred(uint256 indexed modelId, address indexed previousOwner, address indexed newOwner);

    /// @notice Register a model; the caller becomes its owner and the model starts active.
    /// @dev Reverts with ModelBpsOutOfRange, ModelZeroSlashBps, ModelZeroPermissionSigner,
    /// ModelZeroRevenueRecipient, ModelZeroFingerprintRoot, ModelZeroFingerprintCount or ModelZeroMinHostStake.
    /// @param params The model's parameters (see `ModelParams`).
    /// @return modelId The new model's id (1, 2, ...).
    function registerModel(ModelParams calldata params) external returns (uint256 modelId);

    /// @notice Set the fee per permitted query (owner only). Already settled vouchers are unaffected;
    /// future settlements use the new price.
    /// @param modelId The model.
    /// @param newPrice Wei per query.
    function setPrice(uint256 modelId, uint128 newPrice) external;

    /// @notice Set the key that signs permissions (owner only). Permissions signed by a replaced signer stay
    /// valid as a defence against slashing (`wasPermissionSigner`), so a rotation cannot turn a paid-for
    /// permission into slash evidence.
    /// @param modelId The model.
    /// @param newSigner Non-zero signer address (EOA or ERC-1271 contract).
    function setPermissionSigner(uint256 modelId, address newSigner) external;

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

    /// @notice A registered model. Reverts with ModelNotFound for an unknown id.
    /// @param modelId The model.
    /// @return The model's parameters plus owner and active flag.
    function getModel(uint256 modelId) external view returns (Model memory);

    /// @notice Whether `signer` was once the model's permission signer and has been replaced.
    function wasPermissionSigner(uint256 modelId, address signer) external view returns (bool);

    /// @notice Number of models registered so far (the highest id).
    function modelCount() external view returns (uint256);
}

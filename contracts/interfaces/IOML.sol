// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IModelRegistry} from "./IModelRegistry.sol";
import {IHostStaking} from "./IHostStaking.sol";
import {IFeeEscrow} from "./IFeeEscrow.sol";
import {ISlashing} from "./ISlashing.sol";
import {Voucher} from "../libraries/OMLTypes.sol";

/// @title IOML
/// @notice The deployed OML contract: model registry, host staking, fee escrow and slashing under one
/// EIP-712 domain `("OML", "2")`.
interface IOML is IModelRegistry, IHostStaking, IFeeEscrow, ISlashing {
    /// @notice EIP-712 digest of `Permission(modelId, host, queryHash, seq)` under this contract's domain.
    function permissionDigest(uint256 modelId, address host, bytes32 queryHash, uint256 seq)
        external
        view
        returns (bytes32);

    /// @notice EIP-712 digest of a Voucher under this contract's domain.
    function voucherDigest(Voucher calldata v) external view returns (bytes32);

    /// @notice EIP-712 digest of an Attestation under this contract's domain.
    function attestationDigest(
        uint256 modelId,
        address host,
        bytes32 queryHash,
        bytes32 responseHash,
        bytes32 permissionHash,
        uint256 seq
    ) external view returns (bytes32);

    /// @notice The EIP-712 domain separator (chain id and this address bound).
    function domainSeparator() external view returns (bytes32);

    /// @notice StandardMerkleTree leaf of a permission receipt `(queryHash, seq)`, as hosts record them.
    function receiptLeaf(bytes32 queryHash, uint256 seq) external pure returns (bytes32);
}

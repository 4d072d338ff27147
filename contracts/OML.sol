// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IOML} from "./interfaces/IOML.sol";
import {Slashing} from "./Slashing.sol";
import {OMLTypes, Voucher} from "./libraries/OMLTypes.sol";

/// @title OML
/// @notice The deployed OML contract: model registry, host staking, fee escrow and slashing under the
/// EIP-712 domain `("OML", "2")`, bound to this chain and address.
contract OML is Slashing, IOML {
    constructor() EIP712("OML", "2") {}

    /// @inheritdoc IOML
    function permissionDigest(uint256 modelId, address host, bytes32 queryHash, uint256 seq)
        external
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(OMLTypes.hashPermission(modelId, host, queryHash, seq));
    }

    /// @inheritdoc IOML
    function voucherDigest(Voucher calldata v) external view returns (bytes32) {
        return _hashTypedDataV4(OMLTypes.hashVoucher(v));
    }

    /// @inheritdoc IOML
    function attestationDigest(
        uint256 modelId,
        address host,
        bytes32 queryHash,
        bytes32 responseHash,
        bytes32 permissionHash,
        uint256 seq
    ) external view returns (bytes32) {
        return _hashTypedDataV4(
            OMLTypes.hashAttestation(modelId, host, queryHash, responseHash, permissionHash, seq)
        );
    }

    /// @inheritdoc IOML
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IOML
    function receiptLeaf(bytes32 queryHash, uint256 seq) external pure returns (bytes32) {
        return OMLTypes.receiptLeaf(queryHash, seq);
    }
}

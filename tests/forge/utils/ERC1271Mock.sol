// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice A smart-contract account that accepts (ERC-1271) whatever its `keyHolder` signed, or, when
/// `acceptAll` is set, any signature at all (the griefing signer the v2 EOA rule keeps out).
contract ERC1271Mock {
    address public immutable keyHolder;
    bool public acceptAll;

    constructor(address keyHolder_, bool acceptAll_) {
        keyHolder = keyHolder_;
        acceptAll = acceptAll_;
    }

    function isValidSignature(bytes32 digest, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        bool ok = acceptAll || (err == ECDSA.RecoverError.NoError && signer == keyHolder);
        return ok ? this.isValidSignature.selector : bytes4(0xffffffff);
    }

    receive() external payable {}

    /// @dev Lets the account act as a host: forward a call (with value) to `target`, bubbling reverts.
    function execute(address target, bytes calldata data) external payable returns (bytes memory) {
        return Address.functionCallWithValue(target, data, msg.value);
    }
}

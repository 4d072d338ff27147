// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title Signatures
/// @notice Signature check with the same acceptance as OpenZeppelin `SignatureChecker` (ECDSA for keys,
/// ERC-1271 for contracts), ordered so that the common case, an EOA's 65-byte signature, does not pay for
/// the signer's cold code-size lookup (2600 gas).
library Signatures {
    /// @notice True when `signature` over `digest` is by `signer`'s key, or `signer` is a contract that
    /// accepts it under ERC-1271.
    function isValidNow(address signer, bytes32 digest, bytes calldata signature) internal view returns (bool) {
        // slither-disable-next-line unused-return -- err is checked; the unnamed errArg only details a failure
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == signer) return true;
        return signer.code.length != 0
            && SignatureChecker.isValidERC1271SignatureNowCalldata(signer, digest, signature);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title BasisPoints
/// @notice Fee and slash arithmetic in basis points (1 bps = 1/10000).
library BasisPoints {
    /// @notice 100 % in basis points.
    uint256 internal constant MAX_BPS = 10_000;

    /// @notice `amount × bps / 10000`, rounded down.
    /// @dev Full-precision (OpenZeppelin `Math.mulDiv`): no intermediate overflow; ≤ amount when bps ≤ 10000.
    function mulBps(uint256 amount, uint256 bps) internal pure returns (uint256) {
        return Math.mulDiv(amount, bps, MAX_BPS);
    }

    /// @notice Split `amount` into `bps` of it (rounded down) and the remainder; `part + rest == amount`.
    function split(uint256 amount, uint256 bps) internal pure returns (uint256 part, uint256 rest) {
        part = mulBps(amount, bps);
        rest = amount - part;
    }
}

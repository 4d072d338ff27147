// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {StakeTerms} from "./OMLTypes.sol";

/// @title StakeTermsLib
/// @notice Packs `StakeTerms` into the 208-bit value of an OpenZeppelin `Checkpoints.Trace208` entry:
/// `minHostStake << 80 | unbondingDelay << 32 | slashBps << 16 | proverShareBps` (unbondingDelay < 2^48).
library StakeTermsLib {
    /// @notice The packed value of `t`; reverts (SafeCast) if `unbondingDelay` does not fit 48 bits.
    function pack(StakeTerms memory t) internal pure returns (uint208) {
        return (uint208(t.minHostStake) << 80) | (uint208(SafeCast.toUint48(t.unbondingDelay)) << 32)
            | (uint208(t.slashBps) << 16) | uint208(t.proverShareBps);
    }

    /// @notice The terms packed in `packed` (inverse of `pack`).
    function unpack(uint208 packed) internal pure returns (StakeTerms memory t) {
        // casting to 'uint128' is safe because packed >> 80 has at most 208 − 80 = 128 bits
        // forge-lint: disable-next-line(unsafe-typecast)
        t.minHostStake = uint128(packed >> 80);
        // casting to 'uint48' keeps exactly the 48 bits of unbondingDelay
        // forge-lint: disable-next-line(unsafe-typecast)
        t.unbondingDelay = uint48(packed >> 32);
        (t.slashBps, t.proverShareBps) = slashTerms(packed);
    }

    /// @notice Only the two slash terms (`slashBps`, `proverShareBps`) of a packed value.
    function slashTerms(uint208 packed) internal pure returns (uint16 slashBps, uint16 proverShareBps) {
        // casting to 'uint16' keeps exactly the 16 bits of each field
        // forge-lint: disable-next-line(unsafe-typecast)
        slashBps = uint16(packed >> 16);
        // forge-lint: disable-next-line(unsafe-typecast)
        proverShareBps = uint16(packed);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Base} from "./utils/Base.sol";
import {BasisPoints} from "../../contracts/libraries/BasisPoints.sol";

contract BasisPointsTest is Base {
    function testFuzz_mulBps_matchesExactProduct(uint256 amount, uint256 bps) public pure {
        amount = bound(amount, 0, type(uint240).max);
        bps = bound(bps, 0, 10_000);
        assertEq(BasisPoints.mulBps(amount, bps), amount * bps / 10_000, "mulBps");
    }

    function testFuzz_mulBps_neverExceedsAmount_noOverflow(uint256 amount, uint256 bps) public pure {
        bps = bound(bps, 0, 10_000);
        assertLe(BasisPoints.mulBps(amount, bps), amount, "part <= amount");
    }

    function testFuzz_split_conservesAmount(uint256 amount, uint256 bps) public pure {
        bps = bound(bps, 0, 10_000);
        (uint256 part, uint256 rest) = BasisPoints.split(amount, bps);
        assertEq(part + rest, amount, "part + rest");
    }

    function test_mulBps_edges() public pure {
        assertEq(BasisPoints.mulBps(1 ether, 10_000), 1 ether, "100 %");
        assertEq(BasisPoints.mulBps(1 ether, 0), 0, "0 %");
        assertEq(BasisPoints.mulBps(9_999, 1), 0, "rounds down");
        assertEq(BasisPoints.mulBps(type(uint256).max, 10_000), type(uint256).max, "max amount");
    }
}

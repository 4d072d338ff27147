// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Base} from "./utils/Base.sol";
import {StakeTerms} from "../../contracts/libraries/OMLTypes.sol";
import {StakeTermsLib} from "../../contracts/libraries/StakeTermsLib.sol";

contract StakeTermsLibTest is Base {
    function testFuzz_pack_unpack_roundTrips(uint128 minHostStake, uint16 slashBps, uint16 share, uint64 delay)
        public
        pure
    {
        delay = uint64(bound(delay, 0, type(uint48).max));
        StakeTerms memory t =
            StakeTerms({minHostStake: minHostStake, slashBps: slashBps, proverShareBps: share, unbondingDelay: delay});
        uint208 packed = StakeTermsLib.pack(t);
        StakeTerms memory u = StakeTermsLib.unpack(packed);
        assertEq(u.minHostStake, minHostStake, "minHostStake");
        assertEq(u.slashBps, slashBps, "slashBps");
        assertEq(u.proverShareBps, share, "proverShareBps");
        assertEq(u.unbondingDelay, delay, "unbondingDelay");
        (uint16 s, uint16 p) = StakeTermsLib.slashTerms(packed);
        assertEq(s, slashBps, "slashTerms slashBps");
        assertEq(p, share, "slashTerms proverShareBps");
        assertEq(
            packed,
            uint256(minHostStake) << 80 | uint256(delay) << 32 | uint256(slashBps) << 16 | share,
            "layout as in the spec"
        );
    }

    function test_pack_revertsWhen_delayAbove48Bits() public {
        StakeTerms memory t = StakeTerms({minHostStake: 1, slashBps: 1, proverShareBps: 0, unbondingDelay: 2 ** 48});
        vm.expectRevert();
        this.packExternal(t);
    }

    function packExternal(StakeTerms memory t) external pure returns (uint208) {
        return StakeTermsLib.pack(t);
    }
}

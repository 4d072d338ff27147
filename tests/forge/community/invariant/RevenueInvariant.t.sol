// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Base} from "../../utils/Base.sol";
import {RevenueHandler} from "./RevenueHandler.sol";
import {RevenueVault} from "../../../../contracts/community/RevenueVault.sol";

/// @notice Revenue conservation and fairness of the vault under random transfers, arrivals, pulls and claims.
contract RevenueInvariantTest is Base {
    RevenueHandler internal handler;
    RevenueVault internal vault;

    function setUp() public {
        handler = new RevenueHandler();
        vault = RevenueVault(payable(handler.targetVault()));
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: handler.actionSelectors()}));
    }

    /// @dev Σ claimed + Σ claimableOf + dust = Σ pulled, with 0 ≤ dust ≤ one wei per holder per pull (+ 1).
    function invariant_claimedPlusClaimablePlusDust_equalsPulled() public view {
        uint256 claimable = 0;
        for (uint256 i = 0; i < handler.nHolders(); i++) {
            claimable += vault.claimableOf(handler.holderAt(i));
        }
        uint256 pulled = handler.ghostPulled();
        uint256 claimed = handler.ghostClaimedTotal();
        assertEq(vault.totalPulled(), pulled, "total pulled");
        assertEq(vault.totalClaimed(), claimed, "total claimed");
        assertEq(address(vault).balance, pulled - claimed, "vault balance = pulled - claimed");
        assertLe(claimed + claimable, pulled, "claimed + claimable above pulled (negative dust)");
        uint256 dust = pulled - claimed - claimable;
        assertLe(dust, handler.nHolders() * handler.ghostPulls() + 1, "dust");
    }

    /// @dev Each holder's claimed + claimable equals the reference Σ floor(balance at pull × amount / supply),
    /// within one wei per pull.
    function invariant_holderTotal_matchesReference() public view {
        uint256 pulls = handler.ghostPulls();
        for (uint256 i = 0; i < handler.nHolders(); i++) {
            address h = handler.holderAt(i);
            uint256 got = handler.ghostClaimed(h) + vault.claimableOf(h);
            uint256 expected = handler.ghostExpected(h);
            assertLe(got, expected + pulls, "holder above its reference");
            assertGe(got + pulls, expected, "holder below its reference");
        }
    }
}

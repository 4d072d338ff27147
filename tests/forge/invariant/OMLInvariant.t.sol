// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Base} from "../utils/Base.sol";
import {OMLHandler} from "./OMLHandler.sol";
import {OML} from "../../../contracts/OML.sol";

/// @notice Invariants of OML under random sequences of stake / deposit / settle / unstake / withdraw /
/// slash / revenue and reward withdrawals.
contract OMLInvariantTest is Base {
    OMLHandler internal handler;
    OML internal oml;
    uint256 internal modelId = 1;

    function setUp() public {
        handler = new OMLHandler();
        oml = OML(handler.target());
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: handler.actionSelectors()}));
    }

    /// @dev ETH held == Σ stakes + Σ escrows + unwithdrawn revenue + unpaid rewards.
    function invariant_ethConservation() public view {
        uint256 owed = oml.revenueOf(modelId);
        for (uint256 i = 0; i < handler.nHosts(); i++) {
            address h = handler.hostAt(i);
            (uint256 escrow,,) = oml.getEscrow(modelId, h);
            owed += oml.getStake(modelId, h).amount + escrow;
        }
        for (uint256 i = 0; i < handler.nProvers(); i++) {
            owed += oml.rewardOf(handler.proverAt(i));
        }
        assertEq(address(oml).balance, owed, "ETH held != stakes + escrows + revenue + rewards");
    }

    function invariant_fingerprintBurnsAtMostOnce() public view {
        for (uint256 i = 0; i < handler.nFingerprints(); i++) {
            uint256 burns = handler.ghostBurns(i);
            assertLe(burns, 1, "fingerprint burned twice");
            assertEq(oml.isBurned(modelId, i), burns == 1, "burn flag disagrees with successful reveals");
        }
    }

    function invariant_settledCountMatchesHighestSettledVoucher() public view {
        for (uint256 i = 0; i < handler.nHosts(); i++) {
            address h = handler.hostAt(i);
            assertEq(oml.settledCount(modelId, h), handler.ghostSettled(h), "settled count moved unexpectedly");
        }
    }

    function invariant_totalSlashedAtMostTotalStaked() public view {
        assertLe(handler.ghostTotalSlashed(), handler.ghostTotalStaked(), "slashed more than staked");
    }
}

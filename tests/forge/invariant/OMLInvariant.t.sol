// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Base} from "../utils/Base.sol";
import {OMLHandler} from "./OMLHandler.sol";
import {OML} from "../../../contracts/OML.sol";

/// @notice Invariants of OML under random sequences of stake / deposit / permission issuing / settle /
/// unstake / withdraw / price and stake-terms changes / signer rotations / receipts / slash / sybil
/// self-reports / disputes / revenue and reward withdrawals.
contract OMLInvariantTest is Base {
    OMLHandler internal handler;
    OML internal oml;
    uint256 internal modelId;

    function setUp() public {
        handler = new OMLHandler();
        oml = OML(handler.target());
        modelId = handler.targetModel();
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: handler.actionSelectors()}));
    }

    /// @dev ETH held == Σ stakes + Σ escrows + unwithdrawn revenue + unpaid rewards.
    function invariant_ethConservation() public view {
        uint256 owed = oml.revenueOf(modelId);
        for (uint256 i = 0; i < handler.nHosts(); i++) {
            address h = handler.hostAt(i);
            (uint256 escrow,,) = oml.getEscrow(modelId, h);
            owed += oml.getStake(modelId, h).amount + escrow + oml.rewardOf(h);
        }
        for (uint256 i = 0; i < handler.nProvers(); i++) {
            owed += oml.rewardOf(handler.proverAt(i));
        }
        assertEq(address(oml).balance, owed, "ETH held != stakes + escrows + revenue + rewards");
    }

    /// @dev Each (host, index) burns at most once, and only through a successful reveal against that host.
    function invariant_fingerprintBurnsAtMostOncePerHost() public view {
        for (uint256 h = 0; h < handler.nHosts(); h++) {
            address host = handler.hostAt(h);
            for (uint256 i = 0; i < handler.nFingerprints(); i++) {
                uint256 burns = handler.ghostBurns(host, i);
                assertLe(burns, 1, "fingerprint burned twice for one host");
                assertEq(oml.isBurned(modelId, host, i), burns == 1, "burn flag disagrees with successful reveals");
            }
        }
    }

    /// @dev Settled count and amount only grow and match the settlements that succeeded.
    function invariant_settlementMonotone() public view {
        for (uint256 i = 0; i < handler.nHosts(); i++) {
            address h = handler.hostAt(i);
            assertEq(oml.settledCount(modelId, h), handler.ghostSettledCount(h), "settled count moved unexpectedly");
            assertEq(oml.settledAmount(modelId, h), handler.ghostSettledAmount(h), "settled amount moved unexpectedly");
        }
    }

    /// @dev (i) A host never pays more than Σ (price in force when issued) over the queries it was permitted.
    function invariant_hostPaysAtMostPermittedQueriesAtIssuePrice() public view {
        for (uint256 i = 0; i < handler.nHosts(); i++) {
            address h = handler.hostAt(i);
            assertEq(handler.ghostPaid(h), oml.settledAmount(modelId, h), "host paid != settled amount");
            assertLe(handler.ghostPaid(h), handler.ghostOwed(h), "host paid more than its permitted queries cost");
        }
    }

    /// @dev (ii) A host holding a valid permission for a key (with its receipt recorded in time) is never
    /// slashed for it.
    function invariant_permittedHostNeverSlashed() public view {
        assertEq(handler.ghostPermittedSlashes(), 0, "a host with a valid permission was slashed");
    }

    function invariant_totalSlashedAtMostTotalStaked() public view {
        assertLe(handler.ghostTotalSlashed(), handler.ghostTotalStaked(), "slashed more than staked");
    }

    function invariant_openDisputesTracked() public view {
        for (uint256 i = 0; i < handler.nHosts(); i++) {
            address h = handler.hostAt(i);
            assertEq(oml.openDisputes(modelId, h), handler.ghostOpenDisputes(h), "open disputes");
        }
    }

    /// @dev Every in-action expectation (settlement rule, commit-time terms, attestation validity, withdrawal
    /// blocking, leaked keys, sybil burns) held.
    function invariant_noHandlerViolations() public view {
        assertEq(handler.ghostViolations(), 0, handler.lastViolation());
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CommunityFixture} from "./CommunityFixture.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";
import {StakeTerms} from "../../../contracts/libraries/OMLTypes.sol";

/// @notice A community model's owner functions run only through a proposal of the real Governor, executed by
/// the real timelock after its delay; votes are taken at the proposal's snapshot.
contract ModelGovernorTest is CommunityFixture {
    uint128 internal constant NEW_PRICE = 3e12;

    function _setPriceProposal() internal view returns (Proposal memory) {
        return _proposal(address(oml), abi.encodeCall(oml.setPrice, (modelId, NEW_PRICE)), "double the price");
    }

    function test_execute_setPrice_wholeLifecycle_onlyAfterDelay() public {
        Proposal memory p = _propose(alice, _setPriceProposal());
        assertEq(uint256(governor.state(p.id)), uint256(IGovernor.ProposalState.Pending), "pending");
        _toVoting(p.id);
        assertEq(uint256(governor.state(p.id)), uint256(IGovernor.ProposalState.Active), "active");
        _vote(alice, p.id, 1);
        _vote(bob, p.id, 0);
        _toEnd(p.id);
        assertEq(uint256(governor.state(p.id)), uint256(IGovernor.ProposalState.Succeeded), "succeeded");
        _queue(p);
        assertEq(uint256(governor.state(p.id)), uint256(IGovernor.ProposalState.Queued), "queued");
        uint256 eta = governor.proposalEta(p.id);
        assertEq(eta, block.timestamp + TIMELOCK_DELAY, "eta = now + timelock delay");

        // One second early: the timelock refuses (operation not Ready).
        vm.warp(eta - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                TimelockController.TimelockUnexpectedOperationState.selector, _timelockId(p), bytes32(uint256(1 << 2))
            )
        );
        _execute(p);

        vm.warp(eta);
        _execute(p);
        assertEq(uint256(governor.state(p.id)), uint256(IGovernor.ProposalState.Executed), "executed");
        (uint256 price, uint256 effectiveAt) = oml.pendingPrice(modelId);
        assertEq(price, NEW_PRICE, "price scheduled in OML");
        assertEq(effectiveAt, eta + NOTICE, "with the model's notice");
    }

    function test_state_defeatedWhen_quorumNotReached() public {
        Proposal memory p = _propose(alice, _setPriceProposal());
        _toVoting(p.id);
        _vote(carol, p.id, 1); // 20 % < 25 %
        _toEnd(p.id);
        assertEq(uint256(governor.state(p.id)), uint256(IGovernor.ProposalState.Defeated), "defeated by quorum");
        assertFalse(governor.quorum(governor.proposalSnapshot(p.id)) <= 200e18, "20 % below quorum");
        vm.expectRevert(
            abi.encodeWithSelector(
                IGovernor.GovernorUnexpectedProposalState.selector,
                p.id,
                IGovernor.ProposalState.Defeated,
                bytes32(uint256(1 << uint8(IGovernor.ProposalState.Succeeded)))
            )
        );
        _queue(p);
    }

    function test_state_defeatedWhen_votesAgainst() public {
        Proposal memory p = _propose(bob, _setPriceProposal());
        _toVoting(p.id);
        _vote(bob, p.id, 1); // 30 %: quorum reached
        _vote(alice, p.id, 0); // 50 % against
        _toEnd(p.id);
        assertEq(uint256(governor.state(p.id)), uint256(IGovernor.ProposalState.Defeated), "defeated by votes");
    }

    function test_cancel_byProposerWhilePending() public {
        Proposal memory p = _propose(alice, _setPriceProposal());
        bytes32 descHash = keccak256(bytes(p.description));
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorUnableToCancel.selector, p.id, bob));
        vm.prank(bob);
        governor.cancel(p.targets, p.values, p.calldatas, descHash);
        vm.prank(alice);
        governor.cancel(p.targets, p.values, p.calldatas, descHash);
        assertEq(uint256(governor.state(p.id)), uint256(IGovernor.ProposalState.Canceled), "canceled");
    }

    function test_cancel_revertsWhen_votingStarted() public {
        Proposal memory p = _propose(alice, _setPriceProposal());
        _toVoting(p.id);
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorUnableToCancel.selector, p.id, alice));
        vm.prank(alice);
        governor.cancel(p.targets, p.values, p.calldatas, keccak256(bytes(p.description)));
    }

    function test_propose_revertsWhen_belowThreshold() public {
        Proposal memory p = _setPriceProposal();
        vm.expectRevert(
            abi.encodeWithSelector(IGovernor.GovernorInsufficientProposerVotes.selector, dave, 0, THRESHOLD)
        );
        _propose(dave, p);
    }

    function test_ownerFunctions_revertWhen_notTimelock() public {
        address[3] memory callers = [alice, address(governor), address(factory)];
        for (uint256 i = 0; i < callers.length; i++) {
            address who = callers[i];
            bytes memory err =
                abi.encodeWithSelector(IModelRegistry.ModelNotOwner.selector, modelId, who, address(timelock));
            vm.expectRevert(err);
            vm.prank(who);
            oml.setPrice(modelId, NEW_PRICE);
            vm.expectRevert(err);
            vm.prank(who);
            oml.setStakeTerms(
                modelId,
                StakeTerms({minHostStake: MIN_STAKE, slashBps: SLASH_BPS, proverShareBps: 0, unbondingDelay: DELAY})
            );
            vm.expectRevert(err);
            vm.prank(who);
            oml.setPermissionSigner(modelId, stranger);
            vm.expectRevert(err);
            vm.prank(who);
            oml.setRevenueRecipient(modelId, who);
            vm.expectRevert(err);
            vm.prank(who);
            oml.transferModelOwnership(modelId, who);
        }
    }

    function test_execute_revertsWhen_calledOnTimelockDirectly() public {
        Proposal memory p = _propose(alice, _setPriceProposal());
        _toVoting(p.id);
        _vote(alice, p.id, 1);
        _toEnd(p.id);
        _queue(p);
        // Nobody but the governor can schedule on the timelock.
        bytes32 proposer = timelock.PROPOSER_ROLE();
        vm.expectRevert(abi.encodeWithSignature("AccessControlUnauthorizedAccount(address,bytes32)", alice, proposer));
        vm.prank(alice);
        timelock.schedule(address(oml), 0, p.calldatas[0], bytes32(0), bytes32(0), TIMELOCK_DELAY);
    }

    // ---- votes at the snapshot ----

    function test_castVote_sharesBoughtAfterSnapshot_giveNoVotes() public {
        _delegateSelf(dave);
        Proposal memory p = _propose(alice, _setPriceProposal());
        _toVoting(p.id);
        _transfer(alice, dave, 400e18);
        assertEq(shares.getVotes(dave), 400e18, "dave votes now");
        _vote(dave, p.id, 1);
        _vote(alice, p.id, 0);
        (uint256 against, uint256 forVotes,) = governor.proposalVotes(p.id);
        assertEq(forVotes, 0, "bought after the snapshot: no votes");
        assertEq(against, 500e18, "the seller votes with its snapshot balance");
    }

    function test_castVote_flashLoanAfterSnapshot_givesNoVotes() public {
        _delegateSelf(dave);
        Proposal memory p = _propose(alice, _setPriceProposal());
        _toVoting(p.id);
        // Within one block (same timestamp): borrow, vote, return.
        _transfer(alice, dave, 500e18);
        _transfer(bob, dave, 300e18);
        _vote(dave, p.id, 1);
        _transfer(dave, alice, 500e18);
        _transfer(dave, bob, 300e18);
        (, uint256 forVotes,) = governor.proposalVotes(p.id);
        assertEq(forVotes, 0, "flash-borrowed shares give no votes");
        _toEnd(p.id);
        assertEq(uint256(governor.state(p.id)), uint256(IGovernor.ProposalState.Defeated), "no quorum");
    }

    function test_castVote_undelegatedShares_giveNoVotes() public {
        _transfer(alice, dave, 400e18); // dave never delegates
        vm.warp(block.timestamp + 1);
        Proposal memory p = _propose(alice, _setPriceProposal());
        _toVoting(p.id);
        _vote(dave, p.id, 1);
        (, uint256 forVotes,) = governor.proposalVotes(p.id);
        assertEq(forVotes, 0, "undelegated shares give no votes");
        assertEq(governor.getVotes(dave, governor.proposalSnapshot(p.id)), 0, "no voting power at the snapshot");
    }

    function test_clock_isTimestamp() public view {
        assertEq(uint256(governor.clock()), block.timestamp, "governor clock");
        assertEq(uint256(shares.clock()), block.timestamp, "shares clock");
        assertEq(shares.CLOCK_MODE(), "mode=timestamp", "shares clock mode");
        assertEq(governor.CLOCK_MODE(), "mode=timestamp", "governor clock mode");
        assertEq(governor.quorum(block.timestamp - 1), SUPPLY * QUORUM_PERCENT / 100, "quorum");
    }
}

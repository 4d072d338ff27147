// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "../utils/OMLFixture.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {CommunityFactory} from "../../../contracts/community/CommunityFactory.sol";
import {
    GovernorDeployer, SharesDeployer, TimelockDeployer, VaultDeployer
} from "../../../contracts/community/Deployers.sol";
import {ModelGovernor} from "../../../contracts/community/ModelGovernor.sol";
import {ModelShares} from "../../../contracts/community/ModelShares.sol";
import {RevenueVault} from "../../../contracts/community/RevenueVault.sol";
import {Community, DaoParams} from "../../../contracts/interfaces/ICommunity.sol";
import {ModelParams, Voucher} from "../../../contracts/libraries/OMLTypes.sol";

/// @notice OMLFixture plus a community factory and one community model owned by its timelock: shares held
/// 50 / 30 / 20 % by alice, bob and carol (all self-delegated), quorum 25 %, voting delay 1 day, voting
/// period 3 days, timelock delay 3 days (= the model's unbonding delay). The fixture's host is staked on the
/// community model with escrow, so `_earn` produces real revenue by settling a host voucher. `modelId` is the
/// community model; `soloId` the fixture's single-owner model (owner `owner`).
abstract contract CommunityFixture is OMLFixture {
    uint256 internal constant SUPPLY = 1000e18;
    uint48 internal constant VOTING_DELAY = 1 days;
    uint32 internal constant VOTING_PERIOD = 3 days;
    uint256 internal constant THRESHOLD = 1e18;
    uint256 internal constant QUORUM_PERCENT = 25;
    uint256 internal constant TIMELOCK_DELAY = DELAY;

    address internal alice = address(0xA11);
    address internal bob = address(0xB0B0);
    address internal carol = address(0xCA401);
    address internal dave = address(0xDA7E);

    SharesDeployer internal sharesDeployer;
    VaultDeployer internal vaultDeployer;
    TimelockDeployer internal timelockDeployer;
    GovernorDeployer internal governorDeployer;
    CommunityFactory internal factory;

    Community internal c;
    ModelShares internal shares;
    RevenueVault internal vault;
    ModelGovernor internal governor;
    TimelockController internal timelock;
    uint256 internal soloId;

    /// @dev Cumulative amount the host has signed for on `modelId` (each `_earn` adds to it).
    uint256 internal earned;
    uint256 internal earnedCount;

    function setUp() public virtual override {
        super.setUp();
        soloId = modelId;
        sharesDeployer = new SharesDeployer();
        vaultDeployer = new VaultDeployer();
        timelockDeployer = new TimelockDeployer();
        governorDeployer = new GovernorDeployer();
        factory = new CommunityFactory(oml, sharesDeployer, vaultDeployer, timelockDeployer, governorDeployer);
        sharesDeployer.setFactory(address(factory));
        vaultDeployer.setFactory(address(factory));
        timelockDeployer.setFactory(address(factory));
        governorDeployer.setFactory(address(factory));

        c = factory.createCommunityModel(_params(tree[0], N_FINGERPRINTS), _dao());
        modelId = c.modelId;
        shares = ModelShares(c.shares);
        vault = RevenueVault(payable(c.vault));
        governor = ModelGovernor(payable(c.governor));
        timelock = TimelockController(payable(c.timelock));
        _delegateSelf(alice);
        _delegateSelf(bob);
        _delegateSelf(carol);

        vm.deal(host, 1_000_000 ether);
        _stakeHost(MIN_STAKE);
        vm.prank(host);
        oml.depositEscrow{value: 500_000 ether}(modelId);
        vm.warp(block.timestamp + 1);
    }

    function _dao() internal view returns (DaoParams memory d) {
        address[] memory holders = new address[](3);
        uint256[] memory amounts = new uint256[](3);
        (holders[0], holders[1], holders[2]) = (alice, bob, carol);
        (amounts[0], amounts[1], amounts[2]) = (500e18, 300e18, 200e18);
        d = DaoParams({
            name: "Community Model",
            symbol: "CMS",
            holders: holders,
            amounts: amounts,
            votingDelay: VOTING_DELAY,
            votingPeriod: VOTING_PERIOD,
            proposalThreshold: THRESHOLD,
            quorumPercent: QUORUM_PERCENT,
            timelockDelay: TIMELOCK_DELAY
        });
    }

    function _delegateSelf(address who) internal {
        vm.prank(who);
        shares.delegate(who);
    }

    /// @dev `amount` wei of fees become the community model's revenue in OML (a settled host voucher).
    function _earn(uint256 amount) internal {
        earned += amount;
        earnedCount += 1;
        (Voucher memory v, bytes memory sig) = _voucherSig(earnedCount, earned);
        oml.settle(v, sig);
    }

    function _transfer(address from, address to, uint256 amount) internal {
        vm.prank(from);
        shares.transfer(to, amount);
    }

    // ---- proposals ----

    /// @dev One call proposal.
    struct Proposal {
        address[] targets;
        uint256[] values;
        bytes[] calldatas;
        string description;
        uint256 id;
    }

    function _proposal(address target, bytes memory data, string memory description)
        internal
        pure
        returns (Proposal memory p)
    {
        p.targets = new address[](1);
        p.values = new uint256[](1);
        p.calldatas = new bytes[](1);
        p.targets[0] = target;
        p.calldatas[0] = data;
        p.description = description;
    }

    function _propose(address proposer, Proposal memory p) internal returns (Proposal memory) {
        vm.prank(proposer);
        p.id = governor.propose(p.targets, p.values, p.calldatas, p.description);
        return p;
    }

    function _vote(address voter, uint256 id, uint8 support) internal {
        vm.prank(voter);
        governor.castVote(id, support);
    }

    function _toVoting(uint256 id) internal {
        vm.warp(governor.proposalSnapshot(id) + 1);
    }

    function _toEnd(uint256 id) internal {
        vm.warp(governor.proposalDeadline(id) + 1);
    }

    function _queue(Proposal memory p) internal {
        governor.queue(p.targets, p.values, p.calldatas, keccak256(bytes(p.description)));
    }

    function _execute(Proposal memory p) internal {
        governor.execute(p.targets, p.values, p.calldatas, keccak256(bytes(p.description)));
    }

    /// @dev Propose, let alice (50 %) vote for, queue, wait the delay and execute.
    function _pass(Proposal memory p) internal returns (Proposal memory) {
        p = _propose(alice, p);
        _toVoting(p.id);
        _vote(alice, p.id, 1);
        _toEnd(p.id);
        _queue(p);
        vm.warp(governor.proposalEta(p.id));
        _execute(p);
        return p;
    }

    function _timelockId(Proposal memory p) internal view returns (bytes32) {
        bytes32 salt = bytes20(address(governor)) ^ keccak256(bytes(p.description));
        return timelock.hashOperationBatch(p.targets, p.values, p.calldatas, 0, salt);
    }

    function _newModelParams(address revenueRecipient) internal view returns (ModelParams memory p) {
        p = _params(keccak256("v2 root"), 8);
        p.weightsHash = keccak256("weights v2");
        p.revenueRecipient = revenueRecipient;
    }
}

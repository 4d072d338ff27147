// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CommunityFixture} from "./CommunityFixture.sol";
import {GovernorVotesQuorumFraction} from
    "@openzeppelin/contracts/governance/extensions/GovernorVotesQuorumFraction.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IOML} from "../../../contracts/interfaces/IOML.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";
import {
    Community,
    DaoParams,
    ICommunityDeployer,
    ICommunityFactory,
    IModelShares
} from "../../../contracts/interfaces/ICommunity.sol";
import {RevenueVault} from "../../../contracts/community/RevenueVault.sol";
import {Model, ModelParams, StakeTerms, Voucher} from "../../../contracts/libraries/OMLTypes.sol";

contract CommunityFactoryTest is CommunityFixture {
    // ---- createCommunityModel ----

    function test_createCommunityModel_wiresAWorkingDao() public view {
        Model memory m = oml.getModel(modelId);
        assertEq(m.owner, address(timelock), "owner: the timelock");
        assertEq(m.revenueRecipient, address(vault), "revenue recipient: the vault, not the one passed");
        assertEq(shares.vault(), address(vault), "shares -> vault");
        assertEq(vault.shares(), address(shares), "vault -> shares");
        assertEq(address(vault.oml()), address(oml), "vault -> oml");
        assertEq(address(governor.token()), address(shares), "governor votes with the shares");
        assertEq(governor.timelock(), address(timelock), "governor -> timelock");
        assertEq(timelock.getMinDelay(), TIMELOCK_DELAY, "timelock delay");
        assertEq(shares.totalSupply(), SUPPLY, "supply");
        assertEq(shares.balanceOf(alice), 500e18, "alice minted");
        assertEq(shares.name(), "Community Model", "name");
        assertEq(governor.name(), "Community Model", "governor name");
        assertEq(governor.votingDelay(), VOTING_DELAY, "voting delay");
        assertEq(governor.votingPeriod(), VOTING_PERIOD, "voting period");
        assertEq(governor.proposalThreshold(), THRESHOLD, "threshold");
        assertEq(governor.quorumNumerator(), QUORUM_PERCENT, "quorum");

        Community memory k = factory.communityOf(modelId);
        assertEq(k.modelId, modelId, "communityOf.modelId");
        assertEq(k.timelock, address(timelock), "communityOf.timelock");
        assertEq(k.governor, address(governor), "communityOf.governor");
        assertEq(factory.communityOf(soloId).shares, address(0), "no community for the solo model");
    }

    function test_createCommunityModel_timelockRoles_governorOnly_noAdmin() public view {
        bytes32 admin = timelock.DEFAULT_ADMIN_ROLE();
        bytes32 proposer = timelock.PROPOSER_ROLE();
        bytes32 canceller = timelock.CANCELLER_ROLE();
        address[8] memory others = [
            address(factory),
            address(this),
            address(sharesDeployer),
            address(vaultDeployer),
            address(timelockDeployer),
            address(governorDeployer),
            alice,
            address(0)
        ];
        for (uint256 i = 0; i < others.length; i++) {
            assertFalse(timelock.hasRole(admin, others[i]), "an admin remains");
            assertFalse(timelock.hasRole(proposer, others[i]), "another proposer");
            assertFalse(timelock.hasRole(canceller, others[i]), "another canceller");
        }
        // OpenZeppelin's timelock administers itself: roles change only through a proposal.
        assertTrue(timelock.hasRole(admin, address(timelock)), "self-administered");
        assertTrue(timelock.hasRole(proposer, address(governor)), "governor proposes");
        assertTrue(timelock.hasRole(canceller, address(governor)), "governor cancels");
        assertTrue(timelock.hasRole(timelock.EXECUTOR_ROLE(), address(0)), "anyone executes");
    }

    function test_createCommunityModel_emitsCommunityCreated() public {
        vm.expectEmit();
        emit IModelRegistry.ModelOwnershipTransferred(3, address(factory), _predictTimelock());
        Community memory k = factory.createCommunityModel(_newModelParams(stranger), _dao());
        assertEq(k.modelId, 3, "model id");
        assertEq(oml.getModel(3).owner, k.timelock, "owner");
    }

    /// @dev The timelock of the next community: the factory's timelock deployer's next CREATE address.
    function _predictTimelock() private view returns (address) {
        // nonce 1 was used by the fixture's community, so the next timelock comes from nonce 2.
        return address(
            uint160(uint256(keccak256(abi.encodePacked(bytes1(0xd6), bytes1(0x94), address(timelockDeployer), bytes1(0x02)))))
        );
    }

    function test_deployers_revertWhen_notFactory() public {
        bytes memory err = abi.encodeWithSelector(ICommunityDeployer.DeployerNotFactory.selector, stranger);
        vm.startPrank(stranger);
        vm.expectRevert(err);
        sharesDeployer.deploy("x", "X", address(vault), new address[](1), new uint256[](1));
        vm.expectRevert(err);
        vaultDeployer.deploy(IOML(address(oml)), stranger);
        vm.expectRevert(err);
        timelockDeployer.deploy(1 days, stranger);
        vm.expectRevert(err);
        governorDeployer.deploy("x", IVotes(address(shares)), timelock, 1, 1, 0, 4);
        vm.stopPrank();
    }

    function test_setFactory_revertsWhen_notCreatorOrAlreadySet() public {
        vm.expectRevert(abi.encodeWithSelector(ICommunityDeployer.DeployerNotCreator.selector, stranger));
        vm.prank(stranger);
        sharesDeployer.setFactory(stranger);
        vm.expectRevert(abi.encodeWithSelector(ICommunityDeployer.DeployerFactoryAlreadySet.selector, address(factory)));
        sharesDeployer.setFactory(stranger);
        assertEq(governorDeployer.factory(), address(factory), "factory named");
    }

    // ---- bad inputs ----

    function _expectCreateRevert(DaoParams memory d, bytes memory err) private {
        ModelParams memory p = _newModelParams(stranger);
        vm.expectRevert(err);
        factory.createCommunityModel(p, d);
    }

    function test_createCommunityModel_revertsWhen_noContributors() public {
        DaoParams memory d = _dao();
        d.holders = new address[](0);
        d.amounts = new uint256[](0);
        _expectCreateRevert(d, abi.encodeWithSelector(IModelShares.SharesNoContributors.selector));
    }

    function test_createCommunityModel_revertsWhen_lengthMismatch() public {
        DaoParams memory d = _dao();
        d.amounts = new uint256[](2);
        _expectCreateRevert(d, abi.encodeWithSelector(IModelShares.SharesLengthMismatch.selector, 3, 2));
    }

    function test_createCommunityModel_revertsWhen_zeroContributor() public {
        DaoParams memory d = _dao();
        d.holders[1] = address(0);
        _expectCreateRevert(d, abi.encodeWithSelector(IModelShares.SharesZeroContributor.selector, 1));
    }

    function test_createCommunityModel_revertsWhen_duplicateContributor() public {
        DaoParams memory d = _dao();
        d.holders[2] = alice;
        _expectCreateRevert(d, abi.encodeWithSelector(IModelShares.SharesDuplicateContributor.selector, alice));
    }

    function test_createCommunityModel_revertsWhen_zeroAmount() public {
        DaoParams memory d = _dao();
        d.amounts[1] = 0;
        _expectCreateRevert(d, abi.encodeWithSelector(IModelShares.SharesZeroAmount.selector, bob));
    }

    function test_createCommunityModel_revertsWhen_supplyTooLarge() public {
        DaoParams memory d = _dao();
        d.amounts[2] = 2 ** 128;
        _expectCreateRevert(
            d, abi.encodeWithSelector(IModelShares.SharesSupplyTooLarge.selector, 2 ** 128 + 800e18, 2 ** 128)
        );
    }

    function test_createCommunityModel_revertsWhen_quorumAbove100() public {
        DaoParams memory d = _dao();
        d.quorumPercent = 101;
        _expectCreateRevert(
            d, abi.encodeWithSelector(GovernorVotesQuorumFraction.GovernorInvalidQuorumFraction.selector, 101, 100)
        );
    }

    function test_createCommunityModel_revertsWhen_delayBelowUnbonding() public {
        DaoParams memory d = _dao();
        d.timelockDelay = DELAY - 1;
        _expectCreateRevert(
            d, abi.encodeWithSelector(ICommunityFactory.FactoryDelayBelowUnbonding.selector, DELAY - 1, DELAY)
        );
    }

    // ---- converting a single-owner model ----

    function test_convertModel_threeSteps_oldOwnerLosesPowers() public {
        // Revenue the solo model earned before the conversion reaches the vault at its first pull.
        vm.prank(host);
        oml.depositEscrow{value: 1 ether}(soloId);
        Voucher memory v = Voucher({modelId: soloId, host: host, count: 5, cumulativeAmount: 5 * PRICE});
        oml.settle(v, _sign(HOST_PK, oml.voucherDigest(v)));

        vm.expectEmit();
        emit ICommunityFactory.ConversionReserved(soloId, owner);
        vm.prank(owner);
        factory.reserveConversion(soloId);
        vm.prank(owner);
        oml.transferModelOwnership(soloId, address(factory));
        vm.prank(owner);
        Community memory k = factory.convertModel(soloId, _dao());

        Model memory m = oml.getModel(soloId);
        assertEq(m.owner, k.timelock, "owner: the timelock");
        assertEq(m.revenueRecipient, k.vault, "revenue recipient: the vault");
        assertEq(factory.communityOf(soloId).vault, k.vault, "communityOf");
        bytes memory err = abi.encodeWithSelector(IModelRegistry.ModelNotOwner.selector, soloId, owner, k.timelock);
        vm.startPrank(owner);
        vm.expectRevert(err);
        oml.setPrice(soloId, 1);
        vm.expectRevert(err);
        oml.setRevenueRecipient(soloId, owner);
        vm.expectRevert(err);
        oml.transferModelOwnership(soloId, owner);
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityFactory.FactoryNotReserved.selector, soloId, owner)
        );
        factory.convertModel(soloId, _dao());
        vm.stopPrank();

        assertEq(RevenueVault(payable(k.vault)).pull(soloId), 5 * PRICE, "earlier revenue pulled by the vault");
        assertEq(RevenueVault(payable(k.vault)).claimableOf(alice), 5 * PRICE / 2, "alice's half");
    }

    function test_convertModel_revertsWhen_notReserved() public {
        vm.prank(owner);
        factory.reserveConversion(soloId);
        vm.prank(owner);
        oml.transferModelOwnership(soloId, address(factory));
        vm.expectRevert(abi.encodeWithSelector(ICommunityFactory.FactoryNotReserved.selector, soloId, stranger));
        vm.prank(stranger);
        factory.convertModel(soloId, _dao());
    }

    function test_reserveConversion_revertsWhen_notModelOwner() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityFactory.FactoryNotModelOwner.selector, soloId, stranger, owner)
        );
        vm.prank(stranger);
        factory.reserveConversion(soloId);
    }

    function test_convertModel_revertsWhen_factoryNotOwnerYet() public {
        vm.prank(owner);
        factory.reserveConversion(soloId);
        vm.expectRevert(abi.encodeWithSelector(ICommunityFactory.FactoryNotOwnerYet.selector, soloId));
        vm.prank(owner);
        factory.convertModel(soloId, _dao());
    }

    function test_convertModel_revertsWhen_delayBelowPendingUnbonding() public {
        vm.prank(owner);
        oml.setStakeTerms(
            soloId,
            StakeTerms({
                minHostStake: MIN_STAKE, slashBps: SLASH_BPS, proverShareBps: PROVER_SHARE_BPS, unbondingDelay: 10 days
            })
        );
        vm.prank(owner);
        factory.reserveConversion(soloId);
        vm.prank(owner);
        oml.transferModelOwnership(soloId, address(factory));
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityFactory.FactoryDelayBelowUnbonding.selector, DELAY, 10 days)
        );
        vm.prank(owner);
        factory.convertModel(soloId, _dao());
    }

    // ---- version upgrade by vote ----

    function test_registerModel_byVote_versionOwnedByTimelock_vaultPullsBoth() public {
        uint256 before = oml.modelCount();
        Proposal memory p = _proposal(
            address(oml), abi.encodeCall(oml.registerModel, (_newModelParams(address(vault)))), "register v2"
        );
        _pass(p);
        uint256 v2 = oml.modelCount();
        assertEq(v2, before + 1, "a new model");
        Model memory m = oml.getModel(v2);
        assertEq(m.owner, address(timelock), "v2 owned by the timelock");
        assertEq(m.revenueRecipient, address(vault), "v2 pays the vault");

        // Revenue on both versions.
        _earn(7 * PRICE);
        vm.prank(host);
        oml.depositEscrow{value: 1 ether}(v2);
        Voucher memory v = Voucher({modelId: v2, host: host, count: 3, cumulativeAmount: 3 * PRICE});
        oml.settle(v, _sign(HOST_PK, oml.voucherDigest(v)));

        assertEq(vault.pull(modelId), 7 * PRICE, "pulled v1");
        assertEq(vault.pull(v2), 3 * PRICE, "pulled v2");
        assertEq(vault.totalPulled(), 10 * PRICE, "total pulled");
        assertEq(vault.claimableOf(bob), 3 * PRICE, "bob's 30 % of both");
    }
}

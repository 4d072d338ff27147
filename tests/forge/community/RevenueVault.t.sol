// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CommunityFixture} from "./CommunityFixture.sol";
import {IOMLErrors} from "../../../contracts/interfaces/IOMLErrors.sol";
import {IRevenueVault} from "../../../contracts/interfaces/ICommunity.sol";
import {DaoParams} from "../../../contracts/interfaces/ICommunity.sol";
import {RevenueVault} from "../../../contracts/community/RevenueVault.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @notice Revenue reaches the holders at the moment it is pulled, in proportion to their balances then.
contract RevenueVaultTest is CommunityFixture {
    function test_pull_distributesByBalance() public {
        _earn(10 ether);
        vm.expectEmit();
        emit IRevenueVault.RevenuePulled(modelId, 10 ether, 1 + 10 ether * 1e27 / SUPPLY);
        assertEq(vault.pull(modelId), 10 ether, "pulled");
        assertEq(oml.revenueOf(modelId), 0, "OML revenue emptied");
        assertEq(vault.claimableOf(alice), 5 ether, "alice 50 %");
        assertEq(vault.claimableOf(bob), 3 ether, "bob 30 %");
        assertEq(vault.claimableOf(carol), 2 ether, "carol 20 %");
        assertEq(vault.totalPulled(), 10 ether, "total pulled");
    }

    function test_pull_slashRevenueToo() public {
        _commitAndReveal(_evidence(1, _fpResponse(1), "", ATTESTATION_PK));
        uint256 revenue = oml.revenueOf(modelId);
        assertTrue(revenue != 0, "slash treasury part is revenue");
        assertEq(vault.pull(modelId), revenue, "pulled the slash revenue");
    }

    function test_claim_paysAndResets() public {
        _earn(10 ether);
        vault.pull(modelId);
        uint256 before = bob.balance;
        vm.expectEmit();
        emit IRevenueVault.RevenueClaimed(bob, 3 ether);
        vm.prank(bob);
        assertEq(vault.claim(), 3 ether, "claimed");
        assertEq(bob.balance - before, 3 ether, "paid");
        assertEq(vault.claimableOf(bob), 0, "nothing left");
        assertEq(vault.totalClaimed(), 3 ether, "total claimed");
        vm.expectRevert(abi.encodeWithSelector(IOMLErrors.NothingToWithdraw.selector));
        vm.prank(bob);
        vault.claim();
    }

    function test_transfer_afterPull_buyerEarnsNone() public {
        _earn(10 ether);
        vault.pull(modelId);
        _transfer(alice, dave, 500e18); // dave buys all of alice's shares after the revenue arrived
        assertEq(vault.claimableOf(dave), 0, "the buyer earns none of it");
        assertEq(vault.claimableOf(alice), 5 ether, "the holder at the pull keeps it");
        _earn(4 ether);
        vault.pull(modelId);
        assertEq(vault.claimableOf(dave), 2 ether, "the buyer earns later revenue");
        assertEq(vault.claimableOf(alice), 5 ether, "the seller earns no later revenue");
    }

    function test_transfer_beforePull_holderAtPullEarns() public {
        _earn(10 ether); // in OML, not yet pulled
        _transfer(alice, dave, 500e18);
        vault.pull(modelId);
        assertEq(vault.claimableOf(dave), 5 ether, "the holder at the pull earns it");
        assertEq(vault.claimableOf(alice), 0, "the seller before the pull does not");
    }

    function test_pull_revertsWhen_nothingToPull() public {
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.VaultNothingToPull.selector, modelId));
        vault.pull(modelId);
    }

    function test_pull_revertsWhen_notRecipient() public {
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.VaultNotRecipient.selector, soloId, recipient));
        vault.pull(soloId);
    }

    function test_receive_revertsWhen_notOML() public {
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.VaultUnexpectedSender.selector, stranger));
        vm.prank(stranger);
        (bool ok,) = address(vault).call{value: 1}("");
        ok;
    }

    function test_checkpoint_revertsWhen_notShares() public {
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.VaultNotShares.selector, stranger));
        vm.prank(stranger);
        vault.checkpoint(alice, stranger);
    }

    /// @dev The factory initialised the minted holders' records (paid = 1, one non-zero slot each); others are
    /// untouched.
    function test_initAccounts_mintedHoldersInitialised() public view {
        assertEq(vault.accRewardPerShare(), 1, "initial accumulator");
        assertEq(uint256(vm.load(address(vault), _record(alice))), 1, "alice: paid 1, claimable 0");
        assertEq(uint256(vm.load(address(vault), _record(carol))), 1, "carol");
        assertEq(uint256(vm.load(address(vault), _record(dave))), 0, "dave never written");
    }

    function test_initAccounts_revertsWhen_notBinder() public {
        address[] memory holders = new address[](1);
        holders[0] = dave;
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.VaultNotBinder.selector, stranger));
        vm.prank(stranger);
        vault.initAccounts(holders);
    }

    /// @dev Initialising changes no one's earnings, at any time: written records are left alone, and an unwritten
    /// record already counts as paid up to the initial accumulator.
    function test_initAccounts_changesNoEarnings() public {
        _earn(10 ether);
        vault.pull(modelId);
        _transfer(alice, dave, 100e18);
        _earn(10 ether);
        vault.pull(modelId);
        address[] memory holders = new address[](3);
        (holders[0], holders[1], holders[2]) = (alice, dave, stranger);
        uint256 aliceBefore = vault.claimableOf(alice);
        bytes32 daveRecord = vm.load(address(vault), _record(dave));
        vm.prank(address(factory));
        vault.initAccounts(holders);
        assertEq(vault.claimableOf(alice), aliceBefore, "alice");
        assertEq(aliceBefore, 5 ether + 4 ether, "alice: 50 % then 40 %");
        assertEq(vault.claimableOf(dave), 1 ether, "dave: 10 % of the second pull");
        assertEq(vm.load(address(vault), _record(dave)), daveRecord, "written record untouched");
        assertEq(vault.claimableOf(stranger), 0, "stranger");
    }

    /// @dev A minted holder whose record was never initialised (zero slot) earns exactly the same: a zero
    /// `paid` counts as the initial accumulator, so no phantom wei.
    function test_uninitialisedRecord_earnsExactly() public {
        vm.store(address(vault), _record(bob), bytes32(0));
        _earn(10 ether);
        vault.pull(modelId);
        assertEq(vault.claimableOf(bob), 3 ether, "bob 30 %");
        _transfer(bob, dave, 150e18);
        assertEq(vault.claimableOf(bob), 3 ether, "credited at the transfer");
        _earn(10 ether);
        vault.pull(modelId);
        assertEq(vault.claimableOf(bob), 4.5 ether, "then 15 %");
        assertEq(vault.claimableOf(dave), 1.5 ether, "dave 15 % of the second pull");
        vm.prank(bob);
        assertEq(vault.claim(), 4.5 ether, "claimed");
    }

    /// @dev The accumulator must fit the records' uint160 `paid`: a pull past 2^160 reverts instead of corrupting.
    function test_pull_revertsWhen_accumulatorOverflows() public {
        DaoParams memory d = _dao();
        address[] memory holders = new address[](1);
        uint256[] memory amounts = new uint256[](1);
        (holders[0], amounts[0]) = (alice, 1);
        (d.holders, d.amounts) = (holders, amounts);
        c = factory.createCommunityModel(_params(tree[0], N_FINGERPRINTS), d);
        RevenueVault tiny = RevenueVault(payable(c.vault));
        modelId = c.modelId;
        _stakeHost(MIN_STAKE);
        vm.prank(host);
        oml.depositEscrow{value: 100_000 ether}(modelId);
        (earned, earnedCount) = (0, 0);
        // 1 share unit: the accumulator grows by amount × 1e27; 2^160 ≈ 1.46e48, i.e. ≈ 1461.5 ether.
        _earn(1400 ether);
        tiny.pull(modelId);
        assertEq(tiny.claimableOf(alice), 1400 ether, "all of it");
        _earn(100 ether);
        uint256 next = 1 + 1500 ether * 1e27;
        vm.expectRevert(abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 160, next));
        tiny.pull(modelId);
        vm.prank(alice);
        assertEq(tiny.claim(), 1400 ether, "what was pulled stays claimable");
    }

    /// @dev Slot of `account`'s packed record (`_accounts` is the mapping at slot 4).
    function _record(address account) private pure returns (bytes32) {
        return keccak256(abi.encode(account, uint256(4)));
    }

    function test_bindShares_revertsWhen_notBinderOrBound() public {
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.VaultNotBinder.selector, stranger));
        vm.prank(stranger);
        vault.bindShares(stranger);
        vm.expectRevert(abi.encodeWithSelector(IRevenueVault.VaultAlreadyBound.selector));
        vm.prank(address(factory));
        vault.bindShares(stranger);
    }

    // ---- fuzz ----

    /// @dev Transfers between pulls move future revenue, never revenue already pulled; the totals reconcile.
    function testFuzz_transfersAndPulls_fairAndConserved(uint256 seed) public {
        address[4] memory who = [alice, bob, carol, dave];
        uint256[4] memory expected;
        uint256 pulls;
        for (uint256 step = 0; step < 12; step++) {
            uint256 r = uint256(keccak256(abi.encode(seed, step)));
            if (r % 3 == 0) {
                uint256 amount = bound(r >> 8, 1, 3 ether);
                _earn(amount);
                vault.pull(modelId);
                pulls++;
                for (uint256 i = 0; i < 4; i++) {
                    expected[i] += shares.balanceOf(who[i]) * amount / SUPPLY;
                }
            } else if (r % 3 == 1) {
                address from = who[(r >> 8) % 4];
                address to = who[(r >> 16) % 4];
                uint256 amount = bound(r >> 24, 0, shares.balanceOf(from));
                _transfer(from, to, amount);
            } else {
                address claimer = who[(r >> 8) % 4];
                uint256 owed = vault.claimableOf(claimer);
                if (owed != 0) {
                    vm.prank(claimer);
                    _claimed[claimer] += vault.claim();
                }
            }
        }
        uint256 sumClaimable = 0;
        for (uint256 i = 0; i < 4; i++) {
            uint256 got = vault.claimableOf(who[i]) + _claimed[who[i]];
            assertLe(got, expected[i] + pulls, "holder got more than its balance-weighted share");
            assertGe(got + pulls, expected[i], "holder got less than its balance-weighted share");
            sumClaimable += vault.claimableOf(who[i]);
        }
        assertEq(address(vault).balance, vault.totalPulled() - vault.totalClaimed(), "vault balance");
        assertLe(sumClaimable, address(vault).balance, "claimable within balance");
        assertLe(address(vault).balance - sumClaimable, 4 * pulls + 1, "dust");
    }

    mapping(address holder => uint256 claimed) private _claimed;

    /// @dev Pull-then-buy: whatever the amounts, the buyer after a pull gets nothing of it.
    function testFuzz_transfer_afterPull_buyerEarnsNone(uint256 revenue, uint256 bought) public {
        revenue = bound(revenue, 1, 10_000 ether);
        bought = bound(bought, 1, 500e18);
        _earn(revenue);
        vault.pull(modelId);
        uint256 aliceBefore = vault.claimableOf(alice);
        _transfer(alice, dave, bought);
        assertEq(vault.claimableOf(dave), 0, "buyer");
        assertEq(vault.claimableOf(alice), aliceBefore, "seller keeps the pulled revenue");
        assertEq(aliceBefore, revenue / 2, "alice's half");
    }
}

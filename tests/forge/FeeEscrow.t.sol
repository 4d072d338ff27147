// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {ERC1271Mock} from "./utils/ERC1271Mock.sol";
import {IFeeEscrow} from "../../contracts/interfaces/IFeeEscrow.sol";
import {IOMLErrors} from "../../contracts/interfaces/IOMLErrors.sol";
import {StakeTerms, Voucher} from "../../contracts/libraries/OMLTypes.sol";

contract FeeEscrowTest is OMLFixture {
    function setUp() public override {
        super.setUp();
        vm.prank(host);
        oml.depositEscrow{value: 1 ether}(modelId);
    }

    function test_settle_movesSignedAmountToRevenue() public {
        uint256 amount = 1000 * uint256(PRICE);
        (Voucher memory v, bytes memory sig) = _voucherSig(1000, amount);
        vm.expectEmit();
        emit IFeeEscrow.VoucherSettled(modelId, host, 1000, amount, amount);
        vm.prank(stranger); // anyone may settle
        oml.settle(v, sig);
        (uint256 balance,,) = oml.getEscrow(modelId, host);
        assertEq(balance, 1 ether - amount, "escrow");
        assertEq(oml.revenueOf(modelId), amount, "revenue");
        assertEq(oml.settledCount(modelId, host), 1000, "settled count");
        assertEq(oml.settledAmount(modelId, host), amount, "settled amount");
    }

    function test_settle_secondVoucherMovesTheDifference() public {
        (Voucher memory v, bytes memory sig) = _voucherSig(10, 10 * uint256(PRICE));
        oml.settle(v, sig);
        (v, sig) = _voucherSig(25, 40 * uint256(PRICE)); // e.g. a price rise in between
        vm.expectEmit();
        emit IFeeEscrow.VoucherSettled(modelId, host, 25, 40 * uint256(PRICE), 30 * uint256(PRICE));
        oml.settle(v, sig);
        assertEq(oml.revenueOf(modelId), 40 * uint256(PRICE), "revenue = cumulative amount");
    }

    /// @dev Finding: settlement multiplied by the price at settlement time, so an owner could raise the price,
    /// settle the host's voucher, and lower it again. Settlement no longer reads the price.
    function test_settle_ownerRepricingCannotChargeMoreThanSigned() public {
        uint256 signed = 100 * uint256(PRICE);
        (Voucher memory v, bytes memory sig) = _voucherSig(100, signed); // issued at PRICE
        vm.prank(owner);
        oml.setPrice(modelId, PRICE * 1000);
        vm.warp(block.timestamp + NOTICE);
        assertEq(oml.getModel(modelId).pricePerQuery, PRICE * 1000, "raised price in force");
        (uint256 escrowBefore,,) = oml.getEscrow(modelId, host);
        vm.prank(owner);
        oml.settle(v, sig);
        vm.prank(owner);
        oml.setPrice(modelId, PRICE);
        (uint256 escrowAfter,,) = oml.getEscrow(modelId, host);
        assertEq(escrowBefore - escrowAfter, signed, "host paid exactly the signed cumulative amount");
        assertEq(oml.revenueOf(modelId), signed, "revenue = signed amount");
        assertEq(oml.settledAmount(modelId, host), signed, "settled amount");
    }

    /// @dev Finding: a host could void the vouchers it handed out by settling one of its own with the
    /// highest count (2^64 − 1) and no more amount. A voucher that adds to the amount still settles.
    function test_settle_maxCountVoucherCannotPayLessThanSigned() public {
        (Voucher memory given, bytes memory givenSig) = _voucherSig(100, 100 * uint256(PRICE)); // held by the service
        (Voucher memory trick, bytes memory trickSig) = _voucherSig(type(uint64).max, 0);
        vm.prank(host);
        oml.settle(trick, trickSig);
        assertEq(oml.settledCount(modelId, host), type(uint64).max, "count maxed");
        assertEq(oml.settledAmount(modelId, host), 0, "nothing paid yet");
        oml.settle(given, givenSig);
        (uint256 balance,,) = oml.getEscrow(modelId, host);
        assertEq(balance, 1 ether - 100 * uint256(PRICE), "host paid what it signed");
        assertEq(oml.settledAmount(modelId, host), 100 * uint256(PRICE), "settled amount");
        assertEq(oml.settledCount(modelId, host), type(uint64).max, "settled count never decreases");
        // Replaying either voucher adds nothing.
        vm.expectRevert(
            abi.encodeWithSelector(IFeeEscrow.VoucherCountNotIncreasing.selector, 100, type(uint64).max)
        );
        oml.settle(given, givenSig);
        vm.expectRevert(
            abi.encodeWithSelector(IFeeEscrow.VoucherCountNotIncreasing.selector, type(uint64).max, type(uint64).max)
        );
        oml.settle(trick, trickSig);
    }

    function test_settle_revertsWhen_countTooLarge() public {
        (Voucher memory v, bytes memory sig) = _voucherSig(uint256(type(uint64).max) + 1, 1);
        vm.expectRevert(
            abi.encodeWithSelector(IFeeEscrow.VoucherCountTooLarge.selector, v.count, type(uint64).max)
        );
        oml.settle(v, sig);
    }

    function test_settle_revertsWhen_amountTooLarge() public {
        (Voucher memory v, bytes memory sig) = _voucherSig(1, uint256(type(uint128).max) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IFeeEscrow.VoucherAmountTooLarge.selector, v.cumulativeAmount, type(uint128).max)
        );
        oml.settle(v, sig);
    }

    function test_settle_revertsWhen_voucherReplayed() public {
        (Voucher memory v, bytes memory sig) = _voucherSig(10);
        oml.settle(v, sig);
        vm.expectRevert(abi.encodeWithSelector(IFeeEscrow.VoucherCountNotIncreasing.selector, 10, 10));
        oml.settle(v, sig);
    }

    function test_settle_revertsWhen_amountDecreasing() public {
        (Voucher memory v, bytes memory sig) = _voucherSig(10, 50);
        oml.settle(v, sig);
        (v, sig) = _voucherSig(11, 49);
        vm.expectRevert(abi.encodeWithSelector(IFeeEscrow.VoucherAmountDecreasing.selector, 49, 50));
        oml.settle(v, sig);
    }

    function test_settle_freeQueriesAdvanceCountOnly() public {
        (Voucher memory v, bytes memory sig) = _voucherSig(10, 0);
        oml.settle(v, sig);
        assertEq(oml.settledCount(modelId, host), 10, "count advanced");
        assertEq(oml.revenueOf(modelId), 0, "nothing moved");
    }

    function test_settle_revertsWhen_signedByOther() public {
        Voucher memory v = Voucher({modelId: modelId, host: host, count: 5, cumulativeAmount: 5});
        bytes memory sig = _sign(STRANGER_PK, oml.voucherDigest(v));
        vm.expectRevert(abi.encodeWithSelector(IFeeEscrow.VoucherInvalidSignature.selector, modelId, host));
        oml.settle(v, sig);
    }

    function test_settle_revertsWhen_escrowInsufficient() public {
        (Voucher memory v, bytes memory sig) = _voucherSig(1, 1 ether + 1);
        vm.expectRevert(abi.encodeWithSelector(IFeeEscrow.EscrowInsufficient.selector, 1 ether + 1, 1 ether));
        oml.settle(v, sig);
    }

    /// @dev The voucher keeps SignatureChecker semantics: a contract host signs through ERC-1271.
    function test_settle_acceptsErc1271Host() public {
        ERC1271Mock wallet = new ERC1271Mock(host, false);
        vm.prank(host);
        wallet.execute{value: 1 ether}(address(oml), abi.encodeCall(oml.depositEscrow, (modelId)));
        Voucher memory v = Voucher({modelId: modelId, host: address(wallet), count: 3, cumulativeAmount: 3 * PRICE});
        oml.settle(v, _sign(HOST_PK, oml.voucherDigest(v)));
        assertEq(oml.settledAmount(modelId, address(wallet)), 3 * PRICE, "contract host settled");
    }

    function test_escrowWithdrawal_thaws_andSettlementStillDraws() public {
        vm.prank(host);
        oml.requestEscrowWithdrawal(modelId, 1 ether);
        (uint256 balance, uint256 thawing, uint256 thawEnd) = oml.getEscrow(modelId, host);
        assertEq(thawing, 1 ether, "thawing");
        assertEq(thawEnd, block.timestamp + DELAY, "thawEnd");
        (Voucher memory v, bytes memory sig) = _voucherSig(100);
        oml.settle(v, sig);
        vm.expectRevert(abi.encodeWithSelector(IFeeEscrow.EscrowStillThawing.selector, block.timestamp, thawEnd));
        vm.prank(host);
        oml.withdrawEscrow(modelId);
        vm.warp(thawEnd);
        uint256 before = host.balance;
        vm.prank(host);
        oml.withdrawEscrow(modelId);
        assertEq(host.balance - before, 1 ether - 100 * uint256(PRICE), "min(requested, balance) paid");
        (balance, thawing,) = oml.getEscrow(modelId, host);
        assertEq(balance, 0, "escrow empty");
        assertEq(thawing, 0, "request cleared");
    }

    function test_requestEscrowWithdrawal_usesDelayInForceAtRequest() public {
        vm.prank(owner);
        oml.setStakeTerms(
            modelId,
            StakeTerms({minHostStake: MIN_STAKE, slashBps: SLASH_BPS, proverShareBps: 0, unbondingDelay: 7 days})
        );
        vm.prank(host);
        oml.requestEscrowWithdrawal(modelId, 1);
        (,, uint256 thawEnd) = oml.getEscrow(modelId, host);
        assertEq(thawEnd, block.timestamp + DELAY, "old delay before the notice ends");
        vm.warp(block.timestamp + NOTICE);
        vm.prank(host);
        oml.requestEscrowWithdrawal(modelId, 1);
        (,, thawEnd) = oml.getEscrow(modelId, host);
        assertEq(thawEnd, block.timestamp + 7 days, "new delay");
    }

    function test_withdrawEscrow_revertsWhen_nothingRequested() public {
        vm.expectRevert(abi.encodeWithSelector(IOMLErrors.NothingToWithdraw.selector));
        vm.prank(host);
        oml.withdrawEscrow(modelId);
    }

    function test_withdrawRevenue_paysRecipientOnly() public {
        (Voucher memory v, bytes memory sig) = _voucherSig(10);
        oml.settle(v, sig);
        vm.expectRevert(
            abi.encodeWithSelector(IFeeEscrow.RevenueNotRecipient.selector, modelId, owner, recipient)
        );
        vm.prank(owner);
        oml.withdrawRevenue(modelId);
        vm.prank(recipient);
        oml.withdrawRevenue(modelId);
        assertEq(recipient.balance, 10 * uint256(PRICE), "recipient paid");
        assertEq(oml.revenueOf(modelId), 0, "revenue cleared");
    }

    function test_withdrawRevenue_followsRevenueRecipientUpdate() public {
        (Voucher memory v, bytes memory sig) = _voucherSig(10);
        oml.settle(v, sig);
        vm.prank(owner);
        oml.setRevenueRecipient(modelId, stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IFeeEscrow.RevenueNotRecipient.selector, modelId, recipient, stranger)
        );
        vm.prank(recipient);
        oml.withdrawRevenue(modelId);
        uint256 before = stranger.balance;
        vm.prank(stranger);
        oml.withdrawRevenue(modelId);
        assertEq(stranger.balance - before, 10 * uint256(PRICE), "new recipient paid");
    }

    /// @dev Settlements in any order: a settlement succeeds iff it adds count or amount and the amount does
    /// not decrease; each moves exactly the amount difference; settled count and amount never decrease.
    function testFuzz_settle_movesExactlyTheAmountDifference(uint64[6] memory counts, uint128[6] memory amounts)
        public
    {
        uint256 settledC = 0;
        uint256 settledA = 0;
        for (uint256 i = 0; i < counts.length; i++) {
            uint256 count = bound(counts[i], 0, 2000);
            uint256 amount = bound(amounts[i], 0, 2 ether);
            (Voucher memory v, bytes memory sig) = _voucherSig(count, amount);
            (uint256 escrowBefore,,) = oml.getEscrow(modelId, host);
            uint256 revenueBefore = oml.revenueOf(modelId);
            bool ok = false;
            if (count <= settledC && amount <= settledA) {
                vm.expectRevert(
                    abi.encodeWithSelector(IFeeEscrow.VoucherCountNotIncreasing.selector, count, settledC)
                );
            } else if (amount < settledA) {
                vm.expectRevert(
                    abi.encodeWithSelector(IFeeEscrow.VoucherAmountDecreasing.selector, amount, settledA)
                );
            } else if (amount - settledA > escrowBefore) {
                vm.expectRevert(
                    abi.encodeWithSelector(IFeeEscrow.EscrowInsufficient.selector, amount - settledA, escrowBefore)
                );
            } else {
                ok = true;
            }
            oml.settle(v, sig);
            (uint256 escrowAfter,,) = oml.getEscrow(modelId, host);
            uint256 moved = escrowBefore - escrowAfter;
            assertEq(moved, ok ? amount - settledA : 0, "escrow moved = amount difference");
            assertEq(oml.revenueOf(modelId) - revenueBefore, moved, "revenue gained = escrow moved");
            assertGe(oml.settledCount(modelId, host), settledC, "settled count never decreases");
            assertGe(oml.settledAmount(modelId, host), settledA, "settled amount never decreases");
            if (ok) {
                settledC = count > settledC ? count : settledC;
                settledA = amount;
            }
            assertEq(oml.settledCount(modelId, host), settledC, "settled count");
            assertEq(oml.settledAmount(modelId, host), settledA, "settled amount");
        }
    }
}

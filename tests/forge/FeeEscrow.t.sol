// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {IFeeEscrow} from "../../contracts/interfaces/IFeeEscrow.sol";
import {IOMLErrors} from "../../contracts/interfaces/IOMLErrors.sol";
import {Voucher} from "../../contracts/libraries/OMLTypes.sol";

contract FeeEscrowTest is OMLFixture {
    function setUp() public override {
        super.setUp();
        vm.prank(host);
        oml.depositEscrow{value: 1 ether}(modelId);
    }

    function test_settle_movesDeltaTimesPriceToRevenue() public {
        (Voucher memory v, bytes memory sig) = _voucherSig(1000);
        vm.expectEmit();
        emit IFeeEscrow.VoucherSettled(modelId, host, 1000, 1000, 1000 * uint256(PRICE));
        vm.prank(stranger); // anyone may settle
        oml.settle(v, sig);
        (uint256 balance,,) = oml.getEscrow(modelId, host);
        assertEq(balance, 1 ether - 1000 * uint256(PRICE), "escrow");
        assertEq(oml.revenueOf(modelId), 1000 * uint256(PRICE), "revenue");
        assertEq(oml.settledCount(modelId, host), 1000, "settled count");
    }

    function test_settle_revertsWhen_countNotIncreasing() public {
        (Voucher memory v, bytes memory sig) = _voucherSig(10);
        oml.settle(v, sig);
        vm.expectRevert(abi.encodeWithSelector(IFeeEscrow.VoucherCountNotIncreasing.selector, 10, 10));
        oml.settle(v, sig);
    }

    function test_settle_revertsWhen_signedByOther() public {
        Voucher memory v = Voucher({modelId: modelId, host: host, count: 5});
        bytes memory sig = _sign(STRANGER_PK, oml.voucherDigest(v));
        vm.expectRevert(abi.encodeWithSelector(IFeeEscrow.VoucherInvalidSignature.selector, modelId, host));
        oml.settle(v, sig);
    }

    function test_settle_revertsWhen_escrowInsufficient() public {
        uint256 count = 1 ether / PRICE + 1;
        (Voucher memory v, bytes memory sig) = _voucherSig(count);
        vm.expectRevert(abi.encodeWithSelector(IFeeEscrow.EscrowInsufficient.selector, count * PRICE, 1 ether));
        oml.settle(v, sig);
    }

    function test_settle_revertsWhen_countTooLarge() public {
        (Voucher memory v, bytes memory sig) = _voucherSig(uint256(type(uint64).max) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IFeeEscrow.VoucherCountTooLarge.selector, v.count, type(uint64).max)
        );
        oml.settle(v, sig);
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

    /// @dev Partial settlements in any order: the settled count never decreases and each successful
    /// settlement moves exactly Δcount × price.
    function testFuzz_settle_partialSettlementsMoveDeltaTimesPrice(uint64[6] memory counts, uint128 price)
        public
    {
        price = uint128(bound(price, 0, 1e15));
        vm.prank(owner);
        oml.setPrice(modelId, price);
        uint256 settled = 0;
        for (uint256 i = 0; i < counts.length; i++) {
            uint256 count = bound(counts[i], 0, 2000);
            (Voucher memory v, bytes memory sig) = _voucherSig(count);
            (uint256 escrowBefore,,) = oml.getEscrow(modelId, host);
            uint256 revenueBefore = oml.revenueOf(modelId);
            uint256 needed = count > settled ? (count - settled) * price : 0;
            if (count <= settled) {
                vm.expectRevert(
                    abi.encodeWithSelector(IFeeEscrow.VoucherCountNotIncreasing.selector, count, settled)
                );
            } else if (needed > escrowBefore) {
                vm.expectRevert(abi.encodeWithSelector(IFeeEscrow.EscrowInsufficient.selector, needed, escrowBefore));
            }
            oml.settle(v, sig);
            uint256 settledAfter = oml.settledCount(modelId, host);
            assertGe(settledAfter, settled, "settled count never decreases");
            (uint256 escrowAfter,,) = oml.getEscrow(modelId, host);
            uint256 moved = escrowBefore - escrowAfter;
            assertEq(moved, (settledAfter - settled) * price, "escrow moved = delta count x price");
            assertEq(oml.revenueOf(modelId) - revenueBefore, moved, "revenue gained = escrow moved");
            settled = settledAfter;
        }
    }
}
